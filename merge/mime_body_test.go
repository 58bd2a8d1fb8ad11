package merge

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// FuzzBodyEncoding checks the text body encoder on any input: the output
// has CRLF line ends only, no line over 76 octets when quoted-printable or
// over 998 octets at all, only ASCII, and decodes back to the input with
// its line breaks as CRLF.
func FuzzBodyEncoding(f *testing.F) {
	for _, seed := range []string{
		"", "Hello\nworld\n", "Hello\r\nworld", "lone\rCR", "Grüße 🎟\n", "trailing space \n", "tab\t\n",
		strings.Repeat("x", 2000), strings.Repeat("word ", 400), "=3D already\n", ".\n.leading dot\n", "\x00\x01\xff",
		"From the start\n", "--=_golden-boundary-1\n", strings.Repeat("x", 74) + " From here\n",
		strings.Repeat("x", 75) + "From here\n", strings.Repeat("中文邮件", 40) + "\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := textEncoding(s)
		var b bytes.Buffer
		if err := writeText(&b, enc, s); err != nil {
			t.Fatal(err)
		}
		out := b.Bytes()
		limit := maxLineLength
		if enc != encoding7bit {
			limit = 76
		}
		for i, line := range bytes.Split(out, []byte("\r\n")) {
			if bytes.ContainsAny(line, "\r\n") {
				t.Fatalf("line %d holds a bare CR or LF: %q", i, line)
			}
			if len(line) > limit {
				t.Fatalf("%s line %d is %d octets long", enc, i, len(line))
			}
			for _, c := range line {
				if c >= 0x80 || c == 0 {
					t.Fatalf("%s line %d holds octet %#x", enc, i, c)
				}
			}
		}
		var back []byte
		switch enc {
		case encodingQuotedPrintable:
			var err error
			if back, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(out))); err != nil {
				t.Fatalf("%q encodes to %q, which does not decode: %v", s, out, err)
			}
			if bytes.HasPrefix(out, []byte("From ")) || bytes.Contains(out, []byte("\nFrom ")) {
				t.Fatalf("%q encodes to %q, with a line starting \"From \"", s, out)
			}
		case encodingBase64:
			var err error
			if back, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(out))); err != nil {
				t.Fatalf("%q encodes to %q, which does not decode: %v", s, out, err)
			}
		default:
			back = out
		}
		want := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
		if string(back) != want {
			t.Fatalf("%q encodes as %s to %q, which decodes to %q", s, enc, out, back)
		}
	})
}

// FuzzBase64Lines checks that encodeBase64Lines writes lines of 76
// characters that decode back to the input.
func FuzzBase64Lines(f *testing.F) {
	for _, n := range []int{0, 1, 56, 57, 58, 114, 1000} {
		f.Add(bytes.Repeat([]byte{0xfb}, n))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := encodeBase64Lines(data)
		lines := strings.Split(string(out), "\r\n")
		for i, line := range lines {
			if len(line) > base64LineLength || i < len(lines)-1 && len(line) != base64LineLength {
				t.Fatalf("line %d of %d is %d characters long", i, len(lines), len(line))
			}
		}
		back, err := base64.StdEncoding.DecodeString(strings.Join(lines, ""))
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("%x encodes to %q, which decodes to %x (%v)", data, out, back, err)
		}
	})
}

// textEncodingBytewise is textEncoding's rule written one octet at a time,
// the reference that FuzzTextEncoding holds the word-at-a-time version to.
func textEncodingBytewise(s string) string {
	lineLen := 0
	for i := 0; i < len(s); i++ {
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

// FuzzTextEncoding checks that textEncoding, which tests eight octets at a
// time, decides like the plain octet-by-octet rule.
func FuzzTextEncoding(f *testing.F) {
	for _, seed := range []string{
		"", "Hello\nworld\n", strings.Repeat("x", 78) + "\n", strings.Repeat("x", 79),
		strings.Repeat("abcdefg ", 9) + "\n", "12345678\x7f", "1234567\x1f8", "\t12345678\t\n",
		"12345678 \n", "Grüße\n", strings.Repeat("~", 16) + "\r\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := textEncoding7bit(s), textEncodingBytewise(s); got != want {
			t.Fatalf("textEncoding7bit(%q) = %s, want %s", s, got, want)
		}
	})
}

