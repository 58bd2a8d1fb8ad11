package merge

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// rawBook is a workbook written part by part, the way spreadsheet
// applications write them, so that tests control every cell's XML (cached
// formula values, shared strings, cells without references) independently of
// excelize, the library under the reader.
type rawBook struct {
	sheets   []rawSheet
	strings  []string // shared string items: <si> contents
	date1904 bool
	styles   string // xl/styles.xml; "" for rawStyles
}

// rawSheet is one worksheet: its name and the content of its <sheetData>.
type rawSheet struct {
	name string
	data string
}

// rawStyles gives cells these formats by their s attribute:
// 1 yyyy-mm-dd, 2 hh:mm, 3 0%, 4 0.00%, 5 #,##0.00, 6 m/d/yy h:mm,
// 7 dd.mm.yyyy hh:mm:ss, 8 @ (text), 9 the system short date (built-in 14).
const rawStyles = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="3"><numFmt numFmtId="164" formatCode="yyyy\-mm\-dd"/><numFmt numFmtId="165" formatCode="hh:mm"/><numFmt numFmtId="166" formatCode="dd.mm.yyyy hh:mm:ss"/></numFmts>
<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>
<fills count="1"><fill><patternFill patternType="none"/></fill></fills>
<borders count="1"><border/></borders>
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>
<cellXfs count="10">
<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="9" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="10" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="4" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>
</cellXfs>
</styleSheet>`

// write writes the workbook to path as an XLSX package (ECMA-376 part 2).
func (b rawBook) write(t testing.TB, path string) {
	t.Helper()
	var types, wbSheets, wbRels strings.Builder
	for i, s := range b.sheets {
		fmt.Fprintf(&types, `<Override PartName="/xl/worksheets/sheet%d.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>`, i+1)
		fmt.Fprintf(&wbSheets, `<sheet name="%s" sheetId="%d" r:id="rId%d"/>`, s.name, i+1, i+1)
		fmt.Fprintf(&wbRels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet%d.xml"/>`, i+1, i+1)
	}
	pr := ""
	if b.date1904 {
		pr = `<workbookPr date1904="1"/>`
	}
	styles := b.styles
	if styles == "" {
		styles = rawStyles
	}
	var sst strings.Builder
	fmt.Fprintf(&sst, `<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="%d" uniqueCount="%d">`, len(b.strings), len(b.strings))
	for _, s := range b.strings {
		sst.WriteString("<si>" + s + "</si>")
	}
	sst.WriteString("</sst>")
	parts := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>` + types.String() + `</Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">` + pr + `<sheets>` + wbSheets.String() + `</sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` + wbRels.String() + `<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rIdT" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`},
		{"xl/styles.xml", styles},
		{"xl/sharedStrings.xml", sst.String()},
	}
	for i, s := range b.sheets {
		parts = append(parts, struct{ name, body string }{
			fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1), worksheetXML(s.data),
		})
	}
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	for _, p := range parts {
		w, err := z.Create(p.name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeStored writes the workbook with its parts stored, not deflated, so
// that a test can edit a cell's text in place.
func (b rawBook) writeStored(t testing.TB, path string) {
	t.Helper()
	b.write(t, path)
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(w, rc)
		rc.Close()
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// worksheetXML returns a worksheet part with data as its <sheetData>.
func worksheetXML(data string) string {
	return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheetData>` + data + `</sheetData></worksheet>`
}

// xlsxNumberRows returns a header row naming one column n and rows rows below
// it, 26 highly compressible bytes each.
func xlsxNumberRows(rows int) string {
	return xlsxHeaderRow(1, "n") + strings.Repeat(`<row><c><v>1</v></c></row>`, rows)
}

