package merge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// compiledExprs are actions that compile, and uncompiledExprs actions
// that do not (printf, len, print, variables) and must run as before.
var (
	compiledExprs = []string{
		`.a`, `.b`, `index . "c"`, `$.a`, `default "x" .b`, `.b | default "y"`,
		`upper .a`, `lower .c`, `trim .a`, `title .b`, `urlquery .a`, `html .b`,
		`js .c`, `eq .a .b`, `ne .a "x"`, `not .c`, `and .a .b`, `or .a .b "z"`,
		`.a | and .b`, `.c | or .a`, `eq .a "1" "2" .c`, `upper (default "q" .c)`,
		`default .a (index . "c")`, `"lit"`, `true`, `and (eq .a .b) .c`, `or (not .a) "n"`,
		`address .b .email`,
	}
	uncompiledExprs = []string{`printf "%s-%s" .a .b`, `len .a`, `print .a .b`, `$x := .a`}
)

// compiledContexts are places in HTML an action can stand that compile,
// each escaped differently by html/template ("@" is where the action
// goes), and uncompiledContexts places whose escapers are not compiled.
var (
	compiledContexts = []string{
		"<p>@</p>", `<a href="@">l</a>`, `<a href="https://x.example.org/?q=@">l</a>`,
		`<a title="@">t</a>`, `<a title='@'>t</a>`, "<title>@</title>", "<textarea>@</textarea>",
		`<img src="@">`, `<a href="mailto:@">m</a>`, `<p class="k-@">c</p>`,
	}
	uncompiledContexts = []string{
		`<a title=@>t</a>`, "<script>var x = @;</script>", "<style>p { color: @ }</style>",
		"<!-- @ -->", `<a onclick="f(@)">o</a>`, `<img srcset="@">`,
	}
)

// genTemplate builds message.txt and message.html from shape: most of
// the time only of what compiles, otherwise of anything.
func genTemplate(shape []byte) (txt, html string) {
	next := func() int {
		if len(shape) == 0 {
			return 0
		}
		b := int(shape[0])
		shape = shape[1:]
		return b
	}
	exprs, contexts := compiledExprs, compiledContexts
	if next()%4 == 0 {
		exprs = append(slices.Clone(exprs), uncompiledExprs...)
		contexts = append(slices.Clone(contexts), uncompiledContexts...)
	}
	expr := func() string { return exprs[next()%len(exprs)] }
	action := func() string {
		e := expr()
		switch next() % 8 {
		case 0:
			return "{{if " + expr() + "}}[{{" + e + "}}]{{else}}<{{.b}}>{{end}}"
		case 1:
			return "{{if .c}}c{{else if " + e + "}}e{{end}}"
		case 2:
			if len(exprs) > len(compiledExprs) {
				return "{{with .a}}{{.}}{{end}}{{" + e + "}}"
			}
		case 3:
			return "{{- " + e + " -}}"
		}
		return "{{" + e + "}}"
	}
	var t, h strings.Builder
	subject := "Hi"
	if next()%2 == 1 {
		subject = "Hi {{" + expr() + "}}"
		if next()%4 == 0 {
			subject = `Hi {{unsubscribe "https://x.example.org/u?t=" .a}}`
		}
	}
	fmt.Fprintf(&t, "From: Events <events@example.org>\nTo: {{.email}}\nSubject: %s\n\n", subject)
	h.WriteString("<!DOCTYPE html>\n<html><body>\n")
	for n := next() % 6; n >= 0; n-- {
		fmt.Fprintf(&t, "line %d: %s\n", n, action())
		h.WriteString(strings.Replace(contexts[next()%len(contexts)], "@", action(), 1) + "\n")
	}
	if next()%4 == 0 {
		h.WriteString(`<img src="{{inline "logo.png"}}">` + "\n")
	}
	h.WriteString("</body></html>\n")
	return t.String(), h.String()
}

// compiledValues are cell values that escape differently in each context.
var compiledValues = []string{
	"", " ", "Ada", "<b>&'\"+</b>", "javascript:alert(1)", "http://x.example.org/a b?c=d%2",
	"%zz%41%4", "Ünïcödé ☃", "a\nb", "x@example.com", "Name <y@example.org>", "true",
	"0", "mailto:a@example.org", "#frag", "/path/to", "\uFFFD\u2028", "a\tb",
}

