package merge

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzXLSXLimits reads a worksheet and a shared string table made of the
// fuzzer's bytes under small limits (cells of 64 bytes, rows of 256): the
// reader must not panic, must either refuse the workbook with an error or
// read it to the end, and must never return a value larger than a cell may
// be (its number format may lengthen a number, by a bounded amount).
func FuzzXLSXLimits(f *testing.F) {
	for _, seed := range [][2]string{
		{xlsxHeaderRow(1, "email", "name") + xlsxHeaderRow(2, "a@example.com", "Ann"), "<t>x</t>"},
		{xlsxHeaderRow(1, "email") + `<row r="2"><c r="A2" t="s"><v>0</v></c></row>`, "<t>" + strings.Repeat("y", 100) + "</t>"},
		{xlsxHeaderRow(1, "n") + `<row><c><v>1</v></c><c><v>2</v></c></row>` + strings.Repeat(" ", 300), "<t/>"},
		{xlsxHeaderRow(1, "a", "b") + `<row r="3"><c r="B3" s="3"><v>1E+300</v></c></row><row r="9"/>`, "<r><t>a</t></r><r><t>b</t></r>"},
		{`<row><c t="inlineStr"><is><t><![CDATA[<<<>>>]]></t></is></c></row>`, ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, sheet, sst string) {
		if len(sheet) > 8<<10 || len(sst) > 8<<10 {
			return
		}
		path := filepath.Join(t.TempDir(), "f.xlsx")
		rawBook{strings: []string{sst, "<t>email</t>"}, sheets: []rawSheet{{"S", sheet}}}.write(t, path)
		limits := defaultDataLimits()
		limits.xlsxCell, limits.xlsxRow, limits.xlsxSheetHead, limits.xlsxStrings = 64, 256, 4<<10, 16
		r, err := OpenData(path, DataOptions{Name: "f.xlsx", limits: &limits})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "merge: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		defer r.Close()
		for _, n := range r.Columns().Names() {
			if len(n) > 64+512 {
				t.Fatalf("column name of %d bytes", len(n))
			}
		}
		for range 1 << 16 {
			rec, err := r.Next()
			if err == io.EOF {
				return
			}
			var rerr *RowError
			if errors.As(err, &rerr) {
				continue
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "merge: ") {
					t.Fatalf("Next: %v", err)
				}
				return
			}
			for _, v := range rec.Values {
				if len(v) > 64+512 {
					t.Fatalf("row %d: a value of %d bytes", rec.Row, len(v))
				}
			}
		}
		t.Fatal("Next never returned io.EOF")
	})
}
