package merge

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRequiredPipedArgumentOrder: text/template computes the piped value
// of a command before its arguments, and so must the compiled _required:
// with attach on both sides the order of the attachments shows it.
func TestRequiredPipedArgumentOrder(t *testing.T) {
	dir := writeTemplate(t, map[string]string{
		"message.txt": "From: E <e@example.org>\nTo: {{.email}}\nSubject: S\n\nHi {{attach \"b.txt\" | default \"v\" | _required (attach \"a.txt\")}}\n",
		"a.txt":       "a\n",
		"b.txt":       "b\n",
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tmpl.allCompiled() {
		t.Fatal("expected the template to compile")
	}
	rec := &Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email"}), Values: []string{"p@example.org"}}
	compareRenders(t, tmpl, rec, "attach order")
}

// TestStyleURLContextsCompile: url(...) in a style sheet or a style
// attribute, and a refresh URL, compile (the README says so), and render
// as html/template does, a value that tries to leave the URL included.
func TestStyleURLContextsCompile(t *testing.T) {
	for _, html := range []string{
		`<style>p { background: url({{.a}}) }</style>`,
		`<style>p { background: url("{{.a}}") }</style>`,
		`<p style="background: url({{.a}})">x</p>`,
		`<meta http-equiv="refresh" content="0; url={{.a}}">`,
	} {
		dir := writeTemplate(t, map[string]string{
			"message.txt":  "From: E <e@example.org>\nTo: {{.email}}\nSubject: S\n\n",
			"message.html": html,
		})
		tmpl, err := LoadTemplate(dir, TemplateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if tmpl.htmlCompiled == nil {
			t.Errorf("%s: not compiled", html)
		}
		rec := &Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"a", "email"}),
			Values: []string{`javascript:x) } * { color: red`, "p@example.org"}}
		compareRenders(t, tmpl, rec, html)
	}
}

var (
	wideExprs = []string{
		`.a`, `.b`, `(.a)`, `index $ "c"`, `index (.) "a"`, `$.b | upper`, `.a | urlquery`, `urlquery .a .b`,
		`js .a .b`, `html .a .b`, `.a | html`, `not (eq .a .b)`, `.a | not`, `.a | and`, `.b | or`,
		`and .a (not .b) .c`, `or .c .b .a`, `.c | or .a .b`, `.c | and .a .b`, `default "" .a`,
		`title (lower .a)`, `"<x>" | upper`, `true | not`, `eq true (not .a)`, `ne (not .a) false`,
		`html (eq .a .b)`, `urlquery (eq .a .b) .c`, `_required "a" .a`, `.b | _required "b"`,
		`or .a "" | default "d"`, `and .a .b | trim`, `eq .a .b .c "x"`, `ne .a (.b | upper)`,
		`attach "x.txt"`, `.c | attach`, `eq "" (attach "y.txt")`, `or (attach "x.txt") (attach "y.txt")`,
		`.a | eq (.b | lower)`, `"%41" | urlquery`, `js "</script>"`, `.a | js`,
		`index . .a`, `index $ (.a | lower) | upper`, `title (index . .a)`, `urlquery (index . .a)`, `or (index . .a) .b`,
	}
	wideHTMLExprs = []string{
		`inline "logo.png"`, `or .c (inline "logo.png")`, `eq (inline "logo.png") .a`,
		`and .a (inline "logo.png")`, `inline "logo.png" | urlquery`, `_required "a" (inline "logo.png")`,
	}
	wideContexts = []string{
		"<p>@</p>", `<a href="@">l</a>`, `<a href='@'>l</a>`, `<a href="?x=@#@">l</a>`,
		`<a href="@?q=@">l</a>`, `<p data-x="@">x</p>`, `<input value="@">`, `<form action="@"></form>`,
		`<a href="javascript:@">j</a>`, `<iframe srcdoc="@"></iframe>`, `<script type="text/template">@</script>`,
		`<style>p{background:url(@)}</style>`, `<style>p{background:url('@')}</style>`,
		`<p style="background:url(@)">s</p>`, `<meta http-equiv="refresh" content="0; url=@">`,
		`<meta http-equiv="refresh" content="@">`, "<title>@</title>", "<textarea>@</textarea>",
		`<img src="@" alt="@">`, `<a href="mailto:@?subject=@">m</a>`, `<object data="@"></object>`,
	}
	wideValues = []string{
		"", " ", "Ada", "%41", "%4", "%zz", "x:y", "MAILTO:x", " javascript:x", "a/b:c", "JaVaScRiPt:x",
		"<script>alert(1)</script>", "\"'><", "x.txt", "y.txt", "nope.txt", "ü\u2028\u00a0", "+&#", "true",
		"cid:x", "http://a.example/b?c=d&e=f#g", "\\u003c", "'; alert(1); '", "d", "d", "D",
	}
)

