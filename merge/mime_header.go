package merge

import (
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"
)

const (
	// maxLineLength is the most octets a line of a message may hold, CRLF
	// excluded (RFC 5322 section 2.1.1).
	maxLineLength = 998
	// foldLength is the length header lines are folded at when they can be
	// (RFC 5322 section 2.1.1).
	foldLength = 78
	// maxEncodedWord is the longest an RFC 2047 encoded-word may be
	// (RFC 2047 section 2).
	maxEncodedWord = 75
	// encodedLineLength is the longest a header line holding an
	// encoded-word should be (RFC 2047 section 2).
	encodedLineLength = 76
	// maxAddressLength is the longest forward-path SMTP accepts
	// (RFC 5321 section 4.5.3.1.3, less the angle brackets).
	maxAddressLength = 254
)

// errLineBreak is the error for a header value holding CR or LF: folding is
// the composer's job, and a line break from data would start a new header.
var errLineBreak = errors.New("contains a line break")

// checkHeaderText reports why s cannot be a header value: a line break, NUL
// or other control character, or invalid UTF-8. Tab is allowed.
func checkHeaderText(s string) error {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			return errLineBreak
		case c == 0:
			return errors.New("contains a NUL byte")
		case c < ' ' && c != '\t' || c == 0x7f:
			return fmt.Errorf("contains the control character %U", rune(c))
		}
	}
	if !utf8.ValidString(s) {
		return errors.New("is not valid UTF-8")
	}
	return nil
}

// validHeaderName reports whether name is a legal field name: printable
// ASCII except colon (RFC 5322 section 2.2, ftext).
func validHeaderName(name string) bool {
	if name == "" || len(name) > foldLength-2 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < '!' || c > '~' || c == ':' {
			return false
		}
	}
	return true
}

// appendHeader appends the header field "name: value" and its CRLF to b,
// folding value at spaces outside quoted strings so that lines stay within
// 78 octets wherever a break exists (RFC 5322 section 2.2.3). value must
// already be encoded for the wire (ASCII; see encodeUnstructured). It fails,
// appending nothing, if name is not a legal field name, value holds a control
// character, or an unbreakable run would make a line longer than 998 octets.
func appendHeader(b []byte, name, value string) ([]byte, error) {
	return appendFolded(b, name, value, false)
}

// appendFolded is appendHeader, also folding at spaces inside quoted
// strings when foldQuoted is true: for MIME parameters whose quoted values
// hold encoded-words, where that white space means nothing.
func appendFolded(b []byte, name, value string, foldQuoted bool) ([]byte, error) {
	if !validHeaderName(name) {
		return b, fmt.Errorf("%q is not a valid header name", name)
	}
	if err := checkHeaderText(value); err != nil {
		return b, fmt.Errorf("%s header %w", name, err)
	}
	start := len(b)
	b = append(b, name...)
	b = append(b, ':')
	lineLen := len(name) + 1
	first, lineEncoded := true, false
	for rest := value; ; {
		tok, more := nextToken(rest, foldQuoted)
		// Never break before the first word (keeping it beside the colon)
		// nor before an empty word, which would leave a line of only
		// white space (RFC 5322 section 3.2.2).
		// A line holding an encoded-word holds at most 76 octets
		// (RFC 2047 section 2).
		encoded := strings.Contains(tok, "=?")
		limit := foldLength
		if encoded || lineEncoded {
			limit = encodedLineLength
		}
		if !first && tok != "" && lineLen+1+len(tok) > limit {
			b = append(b, '\r', '\n')
			lineLen = 0
			lineEncoded = false
		}
		lineEncoded = lineEncoded || encoded
		if !first || tok != "" {
			b = append(b, ' ')
			b = append(b, tok...)
			lineLen += 1 + len(tok)
		}
		if lineLen > maxLineLength {
			return b[:start], fmt.Errorf("%s header: a word of %d octets does not fit in a line of %d", name, len(tok), maxLineLength)
		}
		first = false
		if more < 0 {
			break
		}
		rest = rest[more:]
	}
	return append(b, '\r', '\n'), nil
}

// nextToken returns the text of s up to its first space outside a quoted
// string (any space, when anyQuoted), and the offset just past that
// space, or -1 when s holds no such space.
func nextToken(s string, anyQuoted bool) (tok string, next int) {
	if anyQuoted {
		if i := strings.IndexByte(s, ' '); i >= 0 {
			return s[:i], i + 1
		}
		return s, -1
	}
	quoted, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			return s[:i], i + 1
		}
	}
	return s, -1
}

