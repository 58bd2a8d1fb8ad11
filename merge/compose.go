package merge

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"net/textproto"
	"strings"
	"time"
)

// Composer turns Messages into complete RFC 5322 messages with a MIME
// structure (RFC 2045, RFC 2046):
//
//	multipart/mixed                  only when there are attachments
//	├─ multipart/alternative         only when there is HTML
//	│  ├─ text/plain
//	│  └─ multipart/related          only when the HTML shows inline images
//	│     ├─ text/html
//	│     └─ image/*                 Content-ID, Content-Disposition: inline
//	└─ attachments                   Content-Disposition: attachment
//
// A message with HTML and no text gets a text part made from the HTML by
// HTMLToText. Text is written as 7bit when it is short-lined ASCII and as
// quoted-printable UTF-8 otherwise; files as base64. Header fields come in a
// fixed order, folded at 78 octets where they can be, with non-ASCII text
// in RFC 2047 encoded-words. Every line ends in CRLF and none is longer
// than 998 octets. A zero Composer is ready to use; its fields make the
// output deterministic in tests.
type Composer struct {
	// Now returns the time for the Date header. Nil: time.Now.
	Now func() time.Time
	// NewMessageID returns a Message-ID, without angle brackets, under
	// domain, the From address's domain. Nil, except for tests: a random
	// identifier under domain.
	NewMessageID func(domain string) string
	// NewBoundary returns a multipart boundary (RFC 2046 section 5.1.1),
	// called once for each multipart entity. Nil, except for tests: a
	// random boundary that cannot occur in base64 or quoted-printable text.
	NewBoundary func() string
	// DKIM, when not nil, signs every message: Compose writes the
	// DKIM-Signature field first, computed over the final message, so
	// that the bytes written are the bytes to send, and to resend on a
	// retry. Nil: messages are not signed.
	DKIM *DKIMSigner
}

// Compose writes m to w as a complete message with CRLF line ends, the
// last line included. It sets
// m.Date and m.MessageID when they are empty, so that the caller can record
// them, and fails without writing anything when m cannot be written, for
// example when it has no From address or a header value holds a line break.
func (c *Composer) Compose(w io.Writer, m *Message) error {
	header, body, err := c.prepare(m)
	if err != nil {
		return err
	}
	if c.DKIM != nil {
		msg, err := c.signed(m, header, body)
		if err != nil {
			return err
		}
		if _, err := w.Write(msg); err != nil {
			return fmt.Errorf("merge: writing message: %w", err)
		}
		return nil
	}
	// A bytes.Buffer, where messages are usually composed, needs no
	// buffering and cannot fail.
	var mw messageWriter
	bw, ok := w.(*bytes.Buffer)
	if ok {
		bw.Grow(header.size() + m.bodySizeHint(true))
		mw = bw
	} else {
		mw = bufio.NewWriter(w)
	}
	writeMessage(mw, header, body)
	if bw, ok := mw.(*bufio.Writer); ok {
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("merge: writing message: %w", err)
		}
	}
	return nil
}

// Piece is one piece of a message ComposePieces composed.
type Piece struct {
	// Octets are the piece's octets.
	Octets []byte
	// Shared marks the base64 lines of a template's own file: the same
	// slice in every message composed from the template, never changed.
	Shared bool
}

// ComposePieces composes m as Compose does and returns the message in
// pieces, whose concatenation is what Compose writes: the message's own
// octets, and between them, shared, the base64 lines of the template's
// files, which are then in no message's memory but the template's. A
// message Compose signs (Composer.DKIM) comes in one piece.
func (c *Composer) ComposePieces(m *Message) ([]Piece, error) {
	header, body, err := c.prepare(m)
	if err != nil {
		return nil, err
	}
	if c.DKIM != nil {
		msg, err := c.signed(m, header, body)
		if err != nil {
			return nil, err
		}
		return []Piece{{Octets: msg}}, nil
	}
	w := &pieceWriter{own: make([]byte, 0, header.size()+m.bodySizeHint(false))}
	writeMessage(w, header, body)
	return w.pieces(), nil
}

// signed returns the message of header and body with its DKIM-Signature
// field first.
func (c *Composer) signed(m *Message, header headerParts, body *entity) ([]byte, error) {
	// The signature covers the whole message: compose it first.
	var msg bytes.Buffer
	msg.Grow(header.size() + m.bodySizeHint(true))
	writeMessage(&msg, header, body)
	sig, err := c.DKIM.sign(msg.Bytes(), domainOf(m.From.Address))
	if err != nil {
		return nil, fmt.Errorf("merge: row %d: %w", m.Row, err)
	}
	return append(sig, msg.Bytes()...), nil
}