// xlsxHeaderRow returns row r of inline-string cells holding names.
func xlsxHeaderRow(r int, names ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<row r="%d">`, r)
	for i, n := range names {
		fmt.Fprintf(&b, `<c r="%s%d" t="inlineStr"><is><t xml:space="preserve">%s</t></is></c>`, columnLetters(i), r, n)
	}
	b.WriteString("</row>")
	return b.String()
}

func TestXLSXReader(t *testing.T) {
	tests := []struct {
		name    string
		book    rawBook
		columns []string
		rows    []readResult
	}{
		{
			name: "dates, times and numbers as formatted",
			book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "date", "time", "when", "stamp", "ticket", "share", "rate", "price", "id", "text", "short") +
				`<row r="2"><c r="A2" s="1"><v>46095</v></c><c r="B2" s="2"><v>0.395833333333333</v></c><c r="C2" s="6"><v>46095.75</v></c>` +
				`<c r="D2" s="7"><v>46095.5211805556</v></c><c r="E2"><v>1001</v></c><c r="F2" s="3"><v>0.3</v></c><c r="G2" s="4"><v>0.125</v></c>` +
				`<c r="H2" s="5"><v>1234.5</v></c><c r="I2"><v>1234567890123</v></c><c r="J2" s="8" t="inlineStr"><is><t>007</t></is></c><c r="K2" s="9"><v>46095</v></c></row>`}}},
			columns: []string{"date", "time", "when", "stamp", "ticket", "share", "rate", "price", "id", "text", "short"},
			rows:    []readResult{wantRecord(2, "2026-03-14", "09:30", "2026-03-14 18:00", "14.03.2026 12:30:30", "1001", "30%", "12.50%", "1,234.50", "1234567890123", "007", "2026-03-14")},
		},
		{
			name:    "1904 date system",
			book:    rawBook{date1904: true, sheets: []rawSheet{{"S", xlsxHeaderRow(1, "date") + `<row r="2"><c r="A2" s="1"><v>44633</v></c></row>`}}},
			columns: []string{"date"},
			rows:    []readResult{wantRecord(2, "2026-03-14")},
		},
		{
			name: "numbers without float noise",
			book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "a", "b", "c", "d", "e") +
				`<row r="2"><c r="A2"><v>0.30000000000000004</v></c><c r="B2"><v>0.1</v></c><c r="C2"><v>1.0000000000000002</v></c>` +
				`<c r="D2"><v>100.00000000000001</v></c><c r="E2"><v>2.5E-3</v></c></row>`}}},
			columns: []string{"a", "b", "c", "d", "e"},
			rows:    []readResult{wantRecord(2, "0.3", "0.1", "1", "100", "0.0025")},
		},
		{
			name: "formulas as their cached values",
			book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "n", "s", "b", "e", "d", "f", "none") +
				`<row r="2"><c r="A2"><f>1+1</f><v>2</v></c><c r="B2" t="str"><f>"x"&amp;"y"</f><v>xy</v></c><c r="C2" t="b"><f>TRUE()</f><v>1</v></c>` +
				`<c r="D2" t="e"><f>1/0</f><v>#DIV/0!</v></c><c r="E2" s="1"><f>DATE(2026,3,14)</f><v>46095</v></c><c r="F2"><f>0.1+0.2</f><v>0.30000000000000004</v></c>` +
				`<c r="G2"><f>A2*2</f></c></row>`}}},
			columns: []string{"n", "s", "b", "e", "d", "f", "none"},
			rows:    []readResult{wantRecord(2, "2", "xy", "TRUE", "#DIV/0!", "2026-03-14", "0.3", "")},
		},
		{
			name: "shared strings, rich text, rows and cells without references",
			book: rawBook{
				strings: []string{`<t>email</t>`, `<t>name</t>`, `<t>ann@example.com</t>`, `<r><t xml:space="preserve">Ann </t></r><r><rPr><b/></rPr><t>Lee</t></r>`, `<t>Tom "T-Bone" &lt;Tommy&gt; &amp; Co</t>`},
				sheets: []rawSheet{{"S", `<row><c t="s"><v>0</v></c><c t="s"><v>1</v></c></row>` +
					`<row><c t="s"><v>2</v></c><c t="s"><v>3</v></c></row><row/><row><c r="B4" t="s"><v>4</v></c></row>`}},
			},
			columns: []string{"email", "name"},
			rows:    []readResult{wantRecord(2, "ann@example.com", "Ann Lee"), wantRecord(4, "", `Tom "T-Bone" <Tommy> & Co`)},
		},
		{
			name: "empty cells and short rows padded, blank rows skipped but numbered",
			book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "a", "b", "c") +
				`<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c><c r="C2" t="inlineStr"><is><t>z</t></is></c></row>` +
				`<row r="4"><c r="A4"><v>4</v></c></row>` +
				`<row r="5"><c r="A5" s="1"/><c r="B5" t="inlineStr"><is><t xml:space="preserve">  </t></is></c></row>` +
				`<row r="6" ht="30" customHeight="1"/>` +
				`<row r="9"><c r="B9" t="inlineStr"><is><t>w</t></is></c></row>`}}},
			columns: []string{"a", "b", "c"},
			rows:    []readResult{wantRecord(2, "x", "", "z"), wantRecord(4, "4", "", ""), wantRecord(9, "", "w", "")},
		},
		{
			name: "header below blank rows, trimmed, trailing blank cells no columns",
			book: rawBook{sheets: []rawSheet{{"S", `<row r="2"><c r="A2" t="inlineStr"><is><t xml:space="preserve"> </t></is></c></row>` +
				xlsxHeaderRow(3, "email", " First Name ", " ") + `<row r="4"><c r="A4" t="inlineStr"><is><t>x</t></is></c><c r="B4" t="inlineStr"><is><t> y </t></is></c></row>`}}},
			columns: []string{"email", "First Name"},
			rows:    []readResult{wantRecord(4, "x", " y ")},
		},
		{
			name: "values beyond the named columns",
			book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "a", "b") +
				`<row r="2"><c r="A2"><v>1</v></c><c r="D2" t="inlineStr"><is><t>stray</t></is></c></row>` +
				`<row r="3"><c r="A3"><v>2</v></c><c r="C3" t="str"><f>""</f><v></v></c></row>`}}},
			columns: []string{"a", "b"},
			rows:    []readResult{wantRowError(2, "", "cell D2 holds a value, but the header names no column D"), wantRecord(3, "2", "")},
		},
		{
			name: "non-ASCII, emoji and markup",
			book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "name", "city", "First Name") +
				xlsxHeaderRow(2, "Zoë Müller", "Lisbon 🌊", "Zoë") + xlsxHeaderRow(3, "Tom &quot;T-Bone&quot; &lt;Tommy&gt; &amp; Co", "北京", "Łukasz")}}},
			columns: []string{"name", "city", "First Name"},
			rows:    []readResult{wantRecord(2, "Zoë Müller", "Lisbon 🌊", "Zoë"), wantRecord(3, `Tom "T-Bone" <Tommy> & Co`, "北京", "Łukasz")},
		},
	}
	// Each table runs with the parts in memory and, with a limit of one
	// byte, with the sheet and shared strings unpacked to temporary files,
	// the way excelize reads large workbooks.
	for _, spill := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/spilled=%v", tt.name, spill), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "t.xlsx")
				tt.book.write(t, path)
				opts := DataOptions{Name: "t.xlsx"}
				if spill {
					limits := defaultDataLimits()
					limits.xlsxUnzipXML = 1
					opts.limits = &limits
				}
				r, err := OpenData(path, opts)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if got := r.Columns().Names(); !reflect.DeepEqual(got, tt.columns) {
					t.Errorf("columns = %q, want %q", got, tt.columns)
				}
				compareResults(t, readRecords(t, r, "t.xlsx"), tt.rows)
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}
}

