package merge

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// writeTemplate writes files (name -> content) into a new directory and
// returns it.
func writeTemplate(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pngBytes is a tiny but real PNG file.
var pngBytes = func() string {
	b, err := os.ReadFile("testdata/templates/full/badge.png")
	if err != nil {
		panic(err)
	}
	return string(b)
}()

const okHeaders = "From: Events <events@example.org>\nTo: {{.email}}\nSubject: Hello\n"

func TestLoadTemplateErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string // in the error, after the template directory
	}{
		{"no message.txt", map[string]string{"message.html": "<p>hi</p>"}, "message.txt: no such file"},
		{"no headers", map[string]string{"message.txt": "\nHello"}, "message.txt:1: message.txt must start with header fields"},
		{"continuation first", map[string]string{"message.txt": " folded\nSubject: x\n\nHi"}, "message.txt:1: continuation line"},
		{"not a header", map[string]string{"message.txt": okHeaders + "Hello there\n\nHi"}, "message.txt:4: expected a header field"},
		{"bad header name", map[string]string{"message.txt": okHeaders + "X Bad: 1\n\nHi"}, `message.txt:4: "X Bad" is not a valid header field name`},
		{"no From", map[string]string{"message.txt": "To: a@example.com\nSubject: x\n\nHi"}, "message.txt: no From header"},
		{"no recipient", map[string]string{"message.txt": "From: a@example.com\nSubject: x\n\nHi"}, "message.txt: no To, Cc or Bcc header"},
		{"no Subject", map[string]string{"message.txt": "From: a@example.com\nTo: b@example.com\n\nHi"}, "message.txt: no Subject header"},
		{"two To", map[string]string{"message.txt": okHeaders + "to: b@example.com\n\nHi"}, "message.txt:4: a second to header"},
		{"Date", map[string]string{"message.txt": okHeaders + "Date: today\n\nHi"}, "message.txt:4: the Date header is set when the message is composed"},
		{"Message-ID", map[string]string{"message.txt": okHeaders + "Message-ID: <x@y>\n\nHi"}, "message.txt:4: the Message-ID header is set"},
		{"Content-Type", map[string]string{"message.txt": okHeaders + "Content-Type: text/html\n\nHi"}, "message.txt:4: the Content-Type header is written by mailshot"},
		{"constant From invalid", map[string]string{"message.txt": "From: not an address\nTo: {{.email}}\nSubject: x\n\nHi"}, `message.txt:1: From header: "not an address" is not a list of email addresses`},
		{"constant From two", map[string]string{"message.txt": "From: a@example.org, b@example.org\nTo: {{.email}}\nSubject: x\n\nHi"}, "message.txt:1: From header: must hold exactly one address"},
		{"constant List-Unsubscribe non-ASCII", map[string]string{"message.txt": okHeaders + "List-Unsubscribe: <https://example.org/ü>\n\nHi"}, "message.txt:4: List-Unsubscribe header: must be ASCII"},
		{"header syntax error line", map[string]string{"message.txt": okHeaders + "X-Tag: {{.tag\n\nHi"}, "message.txt:4: unclosed action"},
		{"body syntax error line", map[string]string{"message.txt": okHeaders + "\nline 5\nline 6 {{if .x}}\n"}, "message.txt:7: unexpected EOF"},
		{"body unknown function", map[string]string{"message.txt": okHeaders + "\nline 5\n\n{{shout .name}}\n"}, `message.txt:7: function "shout" not defined`},
		{"inline in text body", map[string]string{"message.txt": okHeaders + "\n{{inline \"logo.png\"}}\n"}, `message.txt:5: function "inline" not defined`},
		{"attach in header", map[string]string{"message.txt": okHeaders + "X-File: {{attach \"a.pdf\"}}\n\nHi"}, `message.txt:4: function "attach" not defined`},
		{"html syntax error line", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<p>\n{{.name}\n</p>"}, "message.html:2: bad character"},
		{"html escaping error", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<p>{{if .vip}}<a href=\"{{end}}x\">link</a></p>"}, "message.html:1:"},
		{"inline missing file", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<p>\n<img src=\"{{inline \"logo.png\"}}\"></p>"}, `message.html:2:12: inline "logo.png": `},
		{"inline not an image", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<img src=\"{{inline \"a.pdf\"}}\">", "a.pdf": "%PDF-1.4"}, `inline "a.pdf": ` + "DIR/a.pdf: application/pdf is not an image"},
		{"inline dot-dot", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<img src=\"{{inline \"../logo.png\"}}\">"}, `inline "../logo.png": "../logo.png" must be a relative path inside the directory`},
		{"inline dot-dot inside", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<img src=\"{{inline \"img/../../logo.png\"}}\">"}, `must be a relative path inside the directory`},
		{"inline absolute", map[string]string{"message.txt": okHeaders + "\nHi", "message.html": "<img src=\"{{inline \"/etc/passwd\"}}\">"}, `inline "/etc/passwd": "/etc/passwd" must be a relative path`},
		{"attach missing file", map[string]string{"message.txt": okHeaders + "\n\n{{attach \"agenda.pdf\"}}\n"}, `message.txt:6:2: attach "agenda.pdf": DIR/agenda.pdf: no such file or directory`},
		{"attach directory", map[string]string{"message.txt": okHeaders + "\n{{attach \"sub\"}}\n", "sub/x": ""}, `attach "sub": DIR/sub: not a regular file`},
		{"attach too large", map[string]string{"message.txt": okHeaders + "\n{{attach \"big.bin\"}}\n", "big.bin": strings.Repeat("x", 2000)}, "DIR/big.bin: 2000 octets, more than the 1000 allowed"},
		{"message.txt not UTF-8", map[string]string{"message.txt": okHeaders + "\nHi \xff\n"}, "message.txt: not UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplate(t, tt.files)
			_, err := LoadTemplate(dir, TemplateOptions{MaxFileSize: 1000})
			if err == nil {
				t.Fatal("LoadTemplate succeeded")
			}
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "merge: ") {
				t.Errorf("error:\n%v\nwant it to contain\n%s", err, want)
			}
		})
	}
}