// TestPlain8 checks the word test on every octet in every position.
func TestPlain8(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			want := c >= 0x20 && c <= 0x7e
			if got := plain8(string(b)); got != want {
				t.Fatalf("plain8 with %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}

func BenchmarkTextEncoding(b *testing.B) {
	s := strings.Repeat("Line of the benchmark body, padded to about seventy-two octets .......\n", 70)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if textEncoding(s) != encoding7bit {
			b.Fatal("not 7bit")
		}
	}
}

// referenceQuotedPrintable is appendQuotedPrintable as first written, one
// octet at a time. The encoder now copies plain lines whole; its output
// must not change by an octet (golden files, and fingerprints of what was
// sent, depend on it).
func referenceQuotedPrintable(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for raw := range strings.Lines(s) {
		line := strings.TrimSuffix(raw, "\n")
		col := 0
		for i := 0; i < len(line); i++ {
			c := line[i]
			encode := c == '=' || c >= 0x7f || c < ' ' && c != '\t' ||
				(c == ' ' || c == '\t') && i == len(line)-1 ||
				col == 0 && c == 'F' && strings.HasPrefix(line[i:], "From ")
			n := 1
			if encode {
				n = 3
			}
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
		if len(line) < len(raw) {
			b = append(b, '\r', '\n')
		}
	}
	return b
}

// FuzzQuotedPrintableSameAsBefore compares the encoder with its first,
// octet-at-a-time version, and writeText into a bytes.Buffer (encoded in
// place) with writeText into another writer.
func FuzzQuotedPrintableSameAsBefore(f *testing.F) {
	for _, seed := range []string{
		"", "\n", "Hello\nworld\n", "trailing space \n", "tab\t\n", "in\tside\n", "From the start\n", "=\n",
		strings.Repeat("x", 76) + "\n", strings.Repeat("x", 77) + "\n", strings.Repeat("x", 75) + " \n",
		strings.Repeat("x", 76), "Fro\nFrom\nFrom \n", "Grüße\n", "\x7f\n", strings.Repeat("a=b ", 30),
		strings.Repeat(`<td style="padding:0 24px; font-family:Arial" width="600">`, 5) + "\n",
		strings.Repeat("y", 74) + "From here on\n" + strings.Repeat("z", 150) + "\t\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ReplaceAll(s, "\r", "") // writeText's callers give LF line breaks
		got, want := appendQuotedPrintable(nil, s), referenceQuotedPrintable(nil, s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q encodes to %q, before to %q", s, got, want)
		}
		var buf bytes.Buffer
		buf.WriteString("head:")
		var other strings.Builder
		other.WriteString("head:")
		if err := writeText(&buf, encodingQuotedPrintable, s); err != nil {
			t.Fatal(err)
		}
		if err := writeText(&other, encodingQuotedPrintable, s); err != nil {
			t.Fatal(err)
		}
		if buf.String() != other.String() || buf.String() != "head:"+string(want) {
			t.Fatalf("%q: writeText into a bytes.Buffer gives %q, into another writer %q", s, buf.String(), other.String())
		}
	})
}

// referenceQPLength is qpLength as it was first written, an octet at a
// time.
func referenceQPLength(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 0x80 || c == '=' || c < ' ' && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			n += 3
		} else {
			n++
		}
	}
	return n + n/75*3
}

// FuzzQPLengthSameAsBefore compares qpLength, eight octets at a time, with
// its first version, on any input and on every octet in every position of
// a word.
func FuzzQPLengthSameAsBefore(f *testing.F) {
	for _, seed := range []string{
		"", "=", "a=b\tc\r\nd", "\x00\x08\x09\x0a\x0b\x0c\x0d\x0e\x1f\x20\x7e\x7f\x80\xff", "Grüße 🎟",
		strings.Repeat("<td style=\"padding:0\">", 9), "\x3d\xbd\x89\x8a\x8d\x9f\xa0\xff\x7f\xfe",
	} {
		f.Add(seed)
	}
	for c := range 256 {
		for pos := range 9 {
			f.Add(strings.Repeat("x", pos) + string([]byte{byte(c)}) + strings.Repeat("y", 16-pos))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := qpLength(s), referenceQPLength(s); got != want {
			t.Fatalf("qpLength(%q) = %d, before %d", s, got, want)
		}
	})
}
