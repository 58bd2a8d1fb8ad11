package merge

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net/mail"
	"strings"
	"time"
)

// Message is one personalised email, rendered from a template and a row of
// data, before it is turned into MIME by a Composer. Header values are held
// decoded, as a person reads them; the Composer encodes them. Addresses are
// held as net/mail parses them, local parts unquoted; Render writes an
// internationalised domain as its A-label. Envelope gives them as SMTP
// needs them.
type Message struct {
	// Row is the spreadsheet row the message was rendered from.
	Row int
	// From is the author (RFC 5322 section 3.6.2).
	From *mail.Address
	// To, Cc and Bcc are the recipients (RFC 5322 section 3.6.3); Bcc is
	// never written into the message.
	To, Cc, Bcc []*mail.Address
	// ReplyTo is where replies go, when not to From.
	ReplyTo []*mail.Address
	// Subject is the subject line, decoded.
	Subject string
	// Date is the origination date. Zero: Compose sets it.
	Date time.Time
	// MessageID is the Message-ID without its angle brackets, like
	// "3f9c2a@example.org" (RFC 5322 section 3.6.4). Empty: Compose sets
	// a new one.
	MessageID string
	// Headers holds the template's other header fields, such as
	// List-Unsubscribe, in template order, decoded.
	Headers []HeaderField
	// Text is the plain-text body; empty when there is none.
	Text string
	// HTML is the HTML body; empty when there is none.
	HTML string
	// Inline holds the images the HTML body shows through cid: URLs.
	Inline []*Part
	// Attachments holds the attached files.
	Attachments []*Part

	header *encodedHeader // encoded by Render for Compose; nil: not encoded
	known  *knownFields   // the template's, for appendFields; nil: none
}

// HeaderField is one header field of a Message other than those Message has
// fields for.
type HeaderField struct {
	Name  string // field name as the template spells it, e.g. "List-Unsubscribe"
	Value string // decoded value
}

// Part is a file in a Message: an inline image or an attachment. Parts read
// from a template's own files are shared by every message of a run and must
// not be modified.
type Part struct {
	// Filename is the file name offered to the reader, without directories.
	Filename string
	// ContentType is the media type, e.g. "image/png" (RFC 2045 section 5).
	ContentType string
	// ContentID identifies an inline image for cid: URLs, without angle
	// brackets (RFC 2392). Empty for attachments.
	ContentID string
	// Content is the file's bytes.
	Content []byte

	sum     [sha256.Size]byte  // SHA-256 of Content; zero when not computed
	encoded []byte             // Content in base64 lines; nil: encoded by Compose
	header  *encodedPartHeader // its header fields, for a template's own file; nil: built by Compose
}

// newPart returns a Part for content, with its digest computed.
func newPart(filename, contentType string, content []byte) *Part {
	return &Part{Filename: filename, ContentType: contentType, Content: content, sum: sha256.Sum256(content)}
}

// digest returns the SHA-256 of p's content.
func (p *Part) digest() [sha256.Size]byte {
	if p.sum == [sha256.Size]byte{} {
		return sha256.Sum256(p.Content)
	}
	return p.sum
}

// base64 returns p's content in base64 lines of 76 characters, reusing the
// encoding computed once for a template's own files.
func (p *Part) base64() []byte {
	if p.encoded != nil {
		return p.encoded
	}
	return encodeBase64Lines(p.Content)
}

// Recipients returns the envelope recipients of m: the addresses of To, Cc
// and Bcc, each once, in that order, as RFC 5321 Mailboxes for RCPT TO
// (section 4.1.2). A local part that is not a dot-atom is quoted, so the
// envelope names the mailbox the header does: `"a..b"@example.test`, never
// a..b@example.test.
func (m *Message) Recipients() []string {
	var out []string
	seen := make(map[string]bool, len(m.To)+len(m.Cc)+len(m.Bcc))
	for _, list := range [][]*mail.Address{m.To, m.Cc, m.Bcc} {
		for _, a := range list {
			key := strings.ToLower(a.Address)
			if !seen[key] {
				seen[key] = true
				out = append(out, envelopeForm(a.Address))
			}
		}
	}
	return out
}