// prepare checks m, sets its Date and Message-ID when they are empty, and
// returns its header fields and MIME tree, for Compose and ComposePieces.
func (c *Composer) prepare(m *Message) (headerParts, *entity, error) {
	if m.From == nil {
		return headerParts{}, nil, errors.New("merge: message has no From address")
	}
	if len(m.Recipients()) == 0 {
		return headerParts{}, nil, errors.New("merge: message has no recipients")
	}
	if m.Date.IsZero() {
		// The Date header has whole seconds (RFC 5322 section 3.3).
		m.Date = c.now().Round(0).Truncate(time.Second)
	}
	if m.MessageID == "" {
		m.MessageID = c.newMessageID(domainOf(m.From.Address))
	}
	// The header fields Render encoded, when m still holds what they were
	// encoded from; Date and Message-ID go between them as they are written.
	fields, split := []byte(nil), 0
	if h := m.header; h.matches(m) {
		fields, split = h.fields, h.split
		if err := checkMessageID(m.MessageID); err != nil {
			return headerParts{}, nil, fmt.Errorf("merge: row %d: %w", m.Row, err)
		}
	} else {
		var err error
		if fields, split, err = m.appendFields(make([]byte, 0, 1024)); err != nil {
			return headerParts{}, nil, fmt.Errorf("merge: row %d: %w", m.Row, err)
		}
	}
	header := headerParts{date: m.Date, id: m.MessageID, fields: fields, split: split}
	body, err := c.body(m)
	if err != nil {
		return headerParts{}, nil, fmt.Errorf("merge: row %d: %w", m.Row, err)
	}
	return header, body, nil
}

// bodySizeHint is about the size of m's body once composed, a little
// over in the usual case: the text parts in quoted-printable (a sixteenth
// more; text far from ASCII takes more), a text part made from HTML-only
// (half the HTML), every file in base64 lines, and room for the MIME
// headers; without shared, the template's own files are left out (see
// ComposePieces).
func (m *Message) bodySizeHint(shared bool) int {
	text := len(m.Text)
	if text == 0 {
		text = len(m.HTML) / 2
	}
	n := 1024 + (text+len(m.HTML))*17/16
	for _, list := range [][]*Part{m.Inline, m.Attachments} {
		for _, p := range list {
			n += 512
			if shared || p.encoded == nil {
				n += (len(p.Content)+2)/3*4*78/76 + 2
			}
		}
	}
	return n
}

// headerParts is the header fields of a message, as appendHeaderFields
// takes them.
type headerParts struct {
	date   time.Time
	id     string
	fields []byte
	split  int
}

// size is at least how many octets the header fields take, with
// MIME-Version.
func (h headerParts) size() int {
	return len(h.fields) + len(h.id) + 128
}

// writeMessage writes the header fields header, MIME-Version and the
// entity body to w.
func writeMessage(w messageWriter, header headerParts, body *entity) {
	// In w's own free space, when it has room: no copy is made.
	b := appendHeaderFields(w.AvailableBuffer(), header.date, header.id, header.fields, header.split)
	w.Write(append(b, "MIME-Version: 1.0\r\n"...))
	body.write(w)
	if body.children == nil && body.part == nil &&
		(body.encoding == encodingBase64 || !strings.HasSuffix(body.text, "\n") && !strings.HasSuffix(body.text, "\r")) {
		// A message ends with a line break, as SMTP will send it.
		w.WriteString("\r\n")
	}
}

// messageWriter is where Compose writes: a *bytes.Buffer, or a
// *bufio.Writer whose errors stick until Flush.
type messageWriter interface {
	io.Writer
	io.StringWriter
	// AvailableBuffer returns an empty buffer with the writer's free
	// space as its capacity, to append to and pass to Write.
	AvailableBuffer() []byte
}

func (c *Composer) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Composer) newMessageID(domain string) string {
	if c.NewMessageID != nil {
		return c.NewMessageID(domain)
	}
	return randomHex(16) + "@" + domain
}