func TestXLSXHeaderErrors(t *testing.T) {
	tests := []struct {
		name string
		book rawBook
		row  int // of the *RowError, 0 if the error is none
		err  string
	}{
		{name: "empty sheet", book: rawBook{sheets: []rawSheet{{"Guests", `<row r="1"/><row r="2"><c r="A2" s="1"/></row>`}}},
			err: `merge: t.xlsx: sheet "Guests" is empty; its first row must name the columns`},
		{name: "empty name", book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(2, "email", "", "name")}}},
			row: 2, err: "merge: t.xlsx:2: the header has no name for column 2 (B)"},
		{name: "duplicated name", book: rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "email", "name", "email ")}}},
			row: 1, err: `merge: t.xlsx:1: column "email": the header names columns 1 (A) and 3 (C) alike`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.xlsx")
			tt.book.write(t, path)
			_, err := OpenData(path, DataOptions{Name: "t.xlsx"})
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one containing %q", err, tt.err)
			}
			if rerr := (*RowError)(nil); errors.As(err, &rerr) != (tt.row != 0) || rerr != nil && rerr.Row != tt.row {
				t.Errorf("error %v: *RowError %+v, want one for row %d", err, rerr, tt.row)
			}
		})
	}
}

// TestXLSXSheets reads a workbook written by excelize with shared strings
// (as Excel writes them) and checks the choice of sheet.
func TestXLSXSheets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "book.xlsx")
	book := excelize.NewFile()
	book.SetSheetName("Sheet1", "Summary")
	book.NewSheet("People")
	book.NewSheet("Empty")
	book.SetActiveSheet(1) // the active sheet is not the first sheet
	for _, c := range []struct {
		sheet, cell string
		value       any
	}{
		{"Summary", "A1", "total"}, {"Summary", "A2", 2},
		{"People", "A1", "email"}, {"People", "B1", "joined"},
		{"People", "A2", "ann@example.com"}, {"People", "B2", time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)},
	} {
		if err := book.SetCellValue(c.sheet, c.cell, c.value); err != nil {
			t.Fatal(err)
		}
	}
	if err := book.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		sheet   string
		columns []string
		rows    []readResult
		err     string
	}{
		{sheet: "", columns: []string{"total"}, rows: []readResult{wantRecord(2, "2")}},
		{sheet: "People", columns: []string{"email", "joined"}, rows: []readResult{wantRecord(2, "ann@example.com", "2026-03-14")}},
		{sheet: "people", columns: []string{"email", "joined"}, rows: []readResult{wantRecord(2, "ann@example.com", "2026-03-14")}},
		{sheet: "Guests", err: `merge: book.xlsx: there is no sheet "Guests"; the sheets are "Summary", "People", "Empty"`},
		{sheet: "Empty", err: `merge: book.xlsx: sheet "Empty" is empty`},
	}
	for _, tt := range tests {
		t.Run(tt.sheet, func(t *testing.T) {
			r, err := OpenData(path, DataOptions{Sheet: tt.sheet, Name: "book.xlsx"})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
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
			compareResults(t, readRecords(t, r, "book.xlsx"), tt.rows)
		})
	}
}