func TestLoadTemplateSymlinkOut(t *testing.T) {
	outside := writeTemplate(t, map[string]string{"secret.png": pngBytes})
	dir := writeTemplate(t, map[string]string{"message.txt": okHeaders + "\nHi", "message.html": `<img src="{{inline "logo.png"}}">`})
	if err := os.Symlink(filepath.Join(outside, "secret.png"), filepath.Join(dir, "logo.png")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplate(dir, TemplateOptions{}); err == nil || !strings.Contains(err.Error(), "path escapes") {
		t.Errorf("LoadTemplate with a symbolic link out of the template: %v", err)
	}
	// A link that stays inside is fine.
	if err := os.WriteFile(filepath.Join(dir, "real.png"), []byte(pngBytes), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "logo.png"))
	if err := os.Symlink("real.png", filepath.Join(dir, "logo.png")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplate(dir, TemplateOptions{}); err != nil {
		t.Errorf("LoadTemplate with a symbolic link inside the template: %v", err)
	}
}

// renderCase is a template, a row, and what rendering must give: an error
// for a column, or a message that check accepts.
type renderCase struct {
	name    string
	files   map[string]string
	columns []string
	values  []string
	column  string                     // the column the error must name
	err     string                     // in the error; "" when rendering must succeed
	is      error                      // errors.Is target, when not nil
	check   func(*testing.T, *Message) // checks the message, when rendering succeeds
}

func runRenderCases(t *testing.T, tests []renderCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplate(t, tt.files)
			tmpl, err := LoadTemplate(dir, TemplateOptions{AttachmentsDir: filepath.Join(dir, "files")})
			if err != nil {
				t.Fatal(err)
			}
			rec := &Record{File: "people.csv", Row: 7, Columns: NewColumns(tt.columns), Values: tt.values}
			m, err := tmpl.Render(rec)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				if m.Row != 7 {
					t.Errorf("Row = %d", m.Row)
				}
				// Whatever renders must compose and read back.
				var b bytes.Buffer
				if err := testComposer().Compose(&b, m); err != nil {
					t.Fatalf("Compose: %v", err)
				}
				checkWire(t, parseWire(t, b.Bytes()), m)
				if tt.check != nil {
					tt.check(t, m)
				}
				return
			}
			var rowErr *RowError
			if !errors.As(err, &rowErr) {
				t.Fatalf("Render error %v (%T) is not a *RowError; message: %+v", err, err, m)
			}
			if m != nil {
				t.Errorf("Render returned a message with its error")
			}
			if rowErr.File != "people.csv" || rowErr.Row != 7 || rowErr.Column != tt.column {
				t.Errorf("RowError at %s:%d column %q, want people.csv:7 column %q", rowErr.File, rowErr.Row, rowErr.Column, tt.column)
			}
			if !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error:\n%v\nwant it to contain\n%s", err, tt.err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v is not %v", err, tt.is)
			}
		})
	}
}

