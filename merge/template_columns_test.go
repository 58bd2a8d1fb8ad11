package merge

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestUnknownColumnOnce checks that a misspelt column is one error about
// the template, with its file, line and column and a suggestion from the
// data's header: CheckColumns says it once before any row, and every row's
// error holds an equal value, so a caller can say it once.
func TestUnknownColumnOnce(t *testing.T) {
	dir := writeTemplate(t, map[string]string{
		"message.txt":  "From: events@example.org\nTo: {{.email}}\nSubject: Ticket {{.tikcet}}\n\nHi {{.name}}, ticket {{.tikcet}}\n",
		"message.html": "<p>Hi {{.name}}</p>\n<p>{{if .vip}}VIP {{index . \"Frist Name\"}}{{end}} {{.tikcet}} {{.zzz}}</p>\n",
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cols := NewColumns([]string{"email", "name", "First Name", "ticket", "vip"})
	txt, html := filepath.Join(dir, "message.txt"), filepath.Join(dir, "message.html")
	want := []UnknownColumnError{
		{File: txt, Line: 3, Col: 19, Name: "tikcet", Suggestion: "ticket"},
		{File: html, Line: 2, Col: 29, Name: "Frist Name", Suggestion: "First Name"},
		{File: html, Line: 2, Col: 65, Name: "zzz", columns: `"email", "name", "First Name", "ticket", "vip"`},
	}
	err = tmpl.CheckColumns(cols)
	var got []UnknownColumnError
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ue *UnknownColumnError
		if !errors.As(e, &ue) {
			t.Fatalf("%v is not an *UnknownColumnError", e)
		}
		got = append(got, *ue)
	}
	if len(got) != len(want) {
		t.Fatalf("CheckColumns: %v\nwant %d errors", err, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("error %d: %+v\nwant %+v", i, got[i], want[i])
		}
	}
	wantText := txt + `:3:19: no column "tikcet" in the data; did you mean "ticket"?` + "\n" +
		html + `:2:29: no column "Frist Name" in the data; did you mean "First Name"?` + "\n" +
		html + `:2:65: no column "zzz" in the data; the columns are "email", "name", "First Name", "ticket", "vip"`
	if err.Error() != wantText {
		t.Errorf("CheckColumns:\n%v\nwant\n%s", err, wantText)
	}
	if !errors.Is(err, errNoColumn) {
		t.Errorf("%v is not errNoColumn", err)
	}

	// Every row says the same first mistake, as an equal value.
	seen := make(map[UnknownColumnError]int)
	for row := 2; row < 6; row++ {
		_, err := tmpl.Render(&Record{File: "p.csv", Row: row, Columns: cols, Values: []string{"a@example.test", "Ada", "Ada", "7", ""}})
		var re *RowError
		var ue *UnknownColumnError
		if !errors.As(err, &re) || re.Row != row || re.Column != "tikcet" || !errors.As(err, &ue) {
			t.Fatalf("Render row %d: %v", row, err)
		}
		seen[*ue]++
	}
	if len(seen) != 1 || seen[want[0]] != 4 {
		t.Errorf("rows gave %v, want %+v four times", seen, want[0])
	}

	if err := tmpl.CheckColumns(NewColumns([]string{"email", "name", "Frist Name", "tikcet", "zzz", "vip"})); err != nil {
		t.Errorf("CheckColumns with every column: %v", err)
	}
}

// TestUnknownColumnOne checks that one mistake is returned as it is, not
// joined, and that a column named in a header value gets its place there.
func TestUnknownColumnOne(t *testing.T) {
	dir := writeTemplate(t, map[string]string{
		"message.txt": "From: events@example.org\nTo: {{address .nmae .email}}\nSubject: s\n\n{{.nmae}}\n",
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	err = tmpl.CheckColumns(NewColumns([]string{"email", "Name"}))
	ue, ok := err.(*UnknownColumnError)
	want := UnknownColumnError{File: filepath.Join(dir, "message.txt"), Line: 2, Col: 15, Name: "nmae", Suggestion: "Name"}
	if !ok || *ue != want {
		t.Errorf("CheckColumns: %#v\nwant %+v", err, want)
	}
}

func TestSuggestColumn(t *testing.T) {
	columns := []string{"email", "name", "First Name", "ticket", "vip", "city", "  ", "x"}
	for _, tt := range []struct{ in, want string }{
		{"tikcet", "ticket"},  // swapped letters
		{"tickt", "ticket"},   // a letter left out
		{"ticketz", "ticket"}, // one too many
		{"Email", "email"},    // case
		{"EMAIL", "email"},
		{"first name", "First Name"},
		{"FirstName", "First Name"},
		{"nmae", "name"},
		{"vp", "vip"},
		{"mail", "email"},
		{"town", ""}, // nothing close
		{"zzz", ""},
		{"y", ""}, // one letter is not a spelling of another
		{"", ""},
	} {
		if got := suggestColumn(tt.in, columns); got != tt.want {
			t.Errorf("suggestColumn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"a", "", 1}, {"", "abc", 3}, {"abc", "abc", 0},
		{"ab", "ba", 1}, {"tikcet", "ticket", 1}, {"kitten", "sitting", 3},
		{"ca", "abc", 3}, // optimal string alignment, not full Damerau
		{"Zoë", "Zoe", 1},
	} {
		if got := editDistance([]rune(tt.a), []rune(tt.b)); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance([]rune(tt.b), []rune(tt.a)); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

// TestShortRow checks that a row without a cell in a column the header has
// is a problem with the row, not an unknown column.
func TestShortRow(t *testing.T) {
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": okHeaders + "\nHi {{.nick}}"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tmpl.Render(&Record{File: "p.csv", Row: 4, Columns: NewColumns([]string{"email", "nick"}), Values: []string{"a@example.test"}})
	var ue *UnknownColumnError
	if !errors.Is(err, errShortRow) || errors.As(err, &ue) || !strings.Contains(err.Error(), `p.csv:4: column "nick": no cell`) {
		t.Errorf("Render: %v", err)
	}
}