func (c *Composer) newBoundary() string {
	if c.NewBoundary != nil {
		return c.NewBoundary()
	}
	// "=_" never occurs in base64 or quoted-printable text, where "="
	// is only ever followed by a hex digit or a line break.
	return "=_" + randomHex(15)
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// domainOf returns the domain of an addr-spec.
func domainOf(addr string) string {
	return addr[strings.LastIndexByte(addr, '@')+1:]
}

// reservedHeader reports why the header field name cannot be one of a
// Message's Headers, or "" when it can.
func reservedHeader(name string) string {
	switch canon := textproto.CanonicalMIMEHeaderKey(name); {
	case canon == "Date" || canon == "From" || canon == "To" || canon == "Cc" || canon == "Bcc" ||
		canon == "Reply-To" || canon == "Subject" || canon == "Message-Id":
		return "is a field of its own"
	case canon == "Mime-Version" || canon == "Return-Path" || canon == "Received" || canon == "Sender" ||
		strings.HasPrefix(canon, "Content-") || strings.HasPrefix(canon, "Resent-"):
		return "is written by mailshot or by mail servers"
	}
	return ""
}

// asciiHeader reports whether the header field name is structured and
// written as it is, so that its value must be ASCII: mailing-list URLs
// (RFC 2369, RFC 8058) and message identifiers (RFC 5322 section 3.6.4).
func asciiHeader(name string) bool {
	switch textproto.CanonicalMIMEHeaderKey(name) {
	case "List-Unsubscribe", "List-Unsubscribe-Post", "List-Help", "List-Subscribe",
		"List-Post", "List-Owner", "List-Archive", "In-Reply-To", "References":
		return true
	}
	return false
}

// appendHeaders appends m's header fields to b, in a fixed order: Date,
// From, To, Cc, Reply-To, Subject, Message-ID, then Headers in their order.
// Bcc is never written. Date and Message-ID are left out when unset.
func (m *Message) appendHeaders(b []byte) ([]byte, error) {
	fields, split, err := m.appendFields(nil)
	if err != nil {
		return b, err
	}
	return appendHeaderFields(b, m.Date, m.MessageID, fields, split), nil
}

// appendHeaderFields appends the header fields of a message to b: Date
// (unless date is zero), fields[:split], Message-ID (unless id is empty)
// and fields[split:], where fields is what appendFields returns, split
// where it says, and id a valid Message-ID (see checkMessageID). Neither
// field can be folded, so that each is written as appendHeader would.
func appendHeaderFields(b []byte, date time.Time, id string, fields []byte, split int) []byte {
	if !date.IsZero() {
		b = append(b, "Date: "...)
		b = date.AppendFormat(b, time.RFC1123Z)
		b = append(b, '\r', '\n')
	}
	b = append(b, fields[:split]...)
	if id != "" {
		b = append(b, "Message-ID: <"...)
		b = append(b, id...)
		b = append(b, '>', '\r', '\n')
	}
	return append(b, fields[split:]...)
}

// appendFields appends m's header fields other than Date and Message-ID to
// b, in the order of appendHeaders, and returns b and the offset in it
// where Message-ID goes, before Headers. It checks m.MessageID, unless it
// is empty, where appendHeaders writes it, so that it fails as
// appendHeaders does.
func (m *Message) appendFields(b []byte) ([]byte, int, error) {
	var err error
	add := func(name, value string) {
		if err == nil {
			b, err = appendHeader(b, name, value)
		}
	}
	addrs := func(name string, list []*mail.Address, known *knownField) {
		if len(list) == 0 || err != nil {
			return
		}
		if known.holds(list) {
			b = append(b, known.field...)
			return
		}
		b, err = appendAddressField(b, name, list)
	}
	if m.From == nil {
		return b, 0, errors.New("message has no From address")
	}
	var known knownFields
	if m.known != nil {
		known = *m.known
	}
	addrs("From", []*mail.Address{m.From}, known.from)
	addrs("To", m.To, nil)
	addrs("Cc", m.Cc, nil)
	for _, a := range m.Bcc {
		if e := checkAddress(a.Address); e != nil && err == nil {
			err = fmt.Errorf("Bcc header: %w", e)
		}
	}
	addrs("Reply-To", m.ReplyTo, known.replyTo)
	// Subject is always written, empty or not: a message without one
	// is a spam sign (SpamAssassin's MISSING_SUBJECT).
	if err == nil {
		if err = checkHeaderText(m.Subject); err != nil {
			return b, 0, fmt.Errorf("Subject header %w", err)
		}
		add("Subject", encodeUnstructured("Subject", m.Subject))
	}
	split := len(b)
	if m.MessageID != "" && err == nil {
		if err = checkMessageID(m.MessageID); err != nil {
			return b, split, err
		}
	}
	for _, f := range m.Headers {
		if err != nil {
			break
		}
		if why := reservedHeader(f.Name); why != "" {
			return b, split, fmt.Errorf("the %s header %s", f.Name, why)
		}
		if asciiHeader(f.Name) {
			if err = checkASCIIHeader(f.Value); err != nil {
				return b, split, fmt.Errorf("%s header %w", f.Name, err)
			}
			add(f.Name, f.Value)
			continue
		}
		if err = checkHeaderText(f.Value); err != nil {
			return b, split, fmt.Errorf("%s header %w", f.Name, err)
		}
		add(f.Name, encodeUnstructured(f.Name, f.Value))
	}
	return b, split, err
}

// appendAddressField appends the header field name with the addresses
// list to b, or fails when an address or a display name cannot be written.
func appendAddressField(b []byte, name string, list []*mail.Address) ([]byte, error) {
	for _, a := range list {
		if err := checkAddress(a.Address); err != nil {
			return b, fmt.Errorf("%s header: %w", name, err)
		}
		if err := checkHeaderText(a.Name); err != nil {
			return b, fmt.Errorf("%s header: display name %w", name, err)
		}
	}
	return appendHeader(b, name, formatAddressList(name, list))
}

// knownFields holds the address fields a template gives every message
// alike (a From without actions, say), encoded once when it is loaded:
// appendFields appends them instead of checking and encoding the same
// addresses for every message, as long as the message holds them.
type knownFields struct {
	from, replyTo *knownField
}

// knownField is one address field, encoded once.
type knownField struct {
	list  []*mail.Address // the addresses it was encoded from
	field []byte          // the field, CRLF included
}

// newKnownField encodes the field name with the addresses list, or
// returns nil when it cannot be written: each message then fails on it.
func newKnownField(name string, list []*mail.Address) *knownField {
	field, err := appendAddressField(nil, name, list)
	if err != nil || len(list) == 0 {
		return nil
	}
	return &knownField{list: copyAddresses(list), field: field}
}

// holds reports whether k was encoded from the addresses of list.
func (k *knownField) holds(list []*mail.Address) bool {
	if k == nil || len(k.list) != len(list) {
		return false
	}
	for i, a := range list {
		if *a != *k.list[i] {
			return false
		}
	}
	return true
}

// encodedHeader is a Message's header fields other than Date and
// Message-ID, encoded by Render for Compose (see appendFields), with every
// value they were encoded from: Compose uses them only while the Message
// holds the same values (see matches), so that a caller may change any
// field between Render and Compose. It is never modified once made, and
// may be shared by copies of a Message.
type encodedHeader struct {
	fields []byte
	split  int      // where Message-ID goes in fields
	key    []string // see appendHeaderKey
	counts [5]int   // lengths of To, Cc, Bcc, ReplyTo and Headers
}

// encodeHeader encodes m's header fields other than Date and Message-ID,
// failing as Compose would on what m holds, and keeps them for Compose.
func (m *Message) encodeHeader() error {
	m.header = nil
	fields, split, err := m.appendFields(make([]byte, 0, 512))
	if err != nil {
		return err
	}
	m.header = &encodedHeader{
		fields: fields,
		split:  split,
		key:    appendHeaderKey(make([]string, 0, 3+2*(len(m.To)+len(m.Cc)+len(m.Bcc)+len(m.ReplyTo)+len(m.Headers))), m),
		counts: headerCounts(m),
	}
	return nil
}

// appendHeaderKey appends to key every value of m that appendFields
// encodes or checks, except m.MessageID: the From display name and
// address; those of To, Cc, Bcc and Reply-To; Subject; and the name and
// value of each of Headers. m.From must not be nil.
func appendHeaderKey(key []string, m *Message) []string {
	key = append(key, m.From.Name, m.From.Address)
	for _, list := range [...][]*mail.Address{m.To, m.Cc, m.Bcc, m.ReplyTo} {
		for _, a := range list {
			key = append(key, a.Name, a.Address)
		}
	}
	key = append(key, m.Subject)
	for _, f := range m.Headers {
		key = append(key, f.Name, f.Value)
	}
	return key
}

// headerCounts returns the lengths of m's lists of header values, which
// with appendHeaderKey's strings tell every value apart.
func headerCounts(m *Message) [5]int {
	return [5]int{len(m.To), len(m.Cc), len(m.Bcc), len(m.ReplyTo), len(m.Headers)}
}

// matches reports whether h was encoded from the values m holds now:
// appendFields would append h.fields for m. It allocates nothing.
func (h *encodedHeader) matches(m *Message) bool {
	if h == nil || m.From == nil || h.counts != headerCounts(m) {
		return false
	}
	k := h.key
	if k[0] != m.From.Name || k[1] != m.From.Address {
		return false
	}
	k = k[2:]
	for _, list := range [...][]*mail.Address{m.To, m.Cc, m.Bcc, m.ReplyTo} {
		for _, a := range list {
			if k[0] != a.Name || k[1] != a.Address {
				return false
			}
			k = k[2:]
		}
	}
	if k[0] != m.Subject {
		return false
	}
	k = k[1:]
	for i, f := range m.Headers {
		if k[2*i] != f.Name || k[2*i+1] != f.Value {
			return false
		}
	}
	return true
}

// checkMessageID reports why id cannot be a Message-ID: it must look like
// left@right in printable ASCII without spaces or angle brackets
// (RFC 5322 section 3.6.4).
func checkMessageID(id string) error {
	at := strings.IndexByte(id, '@')
	ok := at > 0 && at < len(id)-1 && len(id) < maxLineLength-16
	for i := 0; ok && i < len(id); i++ {
		c := id[i]
		ok = c > ' ' && c < 0x7f && c != '<' && c != '>'
	}
	if !ok {
		return fmt.Errorf("%q is not a valid Message-ID", id)
	}
	return nil
}

// entity is one node of a message's MIME tree.
type entity struct {
	header   []byte    // its header fields, encoded
	text     string    // text body, for text entities
	encoding string    // transfer encoding of text
	part     *Part     // file, for image and attachment entities
	boundary string    // boundary, for multipart entities
	children []*entity // parts, for multipart entities
}

// body builds m's MIME tree.
func (c *Composer) body(m *Message) (*entity, error) {
	var alt []*entity
	text := m.Text
	if text == "" && m.HTML != "" {
		// An HTML-only message is a spam sign (SpamAssassin's
		// MIME_HTML_ONLY) and shows nothing in text-only readers.
		text = HTMLToText(m.HTML)
	}
	if text != "" || m.HTML == "" {
		e, err := textEntity("plain", text)
		if err != nil {
			return nil, err
		}
		alt = append(alt, e)
	}
	if m.HTML != "" {
		html, err := textEntity("html", m.HTML)
		if err != nil {
			return nil, err
		}
		if len(m.Inline) > 0 {
			related := []*entity{html}
			for _, p := range m.Inline {
				e, err := partEntity(p, "inline")
				if err != nil {
					return nil, err
				}
				related = append(related, e)
			}
			html, err = c.multipart("related", related, "text/html")
			if err != nil {
				return nil, err
			}
		}
		alt = append(alt, html)
	}
	root := alt[0]
	if len(alt) > 1 {
		var err error
		if root, err = c.multipart("alternative", alt, ""); err != nil {
			return nil, err
		}
	}
	if len(m.Attachments) > 0 {
		mixed := []*entity{root}
		for _, p := range m.Attachments {
			e, err := partEntity(p, "attachment")
			if err != nil {
				return nil, err
			}
			mixed = append(mixed, e)
		}
		return c.multipart("mixed", mixed, "")
	}
	return root, nil
}

// textEntity returns a text/subtype entity in UTF-8.
func textEntity(subtype, s string) (*entity, error) {
	enc := textEncoding(s)
	if h := textHeaders[textHeaderKey{subtype, enc}]; h != nil {
		return &entity{header: h, text: s, encoding: enc}, nil
	}
	h, err := textHeader(subtype, enc)
	return &entity{header: h, text: s, encoding: enc}, err
}

// textHeader returns the header fields of a text/subtype entity in UTF-8
// with the transfer encoding enc.
func textHeader(subtype, enc string) ([]byte, error) {
	h, err := appendHeader(nil, "Content-Type", "text/"+subtype+"; charset=utf-8")
	if err == nil {
		h, err = appendHeader(h, "Content-Transfer-Encoding", enc)
	}
	return h, err
}

// textHeaderKey is a text entity's subtype and transfer encoding.
type textHeaderKey struct{ subtype, encoding string }

// textHeaders are the header fields of the text entities every message
// has, built once: entities share them and nothing writes to them.
var textHeaders = func() map[textHeaderKey][]byte {
	m := make(map[textHeaderKey][]byte)
	for _, subtype := range []string{"plain", "html"} {
		for _, enc := range []string{encoding7bit, encodingQuotedPrintable, encodingBase64} {
			h, err := textHeader(subtype, enc)
			if err != nil {
				panic(err) // constants: a test sees it first
			}
			m[textHeaderKey{subtype, enc}] = h[:len(h):len(h)]
		}
	}
	return m
}()

// partEntity returns a base64 entity for p with the Content-Disposition
// disposition, "inline" or "attachment" (RFC 2183). The file name is given
// in both Content-Disposition and the older Content-Type name parameter;
// one that is not plain ASCII is RFC 2231-encoded in the first and made of
// RFC 2047 encoded-words in the second (see formatFileParams).
func partEntity(p *Part, disposition string) (*entity, error) {
	if h := p.header; h != nil && h.holds(p, disposition) {
		return &entity{header: h.octets, part: p}, nil
	}
	h, err := partHeader(p, disposition)
	return &entity{header: h, part: p}, err
}

// partHeader returns the header fields of partEntity.
func partHeader(p *Part, disposition string) ([]byte, error) {
	mediaType, params, err := mime.ParseMediaType(p.ContentType)
	if err != nil {
		mediaType, params = "application/octet-stream", map[string]string{}
	}
	delete(params, "name")
	ctype := formatFileParams(mediaType, params, "name", p.Filename)
	disp := formatFileParams(disposition, nil, "filename", p.Filename)
	if ctype == "" || disp == "" || checkHeaderText(p.Filename) != nil {
		return nil, fmt.Errorf("%q cannot be a file name in a message", p.Filename)
	}
	// Only encoded-words, which may be folded between, stand in a quoted
	// file name that is not plain.
	encoded := !plainFilename(p.Filename)
	h, err := appendFolded(nil, "Content-Type", ctype, encoded)
	if err == nil {
		h, err = appendHeader(h, "Content-Transfer-Encoding", encodingBase64)
	}
	if err == nil && disposition == "inline" {
		if err = checkMessageID(p.ContentID); err == nil {
			h, err = appendHeader(h, "Content-ID", "<"+p.ContentID+">")
		}
	}
	if err == nil {
		h, err = appendFolded(h, "Content-Disposition", disp, encoded)
	}
	return h, err
}

// encodedPartHeader is the header fields of a template's own file, built
// once when the template is loaded, with the values they were built from:
// partEntity uses them while the Part still holds those values.
type encodedPartHeader struct {
	filename, contentType, contentID, disposition string
	octets                                        []byte
}

// newPartHeader returns p's header fields as a disposition part, or nil
// when partEntity would refuse them (it then says why for each message).
func newPartHeader(p *Part, disposition string) *encodedPartHeader {
	h, err := partHeader(p, disposition)
	if err != nil {
		return nil
	}
	return &encodedPartHeader{filename: p.Filename, contentType: p.ContentType,
		contentID: p.ContentID, disposition: disposition, octets: h[:len(h):len(h)]}
}

// holds reports whether h was built from what p holds now, as a
// disposition part.
func (h *encodedPartHeader) holds(p *Part, disposition string) bool {
	return h.filename == p.Filename && h.contentType == p.ContentType &&
		h.contentID == p.ContentID && h.disposition == disposition
}

// multipart returns a multipart/subtype entity of children; typ, when not
// empty, is the type parameter multipart/related requires (RFC 2387).
func (c *Composer) multipart(subtype string, children []*entity, typ string) (*entity, error) {
	boundary := c.newBoundary()
	ctype := formatMultipartType(subtype, boundary, typ)
	if ctype == "" || len(boundary) > 70 {
		return nil, fmt.Errorf("%q is not a valid multipart boundary", boundary)
	}
	h, err := appendHeader(nil, "Content-Type", ctype)
	return &entity{header: h, boundary: boundary, children: children}, err
}

// formatMultipartType returns the media type multipart/subtype with the
// parameters boundary and, unless typ is empty, type, as
// mime.FormatMediaType formats them; without its map, for a boundary and a
// type of printable ASCII other than space and a lower-case subtype.
func formatMultipartType(subtype, boundary, typ string) string {
	plain := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c > '~' {
				return false
			}
		}
		return s != ""
	}
	if !plain(boundary) || typ != "" && !plain(typ) || !plain(subtype) || strings.ToLower(subtype) != subtype {
		params := map[string]string{"boundary": boundary}
		if typ != "" {
			params["type"] = typ
		}
		return mime.FormatMediaType("multipart/"+subtype, params)
	}
	if strings.ContainsAny(subtype, mimeTSpecials) {
		return ""
	}
	b := make([]byte, 0, len("multipart/; boundary=\"\"; type=\"\"")+len(subtype)+2*len(boundary)+2*len(typ))
	b = append(b, "multipart/"...)
	b = append(b, subtype...)
	b = appendMediaParam(b, "boundary", boundary)
	if typ != "" {
		b = appendMediaParam(b, "type", typ)
	}
	return string(b)
}