func TestRenderFields(t *testing.T) {
	msg := func(body string) map[string]string {
		return map[string]string{"message.txt": okHeaders + "\n" + body}
	}
	cols := []string{"email", "name", "First Name", "vip", "nick"}
	row := func(name, first, vip, nick string) []string {
		return []string{"ada@example.com", name, first, vip, nick}
	}
	text := func(want string) func(*testing.T, *Message) {
		return func(t *testing.T, m *Message) {
			if m.Text != want {
				t.Errorf("Text = %q, want %q", m.Text, want)
			}
		}
	}
	runRenderCases(t, []renderCase{
		{name: "field", files: msg("Hi {{.name}}!"), columns: cols, values: row("Ada", "A", "", ""), check: text("Hi Ada!")},
		{name: "index", files: msg(`Hi {{index . "First Name"}}!`), columns: cols, values: row("Ada", "A", "", ""), check: text("Hi A!")},
		{name: "functions", files: msg(`{{upper .name}} {{lower .name}} {{title .nick}} [{{trim .vip}}]`), columns: cols, values: row("Ada", "A", " x ", "o'brien-smith jr"), check: text("ADA ada O'Brien-Smith Jr [x]")},
		{name: "missing field", files: msg("Hi {{.nmae}}!"), columns: cols, values: row("Ada", "A", "", ""),
			column: "nmae", err: `/message.txt:5:6: no column "nmae" in the data; did you mean "name"?`, is: errNoColumn},
		{name: "missing index", files: msg(`Hi {{index . "Last Name"}}!`), columns: cols, values: row("Ada", "A", "", ""), column: "Last Name", is: errNoColumn,
			err: `message.txt:5:14: no column "Last Name" in the data; the columns are "email", "name", "First Name", "vip", "nick"`},
		{name: "missing in condition", files: msg(`{{if .premium}}Gold{{end}}`), columns: cols, values: row("Ada", "A", "", ""), column: "premium", is: errNoColumn, err: `message.txt:5:6: no column "premium"`},
		{name: "missing in untaken branch", files: msg(`{{if .vip}}{{.level}}{{end}}`), columns: cols, values: row("Ada", "A", "", ""), column: "level", is: errNoColumn, err: `message.txt:5:14: no column "level"`},
		{name: "missing through $", files: msg(`{{with .name}}{{$.level}}{{end}}`), columns: cols, values: row("Ada", "A", "", ""), column: "level", is: errNoColumn, err: `message.txt:5:18: no column "level"`},
		{name: "missing dynamic index", files: msg(`{{$c := "Last Name"}}{{index . $c}}`), columns: cols, values: row("Ada", "A", "", ""), column: "Last Name", is: errNoColumn, err: "no such column"},
		{name: "short row", files: msg("Hi {{.nick}}"), columns: cols, values: []string{"ada@example.com", "Ada"}, column: "nick", is: errShortRow, err: `column "nick": no cell: the row ends before this column`},
		{name: "empty field", files: msg("Hi {{.name}}!"), columns: cols, values: row("", "A", "", ""),
			column: "name", is: errEmptyCell, err: `people.csv:7: column "name": empty cell: fill it in, or write {{default "..." .name}} in the template`},
		{name: "blank field", files: msg("Hi {{.name}}!"), columns: cols, values: row("  ", "A", "", ""), column: "name", is: errEmptyCell, err: "empty cell"},
		{name: "empty index", files: msg(`Hi {{index . "First Name"}}!`), columns: cols, values: row("Ada", "", "", ""),
			column: "First Name", is: errEmptyCell, err: `{{default "..." (index . "First Name")}}`},
		{name: "empty through function", files: msg(`Hi {{upper (index . "First Name")}}!`), columns: cols, values: row("Ada", "", "", ""), column: "First Name", is: errEmptyCell, err: "empty cell"},
		{name: "empty through pipe", files: msg(`Hi {{.name | trim | upper}}!`), columns: cols, values: row(" ", "", "", ""), column: "name", is: errEmptyCell, err: "empty cell"},
		{name: "empty through variable", files: msg(`{{$n := .name}}Hi {{$n}}!`), columns: cols, values: row("", "", "", ""), column: "name", is: errEmptyCell, err: "empty cell"},
		// A top-level {{.col}} is checked before executing (no _required
		// call); the same action elsewhere keeps its check where it runs.
		{name: "empty in untaken branch", files: msg(`Hi{{if .vip}} {{.name}}{{end}}.`), columns: cols, values: row("", "", "", ""), check: text("Hi.")},
		{name: "empty in taken branch", files: msg(`Hi{{if .vip}} {{.name}}{{end}}.`), columns: cols, values: row("", "", "x", ""), column: "name", is: errEmptyCell, err: "empty cell"},
		{name: "empty after top-level use", files: msg(`{{.nick}} {{if .vip}}{{.nick}}{{end}}`), columns: cols, values: row("", "", "x", ""), column: "nick", is: errEmptyCell, err: `column "nick": empty cell`},
		{name: "empty in defined template not called", files: msg(`{{define "t"}}{{.name}}{{end}}Hi.`), columns: cols, values: row("", "", "", ""), check: text("Hi.")},
		{name: "empty in defined template called", files: msg(`{{define "t"}}{{.name}}{{end}}Hi {{template "t" .}}.`), columns: cols, values: row("", "", "", ""), column: "name", is: errEmptyCell, err: "empty cell"},
		{name: "empty index after text", files: msg(`Hi {{.name}} {{index . "First Name"}}`), columns: cols, values: row("Ada", " ", "", ""), column: "First Name", is: errEmptyCell, err: "empty cell"},
		{name: "empty in HTML", files: map[string]string{"message.txt": okHeaders + "\nHi\n", "message.html": `<p>Hi {{.name}}</p>`}, columns: cols, values: row("", "", "", ""), column: "name", is: errEmptyCell, err: `column "name": empty cell`},
		{name: "empty in HTML branch not taken", files: map[string]string{"message.txt": okHeaders + "\nHi\n", "message.html": `<p>Hi{{with .vip}} {{$.name}}{{end}}</p>`}, columns: cols, values: row("", "", "", ""), check: text("Hi\n")},
		{name: "empty with default", files: msg(`Hi {{default "friend" .name}}!`), columns: cols, values: row("", "", "", ""), check: text("Hi friend!")},
		{name: "empty with piped default", files: msg(`Hi {{.name | default "friend" | upper}}!`), columns: cols, values: row("", "", "", ""), check: text("Hi FRIEND!")},
		{name: "default keeps value", files: msg(`Hi {{default "friend" .name}}!`), columns: cols, values: row("Ada", "", "", ""), check: text("Hi Ada!")},
		{name: "default to another column", files: msg(`Hi {{default .name (index . "First Name")}}!`), columns: cols, values: row("Ada Lovelace", "", "", ""), check: text("Hi Ada Lovelace!")},
		{name: "optional column", files: msg(`Hi{{default "" .nick}}.`), columns: cols, values: row("Ada", "", "", ""), check: text("Hi.")},
		{name: "empty condition", files: msg(`{{if .vip}}VIP{{else}}member{{end}}`), columns: cols, values: row("Ada", "", "", ""), check: text("member")},
		{name: "empty with", files: msg(`{{with .vip}}VIP {{.}}{{else}}member{{end}}`), columns: cols, values: row("Ada", "", "", ""), check: text("member")},
		{name: "with uses dot", files: msg(`{{with .vip}}VIP {{.}}{{end}}`), columns: cols, values: row("Ada", "", "gold", ""), check: text("VIP gold")},
		{name: "empty compared", files: msg(`{{if eq .vip ""}}none{{end}}`), columns: cols, values: row("Ada", "", "", ""), check: text("none")},
		{name: "printf", files: msg(`{{printf "%s <%s>" .name .email}}`), columns: cols, values: row("Ada", "", "", ""), check: text("Ada <ada@example.com>")},
		{name: "NUL in cell", files: msg("Hi {{.name}}"), columns: cols, values: row("A\x00da", "", "", ""), column: "name", err: "NUL"},
		{name: "invalid UTF-8 in cell", files: msg("Hi {{.name}}"), columns: cols, values: row("A\xffda", "", "", ""), column: "name", err: "not valid UTF-8"},
		{name: "no <no value>", files: msg("Hi {{.name}}"), columns: []string{"email"}, values: []string{"ada@example.com"}, column: "name", is: errNoColumn, err: `no column "name" in the data; the columns are "email"`},
	})
}

