package merge

import (
	"net/mail"
	"testing"
)

// TestRenderErrorPrecedence holds the order in which a row's problems are
// reported now that a top-level {{.col}} is checked before its template
// runs: the template still runs, so the problem of an earlier action wins,
// as when every action checked its own value.
func TestRenderErrorPrecedence(t *testing.T) {
	hdr := "From: Events <events@example.org>\nTo: {{.email}}\nSubject: Hello\n"
	runRenderCases(t, []renderCase{
		{name: "two empty cells: the first printed is reported",
			files:   map[string]string{"message.txt": hdr + "\nDear {{upper .first}} {{.last}}\n"},
			columns: []string{"email", "first", "last"}, values: []string{"a@example.com", "", ""},
			column: "first", is: errEmptyCell, err: `column "first": empty cell`},
		{name: "bad address before an empty cell in the same header",
			files:   map[string]string{"message.txt": "From: Events <events@example.org>\nTo: {{address .name .email}}, {{.boss}}\nSubject: Hello\n\nHi\n"},
			columns: []string{"email", "name", "boss"}, values: []string{"not-an-address", "A", ""},
			column: "email", err: "is not an email address"},
		{name: "missing attachment before an empty cell",
			files:   map[string]string{"message.txt": hdr + "\n{{attach .file}}Dear {{.name}}\n"},
			columns: []string{"email", "file", "name"}, values: []string{"a@example.com", "nope.pdf", ""},
			column: "file", err: "attach"},
		{name: "an empty top-level cell alone",
			files:   map[string]string{"message.txt": hdr + "\n{{upper .file}} Dear {{.name}}\n"},
			columns: []string{"email", "file", "name"}, values: []string{"a@example.com", "x", ""},
			column: "name", is: errEmptyCell, err: `column "name": empty cell`},
	})
}

// TestConstantHeadersNotShared renders two rows of a template whose Cc
// is a constant, set once at load: each message gets addresses of its own.
func TestConstantHeadersNotShared(t *testing.T) {
	dir := writeTemplate(t, map[string]string{"message.txt": "From: Events <events@example.org>\nTo: {{.email}}\nCc: a@example.org, b@example.org, c@example.org\nSubject: Hi\n\nHi\n"})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cols := NewColumns([]string{"email"})
	m1, err := tmpl.Render(&Record{File: "p.csv", Row: 2, Columns: cols, Values: []string{"x@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := tmpl.Render(&Record{File: "p.csv", Row: 3, Columns: cols, Values: []string{"y@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if m1.Cc[0] == m2.Cc[0] || m1.From == m2.From {
		t.Errorf("rows 2 and 3 share addresses of their constant headers")
	}
	a := append(m1.Cc, &mail.Address{Address: "only-row2@example.org"})
	_ = append(m2.Cc, &mail.Address{Address: "only-row3@example.org"})
	if a[3].Address != "only-row2@example.org" {
		t.Errorf("appending to row 3's Cc overwrote row 2's: %v", a[3].Address)
	}
	if len(m1.Cc) != 3 || m1.Cc[2].Address != "c@example.org" {
		t.Errorf("Cc = %v", m1.Cc)
	}
}
