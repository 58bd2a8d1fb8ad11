package merge

import (
	"bytes"
	"encoding/base64"
	"io"
	"math/bits"
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
// do not end in white space (which transports may strip) and none starting
// with "From " (which mbox files alter); otherwise quoted-printable, or
// base64 when quoted-printable would be more than a quarter longer, as it
// is for CJK or Cyrillic text of some length
// (RFC 2045 sections 2.7, 6.7 and 6.8).
func textEncoding(s string) string {
	enc := textEncoding7bit(s)
	if enc == encoding7bit && (strings.HasPrefix(s, "From ") || strings.Contains(s, "\nFrom ") || strings.Contains(s, "\rFrom ")) {
		enc = encodingQuotedPrintable
	}
	if enc == encodingQuotedPrintable && len(s) >= minBase64Text && 4*qpLength(s) > 5*base64Length(len(s)) {
		enc = encodingBase64
	}
	return enc
}

// minBase64Text is the shortest text that may go base64: shorter text
// stays readable in quoted-printable, whatever it costs.
const minBase64Text = 64

// qpLength returns about how long s is in quoted-printable: three octets
// for each it encodes, one for the others, and a soft line break every 75.
// The octets it encodes are "=", control characters other than tab, LF
// and CR, and octets outside ASCII. It tests eight octets at a time, as
// one word, without a branch that depends on them, because text of every
// kind comes here and branches on it are hard to predict.
func qpLength(s string) int {
	const ones, highs, lows = 0x0101010101010101, 0x8080808080808080, 0x7f7f7f7f7f7f7f7f
	n := len(s)
	for ; len(s) >= 8; s = s[8:] {
		// Each test leaves its answer for an octet in the octet's high
		// bit. Adding to the low seven bits of an octet never carries out
		// of it; x&lows+lows | x has the high bit clear only where the
		// octet of x is zero.
		w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		low := w & lows
		// Encoded: 0x7f and above, "=", and under 0x20 but for tab, LF
		// and CR.
		encoded := low + ones | w
		control := ^(low + 0x60*ones)
		for _, c := range [...]uint64{'\t', '\n', '\r'} {
			x := w ^ c*ones
			control &= x&lows + lows | x
		}
		x := w ^ '='*ones
		encoded |= control | ^(x&lows + lows | x)
		n += 2 * bits.OnesCount64(encoded&highs)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == '=' || c < ' ' && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			n += 2
		}
	}
	return n + n/75*3
}

// base64Length returns how long n octets are in base64 lines with CRLF.
func base64Length(n int) int {
	enc := (n + 2) / 3 * 4
	return enc + enc/base64LineLength*2
}

// textEncoding7bit returns 7bit when s may be sent as it is, and
// quoted-printable otherwise.
func textEncoding7bit(s string) string {
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
	switch enc {
	case encodingQuotedPrintable, encodingBase64:
		if strings.IndexByte(s, '\r') >= 0 {
			s = strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
		}
		if enc == encodingBase64 {
			// Canonical text has CRLF line breaks (RFC 2045 section 6.8).
			_, err := w.Write(encodeBase64Lines([]byte(strings.ReplaceAll(s, "\n", "\r\n"))))
			return err
		}
		// Encode in place, in the writer's buffer.
		switch bw := w.(type) {
		case *bytes.Buffer:
			bw.Grow(len(s) + len(s)/8)
			bw.Write(appendQuotedPrintable(bw.AvailableBuffer(), s))
			return nil
		case *pieceWriter:
			bw.appendQuotedPrintable(s)
			return nil
		}
		_, err := w.Write(appendQuotedPrintable(make([]byte, 0, len(s)+len(s)/8), s))
		return err
	}
	return writeCRLF(w, s)
}

// qpLineLength is the longest a quoted-printable line may be, its soft
// line break included (RFC 2045 section 6.7, rule 5).
const qpLineLength = 76

// appendQuotedPrintable appends s, text with LF line breaks, to b in
// quoted-printable (RFC 2045 section 6.7) with CRLF line breaks: "=",
// control characters and octets outside ASCII as =XX, white space at a
// line's end as =20 or =09, lines of at most 76 octets with soft line
// breaks between encoded characters, and "From " at the start of any line
// as "=46rom ", so that mbox files do not alter it (RFC 4155).
func appendQuotedPrintable(b []byte, s string) []byte {
	for raw := range strings.Lines(s) {
		line := strings.TrimSuffix(raw, "\n")
		if len(line) <= qpLineLength && qpPlain(line) {
			b = append(b, line...) // most lines of most messages
		} else {
			b = appendQuotedPrintableLine(b, line)
		}
		if len(line) < len(raw) {
			b = append(b, '\r', '\n')
		}
	}
	return b
}

// qpSafe reports whether c stands for itself in quoted-printable, unless
// it is white space at the end of a line.
func qpSafe(c byte) bool { return c >= ' ' && c < 0x7f && c != '=' || c == '\t' }

// qpPlain reports whether line is its own quoted-printable encoding when
// it is not too long: printable ASCII (or tabs) other than "=", no white
// space at its end, and not starting "From ".
func qpPlain(line string) bool {
	for i := 0; i < len(line); i++ {
		if !qpSafe(line[i]) {
			return false
		}
	}
	if n := len(line); n > 0 && (line[n-1] == ' ' || line[n-1] == '\t') {
		return false
	}
	return !strings.HasPrefix(line, "From ")
}

// appendQuotedPrintableLine appends one line, without its line break, as
// appendQuotedPrintable describes.
func appendQuotedPrintableLine(b []byte, line string) []byte {
	const hex = "0123456789ABCDEF"
	col := 0
	for i := 0; i < len(line); i++ {
		// Octets that stand for themselves go in runs, as far as the line
		// has room without a soft break; the last octet of the line, one
		// needing encoding, and an "F" that may start "From " at the start
		// of a line go one at a time below.
		if col > 0 || line[i] != 'F' {
			end, k := min(len(line)-1, i+qpLineLength-1-col), 0
			for i+k < end && qpSafe(line[i+k]) {
				k++
			}
			if k > 0 {
				b = append(b, line[i:i+k]...)
				col += k
				i += k - 1
				continue
			}
		}
		c := line[i]
		encode := c == '=' || c >= 0x7f || c < ' ' && c != '\t' ||
			(c == ' ' || c == '\t') && i == len(line)-1 ||
			col == 0 && c == 'F' && strings.HasPrefix(line[i:], "From ")
		n := 1
		if encode {
			n = 3
		}
		// Room for the soft break "=", unless this ends the line.
		room := qpLineLength - 1
		if i+1 == len(line) {
			room = qpLineLength
		}
		if col+n > room {
			b = append(b, '=', '\r', '\n')
			col = 0
			if c == 'F' && strings.HasPrefix(line[i:], "From ") {
				encode, n = true, 3
			}
		}
		if encode {
			b = append(b, '=', hex[c>>4], hex[c&0x0f])
		} else {
			b = append(b, c)
		}
		col += n
	}
	return b
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
