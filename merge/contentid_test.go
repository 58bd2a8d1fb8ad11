package merge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestInlineContentIDFromDomain checks that an inline image's Content-ID is
// world-unique (RFC 2045 section 7): its hash at the From address's domain,
// in ASCII (an IDN as its A-label), the same in the cid: URL of the HTML
// and in the part, while the Part the template shares stays as loaded.
func TestInlineContentIDFromDomain(t *testing.T) {
	sum := sha256.Sum256([]byte(pngBytes))
	hash := hex.EncodeToString(sum[:12])
	tests := []struct {
		name, from, want string
	}{
		{"literal", "Events <events@example.org>", hash + "@example.org"},
		{"column", "{{.sender}}", hash + "@example.test"},
		{"idn", "{{address \"Bücher\" \"info@bücher.example\"}}", hash + "@xn--bcher-kva.example"},
		{"non-ascii local part", "josé@example.com", hash + "@example.com"},
		{"address literal", "events@[192.0.2.1]", hash + "@[192.0.2.1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplate(t, map[string]string{
				"message.txt":  "From: " + tt.from + "\nTo: {{.email}}\nSubject: Hello\n\nHi\n",
				"message.html": `<p>Hi</p><img alt="logo" src="{{inline "logo.png"}}">`,
				"logo.png":     pngBytes,
			})
			tmpl, err := LoadTemplate(dir, TemplateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Render(&Record{File: "f.csv", Row: 2, Columns: NewColumns([]string{"email", "sender"}),
				Values: []string{"ada@example.com", "events@example.test"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Inline) != 1 || m.Inline[0].ContentID != tt.want {
				t.Fatalf("Inline = %+v, want one part with Content-ID %s", m.Inline, tt.want)
			}
			if !strings.Contains(m.HTML, `src="cid:`+tt.want+`"`) {
				t.Errorf("HTML = %s, want cid:%s", m.HTML, tt.want)
			}
			for _, p := range tmpl.files {
				if p.ContentID != hash+"@mailshot" {
					t.Errorf("the template's shared Part changed: Content-ID %s", p.ContentID)
				}
			}
			var b bytes.Buffer
			if err := testComposer().Compose(&b, m); err != nil {
				t.Fatal(err)
			}
			if want := "\r\nContent-ID: <" + tt.want + ">\r\n"; !strings.Contains(b.String(), want) {
				t.Errorf("composed message lacks %q:\n%s", want, b.String())
			}
		})
	}
}

// TestInlineContentIDConcurrent renders messages from several From domains
// at once through one template: each gets the Content-ID of its own
// domain, twice in one message gives one part, and the shared Parts are
// never written (run with -race).
func TestInlineContentIDConcurrent(t *testing.T) {
	dir := writeTemplate(t, map[string]string{
		"message.txt":  "From: {{.sender}}\nTo: {{.email}}\nSubject: Hello\n\nHi\n",
		"message.html": `<img alt="a" src="{{inline "logo.png"}}"><img alt="b" src="{{inline .photo}}"><img alt="c" src="{{inline "logo.png"}}">`,
		"logo.png":     pngBytes,
		"photo.png":    pngBytes + "photo",
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cols := NewColumns([]string{"email", "sender", "photo"})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 40 {
				domain := fmt.Sprintf("d%d.example.test", (g+i)%5)
				m, err := tmpl.Render(&Record{File: "f.csv", Row: i + 2, Columns: cols,
					Values: []string{"ada@example.com", "events@" + domain, "photo.png"}})
				if err != nil {
					t.Error(err)
					return
				}
				if len(m.Inline) != 2 {
					t.Errorf("%d inline parts, want 2", len(m.Inline))
					return
				}
				var b bytes.Buffer
				if err := (&Composer{}).Compose(&b, m); err != nil {
					t.Error(err)
					return
				}
				for _, p := range m.Inline {
					if !strings.HasSuffix(p.ContentID, "@"+domain) || !strings.Contains(m.HTML, "cid:"+p.ContentID) {
						t.Errorf("From domain %s: Content-ID %s, HTML %s", domain, p.ContentID, m.HTML)
						return
					}
					// The part's header fields, built once for the domain's
					// copy, name it too.
					if want := "\r\nContent-ID: <" + p.ContentID + ">\r\n"; !strings.Contains(b.String(), want) {
						t.Errorf("From domain %s: composed message lacks %q", domain, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	for _, p := range tmpl.files {
		if !strings.HasSuffix(p.ContentID, "@mailshot") {
			t.Errorf("the template's shared Part changed: Content-ID %s", p.ContentID)
		}
	}
}
