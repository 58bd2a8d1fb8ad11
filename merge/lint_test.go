package merge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTemplateLintImages(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"message.txt": "From: news@example.org\nTo: {{.email}}\nSubject: Hi\n\nHello\n",
		"message.html": "<p>Hello</p>\n<p>\n<img alt=\"x\"\n src=\"logo.png\">\n" +
			`<img src="{{inline "logo.png"}}"> <img src="https://example.org/a.png"> <img src="data:image/png;base64,AA==">` + "\n" +
			`<img src='images/b.png'>` + "\n",
		"logo.png": "\x89PNG\r\n\x1a\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Lint()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "message.html")
	want := []string{path + ":3: <img src=\"logo.png\">", path + ":6: <img src=\"images/b.png\">"}
	if len(got) != len(want) {
		t.Fatalf("Lint = %v, want %d warnings", got, len(want))
	}
	for i, w := range got {
		if !strings.HasPrefix(w.String(), want[i]) || w.Code != LintLocalImage || !strings.Contains(w.Text, "inline") {
			t.Errorf("warning %d = %q (%s), want it to start %q", i, w, w.Code, want[i])
		}
	}

	// The starter template has none.
	tmpl, err = LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tmpl.Lint(); err != nil || len(got) != 0 {
		t.Errorf("templates/announcement: Lint = %v, %v", got, err)
	}
}

func TestLinter(t *testing.T) {
	msg := func(row int, unsub, subject, text, html string) *Message {
		m := &Message{Row: row, Subject: subject, Text: text, HTML: html}
		if unsub != "" {
			m.Headers = []HeaderField{{Name: "List-Unsubscribe", Value: unsub}}
		}
		return m
	}
	const mailto = "<mailto:unsubscribe@example.org?subject=x>"
	const both = mailto + ", <https://example.org/u?id=x>"
	tests := []struct {
		name  string
		msgs  func() []*Message
		codes []string
		text  string
	}{
		{"100 mailto only", func() []*Message {
			var ms []*Message
			for i := range OneClickThreshold {
				ms = append(ms, msg(i+2, mailto, "Hi", "t", ""))
			}
			return ms
		}, nil, ""},
		{"101 mailto only", func() []*Message {
			var ms []*Message
			for i := range OneClickThreshold + 1 {
				ms = append(ms, msg(i+2, mailto, "Hi", "t", ""))
			}
			return ms
		}, []string{LintNoOneClick}, "101 messages have a List-Unsubscribe without an https URL"},
		{"101 with https", func() []*Message {
			var ms []*Message
			for i := range OneClickThreshold + 1 {
				ms = append(ms, msg(i+2, both, "Hi", "t", ""))
			}
			return ms
		}, nil, ""},
		{"empty subject", func() []*Message {
			return []*Message{msg(2, both, "Hi", "t", ""), msg(3, both, "", "t", ""), msg(4, both, " ", "t", "")}
		}, []string{LintEmptySubject}, "2 messages have an empty Subject (the first: row 3)"},
		{"text lacks link", func() []*Message {
			html := `<p>Hi <a href="https://example.org/news">news</a></p><p><a href="https://example.org/u?id=1&amp;x=2">Unsubscribe</a></p>`
			return []*Message{
				msg(2, both, "Hi", "Hi https://example.org/news\nUnsubscribe: https://example.org/u?id=1&x=2\n", html),
				msg(3, both, "Hi", "Hi https://example.org/news\n", html),
			}
		}, []string{LintTextLacksLinks}, "in 1 messages (the first: row 3) the text part lacks links the HTML part has: https://example.org/u?id=1&x=2"},
		{"every message counted once one lacks a link", func() []*Message {
			html := `<a href="https://example.org/u">Unsubscribe</a>`
			ms := []*Message{msg(2, both, "Hi", "Hi\n", html)}
			for i := range linkSample + 500 {
				ms = append(ms, msg(i+3, both, "Hi", "https://example.org/u\n", html))
			}
			for i := range 3 {
				ms = append(ms, msg(i+linkSample+503, both, "Hi", "Hi\n", html))
			}
			return ms
		}, []string{LintTextLacksLinks}, "in 4 messages (the first: row 2)"},
		{"links compared in a sample", func() []*Message {
			html := `<a href="https://example.org/u">Unsubscribe</a>`
			var ms []*Message
			for i := range linkSample {
				ms = append(ms, msg(i+2, both, "Hi", "https://example.org/u\n", html))
			}
			return append(ms, msg(linkSample+2, both, "Hi", "Hi\n", html))
		}, nil, ""},
		{"generated text is not checked", func() []*Message {
			return []*Message{msg(2, both, "Hi", "", `<a href="https://example.org/">x</a>`)}
		}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Linter
			for _, m := range tt.msgs() {
				l.Add(m)
			}
			got := l.Warnings()
			if len(got) != len(tt.codes) {
				t.Fatalf("Warnings = %v, want codes %v", got, tt.codes)
			}
			for i, w := range got {
				if w.Code != tt.codes[i] || !strings.Contains(w.String(), tt.text) {
					t.Errorf("warning %q (%s), want %s saying %q", w, w.Code, tt.codes[i], tt.text)
				}
				if strings.Contains(w.Text, "--") || strings.Contains(w.Text, "hint") {
					t.Errorf("warning %q names a flag or gives a hint", w)
				}
			}
		})
	}
}

// TestLinterStarterKit checks that the starter template's hand-written text
// part carries every link of its HTML part.
func TestLinterStarterKit(t *testing.T) {
	var l Linter
	l.Add(render(t, "../templates/announcement", TemplateOptions{}, sampleColumns,
		"tom@example.com", "Tom", "Tom", "Lisbon", "1006", "2026-05-06", "5e96097c6c165c11aa15409da888aa83"))
	if w := l.Warnings(); len(w) != 0 {
		t.Errorf("templates/announcement: %v", w)
	}
}