// encodeUnstructured returns s ready to be the value of the unstructured
// header name, such as Subject (RFC 5322 section 3.2.5): printable ASCII
// words as they are, and each run of words that cannot be written as is
// (non-ASCII or control octets, "=?" which a reader would try to decode, a
// word too long for any line) as RFC 2047 encoded-words. A reader decodes
// the result back to s: runs are separated by plain words, because the
// white space between two encoded-words is dropped when decoding.
func encodeUnstructured(name, s string) string {
	words := strings.Split(s, " ")
	encode := make([]bool, len(words))
	needed := false
	for i, w := range words {
		encode[i] = wordNeedsEncoding(name, w, i == 0)
		needed = needed || encode[i]
	}
	if !needed {
		return s
	}
	// An empty word (from a double space) cannot separate two runs; it
	// joins them instead.
	for i := range words {
		if words[i] == "" && i > 0 && encode[i-1] {
			encode[i] = true
		}
	}
	for i := len(words) - 1; i >= 0; i-- {
		if words[i] == "" && i+1 < len(words) && encode[i+1] {
			encode[i] = true
		}
	}
	var b strings.Builder
	for i := 0; i < len(words); {
		if i > 0 {
			b.WriteByte(' ')
		}
		if !encode[i] {
			b.WriteString(words[i])
			i++
			continue
		}
		j := i
		for j < len(words) && encode[j] {
			j++
		}
		first := maxEncodedWord
		if i == 0 {
			first = firstWordRoom(name)
		}
		b.WriteString(encodeWordsFirst(strings.Join(words[i:j], " "), first))
		i = j
	}
	return b.String()
}

// wordNeedsEncoding reports whether w, a word of a value of the header
// name, the value's first word when first is true, cannot be written as
// is: it would not fit a folded line, or it holds octets or sequences that
// cannot stand as they are.
func wordNeedsEncoding(name, w string, first bool) bool {
	if len(w) > foldLength-1 || first && len(name)+2+len(w) > foldLength ||
		strings.Contains(w, "=?") || strings.Contains(w, "?=") {
		return true
	}
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 0x80 || c < ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// firstWordRoom is how long the encoded-word that starts the value of the
// header name may be, for its line to hold at most 76 octets.
func firstWordRoom(name string) int {
	return max(encodedLineLength-len(name)-2, 24)
}

// encodeWords encodes all of s as UTF-8 encoded-words of at most 75 octets
// each, separated by spaces (RFC 2047 sections 2, 4 and 5(1)). It picks the
// "Q" encoding unless "B" is much shorter, and never splits a
// character between two words. Decoders drop the space between adjacent
// encoded-words, so the result decodes to exactly s.
func encodeWords(s string) string {
	return encodeWordsFirst(s, maxEncodedWord)
}

// encodeWordsFirst is encodeWords with the first encoded-word at most
// first octets long, for it to fit beside a field name.
func encodeWordsFirst(s string, first int) string {
	const prefixQ, prefixB, suffix = "=?utf-8?q?", "=?utf-8?b?", "?="
	room := min(first, maxEncodedWord) - len(prefixQ) - len(suffix)
	qLen := 0
	for i := 0; i < len(s); i++ {
		qLen += qOctetLen(s[i])
	}
	// Prefer "Q", which leaves ASCII letters readable, unless it is
	// much longer.
	useQ := 2*qLen <= 3*base64.StdEncoding.EncodedLen(len(s))

	var b strings.Builder
	for len(s) > 0 {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		// n is how many octets of s, whole characters only, fit in
		// this word.
		n, used := 0, 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			cost := 0
			if useQ {
				for i := n; i < n+size; i++ {
					cost += qOctetLen(s[i])
				}
			} else {
				cost = base64.StdEncoding.EncodedLen(n+size) - used
			}
			if used+cost > room && n > 0 {
				break
			}
			n += size
			used += cost
		}
		if useQ {
			b.WriteString(prefixQ)
			for i := 0; i < n; i++ {
				writeQOctet(&b, s[i])
			}
		} else {
			b.WriteString(prefixB)
			b.WriteString(base64.StdEncoding.EncodeToString([]byte(s[:n])))
		}
		b.WriteString(suffix)
		s = s[n:]
		room = maxEncodedWord - len(prefixQ) - len(suffix)
	}
	return b.String()
}

// qOctetLen is how many characters octet c takes in the "Q" encoding.
func qOctetLen(c byte) int {
	if c == ' ' || qSafe(c) {
		return 1
	}
	return 3
}

// qSafe reports whether octet c may stand for itself in a "Q" encoded-word
// anywhere it may appear (RFC 2047 section 5(3), the strictest rule).
func qSafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '!' || c == '*' || c == '+' || c == '-' || c == '/'
}

// writeQOctet writes c in the "Q" encoding (RFC 2047 section 4.2).
func writeQOctet(b *strings.Builder, c byte) {
	const hex = "0123456789ABCDEF"
	switch {
	case c == ' ':
		b.WriteByte('_')
	case qSafe(c):
		b.WriteByte(c)
	default:
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
}

// checkASCIIHeader reports why s cannot be the value of a structured header
// such as List-Unsubscribe, which must be written as is: it must be
// printable ASCII.
func checkASCIIHeader(s string) error {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 {
			return errors.New("must be ASCII (percent-encode URLs, for example with urlquery)")
		}
	}
	return checkHeaderText(s)
}

