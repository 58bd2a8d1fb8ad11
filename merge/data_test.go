package merge

import (
	"errors"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// readResult is one result of RecordReader.Next in a form tests compare: a
// record (Values set) or a *RowError (Err set).
type readResult struct {
	Row    int
	Values []string
	Column string // the RowError's column
	Err    string // the RowError's reason; for a want, a part of it
}

func (g readResult) String() string {
	if g.Err != "" {
		return strconv.Itoa(g.Row) + ": error: column " + strconv.Quote(g.Column) + ": " + g.Err
	}
	return strconv.Itoa(g.Row) + ": " + strconv.Quote(strings.Join(g.Values, "|"))
}

// readRecords reads r to io.EOF, going on after every *RowError, and checks the
// invariants every record keeps.
func readRecords(t testing.TB, r RecordReader, file string) []readResult {
	t.Helper()
	var got []readResult
	last := 0
	for range 1 << 20 {
		rec, err := r.Next()
		if err == io.EOF {
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after io.EOF = %v, want io.EOF again", err)
			}
			return got
		}
		var rerr *RowError
		if errors.As(err, &rerr) {
			if rerr.File != file {
				t.Errorf("RowError.File = %q, want %q", rerr.File, file)
			}
			if rerr.Row <= last {
				t.Errorf("row %d reported after row %d", rerr.Row, last)
			}
			last = rerr.Row
			got = append(got, readResult{Row: rerr.Row, Column: rerr.Column, Err: rerr.Err.Error()})
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if rec.File != file || rec.Columns != r.Columns() {
			t.Errorf("row %d: File %q, Columns %p; want %q, %p", rec.Row, rec.File, rec.Columns, file, r.Columns())
		}
		if len(rec.Values) != len(r.Columns().Names()) {
			t.Errorf("row %d has %d values for %d columns", rec.Row, len(rec.Values), len(r.Columns().Names()))
		}
		if rec.Row <= last {
			t.Errorf("row %d read after row %d", rec.Row, last)
		}
		last = rec.Row
		got = append(got, readResult{Row: rec.Row, Values: rec.Values})
	}
	t.Fatal("Next never returned io.EOF")
	return nil
}

// compareResults reports where got differs from want; a want's Err need only
// be part of the got one's.
func compareResults(t *testing.T, got, want []readResult) {
	t.Helper()
	for i := range max(len(got), len(want)) {
		switch {
		case i >= len(got):
			t.Errorf("missing %v", want[i])
		case i >= len(want):
			t.Errorf("unexpected %v", got[i])
		case got[i].Row != want[i].Row || got[i].Column != want[i].Column ||
			(got[i].Err == "") != (want[i].Err == "") || !strings.Contains(got[i].Err, want[i].Err) ||
			!reflect.DeepEqual(got[i].Values, want[i].Values):
			t.Errorf("got  %v\nwant %v", got[i], want[i])
		}
	}
}

// wantRecord and wantRowError build the wants of table tests.
func wantRecord(row int, values ...string) readResult { return readResult{Row: row, Values: values} }
func wantRowError(row int, column, err string) readResult {
	return readResult{Row: row, Column: column, Err: err}
}

func TestOpenData(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"upper.CSV":   "email,name\nann@example.com,Ann\n",
		"notes.txt":   "email;name\nann@example.com;Ann\n",
		"legacy.xls":  "not read",
		"people.ods":  "not read",
		"people":      "no extension",
		"people.json": "[]",
		"broken.xlsx": "PK but not a zip",
		"secret.xlsx": "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 and the rest of an encrypted workbook",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join("testdata", "data")
	tests := []struct {
		path    string
		opts    DataOptions
		file    string   // how records name the file
		columns []string // want, when err is ""
		rows    []readResult
		err     string // part of the error OpenData returns
	}{
		{
			path: filepath.Join(data, "excel-semicolon-bom.csv"), opts: DataOptions{Name: "export.csv"}, file: "export.csv",
			columns: []string{"email", "name", "First Name", "amount"},
			rows: []readResult{
				wantRecord(2, "anna@example.com", "Anna Schröder", "Anna", "1,50"),
				wantRecord(4, "bernd@example.org", `Bernd "Bernie" Baß`, "Bernd", "2,00"),
				wantRecord(5, "carla@example.test", "Carla\nMaria Rossi", "Carla", "3"),
			},
		},
		{
			path:    filepath.Join(data, "people.tsv"),
			columns: []string{"email", "name", "city"},
			rows: []readResult{
				wantRecord(2, "ann@example.com", "Ann Lee", "Seoul, KR"),
				wantRecord(3, "bo@example.org", `Bo "Bobby" Chen`, "Taipei"),
			},
		},
		{
			// A .tsv file falls back to tabs, so commas stay in the field.
			path:    filepath.Join(data, "one-column.tsv"),
			columns: []string{"email"},
			rows:    []readResult{wantRecord(2, "ann@example.com"), wantRecord(3, "bo@example.org, the second")},
		},
		{
			path: filepath.Join(data, "latin1.csv"), columns: []string{"email", "name"},
			rows: []readResult{wantRowError(2, "name", "not valid UTF-8"), wantRecord(3, "jose@example.org", "Jose")},
		},
		{
			path: filepath.Join(data, "latin1.csv"), opts: DataOptions{Delimiter: ';'}, columns: []string{"email,name"},
			rows: []readResult{wantRowError(2, "email,name", "not valid UTF-8"), wantRecord(3, "jose@example.org,Jose")},
		},
		{path: filepath.Join(dir, "upper.CSV"), columns: []string{"email", "name"}, rows: []readResult{wantRecord(2, "ann@example.com", "Ann")}},
		{path: filepath.Join(dir, "notes.txt"), columns: []string{"email", "name"}, rows: []readResult{wantRecord(2, "ann@example.com", "Ann")}},
		{path: filepath.Join(dir, "legacy.xls"), err: `legacy.xls: cannot read .xls files; save the sheet as .xlsx`},
		{path: filepath.Join(dir, "people.ods"), err: `cannot read .ods files`},
		{path: filepath.Join(dir, "people"), err: `has no extension to tell its type; use .csv, .tsv, .txt or .xlsx`},
		{path: filepath.Join(dir, "people.json"), err: `unknown data file type ".json"`},
		{path: filepath.Join(dir, "broken.xlsx"), opts: DataOptions{Name: "b.xlsx"}, err: "merge: b.xlsx: not an XLSX workbook: zip: not a valid zip file"},
		{path: filepath.Join(dir, "secret.xlsx"), err: "secret.xlsx: the workbook is encrypted or in the Excel 97-2003 format; save it as .xlsx without a password"},
		{path: filepath.Join(dir, "missing.csv"), err: "missing.csv: no such file or directory"},
		{path: filepath.Join(dir, "upper.CSV"), opts: DataOptions{Sheet: "People"}, err: `a sheet name ("People") applies only to .xlsx files`},
		{path: filepath.Join(dir, "broken.xlsx"), opts: DataOptions{Delimiter: ';'}, err: `a delimiter (';') applies only to CSV files`},
		{path: filepath.Join(dir, "upper.CSV"), opts: DataOptions{Delimiter: '"'}, err: `'"' cannot separate CSV fields`},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			r, err := OpenData(tt.path, tt.opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "merge: ") {
					t.Fatalf("OpenData error = %v, want one containing %q", err, tt.err)
				}
				if r != nil {
					t.Errorf("OpenData returned a reader and an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := r.Columns().Names(); !reflect.DeepEqual(got, tt.columns) {
				t.Errorf("columns = %q, want %q", got, tt.columns)
			}
			file := tt.file
			if file == "" {
				file = tt.path
			}
			compareResults(t, readRecords(t, r, file), tt.rows)
			if err := r.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestSamples checks that samples/recipients.csv and samples/recipients.xlsx
// hold the same people, that the XLSX holds real number and date cells, and
// that the samples have what the README promises: the columns the sample
// template uses, at least ten rows, non-ASCII names, a name with <, & and
// quotes, an emoji, and addresses only under reserved domains.
func TestSamples(t *testing.T) {
	csvPath := filepath.Join("..", "samples", "recipients.csv")
	xlsxPath := filepath.Join("..", "samples", "recipients.xlsx")
	read := func(path string) ([]string, []readResult) {
		r, err := OpenData(path, DataOptions{Name: "recipients"})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return r.Columns().Names(), readRecords(t, r, "recipients")
	}
	csvCols, csvRows := read(csvPath)
	xlsxCols, xlsxRows := read(xlsxPath)
	wantCols := []string{"email", "name", "First Name", "city", "ticket", "date", "token"}
	if !reflect.DeepEqual(csvCols, wantCols) || !reflect.DeepEqual(xlsxCols, wantCols) {
		t.Fatalf("columns: CSV %q, XLSX %q; want %q", csvCols, xlsxCols, wantCols)
	}
	compareResults(t, xlsxRows, csvRows)
	if len(csvRows) != 12 {
		t.Errorf("%d sample rows, want 12", len(csvRows))
	}

	var nonASCII, markup, emoji int
	tokens := make(map[string]bool)
	for _, row := range csvRows {
		if row.Err != "" {
			t.Errorf("sample row %v", row)
			continue
		}
		addr, err := mail.ParseAddress(row.Values[0])
		if err != nil {
			t.Errorf("row %d: email %q: %v", row.Row, row.Values[0], err)
		} else if domain := addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]; domain != "example.com" && domain != "example.org" && !strings.HasSuffix(domain, ".test") {
			t.Errorf("row %d: email %q is not under a reserved domain", row.Row, addr.Address)
		}
		name := row.Values[1]
		if strings.ContainsFunc(name, func(r rune) bool { return r >= utf8.RuneSelf }) {
			nonASCII++
		}
		if strings.ContainsAny(name, "<") && strings.ContainsAny(name, "&") && strings.ContainsAny(name, `"`) {
			markup++
		}
		for _, v := range row.Values {
			if strings.ContainsFunc(v, func(r rune) bool { return r >= 0x1F300 && r <= 0x1FAFF }) {
				emoji++
			}
		}
		if _, err := strconv.Atoi(row.Values[4]); err != nil {
			t.Errorf("row %d: ticket %q is not a number", row.Row, row.Values[4])
		}
		// The unsubscribe token: 16 random bytes in hex, one per person.
		if tok := row.Values[6]; len(tok) != 32 || strings.Trim(tok, "0123456789abcdef") != "" || tokens[tok] {
			t.Errorf("row %d: token %q is not 32 lower-case hex digits of its own", row.Row, tok)
		} else {
			tokens[tok] = true
		}
	}
	if nonASCII < 4 || markup == 0 || emoji == 0 {
		t.Errorf("samples have %d non-ASCII names, %d names with <, & and \", %d emoji; want at least 4, 1, 1", nonASCII, markup, emoji)
	}

	// The XLSX must hold numbers, not text that looks like them: the
	// unformatted date is a day count, the ticket a number cell.
	book, err := excelize.OpenFile(xlsxPath)
	if err != nil {
		t.Fatal(err)
	}
	defer book.Close()
	sheet := book.GetSheetList()[0]
	for _, row := range csvRows {
		ticket, _ := excelize.CoordinatesToCellName(5, row.Row)
		date, _ := excelize.CoordinatesToCellName(6, row.Row)
		if typ, _ := book.GetCellType(sheet, ticket); typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
			t.Errorf("%s is a cell of type %v, want a number", ticket, typ)
		}
		// A token of digits could be read as a number: it must be text.
		token, _ := excelize.CoordinatesToCellName(7, row.Row)
		if typ, _ := book.GetCellType(sheet, token); typ != excelize.CellTypeSharedString && typ != excelize.CellTypeInlineString {
			t.Errorf("%s is a cell of type %v, want text", token, typ)
		}
		raw, err := book.GetCellValue(sheet, date, excelize.Options{RawCellValue: true})
		if _, perr := strconv.Atoi(raw); err != nil || perr != nil {
			t.Errorf("%s holds %q (%v), want a date serial number", date, raw, err)
		}
	}
}

func TestColumnLetters(t *testing.T) {
	for i, want := range map[int]string{0: "A", 1: "B", 25: "Z", 26: "AA", 27: "AB", 51: "AZ", 52: "BA", 701: "ZZ", 702: "AAA", 16383: "XFD"} {
		if got := columnLetters(i); got != want {
			t.Errorf("columnLetters(%d) = %q, want %q", i, got, want)
		}
		// excelize is an independent implementation of the same naming.
		if cell, _ := excelize.CoordinatesToCellName(i+1, 1); cell != want+"1" {
			t.Errorf("excelize names column %d %q, want %q", i+1, cell, want+"1")
		}
	}
}
