package merge

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestStarterKitUnsubscribeToken checks that the sample template names the
// recipient in every unsubscribe link by the random token of the sample
// data, never by the sequential ticket number anyone could count through.
func TestStarterKitUnsubscribeToken(t *testing.T) {
	tmpl, err := LoadTemplate("../templates/announcement", TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := OpenData(filepath.Join("..", "samples", "recipients.csv"), DataOptions{Name: "recipients.csv"})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rows := readRecords(t, r, "recipients.csv")
	if len(rows) == 0 {
		t.Fatal("no sample rows")
	}
	for _, row := range rows {
		token := row.Values[6]
		m, err := tmpl.Render(&Record{File: "recipients.csv", Row: row.Row, Columns: r.Columns(), Values: row.Values})
		if err != nil {
			t.Fatal(err)
		}
		list, _ := m.Header("List-Unsubscribe")
		var links []string
		for _, v := range strings.Split(list, ",") {
			links = append(links, strings.Trim(strings.TrimSpace(v), "<>"))
		}
		for _, body := range []string{m.Text, m.HTML} {
			for _, f := range strings.Fields(body) {
				if i := strings.Index(f, "https://events.example.org/unsubscribe"); i >= 0 {
					links = append(links, strings.Trim(f[i:], `".`))
				}
			}
		}
		if len(links) != 4 {
			t.Fatalf("row %d: unsubscribe links %q, want two in List-Unsubscribe and one in each part", row.Row, links)
		}
		for _, link := range links {
			u, err := url.Parse(link)
			if err != nil {
				t.Fatalf("row %d: %q: %v", row.Row, link, err)
			}
			q := u.Query()
			got := q.Get("token")
			if u.Scheme == "mailto" {
				got = strings.TrimPrefix(q.Get("subject"), "unsubscribe ")
			}
			if got != token || strings.Contains(link, "ticket") {
				t.Errorf("row %d: %q names the recipient by %q, want the token %s", row.Row, link, got, token)
			}
		}
	}
}
