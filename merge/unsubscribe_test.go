package merge

import (
	"bytes"
	"errors"
	"net/mail"
	"strings"
	"testing"
)

func TestUnsubscribeSetsOneClickHeaders(t *testing.T) {
	tests := []struct {
		name     string
		header   string // the List-Unsubscribe line of message.txt
		id       string
		want     string // List-Unsubscribe as parsed back, "" for a row error
		wantPost bool
	}{
		{"https", `{{unsubscribe "https://example.org/u?id=" .id}}`, "a b&c", "<https://example.org/u?id=a+b%26c>", true},
		{"mailto and https", `{{unsubscribe "mailto:u@example.org?subject=" .id}}, {{unsubscribe "https://example.org/u/" .id}}`, "42",
			"<mailto:u@example.org?subject=42>, <https://example.org/u/42>", true},
		{"mailto only", `{{unsubscribe "mailto:u@example.org?subject=unsubscribe%20" .id}}`, "42", "<mailto:u@example.org?subject=unsubscribe%2042>", false},
		{"mailto space", `{{unsubscribe "mailto:u@example.org?subject=unsubscribe%20" .id}}`, "a b&c+d", "<mailto:u@example.org?subject=unsubscribe%20a%20b%26c%2Bd>", false},
		{"mailto space in body", `{{unsubscribe "mailto:u@example.org?subject=unsubscribe&body=" .id}}, {{unsubscribe "https://example.org/u?id=" .id}}`, "x y",
			"<mailto:u@example.org?subject=unsubscribe&body=x%20y>, <https://example.org/u?id=x+y>", true},
		{"https path space", `{{unsubscribe "https://example.org/u/" .id}}`, "a b+c", "<https://example.org/u/a%20b%2Bc>", true},
		{"empty id", `{{unsubscribe "https://example.org/u?id=" .id}}`, "", "", false},
		{"not a web or mail URL", `{{unsubscribe "javascript:alert(1)//" .id}}`, "1", "", false},
		{"plain http", `{{unsubscribe "http://example.org/u?id=" .id}}`, "1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTemplate(t, map[string]string{
				"message.txt": "From: a@example.org\nTo: {{.email}}\nSubject: s\nList-Unsubscribe: " + tt.header + "\n\nbody\n",
			})
			tmpl, err := LoadTemplate(dir, TemplateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m, err := tmpl.Render(&Record{File: "f.csv", Row: 2, Columns: NewColumns([]string{"email", "id"}), Values: []string{"b@example.org", tt.id}})
			if tt.want == "" {
				var re *RowError
				if !errors.As(err, &re) {
					t.Fatalf("got %v, want a row error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := (&Composer{}).Compose(&buf, m); err != nil {
				t.Fatal(err)
			}
			parsed, err := mail.ReadMessage(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if got := parsed.Header.Get("List-Unsubscribe"); got != tt.want {
				t.Errorf("List-Unsubscribe = %q, want %q", got, tt.want)
			}
			post := parsed.Header.Get("List-Unsubscribe-Post")
			if tt.wantPost != (post == "List-Unsubscribe=One-Click") || (!tt.wantPost && post != "") {
				t.Errorf("List-Unsubscribe-Post = %q, want one-click: %v", post, tt.wantPost)
			}
			if strings.Count(buf.String(), "List-Unsubscribe-Post") > 1 {
				t.Error("List-Unsubscribe-Post written twice")
			}
		})
	}
}
