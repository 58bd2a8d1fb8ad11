package merge

import (
	"bytes"
	"mime"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// composeBytes composes m with a fresh testComposer.
func composeBytes(t *testing.T, m *Message) ([]byte, error) {
	t.Helper()
	var b bytes.Buffer
	err := testComposer().Compose(&b, m)
	return b.Bytes(), err
}

// renderHeaderCase renders a template with every kind of header field.
func renderHeaderCase(t *testing.T) *Message {
	t.Helper()
	dir := writeTemplate(t, map[string]string{
		"message.txt": "From: Événements <events@example.org>\nTo: {{address .name .email}}\nCc: desk@example.org\n" +
			"Bcc: archive@example.org\nReply-To: Desk <desk@example.org>\nSubject: Grüße, {{.name}}\n" +
			"List-Unsubscribe: <https://example.org/u?t={{.token}}>\nX-Campaign: spring {{.city}}\n\nHello {{.name}}\n",
	})
	return render(t, dir, TemplateOptions{}, sampleColumns, sampleRows[1]...)
}

// TestComposeHeaderCache checks that Compose writes what a Message holds
// when Compose is called, whatever changed since Render encoded its
// header: each change below must reach the message, byte for byte as
// when nothing was encoded before.
func TestComposeHeaderCache(t *testing.T) {
	changes := []struct {
		name   string
		change func(m *Message)
	}{
		{"nothing", func(m *Message) {}},
		{"Subject", func(m *Message) { m.Subject = "Changed" }},
		{"Subject same bytes", func(m *Message) { m.Subject = strings.Clone(m.Subject) }},
		{"From replaced", func(m *Message) { m.From = &mail.Address{Name: "Other", Address: "other@example.org"} }},
		{"From name in place", func(m *Message) { m.From.Name = "Other" }},
		{"From address in place", func(m *Message) { m.From.Address = "other@example.org" }},
		{"To address in place", func(m *Message) { m.To[0].Address = "else@example.net" }},
		{"To name in place", func(m *Message) { m.To[0].Name = "Else" }},
		{"To added", func(m *Message) { m.To = append(m.To, &mail.Address{Address: "more@example.net"}) }},
		{"To moved to Cc", func(m *Message) { m.Cc, m.To = append(m.To, m.Cc...), nil }},
		{"Cc removed", func(m *Message) { m.Cc = nil }},
		{"Bcc removed", func(m *Message) { m.Bcc = nil }},
		{"Bcc in place", func(m *Message) { m.Bcc[0].Address = "other-archive@example.org" }},
		{"Reply-To", func(m *Message) { m.ReplyTo[0].Name = "Front desk" }},
		{"Reply-To removed", func(m *Message) { m.ReplyTo = nil }},
		{"header value", func(m *Message) { m.Headers[len(m.Headers)-1].Value = "autumn" }},
		{"header name", func(m *Message) { m.Headers[len(m.Headers)-1].Name = "X-Other" }},
		{"header added", func(m *Message) { m.Headers = append(m.Headers, HeaderField{Name: "X-More", Value: "more"}) }},
		{"headers removed", func(m *Message) { m.Headers = nil }},
		{"TestCopy", func(m *Message) { *m = *m.TestCopy() }},
		{"Date and Message-ID", func(m *Message) {
			m.Date = time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("", -(7*3600+30*60)))
			m.MessageID = "set-by-caller@example.org"
		}},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			m := renderHeaderCase(t)
			if !m.header.matches(m) {
				t.Fatal("Render kept no header for Compose")
			}
			tt.change(m)
			fresh := *m
			fresh.header = nil
			got, err := composeBytes(t, m)
			if err != nil {
				t.Fatal(err)
			}
			want, err := composeBytes(t, &fresh)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("composed after Render:\n%s\nwithout what Render encoded:\n%s", got, want)
			}
			// The header written is the one appendHeaders makes.
			header, err := m.appendHeaders(nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(got, header) || !bytes.HasPrefix(got[len(header):], []byte("MIME-Version: 1.0\r\n")) {
				t.Fatalf("composed:\n%s\nappendHeaders:\n%s", got, header)
			}
		})
	}
}