// mimeTSpecials are the characters that cannot stand in a MIME token
// (RFC 2045 section 5.1).
const mimeTSpecials = `()<>@,;:\"/[]?=`

// appendMediaParam appends the parameter "; name=value" to b as
// mime.FormatMediaType does: value as it is when it is a token, else
// quoted with a backslash before each quote and backslash. value must be
// printable ASCII other than space, not empty.
func appendMediaParam(b []byte, name, value string) []byte {
	b = append(b, "; "...)
	b = append(b, name...)
	b = append(b, '=')
	if !strings.ContainsAny(value, mimeTSpecials) {
		return append(b, value...)
	}
	b = append(b, '"')
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' {
			b = append(b, '\\')
		}
		b = append(b, value[i])
	}
	return append(b, '"')
}

// write writes e's header fields, a blank line and its body to w.
func (e *entity) write(w messageWriter) {
	w.Write(e.header)
	w.WriteString("\r\n")
	switch {
	case e.part != nil:
		if pw, ok := w.(*pieceWriter); ok && e.part.encoded != nil {
			pw.writeShared(e.part.encoded)
			break
		}
		w.Write(e.part.base64())
	case e.children != nil:
		for i, child := range e.children {
			if i > 0 {
				w.WriteString("\r\n")
			}
			w.WriteString("--")
			w.WriteString(e.boundary)
			w.WriteString("\r\n")
			child.write(w)
		}
		w.WriteString("\r\n--")
		w.WriteString(e.boundary)
		w.WriteString("--\r\n")
	default:
		writeText(w, e.encoding, e.text)
	}
}

