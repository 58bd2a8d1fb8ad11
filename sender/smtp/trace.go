package smtp

import (
	"bytes"
	"io"
	"strconv"
	"time"
)

// tracer writes the optional transcript: one line per command, reply line
// and event, each with a timestamp and a direction ("C:" client, "S:"
// server, "*" event). AUTH payloads and anything the server echoes of them
// are replaced by "[redacted]"; the message body appears as its size.
// Write errors are ignored: a transcript never fails a transaction.
type tracer struct {
	w       io.Writer
	secrets [][]byte // AUTH payloads sent during the current exchange
	buf     []byte
}

const redacted = "[redacted]"

// on reports whether a transcript is being written.
func (t *tracer) on() bool { return t.w != nil }

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
	b = append(b, line...)
	b = append(b, '\n')
	t.buf = b
	t.w.Write(b) //nolint:errcheck // a transcript never fails a transaction
}

// redact replaces every secret in line by "[redacted]".
func (t *tracer) redact(line []byte) []byte {
	for _, s := range t.secrets {
		if len(s) > 0 && bytes.Contains(line, s) {
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
