package merge

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// formulaRow is what a test expects of one row read from a sheet with
// formulas: its values and the cells its Warning names, if any.
type formulaRow struct {
	row     int
	values  []string
	cells   []string // UnsavedFormulaError.Cells; nil for no warning
	columns []string // UnsavedFormulaError.Columns
}

// readFormulaRows reads r to io.EOF, failing on any error.
func readFormulaRows(t *testing.T, r RecordReader) []formulaRow {
	t.Helper()
	var got []formulaRow
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		fr := formulaRow{row: rec.Row, values: rec.Values}
		if w := rec.Warning; w != nil {
			var e *UnsavedFormulaError
			if !errors.As(w, &e) {
				t.Fatalf("row %d: Warning %v is not an *UnsavedFormulaError", rec.Row, w)
			}
			if w.File != "t.xlsx" || w.Row != rec.Row {
				t.Errorf("row %d: Warning at %s:%d", rec.Row, w.File, w.Row)
			}
			want := "" // the column when there is one
			if len(e.Columns) == 1 {
				want = e.Columns[0]
			}
			if w.Column != want {
				t.Errorf("row %d: Warning.Column = %q, want %q", rec.Row, w.Column, want)
			}
			fr.cells, fr.columns = e.Cells, e.Columns
		}
		got = append(got, fr)
	}
}

func TestXLSXUnsavedFormula(t *testing.T) {
	header := xlsxHeaderRow(1, "email", "qty", "total", "note")
	tests := []struct {
		name string
		data string
		want []formulaRow
	}{
		{
			name: "a formula without a value in one row",
			data: header +
				`<row r="2"><c r="A2" t="inlineStr"><is><t>ann@example.com</t></is></c><c r="B2"><v>2</v></c><c r="C2"><f>B2*5</f><v>10</v></c></row>` +
				`<row r="3"><c r="A3" t="inlineStr"><is><t>bob@example.com</t></is></c><c r="B3"><v>3</v></c><c r="C3"><f>B3*5</f></c></row>`,
			want: []formulaRow{
				{row: 2, values: []string{"ann@example.com", "2", "10", ""}},
				{row: 3, values: []string{"bob@example.com", "3", "", ""}, cells: []string{"C3"}, columns: []string{"total"}},
			},
		},
		{
			name: "an empty saved value is a value",
			data: header + `<row r="2"><c r="A2" t="inlineStr"><is><t>ann@example.com</t></is></c><c r="D2" t="str"><f>""</f><v></v></c></row>`,
			want: []formulaRow{{row: 2, values: []string{"ann@example.com", "", "", ""}}},
		},
		{
			name: "shared formulas, cells and rows without references",
			data: header +
				`<row><c t="inlineStr"><is><t>ann@example.com</t></is></c><c><v>1</v></c><c><f t="shared" ref="C2:C3" si="0">B2*5</f></c></row>` +
				`<row><c t="inlineStr"><is><t>bob@example.com</t></is></c><c><v>2</v></c><c><f t="shared" si="0"/></c><c><f>"x"</f></c></row>`,
			want: []formulaRow{
				{row: 2, values: []string{"ann@example.com", "1", "", ""}, cells: []string{"C2"}, columns: []string{"total"}},
				{row: 3, values: []string{"bob@example.com", "2", "", ""}, cells: []string{"C3", "D3"}, columns: []string{"total", "note"}},
			},
		},
		{
			name: "a row of nothing but such formulas is not blank",
			data: header + `<row r="2"/><row r="4"><c r="A4"><f>LOWER("ANN@EXAMPLE.COM")</f></c></row>`,
			want: []formulaRow{{row: 4, values: []string{"", "", "", ""}, cells: []string{"A4"}, columns: []string{"email"}}},
		},
		{
			name: "beyond the named columns nothing reads it",
			data: header + `<row r="2"><c r="A2" t="inlineStr"><is><t>ann@example.com</t></is></c><c r="F2"><f>1+1</f></c></row>`,
			want: []formulaRow{{row: 2, values: []string{"ann@example.com", "", "", ""}}},
		},
		{
			name: "inline text is a value",
			data: header + `<row r="2"><c r="A2" t="inlineStr"><f>"ann@example.com"</f><is><t>ann@example.com</t></is></c></row>`,
			want: []formulaRow{{row: 2, values: []string{"ann@example.com", "", "", ""}}},
		},
	}
	for _, spill := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/spilled=%v", tt.name, spill), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "t.xlsx")
				rawBook{sheets: []rawSheet{{"S", tt.data}}}.write(t, path)
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
				got := readFormulaRows(t, r)
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("rows:\ngot  %+v\nwant %+v", got, tt.want)
				}
				if err := r.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
		}
	}
}

func TestUnsavedFormulaErrorText(t *testing.T) {
	const fix = ": open the file in a spreadsheet program and save it, or export CSV"
	tests := []struct {
		cells []string
		want  string
	}{
		{[]string{"C5"}, "cell C5 holds a formula whose value was never saved" + fix},
		{[]string{"C5", "D5"}, "cells C5 and D5 hold formulas whose values were never saved" + fix},
		{[]string{"A5", "C5", "D5"}, "cells A5, C5 and D5 hold formulas whose values were never saved" + fix},
	}
	for _, tt := range tests {
		if got := (&UnsavedFormulaError{Cells: tt.cells}).Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	rowErr := &RowError{File: "people.xlsx", Row: 5, Column: "total", Err: &UnsavedFormulaError{Cells: []string{"C5"}, Columns: []string{"total"}}}
	if got, want := rowErr.Error(), `people.xlsx:5: column "total": cell C5 holds a formula whose value was never saved`+fix; got != want {
		t.Errorf("RowError = %q, want %q", got, want)
	}
}

// TestXLSXUnsavedFormulaHeader: a header cell whose name is a formula
// never calculated is an error of the file, not an empty column name.
func TestXLSXUnsavedFormulaHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.xlsx")
	rawBook{sheets: []rawSheet{{"S", `<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c><c r="B1" t="str"><f>"na"&amp;"me"</f></c></row>`}}}.write(t, path)
	_, err := OpenData(path, DataOptions{Name: "t.xlsx"})
	var rerr *RowError
	var ferr *UnsavedFormulaError
	if !errors.As(err, &rerr) || !errors.As(err, &ferr) {
		t.Fatalf("OpenData error = %v, want a *RowError caused by an *UnsavedFormulaError", err)
	}
	if want := "merge: t.xlsx:1: cell B1 holds a formula whose value was never saved"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want it to begin %q", err, want)
	}
}