func TestRenderHeaders(t *testing.T) {
	cols := []string{"email", "name", "subject", "cc", "tag"}
	row := func(email, name, subject, cc, tag string) []string { return []string{email, name, subject, cc, tag} }
	headers := func(h string) map[string]string {
		return map[string]string{"message.txt": "From: Events <events@example.org>\n" + h + "\n\nHi"}
	}
	const std = "To: {{address .name .email}}\nSubject: {{.subject}}"
	runRenderCases(t, []renderCase{
		{name: "ok", files: headers(std + "\nCc: {{default \"\" .cc}}\nX-Tag: {{default \"\" .tag}}"), columns: cols,
			values: row("zoe@example.org", `Zoë "Z" <Müller> & Co`, "Grüße, Zoë", "", ""),
			check: func(t *testing.T, m *Message) {
				if m.To[0].Name != `Zoë "Z" <Müller> & Co` || m.To[0].Address != "zoe@example.org" {
					t.Errorf("To = %+v", m.To[0])
				}
				if m.Subject != "Grüße, Zoë" {
					t.Errorf("Subject = %q", m.Subject)
				}
				if m.Cc != nil || m.Headers != nil {
					t.Errorf("empty Cc and X-Tag kept: %v %v", m.Cc, m.Headers)
				}
			}},
		{name: "folded template header", files: headers("To: {{.email}},\n  second@example.com\nSubject: one\n  two {{.subject}}"), columns: cols,
			values: row("zoe@example.org", "", "three", "", ""),
			check: func(t *testing.T, m *Message) {
				if len(m.To) != 2 || m.Subject != "one  two three" {
					t.Errorf("To = %v, Subject = %q", m.To, m.Subject)
				}
			}},
		{name: "CRLF in subject", files: headers(std), columns: cols, values: row("a@example.com", "A", "hi\r\nBcc: evil@example.net", "", ""),
			column: "subject", err: `people.csv:7: column "subject": Subject header: contains a line break`, is: errLineBreak},
		{name: "LF in subject", files: headers(std), columns: cols, values: row("a@example.com", "A", "hi\nBcc: evil@example.net", "", ""), column: "subject", is: errLineBreak, err: "line break"},
		{name: "CR in subject", files: headers(std), columns: cols, values: row("a@example.com", "A", "hi\rBcc: evil@example.net", "", ""), column: "subject", is: errLineBreak, err: "line break"},
		{name: "NUL in subject", files: headers(std), columns: cols, values: row("a@example.com", "A", "hi\x00", "", ""), column: "subject", err: "NUL"},
		{name: "control in subject", files: headers(std), columns: cols, values: row("a@example.com", "A", "hi\x1b[31m", "", ""), column: "subject", err: "control character U+001B"},
		{name: "LF in other header", files: headers(std + "\nX-Tag: {{.tag}}"), columns: cols, values: row("a@example.com", "A", "s", "", "x\nBcc: evil@example.net"), column: "tag", is: errLineBreak, err: "X-Tag header: contains a line break"},
		{name: "LF in name", files: headers(std), columns: cols, values: row("a@example.com", "A\nBcc: evil@example.net", "s", "", ""), column: "name", is: errLineBreak, err: "the name contains a line break"},
		{name: "LF in raw To", files: headers("To: {{.name}} <{{.email}}>\nSubject: s"), columns: cols, values: row("a@example.com\nBcc: evil@example.net", "A", "s", "", ""), column: "email", is: errLineBreak, err: "To header: contains a line break"},
		{name: "LF in email", files: headers(std), columns: cols, values: row("a@example.com\r\nBcc: evil@example.net", "A", "s", "", ""), column: "email", err: "is not an email address"},
		{name: "two addresses in email", files: headers(std), columns: cols, values: row("a@example.com, evil@example.net", "A", "s", "", ""), column: "email", err: "holds 2 addresses"},
		{name: "angle in email", files: headers(std), columns: cols, values: row("a@example.com> , <evil@example.net", "A", "s", "", ""), column: "email", err: "is not an email address"},
		{name: "unparsable email", files: headers(std), columns: cols, values: row("not-an-address", "A", "s", "", ""), column: "email", err: `"not-an-address" is not an email address`},
		{name: "empty email", files: headers(std), columns: cols, values: row("", "A", "s", "", ""), column: "email", is: errEmptyCell, err: "empty cell"},
		{name: "IDN email", files: headers(std), columns: cols, values: row("info@bücher.example", "A", "s", "", ""),
			check: func(t *testing.T, m *Message) {
				if env := m.Envelope(); m.To[0].Address != "info@xn--bcher-kva.example" || env.To[0] != "info@xn--bcher-kva.example" || env.SMTPUTF8 {
					t.Errorf("To %v, Envelope() = %+v, want info@xn--bcher-kva.example without SMTPUTF8", m.To[0], env)
				}
			}},
		{name: "unparsable raw To", files: headers("To: {{.name}} <{{.email}}>\nSubject: s"), columns: cols, values: row("a@example.com", `Tom "T" <Tommy> & Co`, "s", "", ""),
			column: "email", err: "To header: "},
		{name: "unparsable Cc", files: headers(std + "\nCc: {{.cc}}"), columns: cols, values: row("a@example.com", "A", "s", "boss at example", ""), column: "cc", err: "Cc header: \"boss at example\" is not a list of email addresses"},
		{name: "no recipient", files: headers("To: {{default \"\" .email}}\nSubject: s"), columns: cols, values: row("", "A", "s", "", ""), column: "email", err: "no recipient"},
		{name: "Bcc only", files: headers("Bcc: {{.email}}\nSubject: s"), columns: cols, values: row("a@example.com", "A", "s", "", ""),
			check: func(t *testing.T, m *Message) {
				if len(m.To) != 0 || len(m.Bcc) != 1 || m.Recipients()[0] != "a@example.com" {
					t.Errorf("To %v Bcc %v", m.To, m.Bcc)
				}
			}},
		{name: "From per row", files: map[string]string{"message.txt": "From: {{address .name .email}}\nTo: x@example.com\nSubject: s\n\nHi"}, columns: cols,
			values: row("a@example.com", "A", "s", "", ""),
			check: func(t *testing.T, m *Message) {
				if m.From.Address != "a@example.com" {
					t.Errorf("From %v", m.From)
				}
			}},
		{name: "From empty", files: map[string]string{"message.txt": "From: {{default \"\" .email}}\nTo: x@example.com\nSubject: s\n\nHi"}, columns: cols,
			values: row("", "A", "s", "", ""), column: "email", err: "From header: must hold exactly one address"},
		{name: "List-Unsubscribe non-ASCII", files: headers(std + "\nList-Unsubscribe: <https://example.org/u/{{.tag}}>"), columns: cols,
			values: row("a@example.com", "A", "s", "", "ü"), column: "tag", err: "List-Unsubscribe header: must be ASCII"},
		{name: "List-Unsubscribe urlquery", files: headers(std + "\nList-Unsubscribe: <https://example.org/u?t={{urlquery .tag}}>"), columns: cols,
			values: row("a@example.com", "A", "s", "", "ü &x"),
			check: func(t *testing.T, m *Message) {
				// An https URI also gets one-click unsubscribe (RFC 8058).
				want := []HeaderField{{"List-Unsubscribe", "<https://example.org/u?t=%C3%BC+%26x>"}, {"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"}}
				if !slices.Equal(m.Headers, want) {
					t.Errorf("Headers = %v, want %v", m.Headers, want)
				}
			}},
		{name: "long name", files: headers(std), columns: cols, values: row("a@example.com", strings.Repeat("x", 1000), "s", "", ""), err: "does not fit in a line"},
		{name: "long local part", files: headers(std), columns: cols, values: row(strings.Repeat("a", 65)+"@example.com", "A", "s", "", ""), column: "email", err: "is 65 octets long, more than 64"},
		{name: "long address", files: headers(std), columns: cols, values: row("a@"+strings.Repeat(strings.Repeat("d", 60)+".", 4)+"example.com", "A", "s", "", ""), column: "email", err: "more than 254"},
	})
}

