package merge

import (
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
)

// Content-Transfer-Encoding values (RFC 2045 section 6).
const (
	encoding7bit            = "7bit"
	encodingQuotedPrintable = "quoted-printable"
	encodingBase64          = "base64"
)

// base64LineLength is the length of base64 lines (RFC 2045 section 6.8).
const base64LineLength = 76

// textEncoding returns the transfer encoding for a text body: 7bit when it
// is ASCII without control characters, with lines of at most 78 octets that
// do not end in white space (which transports may strip); quoted-printable
// otherwise (RFC 2045 sections 2.7 and 6.7).
func textEncoding(s string) string {
	lineLen := 0
	for i := 0; i < len(s); i++ {
		// Eight plain octets at a time: none is a line break, so they only
		// lengthen the line.
		for i+8 <= len(s) && plain8(s[i:i+8]) {
			if lineLen += 8; lineLen > foldLength {
				return encodingQuotedPrintable
			}
			i += 8
		}
		if i == len(s) {
			break
		}
		switch c := s[i]; {
		case c == '\r' || c == '\n':
			if i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
				return encodingQuotedPrintable
			}
			lineLen = 0
		case c >= 0x80 || c < ' ' && c != '\t' || c == 0x7f:
			return encodingQuotedPrintable
		default:
			lineLen++
			if lineLen > foldLength {
				return encodingQuotedPrintable
			}
		}
	}
	if n := len(s); n > 0 && (s[n-1] == ' ' || s[n-1] == '\t') {
		return encodingQuotedPrintable
	}
	return encoding7bit
}

// plain8 reports whether the eight octets of s are all printable ASCII,
// 0x20 to 0x7e, testing them as one word.
func plain8(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	below := (w - 0x20*ones) &^ w // high bit set where an octet is under 0x20
	del := w ^ 0x7f*ones          // zero where an octet is 0x7f
	del = (del - ones) &^ del
	return (w|below|del)&highs == 0
}

// writeText writes the text body s to w in the transfer encoding enc, as
// returned by textEncoding, with every line break as CRLF.
func writeText(w io.Writer, enc, s string) error {
	if enc == encodingQuotedPrintable {
		// The quoted-printable writer turns LF into CRLF and keeps lines
		// within 76 octets. Give it LF only: after a lone CR followed by
		// an octet it encodes, it takes the next LF as the CR's pair and
		// drops it.
		if strings.IndexByte(s, '\r') >= 0 {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := io.WriteString(qp, s); err != nil {
			return err
		}
		return qp.Close()
	}
	return writeCRLF(w, s)
}

// writeCRLF writes s to w with each CR, LF or CRLF line break as CRLF.
func writeCRLF(w io.Writer, s string) error {
	if strings.IndexByte(s, '\r') < 0 {
		// LF only, the usual case: find each with one fast scan.
		for len(s) > 0 {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				_, err := io.WriteString(w, s)
				return err
			}
			if _, err := io.WriteString(w, s[:i]); err != nil {
				return err
			}
			if _, err := io.WriteString(w, "\r\n"); err != nil {
				return err
			}
			s = s[i+1:]
		}
		return nil
	}
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\r' && s[i] != '\n' {
			i++
		}
		if _, err := io.WriteString(w, s[:i]); err != nil {
			return err
		}
		if i == len(s) {
			return nil
		}
		if _, err := io.WriteString(w, "\r\n"); err != nil {
			return err
		}
		if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
			i++
		}
		s = s[i+1:]
	}
	return nil
}

// encodeBase64Lines returns data in base64 as lines of 76 characters
// separated by CRLF, without a final line break (RFC 2045 section 6.8).
func encodeBase64Lines(data []byte) []byte {
	n := base64.StdEncoding.EncodedLen(len(data))
	lines := (n + base64LineLength - 1) / base64LineLength
	out := make([]byte, n+2*max(lines-1, 0))
	enc := out[len(out)-n:]
	base64.StdEncoding.Encode(enc, data)
	// Move each line to its place from the front; the encoded text sits
	// at the back of out, so no line is overwritten before it is moved.
	w := 0
	for r := 0; r < n; r += base64LineLength {
		if r > 0 {
			out[w], out[w+1] = '\r', '\n'
			w += 2
		}
		end := min(r+base64LineLength, n)
		w += copy(out[w:], enc[r:end])
	}
	return out
}