// compareRenders renders rec with tmpl compiled (falling back as
// RenderContext does) and with text/template alone, fails t when the two
// differ, and reports whether the compiled forms ran to the end.
func compareRenders(t *testing.T, tmpl *Template, rec *Record, what string) (compiled bool) {
	t.Helper()
	ctx := context.Background()
	m1, err1 := tmpl.render(ctx, rec, true)
	compiled = err1 == nil && tmpl.allCompiled()
	if errors.Is(err1, errNotCompiled) {
		m1, err1 = tmpl.render(ctx, rec, false)
	}
	m2, err2 := tmpl.render(ctx, rec, false)
	if fmt.Sprint(err1) != fmt.Sprint(err2) {
		t.Fatalf("%s\ncompiled: %v\ntext/template: %v", what, err1, err2)
	}
	if err1 != nil {
		return compiled
	}
	h1, _ := m1.appendHeaders(nil)
	h2, _ := m2.appendHeaders(nil)
	// parts lists the inline parts and attachments in order.
	parts := func(m *Message) string {
		var b strings.Builder
		for _, p := range m.Inline {
			fmt.Fprintf(&b, "inline %s %s; ", p.Filename, p.ContentID)
		}
		for _, p := range m.Attachments {
			fmt.Fprintf(&b, "attach %s; ", p.Filename)
		}
		return b.String()
	}
	if string(h1) != string(h2) || m1.Text != m2.Text || m1.HTML != m2.HTML || parts(m1) != parts(m2) {
		t.Fatalf("%s\ncompiled:\n%s\n%s\n%s\n%s\ntext/template:\n%s\n%s\n%s\n%s",
			what, h1, m1.Text, m1.HTML, parts(m1), h2, m2.Text, m2.HTML, parts(m2))
	}
	return compiled
}

// allCompiled reports whether every part of t runs compiled.
func (t *Template) allCompiled() bool {
	if t.text != nil && t.textCompiled == nil || t.html != nil && t.htmlCompiled == nil {
		return false
	}
	for _, h := range t.headers {
		if h.constant == nil && h.compiled == nil {
			return false
		}
	}
	return true
}

// loadGenerated writes and loads a generated template, or returns nil
// when LoadTemplate refuses it (a parse or escaping error: nothing to run).
func loadGenerated(t *testing.T, dir, txt, html string) *Template {
	t.Helper()
	for name, src := range map[string]string{"message.txt": txt, "message.html": html} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		return nil
	}
	return tmpl
}