// TestXLSXZipBomb checks that workbooks unpacking to more than the limits
// are refused before they are unpacked, and that a large sheet within them is
// read from a temporary file.
func TestXLSXZipBomb(t *testing.T) {
	small := defaultDataLimits()
	small.csvRecord, small.xlsxUnzip, small.xlsxUnzipXML, small.xlsxInMemory = 1<<10, 1<<20, 64<<10, 512<<10
	tests := []struct {
		name   string
		book   rawBook
		limits dataLimits
		rows   int    // the rows read, when err is ""
		err    string // part of the error from OpenData
	}{
		{
			name:   "sheet unpacks beyond the limit",
			book:   rawBook{sheets: []rawSheet{{"S", xlsxNumberRows(300_000)}}}, // 7.8 MB, some 10 kB packed
			limits: small,
			err:    "merge: t.xlsx: the unpacked workbook is larger than 1 MB",
		},
		{
			name:   "styles held in memory beyond the limit",
			book:   rawBook{sheets: []rawSheet{{"S", xlsxNumberRows(1)}}, styles: strings.Replace(rawStyles, "<fonts", strings.Repeat(" ", 600<<10)+"<fonts", 1)},
			limits: small,
			err:    "merge: t.xlsx: the unpacked workbook without its sheet is larger than 512 kB",
		},
		{
			name:   "large sheet within the limits is read from disk",
			book:   rawBook{sheets: []rawSheet{{"S", xlsxNumberRows(30_000)}}}, // 780 kB, more than xlsxInMemory
			limits: small,
			rows:   30_000,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t.xlsx")
			tt.book.write(t, path)
			r, err := OpenData(path, DataOptions{Name: "t.xlsx", limits: &tt.limits})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got := readRecords(t, r, "t.xlsx"); len(got) != tt.rows {
				t.Errorf("read %d rows, want %d", len(got), tt.rows)
			}
		})
	}
}