func wideGen(rng *rand.Rand) (txt, html string) {
	expr := func(h bool) string {
		if h && rng.IntN(6) == 0 {
			return wideHTMLExprs[rng.IntN(len(wideHTMLExprs))]
		}
		return wideExprs[rng.IntN(len(wideExprs))]
	}
	action := func(h bool) string {
		e := expr(h)
		switch rng.IntN(8) {
		case 0:
			return "{{if " + expr(h) + "}}[{{" + e + "}}]{{else if " + expr(h) + "}}({{" + expr(h) + "}}){{else}}<{{.b}}>{{end}}"
		case 1:
			return "{{- " + e + " -}}"
		case 2:
			return "{{/* c */}}{{" + e + "}}"
		case 3:
			return "{{ ( " + e + " ) }}"
		}
		return "{{" + e + "}}"
	}
	var t, h strings.Builder
	subject := "Hi {{" + expr(false) + "}}"
	if rng.IntN(3) == 0 {
		subject = `Hi {{unsubscribe "mailto:u@example.org?subject=" .a}}`
	}
	subject = strings.ReplaceAll(subject, `attach`, `upper`)
	fmt.Fprintf(&t, "From: Events <events@example.org>\nTo: {{.email}}\nSubject: %s\n\n", subject)
	h.WriteString("<!DOCTYPE html>\n<html><body>\n")
	for n := rng.IntN(5); n >= 0; n-- {
		fmt.Fprintf(&t, "line %d: %s\n", n, action(false))
		c := wideContexts[rng.IntN(len(wideContexts))]
		for strings.Contains(c, "@") {
			c = strings.Replace(c, "@", action(true), 1)
		}
		h.WriteString(c + "\n")
	}
	h.WriteString("</body></html>\n")
	return t.String(), h.String()
}

// TestCompiledWide is TestCompiledSameAsTemplate with more
// expressions (attach, inline, _required, piped and/or, parentheses,
// builtins with several arguments), and more HTML contexts and values.
func TestCompiledWide(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	dir := t.TempDir()
	writeLogo(t, dir)
	for _, f := range []string{"x.txt", "y.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	seed := uint64(3)
	if v, err := strconv.ParseUint(os.Getenv("MAILSHOT_WIDE_SEED"), 10, 64); err == nil {
		seed = v
	}
	rng := rand.New(rand.NewPCG(seed, 5))
	cols := NewColumns([]string{"a", "b", "c", "email", "d"})
	dvals := []string{"\x00<", "\xff<\xc3", "\xef\xbf\xbe&", "\u00e9\u0301x y", ""}
	gen := func() (string, string) { return wideGen(rng) }
	row := func() []string {
		return []string{
			wideValues[rng.IntN(len(wideValues))],
			wideValues[rng.IntN(len(wideValues))],
			wideValues[rng.IntN(len(wideValues))],
			"p@example.org",
			dvals[rng.IntN(len(dvals))],
		}
	}
	renderGenerated(t, dir, cols, n, 8, gen, row)
}

// TestCompiledLimits renders generated templates under a small
// message size limit, so that compiled runs stop part way through.
func TestCompiledLimits(t *testing.T) {
	dir := t.TempDir()
	writeLogo(t, dir)
	for _, f := range []string{"x.txt", "y.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(9, 9))
	cols := NewColumns([]string{"a", "b", "c", "email", "d"})
	for range 500 {
		txt, html := wideGen(rng)
		for name, src := range map[string]string{"message.txt": txt, "message.html": html} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tmpl, err := LoadTemplate(dir, TemplateOptions{MaxMessageSize: int64(100 + rng.IntN(400))})
		if err != nil {
			continue
		}
		for range 4 {
			vals := []string{wideValues[rng.IntN(len(wideValues))], wideValues[rng.IntN(len(wideValues))],
				wideValues[rng.IntN(len(wideValues))], "p@example.org", "d"}
			rec := &Record{File: "people.csv", Row: 2, Columns: cols, Values: vals}
			compareRenders(t, tmpl, rec, fmt.Sprintf("message.txt:\n%s\nmessage.html:\n%s\nrow: %q", txt, html, vals))
		}
	}
}
