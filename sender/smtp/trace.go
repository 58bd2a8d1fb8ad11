package smtp

import (
	"bytes"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// tracer writes the optional transcript: one line per command, reply line
// and event, each with a timestamp and a direction ("C:" client, "S:"
// server, "*" event). AUTH payloads are replaced by "[redacted]", and so is
// any secret (see addSecret) in what the server sends; the message body
// appears as its size. Octets that are not printable text are escaped, so
// that nothing the server sends can act on a terminal showing the file.
// Write errors are ignored: a transcript never fails a transaction.
//
// The secrets serve the client's errors too: reply text is redacted with
// them whether or not a transcript is written.
type tracer struct {
	w       io.Writer
	secrets [][]byte // longest first
	buf     []byte
}

const redacted = "[redacted]"

// maxSecrets bounds the list, which grows with every AUTH exchange.
const maxSecrets = 64

// on reports whether a transcript is being written.
func (t *tracer) on() bool { return t.w != nil }

// addSecret adds s, and its forms as reply text shows it (sanitised) and
// as base64, to what is redacted from replies from now on.
func (t *tracer) addSecret(s []byte, encode bool) {
	if len(s) == 0 {
		return
	}
	t.add(s)
	t.add([]byte(sanitise(string(s))))
	if encode {
		t.add(encodeSASL(s))
	}
}

func (t *tracer) add(s []byte) {
	if len(s) == 0 || len(t.secrets) >= maxSecrets {
		return
	}
	for _, have := range t.secrets {
		if bytes.Equal(have, s) {
			return
		}
	}
	t.secrets = append(t.secrets, bytes.Clone(s))
	slices.SortStableFunc(t.secrets, func(a, b []byte) int { return len(b) - len(a) })
}

// client records a command line (without CRLF) sent during op.
func (t *tracer) client(op string, line []byte) {
	if t.w == nil {
		return
	}
	if op == "AUTH" {
		line = redactAuthLine(line)
	}
	t.emit("C: ", line)
}

// server records a reply line as read, line end included.
func (t *tracer) server(line []byte) {
	if t.w == nil {
		return
	}
	line = trimEOL(line)
	if len(t.secrets) > 0 {
		line = t.redact(line)
	}
	t.emit("S: ", line)
}

// note records an event such as the TLS handshake or the body's size.
func (t *tracer) note(msg string) {
	if t.w == nil {
		return
	}
	t.emit("* ", []byte(msg))
}

func (t *tracer) emit(dir string, line []byte) {
	b := time.Now().UTC().AppendFormat(t.buf[:0], "2006-01-02T15:04:05.000000Z")
	b = append(b, ' ')
	b = append(b, dir...)
	b = appendEscaped(b, line)
	b = append(b, '\n')
	t.buf = b
	t.w.Write(b) //nolint:errcheck // a transcript never fails a transaction
}

// appendEscaped appends line to b with every octet that is not printable
// text escaped: control characters and invalid UTF-8 as \xNN, Unicode
// format and control characters (bidirectional overrides, C1 controls) as
// \uNNNN or \UNNNNNNNN, and '\' itself as \\. Tab and valid printable UTF-8 stay.
func appendEscaped(b, line []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(line); {
		c := line[i]
		if c >= ' ' && c < 0x7f && c != '\\' || c == '\t' {
			b = append(b, c)
			i++
			continue
		}
		if c == '\\' {
			b = append(b, '\\', '\\')
			i++
			continue
		}
		r, size := utf8.DecodeRune(line[i:])
		switch {
		case c < utf8.RuneSelf || r == utf8.RuneError && size == 1:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		case unicode.IsGraphic(r):
			b = append(b, line[i:i+size]...)
		default:
			digits := 4
			if r > 0xffff {
				digits = 8
			}
			b = append(b, '\\', "uU"[digits/8])
			for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
				b = append(b, hex[r>>shift&0xf])
			}
		}
		i += size
	}
	return b
}

// redact replaces every secret in line by "[redacted]".
func (t *tracer) redact(line []byte) []byte {
	for _, s := range t.secrets {
		if bytes.Contains(line, s) {
			line = bytes.ReplaceAll(line, s, []byte(redacted))
		}
	}
	return line
}

// redactString is redact for reply text going into an error.
func (t *tracer) redactString(s string) string {
	if len(t.secrets) == 0 {
		return s
	}
	return string(t.redact([]byte(s)))
}

// redactAuthLine keeps "AUTH MECH" and the cancellation "*" of an AUTH
// exchange and hides everything else.
func redactAuthLine(line []byte) []byte {
	if bytes.HasPrefix(line, []byte("AUTH ")) {
		if i := bytes.IndexByte(line[5:], ' '); i >= 0 {
			return append(line[:5+i+1:5+i+1], redacted...)
		}
		return line
	}
	if string(line) == "*" {
		return line
	}
	return []byte(redacted)
}

// bodySummary describes the message body for the transcript.
func bodySummary(octets int64) string {
	return "message body: " + strconv.FormatInt(octets, 10) + " octets on the wire (dot-stuffed, CRLF line ends)"
}