// writeLogo puts a small image where generated templates inline it.
func writeLogo(t *testing.T, dir string) {
	t.Helper()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	if err := os.WriteFile(filepath.Join(dir, "logo.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCompiledSameAsTemplate renders random templates, with actions in
// every HTML context, for rows of values that escape differently, both
// compiled and by text/template: every message and every error must be
// the same. It also checks that most of them did run compiled, so the test
// cannot pass by never compiling.
func TestCompiledSameAsTemplate(t *testing.T) {
	dir := t.TempDir()
	writeLogo(t, dir)
	rng := rand.New(rand.NewPCG(7, 11))
	cols := NewColumns([]string{"a", "b", "c", "email"})
	gen := func() (string, string) {
		shape := make([]byte, 40)
		for i := range shape {
			shape[i] = byte(rng.IntN(256))
		}
		return genTemplate(shape)
	}
	row := func() []string {
		return []string{
			compiledValues[rng.IntN(len(compiledValues))],
			compiledValues[rng.IntN(len(compiledValues))],
			compiledValues[rng.IntN(len(compiledValues))],
			"p@example.org",
		}
	}
	c := renderGenerated(t, dir, cols, 600, 6, gen, row)
	if c.loaded < 400 || c.compiledTemplates < c.loaded/2 || c.compiledRenders < c.renders/4 {
		t.Errorf("too few ran compiled: %+v", c)
	}
}

// generatedCounts says how many generated templates renderGenerated
// loaded and compiled, and how many of its renders ran compiled.
type generatedCounts struct {
	loaded, compiledTemplates, renders, compiledRenders int
}

// renderGenerated loads n templates from gen in dir and renders each for
// perTemplate rows from row, compiled and by text/template, failing t at
// the first difference (see compareRenders).
func renderGenerated(t *testing.T, dir string, cols *Columns, n, perTemplate int, gen func() (txt, html string), row func() []string) generatedCounts {
	t.Helper()
	var c generatedCounts
	for range n {
		txt, html := gen()
		tmpl := loadGenerated(t, dir, txt, html)
		if tmpl == nil {
			continue
		}
		c.loaded++
		if tmpl.allCompiled() {
			c.compiledTemplates++
		}
		for range perTemplate {
			vals := row()
			rec := &Record{File: "people.csv", Row: 2, Columns: cols, Values: vals}
			c.renders++
			if compareRenders(t, tmpl, rec, fmt.Sprintf("message.txt:\n%s\nmessage.html:\n%s\nrow: %q", txt, html, vals)) {
				c.compiledRenders++
			}
		}
	}
	t.Logf("%d templates loaded, %d compiled; %d renders, %d ran compiled", c.loaded, c.compiledTemplates, c.renders, c.compiledRenders)
	return c
}

// FuzzCompiledSameAsTemplate is TestCompiledSameAsTemplate with the
// template's shape and the row's values from the fuzzer.
func FuzzCompiledSameAsTemplate(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, "<b>", "javascript:x", "%41")
	f.Add([]byte{0, 9, 200, 13, 77, 31, 5}, "", " ", "Ünï")
	f.Fuzz(func(t *testing.T, shape []byte, a, b, c string) {
		dir := t.TempDir()
		writeLogo(t, dir)
		txt, html := genTemplate(shape)
		tmpl := loadGenerated(t, dir, txt, html)
		if tmpl == nil {
			return
		}
		rec := &Record{File: "people.csv", Row: 2, Columns: NewColumns([]string{"a", "b", "c", "email"}), Values: []string{a, b, c, "p@example.org"}}
		compareRenders(t, tmpl, rec, fmt.Sprintf("message.txt:\n%s\nmessage.html:\n%s\nrow: %q", txt, html, rec.Values))
	})
}

// TestShippedTemplatesCompile holds that the templates users copy render
// without reflection: a change that stops them compiling would silently
// cost half the CPU of a send.
func TestShippedTemplatesCompile(t *testing.T) {
	entries, err := os.ReadDir("../templates")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		tmpl, err := LoadTemplate(filepath.Join("../templates", e.Name()), TemplateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !tmpl.allCompiled() {
			t.Errorf("%s: does not compile", e.Name())
		}
	}
	if n == 0 {
		t.Fatal("no templates in ../templates")
	}
}

// TestCompiledEscapesLikeHTMLTemplate checks escaped output by hand for
// the contexts mail templates use, beside the differential tests.
func TestCompiledEscapesLikeHTMLTemplate(t *testing.T) {
	dir := writeTemplate(t, map[string]string{
		"message.txt":  "From: E <e@example.org>\nTo: {{.email}}\nSubject: S\n\nHi {{.a}}\n",
		"message.html": `<p>{{.a}}</p><a href="{{.b}}">l</a><a href="https://x.example.org/?q={{.a}}">q</a><title>{{.a}}</title>`,
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.htmlCompiled == nil {
		t.Fatal("the HTML body did not compile")
	}
	rec := &Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"a", "b", "email"}),
		Values: []string{`<i>"Tom" & 'Jo'+</i> %41`, "javascript:alert(1)", "p@example.org"}}
	want := `<p>&lt;i&gt;&#34;Tom&#34; &amp; &#39;Jo&#39;&#43;&lt;/i&gt; %41</p>` +
		`<a href="#ZgotmplZ">l</a>` +
		`<a href="https://x.example.org/?q=%3ci%3e%22Tom%22%20%26%20%27Jo%27%2b%3c%2fi%3e%20%2541">q</a>` +
		`<title>&lt;i&gt;&#34;Tom&#34; &amp; &#39;Jo&#39;&#43;&lt;/i&gt; %41</title>`
	for _, compiled := range []bool{true, false} {
		m, err := tmpl.render(context.Background(), rec, compiled)
		if err != nil {
			t.Fatal(err)
		}
		if m.HTML != want {
			t.Errorf("compiled %v: HTML:\n got %s\nwant %s", compiled, m.HTML, want)
		}
	}
}

// BenchmarkRenderCompiled renders the announcement template compiled and
// by text/template alone.
func BenchmarkRenderCompiled(b *testing.B) {
	tmpl, _ := benchTemplate(b, false)
	rec := &Record{File: "recipients.csv", Row: 2, Columns: NewColumns(sampleColumns), Values: sampleRows[1]}
	for _, compiled := range []bool{true, false} {
		name := "compiled"
		if !compiled {
			name = "text-template"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tmpl.render(context.Background(), rec, compiled); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
