package merge

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/mail"
	"strings"
	"testing"
)

// referenceFingerprint is Fingerprint as first written: every field in one
// buffer, then SHA-256. Journals hold such sums, so Fingerprint must keep
// giving the same ones however it feeds the hash.
func referenceFingerprint(m *Message) string {
	var b []byte
	field := func(values ...string) {
		for _, v := range values {
			b = append(binary.AppendUvarint(b, uint64(len(v))), v...)
		}
	}
	addrs := func(tag string, list []*mail.Address) {
		field(tag)
		for _, a := range list {
			field("", a.Name, a.Address)
		}
	}
	if m.From != nil {
		addrs("from", []*mail.Address{m.From})
	}
	addrs("to", m.To)
	addrs("cc", m.Cc)
	addrs("bcc", m.Bcc)
	addrs("reply-to", m.ReplyTo)
	field("subject", m.Subject)
	for _, f := range m.Headers {
		field("header", f.Name, f.Value)
	}
	field("text", m.Text)
	field("html", m.HTML)
	for _, list := range []struct {
		tag   string
		parts []*Part
	}{{"inline", m.Inline}, {"attachment", m.Attachments}} {
		for _, p := range list.parts {
			sum := p.digest()
			field(list.tag, p.Filename, p.ContentType, p.ContentID, string(sum[:]))
		}
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestFingerprintKeepsItsSums(t *testing.T) {
	long := func(n int) string { return strings.Repeat("line of text\r\n", n/14+1)[:n] }
	base := func() *Message {
		return &Message{
			From:    &mail.Address{Name: "Events", Address: "events@example.org"},
			To:      []*mail.Address{{Name: "Ada", Address: "ada@example.com"}},
			Subject: "Your ticket",
			Headers: []HeaderField{{Name: "List-Id", Value: "<x.example.org>"}},
		}
	}
	for _, n := range []int{0, 1, 100, 400, 511, 512, 513, 1000, 1024, 5000, 70000} {
		m := base()
		m.Text, m.HTML = long(n), "<p>"+long(n/2)+"</p>"
		m.Subject = long(n % 700)
		m.Inline = []*Part{{Filename: "logo.png", ContentType: "image/png", ContentID: "a@b", Content: []byte(long(n))}}
		if got, want := m.Fingerprint(), referenceFingerprint(m); got != want {
			t.Errorf("bodies of %d octets: Fingerprint = %s, want %s", n, got, want)
		}
	}
}