// Fingerprint returns a stable hash, in hex, of everything m's content is
// made of: addresses (Bcc included), subject and other headers, bodies, and
// each part's name, type, Content-ID and bytes. Date, Message-ID and Row are
// left out, so a resumed run can tell whether a row or the template changed
// since a message was sent.
func (m *Message) Fingerprint() string {
	// Every string is preceded by its length, so that no two sequences of
	// strings hash alike. Short ones gather in a small buffer before they
	// reach SHA-256; long ones (the bodies) go straight through, so nothing
	// the size of a message is allocated.
	h := sha256.New()
	b := make([]byte, 0, 1024)
	appendField := func(b []byte, s string) []byte {
		if len(b)+binary.MaxVarintLen64+len(s) > cap(b) {
			h.Write(b)
			b = b[:0]
			if len(s) > cap(b)/2 {
				// Through b a piece at a time: the hash takes no strings,
				// and converting one would copy it whole.
				h.Write(binary.AppendUvarint(b, uint64(len(s))))
				for len(s) > 0 {
					n := copy(b[:cap(b)], s)
					h.Write(b[:n])
					s = s[n:]
				}
				return b
			}
		}
		return append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	field := func(tag string, values ...string) {
		b = appendField(b, tag)
		for _, v := range values {
			b = appendField(b, v)
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
	parts := func(tag string, list []*Part) {
		for _, p := range list {
			sum := p.digest()
			field(tag, p.Filename, p.ContentType, p.ContentID, string(sum[:]))
		}
	}
	parts("inline", m.Inline)
	parts("attachment", m.Attachments)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Header returns the value of the first header field named name (compared
// without case) among m.Headers, and whether there is one.
func (m *Message) Header(name string) (string, bool) {
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}

// addOneClickUnsubscribe adds List-Unsubscribe-Post: List-Unsubscribe=One-Click
// (RFC 8058 §3.1) when List-Unsubscribe holds an https URI and the template
// did not set List-Unsubscribe-Post itself. Gmail and Yahoo require one-click
// unsubscribe from bulk senders.
func (m *Message) addOneClickUnsubscribe() {
	v, ok := m.Header("List-Unsubscribe")
	if !ok || !strings.Contains(strings.ToLower(v), "<https://") {
		return
	}
	if _, ok := m.Header("List-Unsubscribe-Post"); ok {
		return
	}
	m.Headers = append(m.Headers, HeaderField{Name: "List-Unsubscribe-Post", Value: "List-Unsubscribe=One-Click"})
}

// TestSubjectPrefix starts the Subject of every test copy.
const TestSubjectPrefix = "[TEST] "

// WouldSendToHeader names the header field of a test copy that lists the
// recipients the real message would go to.
const WouldSendToHeader = "X-Mailshot-Would-Send-To"

// TestCopy returns a copy of m for a test send: the same message, its
// Subject prefixed with "[TEST] " and the recipients it would really go to
// (To, Cc and Bcc) listed in an X-Mailshot-Would-Send-To header, with a
// Date and Message-ID of its own. The To and Cc headers still show the real
// recipients, as they will see them; the caller delivers the copy only to
// the tester, and m is unchanged.
func (m *Message) TestCopy() *Message {
	c := *m
	c.Subject = TestSubjectPrefix + m.Subject
	c.Date, c.MessageID = time.Time{}, ""
	c.Headers = append(append([]HeaderField(nil), m.Headers...),
		HeaderField{Name: WouldSendToHeader, Value: strings.Join(m.Recipients(), ", ")})
	return &c
}

// SizeEstimate returns roughly how many octets the composed message takes:
// the bodies, the parts in base64 (4/3 of their size), and room for the
// header and MIME structure. Quoted-printable can make a body a little
// larger; the estimate is for sizing buffers and memory, not for SIZE=.
func (m *Message) SizeEstimate() int {
	n := 4096 + len(m.Subject) + len(m.Text) + len(m.HTML)
	for _, p := range m.Inline {
		n += len(p.Content)*4/3 + 256
	}
	for _, p := range m.Attachments {
		n += len(p.Content)*4/3 + 256
	}
	return n
}