// TestXLSXUnsavedFormulaGenerated reads a workbook as a generator library
// writes it: excelize's SetCellFormula stores the formula and no value.
func TestXLSXUnsavedFormulaGenerated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.xlsx")
	f := excelize.NewFile()
	rows := [][]any{{"email", "qty", "total"}, {"ann@example.com", 2}, {"bob@example.com", 3}}
	for i, row := range rows {
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &row); err != nil {
			t.Fatal(err)
		}
	}
	for r := 2; r <= 3; r++ {
		if err := f.SetCellFormula("Sheet1", fmt.Sprintf("C%d", r), fmt.Sprintf("B%d*5", r)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := OpenData(path, DataOptions{Name: "t.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := []formulaRow{
		{row: 2, values: []string{"ann@example.com", "2", ""}, cells: []string{"C2"}, columns: []string{"total"}},
		{row: 3, values: []string{"bob@example.com", "3", ""}, cells: []string{"C3"}, columns: []string{"total"}},
	}
	if got := readFormulaRows(t, r); !reflect.DeepEqual(got, want) {
		t.Errorf("rows:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestUnsavedFormulaUsed(t *testing.T) {
	cols := NewColumns([]string{"email", "qty", "total", "note"})
	rec := &Record{File: "t.xlsx", Row: 5, Columns: cols, Values: make([]string, 4),
		Warning: &RowError{File: "t.xlsx", Row: 5, Err: &UnsavedFormulaError{Cells: []string{"C5", "D5"}, Columns: []string{"total", "note"}}}}
	tests := []struct {
		used []string
		want string // "" for no error
	}{
		{[]string{"email", "qty"}, ""},
		{[]string{"email", "note"}, `t.xlsx:5: column "note": cell D5 holds a formula whose value was never saved`},
		{[]string{"total", "email", "note"}, `t.xlsx:5: column "total": cells C5 and D5 hold formulas whose values were never saved`},
	}
	for _, tt := range tests {
		err := unsavedFormula(rec, tt.used)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("unsavedFormula(%q) = %v, want nil", tt.used, err)
		case tt.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.want)):
			t.Errorf("unsavedFormula(%q) = %v, want %q...", tt.used, err, tt.want)
		}
	}
	if err := unsavedFormula(&Record{File: "t.xlsx", Row: 2, Columns: cols, Values: make([]string, 4)}, []string{"total"}); err != nil {
		t.Errorf("unsavedFormula without a warning = %v", err)
	}
}

// TestXLSXUnsavedFormulaFlat reads many rows that each hold a formula
// without a value: what the reader keeps of them is one row's cells.
func TestXLSXUnsavedFormulaFlat(t *testing.T) {
	const rows = 20000
	var b strings.Builder
	b.WriteString(xlsxHeaderRow(1, "n", "total"))
	for i := 2; i <= rows+1; i++ {
		fmt.Fprintf(&b, `<row r="%d"><c r="A%d"><v>%d</v></c><c r="B%d"><f>A%d*2</f></c></row>`, i, i, i, i, i)
	}
	path := filepath.Join(t.TempDir(), "t.xlsx")
	rawBook{sheets: []rawSheet{{"S", b.String()}}}.write(t, path)
	r, err := OpenData(path, DataOptions{Name: "t.xlsx"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	x := r.(*xlsxReader)
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if rec.Warning == nil {
			t.Fatalf("row %d: no warning", rec.Row)
		}
		if c := cap(x.formulas.cols); c > 8 {
			t.Fatalf("after row %d the scanner holds room for %d cells", rec.Row, c)
		}
	}
	if n != rows {
		t.Errorf("read %d rows, want %d", n, rows)
	}
}

// BenchmarkXLSXUnsavedFormula reads a sheet whose every row holds a
// formula without a value, for comparison with BenchmarkXLSXReader: the
// sheet is read twice, by excelize and by the formula scanner.
func BenchmarkXLSXUnsavedFormula(b *testing.B) {
	const rows = 10000
	var sb strings.Builder
	sb.WriteString(xlsxHeaderRow(1, "email", "total"))
	for i := 2; i <= rows+1; i++ {
		fmt.Fprintf(&sb, `<row r="%d"><c r="A%d" t="inlineStr"><is><t>user%d@example.com</t></is></c><c r="B%d"><f>LEN(A%d)</f></c></row>`, i, i, i, i, i)
	}
	path := filepath.Join(b.TempDir(), "t.xlsx")
	rawBook{sheets: []rawSheet{{"S", sb.String()}}}.write(b, path)
	b.ReportAllocs()
	for b.Loop() {
		r, err := OpenData(path, DataOptions{Name: "t.xlsx"})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := r.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
		r.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rows), "ns/row")
}