// TestXLSXForgedSizes checks zip entries that lie: one that declares more
// than the default limits is refused without unpacking; one that unpacks to
// more than it declares, or to bytes that fail its CRC-32, is an error and
// never a sheet silently cut short.
func TestXLSXForgedSizes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.xlsx")
	rawBook{sheets: []rawSheet{{"S", xlsxHeaderRow(1, "n")}}}.write(t, good)
	tests := []struct {
		name     string
		declared uint64 // the size the sheet's entry declares
		crcFlip  uint32 // bits to flip in the CRC-32 the entry declares
		content  []byte // what it unpacks to
		err      string
	}{
		{"declares 3 GiB", 3 << 30, 0, []byte("<worksheet/>"), "merge: t.xlsx: the unpacked workbook is larger than 1 GB"},
		{"declares 100 bytes, holds 4 MB", 100, 0, []byte(worksheetXML(xlsxNumberRows(150_000))),
			"merge: t.xlsx: the workbook is damaged: xl/worksheets/sheet1.xml: zip: not a valid zip file"},
		{"damaged", uint64(len(worksheetXML(xlsxNumberRows(10)))), 1, []byte(worksheetXML(xlsxNumberRows(10))),
			"merge: t.xlsx: the workbook is damaged: xl/worksheets/sheet1.xml: zip: checksum error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "t.xlsx")
			forgeSheet(t, good, path, tt.declared, tt.crcFlip, tt.content)
			r, err := OpenData(path, DataOptions{Name: "t.xlsx"})
			if err == nil {
				r.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one containing %q", err, tt.err)
			}
		})
	}
}

// forgeSheet copies the workbook at from to to, replacing its first sheet by
// content deflated under an entry declaring it declared bytes long, with its
// CRC-32 xor crcFlip.
func forgeSheet(t *testing.T, from, to string, declared uint64, crcFlip uint32, content []byte) {
	t.Helper()
	zr, err := zip.OpenReader(from)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if f.Name != "xl/worksheets/sheet1.xml" {
			if err := zw.Copy(f); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var packed bytes.Buffer
		fw, _ := flate.NewWriter(&packed, flate.BestCompression)
		fw.Write(content)
		fw.Close()
		w, err := zw.CreateRaw(&zip.FileHeader{
			Name: f.Name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(content) ^ crcFlip,
			CompressedSize64: uint64(packed.Len()), UncompressedSize64: declared,
		})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(packed.Bytes())
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkXLSXReader reads workbooks of 10,000 and 100,000 rows written by
// excelize's stream writer (a date cell, a number cell and four strings a
// row) and reports rows per second and allocations and bytes per row.
func BenchmarkXLSXReader(b *testing.B) {
	dir := b.TempDir()
	for _, rows := range []int{10_000, 100_000} {
		path := filepath.Join(dir, fmt.Sprintf("%d.xlsx", rows))
		writeBenchXLSX(b, path, rows)
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			benchmarkDataRead(b, path, rows)
		})
	}
}

func writeBenchXLSX(b *testing.B, path string, rows int) {
	book := excelize.NewFile()
	defer book.Close()
	sw, err := book.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	format := "yyyy-mm-dd"
	date, err := book.NewStyle(&excelize.Style{CustomNumFmt: &format})
	if err != nil {
		b.Fatal(err)
	}
	sw.SetRow("A1", []any{"email", "name", "First Name", "city", "ticket", "date"})
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		err := sw.SetRow(cell, []any{
			fmt.Sprintf("person%d@example.com", i), fmt.Sprintf("Person %d, Jr.", i), "Zoë", "Lisbon 🌊", 1000 + i,
			excelize.Cell{StyleID: date, Value: day.AddDate(0, 0, i%28)},
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := book.SaveAs(path); err != nil {
		b.Fatal(err)
	}
}
