package merge_test

import (
	"bytes"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailshot/mailshot/merge"
)

// Render one message from a template and a row, and compose it as MIME.
// A template is a directory holding message.txt (headers, a blank line,
// the text) and, optionally, message.html and the images it shows.
func Example() {
	dir, err := os.MkdirTemp("", "template")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	txt := "From: Events <events@example.com>\nTo: {{.name}} <{{.email}}>\nSubject: Your ticket, {{.name}}\n\n" +
		"Dear {{.name}},\nyour seat is {{.seat}}.\n"
	if err := os.WriteFile(filepath.Join(dir, "message.txt"), []byte(txt), 0o644); err != nil {
		log.Fatal(err)
	}
	tmpl, err := merge.LoadTemplate(dir, merge.TemplateOptions{})
	if err != nil {
		log.Fatal(err)
	}

	// One row of the data, as merge.OpenData reads it from a CSV or XLSX.
	row := &merge.Record{
		File:    "people.csv",
		Row:     2,
		Columns: merge.NewColumns([]string{"email", "name", "seat"}),
		Values:  []string{"ada@example.org", "Ada", "B12"},
	}
	m, err := tmpl.Render(row) // a missing or empty value is an error, never "<no value>"
	if err != nil {
		log.Fatal(err)
	}

	c := &merge.Composer{ // fixed clock and Message-ID, for the output below
		Now:          func() time.Time { return time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC) },
		NewMessageID: func(domain string) string { return "1@" + domain },
	}
	var eml bytes.Buffer
	if err := c.Compose(&eml, m); err != nil {
		log.Fatal(err)
	}
	fmt.Print(strings.ReplaceAll(eml.String(), "\r\n", "\n")) // lines end in CRLF on the wire
	// Output:
	// Date: Sun, 01 Mar 2026 10:00:00 +0000
	// From: "Events" <events@example.com>
	// To: "Ada" <ada@example.org>
	// Subject: Your ticket, Ada
	// Message-ID: <1@example.com>
	// MIME-Version: 1.0
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: 7bit
	//
	// Dear Ada,
	// your seat is B12.
}