// pieceWriter is the messageWriter of ComposePieces: the message's own
// octets in one buffer, and where the shared ones go between them.
type pieceWriter struct {
	own    []byte
	shared []sharedAt
}

// sharedAt is shared octets that go after own[:at].
type sharedAt struct {
	at     int
	octets []byte
}

func (w *pieceWriter) Write(p []byte) (int, error) {
	w.own = append(w.own, p...)
	return len(p), nil
}

func (w *pieceWriter) WriteString(s string) (int, error) {
	w.own = append(w.own, s...)
	return len(s), nil
}

func (w *pieceWriter) AvailableBuffer() []byte { return w.own[len(w.own):] }

// appendQuotedPrintable appends s, text, in quoted-printable to the message's own octets.
func (w *pieceWriter) appendQuotedPrintable(s string) {
	w.own = appendQuotedPrintable(w.own, s)
}

// writeShared adds octets shared between messages, not copied.
func (w *pieceWriter) writeShared(p []byte) {
	w.shared = append(w.shared, sharedAt{at: len(w.own), octets: p})
}

// pieces returns what was written, in order.
func (w *pieceWriter) pieces() []Piece {
	if cap(w.own) > len(w.own)+len(w.own)/4 {
		// The size was underestimated and the buffer grew; the sender
		// keeps the message, so keep no more than needed.
		w.own = bytes.Clone(w.own)
	}
	out := make([]Piece, 0, 2*len(w.shared)+1)
	start := 0
	for _, s := range w.shared {
		if s.at > start {
			out = append(out, Piece{Octets: w.own[start:s.at:s.at]})
		}
		out = append(out, Piece{Octets: s.octets, Shared: true})
		start = s.at
	}
	if start < len(w.own) || len(out) == 0 {
		out = append(out, Piece{Octets: w.own[start:]})
	}
	return out
}