// checkAddress reports why addr, the addr-spec of a parsed address, cannot be
// sent to (see normalizeAddress): non-ASCII local parts are allowed (RFC 6531,
// SMTPUTF8), a domain must be in ASCII (Render turns an IDN into A-labels).
func checkAddress(addr string) error {
	norm, err := normalizeAddress(addr)
	if err == nil && norm != addr {
		err = fmt.Errorf("%q: the domain must be written in ASCII, as %q", addr, norm)
	}
	return err
}

// formatAddressList formats addresses for the address header name from
// their parsed form, separated by commas (RFC 5322 section 3.4).
func formatAddressList(name string, addrs []*mail.Address) string {
	var b strings.Builder
	for i, a := range addrs {
		room := maxEncodedWord
		if i == 0 {
			room = firstWordRoom(name)
		} else {
			b.WriteString(", ")
		}
		b.WriteString(formatAddress(a, room))
	}
	return b.String()
}

// formatAddress formats a mailbox: net/mail quotes the local part and an
// ASCII display name; a display name with other characters becomes
// encoded-words that may stand in a phrase (RFC 2047 section 5(3)), the
// first at most first octets long. net/mail's own encoding leaves
// characters such as a backslash bare, which its parser then refuses. A
// name holding "=?" or "?=" is encoded as well, so that readers show it as
// it is instead of decoding what looks like an encoded-word.
func formatAddress(a *mail.Address, first int) string {
	encode := strings.Contains(a.Name, "=?") || strings.Contains(a.Name, "?=")
	for i := 0; i < len(a.Name) && !encode; i++ {
		if c := a.Name[i]; c >= 0x80 || c < ' ' && c != '\t' || c == 0x7f {
			encode = true
		}
	}
	if encode {
		return encodeWordsFirst(a.Name, first) + " " + (&mail.Address{Address: a.Address}).String()
	}
	return a.String()
}

// rfc2231Segment is the most octets of percent-encoded text one segment of
// an RFC 2231 parameter holds, so that "filename*NN*=" and the segment fit
// in a folded line.
const rfc2231Segment = 56

// plainFilename reports whether a file name can be a MIME parameter as it
// is, quoted where needed: printable ASCII without a quote or backslash,
// which some readers cut a name at, without "=?", and short enough for a
// line.
func plainFilename(name string) bool {
	if len(name) > rfc2231Segment || strings.Contains(name, "=?") {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// formatFileParams returns the media type mediaType (a Content-Type with
// its own parameters, or a Content-Disposition) followed by the file name
// filename in the parameter param, "name" or "filename". A name that is
// not plain ASCII goes into RFC 2231 parameters, param*0*, param*1*, ...
// of UTF-8 percent-encoded segments, for "filename"; and into RFC 2047
// encoded-words in a quoted string, which is what older Outlook reads, for
// "name". The result is folded by appendFolded with foldQuoted.
func formatFileParams(mediaType string, params map[string]string, param, filename string) string {
	if plainFilename(filename) {
		all := map[string]string{param: filename}
		for k, v := range params {
			all[k] = v
		}
		return mime.FormatMediaType(mediaType, all)
	}
	v := mime.FormatMediaType(mediaType, params)
	if v == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(v)
	if param == "name" {
		b.WriteString(`; name="`)
		b.WriteString(encodeWordsFirst(filename, maxEncodedWord-len(`name="`)))
		b.WriteString(`"`)
		return b.String()
	}
	const hex = "0123456789ABCDEF"
	seg, n := 0, 0
	for i := 0; i < len(filename); {
		_, size := utf8.DecodeRuneInString(filename[i:])
		enc := 0
		for j := i; j < i+size; j++ {
			if rfc2231AttrChar(filename[j]) {
				enc++
			} else {
				enc += 3
			}
		}
		if n == 0 || n+enc > rfc2231Segment {
			fmt.Fprintf(&b, "; %s*%d*=", param, seg)
			if seg == 0 {
				b.WriteString("utf-8''")
			}
			seg++
			n = 0
		}
		for j := i; j < i+size; j++ {
			if c := filename[j]; rfc2231AttrChar(c) {
				b.WriteByte(c)
			} else {
				b.WriteByte('%')
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0x0f])
			}
		}
		n += enc
		i += size
	}
	if seg == 1 {
		// One segment needs no continuation, which some readers lack.
		return strings.Replace(b.String(), "; "+param+"*0*=", "; "+param+"*=", 1)
	}
	return b.String()
}

// rfc2231AttrChar reports whether c may stand for itself in an RFC 2231
// extended value: an attribute-char (RFC 2231 section 7), less characters
// some readers mishandle.
func rfc2231AttrChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '!' || c == '$' || c == '&' || c == '+'
}