func TestRenderFiles(t *testing.T) {
	base := map[string]string{
		"message.txt":        okHeaders + "\n{{attach .file}}Hi\n",
		"message.html":       `<img src="{{inline "logo.png"}}"><img src="{{inline .photo}}"><img src="{{inline "logo.png"}}">`,
		"logo.png":           pngBytes,
		"photos/ada.png":     pngBytes + "ada",
		"photos/bob.png":     pngBytes + "bob",
		"photos/notes.txt":   "text",
		"files/cert.pdf":     "%PDF-1.4 cert",
		"files/sub/cert.pdf": "%PDF-1.4 sub cert",
	}
	cols := []string{"email", "file", "photo"}
	runRenderCases(t, []renderCase{
		{name: "ok", files: base, columns: cols, values: []string{"a@example.com", "sub/cert.pdf", "photos/ada.png"},
			check: func(t *testing.T, m *Message) {
				if len(m.Inline) != 2 || m.Inline[0].Filename != "logo.png" || m.Inline[1].Filename != "ada.png" {
					t.Errorf("Inline = %v", m.Inline)
				}
				if len(m.Attachments) != 1 || string(m.Attachments[0].Content) != "%PDF-1.4 sub cert" || m.Attachments[0].ContentType != "application/pdf" {
					t.Errorf("Attachments = %v", m.Attachments)
				}
			}},
		{name: "same image twice", files: base, columns: cols, values: []string{"a@example.com", "cert.pdf", "logo.png"},
			check: func(t *testing.T, m *Message) {
				if len(m.Inline) != 1 {
					t.Errorf("%d inline parts, want 1", len(m.Inline))
				}
			}},
		{name: "attach dot-dot", files: base, columns: cols, values: []string{"a@example.com", "../message.txt", "logo.png"},
			column: "file", err: `attach: "../message.txt" must be a relative path inside the directory`, is: errPathEscapes},
		{name: "attach absolute", files: base, columns: cols, values: []string{"a@example.com", "/etc/passwd", "logo.png"}, column: "file", is: errPathEscapes, err: "relative path"},
		{name: "attach missing", files: base, columns: cols, values: []string{"a@example.com", "nope.pdf", "logo.png"}, column: "file", err: "nope.pdf: no such file or directory"},
		{name: "attach empty", files: base, columns: cols, values: []string{"a@example.com", "", "logo.png"}, column: "file", is: errEmptyCell, err: "empty cell"},
		{name: "inline dot-dot", files: base, columns: cols, values: []string{"a@example.com", "cert.pdf", "../logo.png"}, column: "photo", is: errPathEscapes, err: "inline:"},
		{name: "inline not image", files: base, columns: cols, values: []string{"a@example.com", "cert.pdf", "photos/notes.txt"}, column: "photo", err: "is not an image"},
	})

	t.Run("symlink out", func(t *testing.T) {
		dir := writeTemplate(t, base)
		if err := os.Symlink("/etc/passwd", filepath.Join(dir, "files", "link.pdf")); err != nil {
			t.Fatal(err)
		}
		tmpl, err := LoadTemplate(dir, TemplateOptions{AttachmentsDir: filepath.Join(dir, "files")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = tmpl.Render(&Record{File: "f.csv", Row: 2, Columns: NewColumns(cols), Values: []string{"a@example.com", "link.pdf", "logo.png"}})
		var rowErr *RowError
		if !errors.As(err, &rowErr) || rowErr.Column != "file" || !strings.Contains(err.Error(), "path escapes") {
			t.Errorf("attach of a symbolic link out of the directory: %v", err)
		}
	})
}

// TestRenderFilesOnce checks that a template's own files are read and
// encoded once and shared by every message: each message has its own Part
// (its Content-ID is at the From domain) over the same content and base64.
func TestRenderFilesOnce(t *testing.T) {
	tmpl, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var first *Part
	for i := 0; i < 3; i++ {
		m, err := tmpl.Render(&Record{File: "f.csv", Row: i + 2, Columns: NewColumns(sampleColumns),
			Values: []string{fmt.Sprintf("p%d@example.com", i), "P", "P", "Rome", "1", "today", fmt.Sprintf("%032x", i)}})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Inline) != 1 || m.Inline[0].encoded == nil {
			t.Fatalf("Inline = %v, want the logo, encoded", m.Inline)
		}
		if first == nil {
			first = m.Inline[0]
		} else if p := m.Inline[0]; &p.Content[0] != &first.Content[0] || &p.encoded[0] != &first.encoded[0] {
			t.Errorf("message %d has its own copy of the logo", i)
		}
	}
}

// TestRenderConcurrent renders rows with per-row files from many goroutines
// at once: each message must get its own files. Run with -race.
func TestRenderConcurrent(t *testing.T) {
	files := map[string]string{
		"message.txt":  okHeaders + "\n{{attach .file}}Hi {{.email}}\n",
		"message.html": `<img src="{{inline .photo}}">`,
	}
	for i := 0; i < 8; i++ {
		files[fmt.Sprintf("files/%d.pdf", i)] = fmt.Sprintf("%%PDF %d", i)
		files[fmt.Sprintf("p%d.png", i)] = pngBytes + fmt.Sprint(i)
	}
	dir := writeTemplate(t, files)
	tmpl, err := LoadTemplate(dir, TemplateOptions{AttachmentsDir: filepath.Join(dir, "files")})
	if err != nil {
		t.Fatal(err)
	}
	cols := NewColumns([]string{"email", "file", "photo"})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				k := (g + i) % 8
				m, err := tmpl.Render(&Record{File: "f.csv", Row: i, Columns: cols,
					Values: []string{fmt.Sprintf("r%d@example.com", k), fmt.Sprintf("%d.pdf", k), fmt.Sprintf("p%d.png", k)}})
				if err != nil {
					t.Error(err)
					return
				}
				if len(m.Attachments) != 1 || string(m.Attachments[0].Content) != fmt.Sprintf("%%PDF %d", k) ||
					len(m.Inline) != 1 || string(m.Inline[0].Content) != pngBytes+fmt.Sprint(k) {
					t.Errorf("row for %d got files %v %v", k, m.Attachments, m.Inline)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestTemplateColumns(t *testing.T) {
	tmpl, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tmpl.Columns(), ",")
	if got != "name,email,city,ticket,date,token,First Name" {
		t.Errorf("Columns() = %s", got)
	}
}

func TestFingerprint(t *testing.T) {
	tmpl, err := LoadTemplate("testdata/templates/full", TemplateOptions{AttachmentsDir: "testdata/attachments"})
	if err != nil {
		t.Fatal(err)
	}
	cols := NewColumns([]string{"email", "name", "First Name", "cc", "year", "certificate", "vip"})
	values := []string{"ada@example.com", "Ada", "Ada", "", "2026", "cert-ada.pdf", ""}
	fingerprint := func(change func(v []string)) string {
		v := append([]string(nil), values...)
		if change != nil {
			change(v)
		}
		m, err := tmpl.Render(&Record{File: "f.csv", Row: 2, Columns: cols, Values: v})
		if err != nil {
			t.Fatal(err)
		}
		return m.Fingerprint()
	}
	base := fingerprint(nil)
	// Journals written by earlier versions hold this value: a change of
	// the hashing would report every sent row as changed on resume. (It
	// changed once with the message: Content-IDs moved from @mailshot to
	// the From domain, so rows with inline images sent before then read
	// as an earlier version, which is what they are.)
	if want := "5b1a20c94b6756ade1eda0f989ec008dd66f29e6c3fc40513266b4e84d4b8726"; base != want {
		t.Errorf("Fingerprint = %s, want %s as journals already record", base, want)
	}
	if again := fingerprint(nil); again != base {
		t.Errorf("Fingerprint is not stable: %s then %s", base, again)
	}
	// Composing sets Date and Message-ID, which the fingerprint ignores.
	m, _ := tmpl.Render(&Record{File: "f.csv", Row: 9, Columns: cols, Values: values})
	if err := testComposer().Compose(new(bytes.Buffer), m); err != nil {
		t.Fatal(err)
	}
	if m.Fingerprint() != base {
		t.Errorf("Fingerprint changed with Row, Date or Message-ID")
	}
	for name, change := range map[string]func(v []string){
		"name":       func(v []string) { v[1] = "Ada L." },
		"first name": func(v []string) { v[2] = "Augusta" },
		"cc":         func(v []string) { v[3] = "boss@example.org" },
		"header":     func(v []string) { v[4] = "2027" },
		"attachment": func(v []string) { v[5] = "Zertifikat Zoë.pdf" },
		"inline":     func(v []string) { v[6] = "yes" },
	} {
		if fingerprint(change) == base {
			t.Errorf("changing the %s does not change the fingerprint", name)
		}
	}
}

// FuzzRender renders any template with any data: loading may fail and
// rendering may fail with a *RowError, but whatever renders composes into
// a message that net/mail and mime/multipart read back as it was rendered,
// whatever the data holds.
func FuzzRender(f *testing.F) {
	f.Add("X-Tag: {{.tag}}", "Hello {{.name}}", "Ada", "x")
	f.Add("Cc: {{.tag}}", "{{if .tag}}{{.tag}}{{end}}", "Zoë \"Z\" <Müller>", "a@example.com, b@example.org")
	f.Add("Reply-To: {{address .name .tag}}", "{{default \"friend\" .name | upper}}", "", "x\r\nBcc: evil@example.net")
	f.Add("X-Tag: {{.tag}}\n folded {{.name}}", "{{index . \"name\"}}", "\x00", "=?utf-8?q?x?=")
	f.Add("List-Unsubscribe: <{{.tag}}>", "{{.missing}}", "王小明", "mailto:u@example.org")
	f.Add("X-Tag: {{range 1000000000}}x{{end}}", "{{range 1000000000}}{{end}}", "", "")
	f.Add("X-Tag: x", `{{define "r"}}{{template "r" .}}{{template "r" .}}{{end}}{{template "r" .}}`, "", "")
	f.Fuzz(func(t *testing.T, headers, body, name, tag string) {
		dir := t.TempDir()
		src := "From: Events <events@example.org>\nTo: {{address .name .email}}\nSubject: {{default \"s\" .tag}}\n" + headers + "\n\n" + body
		if err := os.WriteFile(filepath.Join(dir, "message.txt"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		// Loops and recursion end at the limits, with a *RowError.
		tmpl, err := LoadTemplate(dir, TemplateOptions{MaxIterations: 10_000, MaxMessageSize: 1 << 20})
		if err != nil {
			return
		}
		rec := &Record{File: "f.csv", Row: 2, Columns: NewColumns([]string{"email", "name", "tag"}), Values: []string{"ada@example.com", name, tag}}
		m, err := tmpl.Render(rec)
		if err != nil {
			var rowErr *RowError
			if !errors.As(err, &rowErr) {
				t.Fatalf("Render error %v is not a *RowError", err)
			}
			return
		}
		var b bytes.Buffer
		if err := testComposer().Compose(&b, m); err != nil {
			t.Fatalf("Compose failed on a rendered message: %v", err)
		}
		checkWire(t, parseWire(t, b.Bytes()), m)
	})
}

// FuzzSplitMessage checks that splitting message.txt never loses text: the
// fields and body it returns are all the file held.
func FuzzSplitMessage(f *testing.F) {
	f.Add("From: a@example.org\nTo: b@example.org\nSubject: hi\n  folded\n\nBody\n\nmore\n")
	f.Add("Subject: x\n \t\nBody")
	f.Add("no colon\n\nx")
	f.Add(": empty name\n\nx")
	f.Fuzz(func(t *testing.T, src string) {
		headers, body, bodyLine, err := splitMessage("message.txt", src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "merge: message.txt") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var b strings.Builder
		for i, h := range headers {
			if !validHeaderName(h.name) || h.col != len(h.name)+1 || i > 0 && h.line <= headers[i-1].line {
				t.Fatalf("field %d: %+v", i, h)
			}
			b.WriteString(h.name + ":" + h.value + "\n")
		}
		lines := strings.Split(src, "\n")
		if bodyLine < 2 || bodyLine-2 >= len(lines)+1 {
			t.Fatalf("body starts on line %d of %d", bodyLine, len(lines))
		}
		if bodyLine-2 < len(lines) && strings.TrimSpace(lines[bodyLine-2]) == "" {
			b.WriteString(lines[bodyLine-2] + "\n")
		}
		if got := b.String() + body; got != src && got != src+"\n" {
			t.Fatalf("fields and body make\n%q\nnot\n%q", got, src)
		}
	})
}
