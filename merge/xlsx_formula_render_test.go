package merge

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

// A row whose used cell holds a formula saved without its value fails
// with that said, not "empty cell"; a template that does not use the
// column renders the row.
func TestRenderUnsavedFormula(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.xlsx")
	f := excelize.NewFile()
	for i, row := range [][]any{{"email", "qty", "total"}, {"ann@example.com", 2}} {
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &row); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.SetCellFormula("Sheet1", "C2", "B2*5"); err != nil {
		t.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, tt := range []struct {
		body, want string
	}{
		{"Total: {{.total}}\n", "cell C2 holds a formula whose value was never saved"},
		{"Quantity: {{.qty}}\n", ""},
	} {
		dir := writeTemplate(t, map[string]string{"message.txt": "From: a@example.org\nTo: {{.email}}\nSubject: s\n\n" + tt.body})
		tmpl, err := LoadTemplate(dir, TemplateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := OpenData(path, DataOptions{Name: "t.xlsx"})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := r.Next()
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, err = tmpl.RenderContext(context.Background(), rec)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q: %v", tt.body, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "empty cell")):
			t.Errorf("%q: %v, want %q", tt.body, err, tt.want)
		}
	}
}