// TestComposeHeaderCacheInvalid checks that a value made invalid after
// Render makes Compose fail, as it would without what Render encoded.
func TestComposeHeaderCacheInvalid(t *testing.T) {
	changes := []struct {
		name   string
		change func(m *Message)
		want   string
	}{
		{"Subject", func(m *Message) { m.Subject = "a\r\nBcc: x@example.org" }, "Subject header"},
		{"Bcc", func(m *Message) { m.Bcc[0].Address = "archive@exämple.org" }, "Bcc header"},
		{"header", func(m *Message) { m.Headers[0].Value = "naïve" }, "must be ASCII"},
		{"reserved header", func(m *Message) { m.Headers[0].Name = "Content-Type" }, "written by mailshot"},
		{"Message-ID", func(m *Message) { m.MessageID = "no at sign" }, "not a valid Message-ID"},
		{"Message-ID and header", func(m *Message) { m.MessageID, m.Headers[0].Value = "bad", "naïve" }, "not a valid Message-ID"},
	}
	for _, tt := range changes {
		t.Run(tt.name, func(t *testing.T) {
			m := renderHeaderCase(t)
			tt.change(m)
			fresh := *m
			fresh.header = nil
			out, err := composeBytes(t, m)
			_, freshErr := composeBytes(t, &fresh)
			if err == nil || freshErr == nil || err.Error() != freshErr.Error() || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Compose: %v; without what Render encoded: %v; want an error with %q", err, freshErr, tt.want)
			}
			if len(out) != 0 {
				t.Fatalf("Compose failed but wrote %q", out)
			}
		})
	}
}

// TestHeaderDateMessageID checks that appendHeaderFields writes Date and
// Message-ID as appendHeader would, folding included, for dates far and
// near and Message-IDs as long as checkMessageID allows.
func TestHeaderDateMessageID(t *testing.T) {
	dates := []time.Time{
		time.Date(2026, 5, 4, 9, 30, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.FixedZone("", 14*3600)),
		time.Date(-12345, 12, 31, 23, 59, 59, 0, time.FixedZone("", -(9*3600+30*60))),
		time.Date(123456789, 2, 28, 1, 2, 3, 0, time.Local),
		time.Unix(1<<40, 0),
	}
	ids := []string{"a@b", strings.Repeat("x", maxLineLength-19) + "@y", "3f9c2a!#$%&'*+-/=?^_`{|}~@example.org"}
	for _, d := range dates {
		for _, id := range ids {
			if err := checkMessageID(id); err != nil {
				t.Fatal(err)
			}
			want, err := appendHeader(nil, "Date", d.Format(time.RFC1123Z))
			if err == nil {
				want = append(want, "From: x\r\n"...)
				want, err = appendHeader(want, "Message-ID", "<"+id+">")
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, "X: y\r\n"...)
			fields := []byte("From: x\r\nX: y\r\n")
			if got := appendHeaderFields(nil, d, id, fields, len("From: x\r\n")); !bytes.Equal(got, want) {
				t.Errorf("%v, %q: got\n%q\nwant\n%q", d, id, got, want)
			}
		}
	}
}

// FuzzMultipartType compares formatMultipartType with
// mime.FormatMediaType.
func FuzzMultipartType(f *testing.F) {
	for _, seed := range [][3]string{
		{"alternative", "=_0123456789abcdef0123456789abcd", ""}, {"related", "=_golden-boundary-1", "text/html"},
		{"mixed", "simple", ""}, {"mixed", `q"uo\te`, "text/plain"}, {"Mixed", "x", ""}, {"mixed", "", ""},
		{"mixed", "with space", "text html"}, {"mi/xed", "x", ""}, {"mixed", "bad\x00", "ünï"}, {"", "x", "y"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, subtype, boundary, typ string) {
		params := map[string]string{"boundary": boundary}
		if typ != "" {
			params["type"] = typ
		}
		want := mime.FormatMediaType("multipart/"+subtype, params)
		if got := formatMultipartType(subtype, boundary, typ); got != want {
			t.Fatalf("formatMultipartType(%q, %q, %q) = %q, mime.FormatMediaType %q", subtype, boundary, typ, got, want)
		}
	})
}
