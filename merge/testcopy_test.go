package merge

import (
	"bytes"
	"mime"
	"net/mail"
	"testing"
)

func TestTestCopyKeepsTheMessageAndNamesTheRealRecipients(t *testing.T) {
	dir := writeTemplate(t, map[string]string{
		"message.txt": "From: a@example.org\nTo: {{.email}}\nCc: boss@example.org\nBcc: archive@example.org\nSubject: Ünïcode {{.id}}\n\nbody {{.id}}\n",
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := tmpl.Render(&Record{File: "f.csv", Row: 2, Columns: NewColumns([]string{"email", "id"}), Values: []string{"b@example.org", "7"}})
	if err != nil {
		t.Fatal(err)
	}
	var orig bytes.Buffer
	if err := (&Composer{}).Compose(&orig, m); err != nil {
		t.Fatal(err)
	}
	c := m.TestCopy()
	var buf bytes.Buffer
	if err := (&Composer{}).Compose(&buf, c); err != nil {
		t.Fatal(err)
	}
	parsed, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
	if err != nil || subject != "[TEST] Ünïcode 7" {
		t.Errorf("Subject %q (%v)", subject, err)
	}
	if got := parsed.Header.Get(WouldSendToHeader); got != "b@example.org, boss@example.org, archive@example.org" {
		t.Errorf("%s: %q", WouldSendToHeader, got)
	}
	if to, err := parsed.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "b@example.org" || parsed.Header.Get("Bcc") != "" {
		t.Errorf("To %q, Bcc %q", parsed.Header.Get("To"), parsed.Header.Get("Bcc"))
	}
	if c.MessageID == m.MessageID {
		t.Error("the test copy reuses the real message's Message-ID")
	}
	if m.Subject != "Ünïcode 7" || len(m.Headers) != len(c.Headers)-1 {
		t.Errorf("the original changed: %q %v", m.Subject, m.Headers)
	}
}
