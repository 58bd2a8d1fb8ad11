package merge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		delim   rune // 0: detect
		columns []string
		rows    []readResult
	}{
		{
			name:    "plain",
			in:      "email,name\nann@example.com,Ann\nbo@example.org,Bo\n",
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann"), wantRecord(3, "bo@example.org", "Bo")},
		},
		{
			name:    "CRLF and no final line break",
			in:      "email,name\r\nann@example.com,Ann\r\nbo@example.org,Bo",
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann"), wantRecord(3, "bo@example.org", "Bo")},
		},
		{
			name:    "byte order mark",
			in:      "\ufeffemail,name\nann@example.com,Ann\n",
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann")},
		},
		{
			name:    "header names trimmed, values kept",
			in:      " email ,  First Name\t\n ann@example.com , Ann \n",
			columns: []string{"email", "First Name"},
			rows:    []readResult{wantRecord(2, " ann@example.com ", " Ann ")},
		},
		{
			name:    "quoted fields with delimiters and doubled quotes",
			in:      "name,city,note\n\"Tom \"\"T-Bone\"\" <Tommy> & Co\",\"Austin, TX\",\"\"\n",
			columns: []string{"name", "city", "note"},
			rows:    []readResult{wantRecord(2, `Tom "T-Bone" <Tommy> & Co`, "Austin, TX", "")},
		},
		{
			name:    "multi-line field is one row",
			in:      "name,address\nAnn,\"1 Main St\nSpringfield\"\nBo,\"2 Side St\"\n",
			columns: []string{"name", "address"},
			rows:    []readResult{wantRecord(2, "Ann", "1 Main St\nSpringfield"), wantRecord(3, "Bo", "2 Side St")},
		},
		{
			name:    "multi-line fields with CRLF",
			in:      "a,b\r\n\"x\r\ny\r\nz\",\"1\r\n2\"\r\nq,3\r\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(2, "x\ny\nz", "1\n2"), wantRecord(3, "q", "3")},
		},
		{
			name:    "blank lines skipped but numbered",
			in:      "a,b\n\n1,2\n\r\n\n3,4\n\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(3, "1", "2"), wantRecord(6, "3", "4")},
		},
		{
			name:    "rows of empty fields and spaces are blank",
			in:      "a,b\n,\n  \n\"\",\" \"\n1,2\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(5, "1", "2")},
		},
		{
			name:    "blank lines before the header",
			in:      "\n\n,,\na,b\n1,2\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(5, "1", "2")},
		},
		{
			name:    "rows numbered as a spreadsheet shows them",
			in:      "a,b\n\"1\n2\n3\",x\n\n\"4\n5\",y\nz,w\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(2, "1\n2\n3", "x"), wantRecord(4, "4\n5", "y"), wantRecord(5, "z", "w")},
		},
		{
			name:    "semicolon detected",
			in:      "email;name\nann@example.com;Ann, Jr.\n",
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann, Jr.")},
		},
		{
			name:    "tab detected",
			in:      "email\tname\tcity\nann@example.com\tAnn; Lee\tSeoul, KR\n",
			columns: []string{"email", "name", "city"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann; Lee", "Seoul, KR")},
		},
		{
			name:    "detection ignores quoted delimiters",
			in:      "\"a,b,c\";d\n1;2\n",
			columns: []string{"a,b,c", "d"},
			rows:    []readResult{wantRecord(2, "1", "2")},
		},
		{
			name:    "detection skips blank lines",
			in:      "\n\na;b\n1;2\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(4, "1", "2")},
		},
		{
			name:    "delimiter given",
			in:      "a,b;c\n1,2;3\n",
			delim:   ';',
			columns: []string{"a,b", "c"},
			rows:    []readResult{wantRecord(2, "1,2", "3")},
		},
		{
			name:    "single column",
			in:      "email\nann@example.com\n\nbo@example.org\n",
			columns: []string{"email"},
			rows:    []readResult{wantRecord(2, "ann@example.com"), wantRecord(4, "bo@example.org")},
		},
		{
			name:    "non-ASCII and emoji",
			in:      "name,city\nZoë Müller,Lisbon 🌊\n王小明,北京\n",
			columns: []string{"name", "city"},
			rows:    []readResult{wantRecord(2, "Zoë Müller", "Lisbon 🌊"), wantRecord(3, "王小明", "北京")},
		},
		{
			name:    "wrong number of fields",
			in:      "a,b\n1\n2,3\n4,5,6\n7,8,\n9,\n",
			columns: []string{"a", "b"},
			rows: []readResult{
				wantRowError(2, "", "the row has 1 field but the header has 2 columns"),
				wantRecord(3, "2", "3"),
				wantRowError(4, "", "the row has 3 fields but the header has 2 columns"),
				wantRowError(5, "", "the row has 3 fields"),
				wantRecord(6, "9", ""),
			},
		},
		{
			name:    "invalid UTF-8",
			in:      "name,city\nZo\xeb,Z\xfcrich\nAnn,\xed\xa0\x80\nBo,Paris\n",
			columns: []string{"name", "city"},
			rows: []readResult{
				wantRowError(2, "name", "is not valid UTF-8 text; save the file as CSV UTF-8"),
				wantRowError(3, "city", "is not valid UTF-8"),
				wantRecord(4, "Bo", "Paris"),
			},
		},
		{
			name:    "bare quote",
			in:      "a,b\n1,Tom \"T\" Co\n2,3\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRowError(2, "", `a " appears inside a field that does not begin with one (line 2, byte 7`), wantRecord(3, "2", "3")},
		},
		{
			name:    "text after closing quote, over two lines",
			in:      "a,b\n1,\"x\ny\"z\nq,r\n",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRowError(2, "", "a quoted field is not closed, or text follows its closing quote before the next ',' (line 3"), wantRecord(3, "q", "r")},
		},
		{
			name:    "quote never closed costs its row only",
			in:      "a,b\n1,2\n3,\"x\n4,5\n\n6,7",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(2, "1", "2"), wantRowError(3, "", "a quoted field is not closed"), wantRecord(4, "4", "5"), wantRecord(6, "6", "7")},
		},
		{
			name:    "quote never closed after multi-line rows and blank lines",
			in:      "a,b\n\"1\n1\",2\n\n\n3,\"x\n4,5",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(2, "1\n1", "2"), wantRowError(5, "", "a quoted field is not closed"), wantRecord(6, "4", "5")},
		},
		{
			name:    "quote never closed on the last line",
			in:      "a,b\n1,2\n3,\"x",
			columns: []string{"a", "b"},
			rows:    []readResult{wantRecord(2, "1", "2"), wantRowError(3, "", "a quoted field is not closed")},
		},
		{
			name:    "CR line ends",
			in:      "email,name\rann@example.com,Ann\r\rbo@example.org,\"Bo\rLee\"\rcy@example.org,Cy\r",
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann"), wantRecord(4, "bo@example.org", "Bo\nLee"), wantRecord(5, "cy@example.org", "Cy")},
		},
		{
			name:    "CR line ends, semicolons detected",
			in:      "email;name\rann@example.com;Ann, Jr.",
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann, Jr.")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newCSVReader(context.Background(), strings.NewReader(tt.in), "t.csv", tt.delim, ',', defaultDataLimits())
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Columns().Names(); !reflect.DeepEqual(got, tt.columns) {
				t.Errorf("columns = %q, want %q", got, tt.columns)
			}
			compareResults(t, readRecords(t, r, "t.csv"), tt.rows)
		})
	}
}

func TestCSVHeaderErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		row    int    // of the *RowError, 0 if the error is none
		column string // of the *RowError
		err    string
	}{
		{name: "empty", in: "", err: "merge: t.csv: the file is empty; its first row must name the columns"},
		{name: "only blank lines", in: "\ufeff\n\r\n ,\n", err: "the file is empty"},
		{name: "empty name", in: "email,,name\n", row: 1, err: "merge: t.csv:1: the header has no name for column 2 (B)"},
		{name: "blank name", in: "\n\nemail,name,  \n", row: 3, err: "the header has no name for column 3 (C)"},
		{name: "duplicated name", in: "email,name,Email,email\n", row: 1, column: "email",
			err: `merge: t.csv:1: column "email": the header names columns 1 (A) and 4 (D) alike; column names must be unique`},
		{name: "duplicated after trimming", in: "name, name\n", row: 1, column: "name", err: "columns 1 (A) and 2 (B) alike"},
		{name: "not UTF-8", in: "email,Stra\xdfe\n", row: 1, err: "t.csv:1: the name of column 2 (B) is not valid UTF-8 text"},
		{name: "UTF-16", in: "\xff\xfee\x00m\x00", err: "merge: t.csv: the file is UTF-16 text; save it as CSV UTF-8"},
		{name: "unclosed quote", in: "email,\"name\n", row: 1, err: "a quoted field is not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newCSVReader(context.Background(), strings.NewReader(tt.in), "t.csv", 0, ',', defaultDataLimits())
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one containing %q", err, tt.err)
			}
			var rerr *RowError
			if errors.As(err, &rerr) != (tt.row != 0) {
				t.Fatalf("error %v: is a *RowError: %v, want %v", err, !(tt.row != 0), tt.row != 0)
			}
			if rerr != nil && (rerr.Row != tt.row || rerr.Column != tt.column || rerr.File != "t.csv") {
				t.Errorf("RowError{File: %q, Row: %d, Column: %q}, want {t.csv, %d, %q}", rerr.File, rerr.Row, rerr.Column, tt.row, tt.column)
			}
		})
	}
}

// TestCSVRecordLimit checks that a quote never closed cannot make the
// reader buffer the rest of a large file: the record that outgrows the limit
// is an invalid row, and reading goes on with the line after its first.
func TestCSVRecordLimit(t *testing.T) {
	limits := defaultDataLimits()
	limits.csvRecord = 1 << 10
	var in bytes.Buffer
	in.WriteString("email,note\nann@example.com,fine\nbo@example.org,\"never closed\n")
	for in.Len() < 4*csvBufferSize {
		in.WriteString("a long line that the open quote swallows into the note field\n")
	}
	lines := strings.Count(in.String(), "\n")
	src := &byteCounter{r: &in}
	r, err := newCSVReader(context.Background(), src, "t.csv", 0, ',', limits)
	if err != nil {
		t.Fatal(err)
	}
	if rec, err := r.Next(); err != nil || rec.Row != 2 {
		t.Fatalf("Next = %v, %v; want row 2", rec, err)
	}
	_, err = r.Next()
	const want = "t.csv:3: the row is longer than 1 kB; is a closing quote missing?"
	var rerr *RowError
	if !errors.As(err, &rerr) || err.Error() != want {
		t.Fatalf("Next error = %v, want the *RowError %q", err, want)
	}
	if max := int64(limits.csvRecord + 2*csvBufferSize + 4<<10); src.n > max {
		t.Errorf("read %d bytes of the input, want at most %d", src.n, max)
	}
	// Reading goes on with the line after the quote: here every line
	// lacks a field, and each is reported, none lost.
	rows := readRecords(t, r, "t.csv")
	if len(rows) != lines-3 || rows[0].Row != 4 || rows[len(rows)-1].Row != lines {
		t.Errorf("read %d rows after the error, %v ... %v; want rows 4 to %d", len(rows), rows[0], rows[len(rows)-1], lines)
	}
	for _, g := range rows {
		if !strings.Contains(g.Err, "the row has 1 field but the header has 2 columns") {
			t.Fatalf("got %v, want a row error", g)
		}
	}

	// Records that fit go on however long the file is.
	var long bytes.Buffer
	long.WriteString("n,text\n")
	for i := range 2000 {
		fmt.Fprintf(&long, "%d,\"%s\"\n", i, strings.Repeat("x\n", 200))
	}
	r, err = newCSVReader(context.Background(), &long, "t.csv", 0, ',', limits)
	if err != nil {
		t.Fatal(err)
	}
	rows = readRecords(t, r, "t.csv")
	if len(rows) != 2000 || rows[1999].Row != 2001 || rows[1999].Err != "" {
		t.Errorf("read %d rows, the last %v; want 2000, the last row 2001", len(rows), rows[len(rows)-1])
	}
}

// byteCounter counts the bytes read through it.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestDetectDelimiter(t *testing.T) {
	tests := []struct {
		head     string
		fallback rune
		want     rune
	}{
		{"a,b,c\n", ',', ','},
		{"a;b;c\n1,2;3", ',', ';'},
		{"a\tb;c\tb", ',', '\t'},
		{"a;b,c", ',', ','},   // a tie goes to ','
		{"a;b\tc", ',', ';'},  // and then to ';'
		{"email", ',', ','},   // nothing to detect
		{"email", '\t', '\t'}, // the fallback wins
		{"", '\t', '\t'},
		{"\"a;b;c\",d,e\n", ',', ','},
		{"\"x\ny;z\";w\n1,2,3,4,5,6\n", ',', ';'}, // a quoted line break is no line end
		{" \r\n\n\"\"\n", ',', ','},
		{"\n \r\na;b\n1,2,3,4\n", ',', ';'},
	}
	for _, tt := range tests {
		if got := detectDelimiter([]byte(tt.head), tt.fallback); got != tt.want {
			t.Errorf("detectDelimiter(%q, %q) = %q, want %q", tt.head, tt.fallback, got, tt.want)
		}
	}
}

// FuzzCSVReader checks that no input makes the CSV reader panic or loop,
// that every record has one value per column, that row numbers increase,
// and, for input without quotes or carriage returns, that every record is
// exactly its line of the input (an oracle independent of encoding/csv).
func FuzzCSVReader(f *testing.F) {
	for _, seed := range []string{
		"email,name\nann@example.com,Ann\n",
		"\ufeffa;b\r\n1;2\r\n\r\n3;4",
		"a\tb\n\"x\ny\"\t2\n\n\n4\t5\n",
		"a,b\n\"1\"\"2\",\"3\n4\"\n5,6,7\n8\n",
		"a,b\n1,x\"y\n2,\"z\"w\n3,\"open\n",
		"a,a\n",
		"\n\n,\n a , b \n \n1,2\n",
		"name\nZo\xeb\n\xed\xa0\x80\n",
		"\xff\xfe",
		"\"",
	} {
		for sel := range byte(4) {
			f.Add([]byte(seed), sel)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, sel byte) {
		delim := [...]rune{0, ',', ';', '\t'}[sel%4]
		limits := defaultDataLimits()
		limits.csvRecord = 1 << 10
		r, err := newCSVReader(context.Background(), bytes.NewReader(data), "f.csv", delim, ',', limits)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "merge: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		names := r.Columns().Names()
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" || n != strings.TrimSpace(n) || seen[n] || !utf8.ValidString(n) {
				t.Fatalf("bad column names %q", names)
			}
			seen[n] = true
		}

		// Without quotes or CRs a line is a record, so row N is line N.
		plain := !bytes.ContainsAny(data, "\"\r")
		lines := strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n")
		last := 0
		for range len(data) + 2 {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			var rerr *RowError
			if errors.As(err, &rerr) {
				if rerr.Row <= last {
					t.Fatalf("error for row %d after row %d", rerr.Row, last)
				}
				last = rerr.Row
				continue
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "merge: f.csv: ") {
					t.Fatalf("Next: %v", err)
				}
				return
			}
			if len(rec.Values) != len(names) {
				t.Fatalf("row %d: %d values for %d columns", rec.Row, len(rec.Values), len(names))
			}
			if rec.Row <= last {
				t.Fatalf("row %d after row %d", rec.Row, last)
			}
			last = rec.Row
			if isBlankRow(rec.Values) {
				t.Fatalf("blank row %d returned", rec.Row)
			}
			for _, v := range rec.Values {
				if !utf8.ValidString(v) {
					t.Fatalf("row %d: invalid UTF-8 %q", rec.Row, v)
				}
			}
			if plain {
				if rec.Row > len(lines) {
					t.Fatalf("row %d of %d lines", rec.Row, len(lines))
				}
				if got, want := strings.Join(rec.Values, string(r.csv.Comma)), lines[rec.Row-1]; got != want {
					t.Fatalf("row %d = %q, line %d = %q", rec.Row, got, rec.Row, want)
				}
			}
		}
		t.Fatal("Next never returned io.EOF")
	})
}

// BenchmarkCSVReader reads generated files of 10,000 and 100,000 rows and
// reports rows per second and allocations and bytes per row, which stay the
// same as the file grows: the reader streams.
func BenchmarkCSVReader(b *testing.B) {
	dir := b.TempDir()
	for _, rows := range []int{10_000, 100_000} {
		path := filepath.Join(dir, fmt.Sprintf("%d.csv", rows))
		writeBenchCSV(b, path, rows)
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			benchmarkDataRead(b, path, rows)
		})
	}
}

func writeBenchCSV(b *testing.B, path string, rows int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("email,name,First Name,city,ticket,date\n")
	for i := range rows {
		fmt.Fprintf(w, "person%d@example.com,\"Person %d, Jr.\",Zoë,Lisbon 🌊,%d,2026-05-%02d\n", i, i, 1000+i, 1+i%28)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// benchmarkDataRead reads the data file at path, of rows rows, b.N times.
func benchmarkDataRead(b *testing.B, path string, rows int) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for b.Loop() {
		r, err := OpenData(path, DataOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		r.Close()
		if n != rows {
			b.Fatalf("read %d rows, want %d", n, rows)
		}
	}
	runtime.ReadMemStats(&after)
	total := float64(rows) * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/total, "allocs/row")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/total, "B/row")
}
