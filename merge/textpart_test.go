package merge

import (
	"strings"
	"testing"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"paragraphs", "<p>One\n  two</p><p style=\"margin:0\">Three</p>", "One two\n\nThree\n"},
		{"headings", "<h1>Welcome</h1><p>Body</p><h2>Détails</h2><h3>Small</h3>text",
			"Welcome\n=======\n\nBody\n\nDétails\n-------\n\nSmall\n\ntext\n"},
		{"unordered list", "<ul><li>one</li><li>two <b>bold</b></li></ul>", "- one\n- two bold\n"},
		{"ordered list", "<ol start=\"3\"><li>three</li><li>four</li></ol>", "3. three\n4. four\n"},
		{"nested list", "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>", "- a\n\n  - b\n\n- c\n"},
		{"link", `<p>Read <a href="https://example.org/news">the news</a>.</p>`, "Read the news <https://example.org/news>.\n"},
		{"link is its URL", `<a href="https://example.org/">https://example.org</a>`, "https://example.org\n"},
		{"mailto", `<a href="mailto:desk@example.org">desk@example.org</a>`, "desk@example.org\n"},
		{"image link", `<a href="https://example.org/"><img src="cid:x@example.org" alt="Our logo"></a>`,
			"Our logo <https://example.org/>\n"},
		{"empty link", `<a href="https://example.org/x"></a>`, "<https://example.org/x>\n"},
		{"anchor and script links", `<a href="#top">top</a> <a href="javascript:void(0)">js</a>`, "top js\n"},
		{"image without alt", `<p>a<img src="x.png">b</p>`, "ab\n"},
		{"br", "line one<br>line two", "line one\nline two\n"},
		{"table row", "<table><tr><td>Ticket</td><td>1006</td></tr><tr><td>Name</td><td>Ada</td></tr></table>",
			"Ticket  1006\nName  Ada\n"},
		{"head script style hidden", `<html><head><title>T</title><style>p{}</style></head><body>` +
			`<div style="display: none; max-height:0">preheader</div><script>x()</script><p>Seen</p><p hidden>no</p></body></html>`, "Seen\n"},
		{"entities", "<p>Tom &lt;Tommy&gt; &amp; Co&nbsp;&quot;x&quot;</p>", "Tom <Tommy> & Co \"x\"\n"},
		{"pre", "<pre>a  b\n  c</pre><p>d</p>", "a  b\n  c\n\nd\n"},
		{"hr", "<p>a</p><hr><p>b</p>", "a\n\n----\n\nb\n"},
		{"wrap", "<p>" + strings.Repeat("word ", 20) + "</p>",
			strings.TrimSpace(strings.Repeat("word ", 15)) + "\n" + strings.TrimSpace(strings.Repeat("word ", 5)) + "\n"},
		{"wrap list", "<ul><li>" + strings.Repeat("word ", 16) + "</li></ul>",
			"- " + strings.TrimSpace(strings.Repeat("word ", 15)) + "\n  word\n"},
		{"long URL not broken", `<p>x <a href="https://example.org/` + strings.Repeat("a", 90) + `">y</a></p>`,
			"x y\n<https://example.org/" + strings.Repeat("a", 90) + ">\n"},
		{"empty", "", "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.in); got != tt.want {
				t.Errorf("HTMLToText(%q) =\n%s\nwant\n%s", tt.in, got, tt.want)
			}
		})
	}
}

// TestHTMLToTextTemplates converts real templates' HTML and checks that no
// markup is left and that every link and image text is there.
func TestHTMLToTextTemplates(t *testing.T) {
	m := render(t, "../templates/announcement", TemplateOptions{}, sampleColumns,
		"tom@example.com", `Tom "T-Bone" <Tommy> & Co`, "Tom", "Lisbon 🌊", "1006", "2026-05-06", "5e96097c6c165c11aa15409da888aa83")
	text := HTMLToText(m.HTML)
	for _, bad := range []string{"<p", "<td", "<a ", "</", "style=", "&amp;", "&lt;", "{{"} {
		if strings.Contains(text, bad) {
			t.Errorf("the text holds %q:\n%s", bad, text)
		}
	}
	for _, link := range htmlLinks(m.HTML) {
		if !strings.Contains(text, link) {
			t.Errorf("the text lacks the link %s:\n%s", link, text)
		}
	}
	for _, want := range []string{"Mailshot Events", `Tom "T-Bone" <Tommy> & Co`} {
		if !strings.Contains(text, want) {
			t.Errorf("the text lacks %q:\n%s", want, text)
		}
	}
	for i, line := range strings.Split(text, "\n") {
		if n := len([]rune(line)); n > textWidth && !strings.Contains(line, "<") {
			t.Errorf("line %d is %d columns: %q", i+1, n, line)
		}
	}
}

func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a</p>", "<ul><li><p>x</p></li></ul>", "<a href='https://example.org'><h1>x</h1></a>",
		"<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>", "<pre>\n\n</pre>", "<ol><li>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := HTMLToText(s)
		if !strings.HasSuffix(out, "\n") {
			t.Fatalf("HTMLToText(%q) = %q, without a final line break", s, out)
		}
		if strings.Contains(out, "\r") {
			t.Fatalf("HTMLToText(%q) holds a CR", s)
		}
	})
}
