package smtp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a server may send in one reply. RFC 5321 §4.5.3.1.5 allows
// 512 octets per reply line; real servers stay far below these bounds.
const (
	maxReplyLine  = 4096 // octets per line, CRLF included (the size of the read buffer)
	maxReplyLines = 128  // lines per multi-line reply
)

// Reply is one complete server reply (RFC 5321 §4.2): the code, the RFC 3463
// enhanced status code when the server advertised ENHANCEDSTATUSCODES
// (RFC 2034), and the text of every line joined with "\n", without codes.
type Reply struct {
	Code     int    // 3-digit reply code
	Enhanced string // "class.subject.detail" (RFC 3463) when present, else ""
	Text     string // text without the codes; control characters and invalid UTF-8 replaced by '?'
}

// Positive reports whether r is a positive completion reply (2xx).
func (r Reply) Positive() bool { return r.Code >= 200 && r.Code < 300 }

// Error is a server reply that is not the one expected for a protocol step.
// Callers find it with errors.As.
type Error struct {
	// Command is the protocol step that got the reply: "greeting", "EHLO",
	// "HELO", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "message" (the reply
	// after the final dot), "RSET", "NOOP" or "QUIT". Never arguments.
	Command string
	Reply
}

// Error formats e as "smtp: RCPT: 550 5.1.1 no such user".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("smtp: ")
	b.WriteString(e.Command)
	b.WriteString(": ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Enhanced != "" {
		b.WriteByte(' ')
		b.WriteString(e.Enhanced)
	}
	if e.Text != "" {
		b.WriteByte(' ')
		b.WriteString(strings.ReplaceAll(e.Text, "\n", " "))
	}
	return b.String()
}

// Temporary reports whether the reply is a transient negative completion
// (4xx, RFC 5321 §4.2.1): the same request may succeed later.
func (e *Error) Temporary() bool { return e.Code >= 400 && e.Code < 500 }

// Permanent reports whether the reply is a permanent negative completion
// (5xx, RFC 5321 §4.2.1): the same request will fail again.
func (e *Error) Permanent() bool { return e.Code >= 500 && e.Code < 600 }

// ConnError is any failure that is not a server reply: dial or TLS failure,
// timeout, cancellation, reset, EOF, or a malformed or oversized reply. After
// a ConnError the Client is unusable; Close it.
type ConnError struct {
	Op  string // protocol step, as in Error.Command, or "dial", "TLS"
	Err error  // the cause
}

// Error formats e as "smtp: RCPT: read tcp ...: connection reset by peer".
func (e *ConnError) Error() string { return "smtp: " + e.Op + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *ConnError) Unwrap() error { return e.Err }

// Timeout reports whether the failure was a timeout: a configured one, the
// context's deadline or the network's.
func (e *ConnError) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// ErrMalformedReply is wrapped (inside a ConnError) when a server sends a
// line that is not an RFC 5321 §4.2 reply, a multi-line reply whose lines
// carry different codes, or a reply longer than the limits.
var ErrMalformedReply = errors.New("malformed reply")

// readReply reads one complete reply from br. enhanced says whether to
// recognise RFC 3463 status codes. trace, if not nil, sees every raw line.
// Errors are io errors or wrap ErrMalformedReply; the caller wraps them in a
// ConnError.
func readReply(br *bufio.Reader, enhanced bool, trace func([]byte)) (Reply, error) {
	var (
		r    Reply
		text strings.Builder
	)
	for n := 0; ; n++ {
		if n == maxReplyLines {
			return Reply{}, fmt.Errorf("%w: more than %d lines", ErrMalformedReply, maxReplyLines)
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				return Reply{}, fmt.Errorf("%w: line longer than %d octets", ErrMalformedReply, br.Size())
			case err == io.EOF && (n > 0 || len(line) > 0):
				return Reply{}, io.ErrUnexpectedEOF
			}
			return Reply{}, err
		}
		if trace != nil {
			trace(line)
		}
		line = trimEOL(line)
		code, last, rest, ok := parseReplyLine(line)
		if !ok {
			return Reply{}, fmt.Errorf("%w: %q", ErrMalformedReply, clip(line))
		}
		if n == 0 {
			r.Code = code
		} else if code != r.Code {
			return Reply{}, fmt.Errorf("%w: code %d on a continuation of a %d reply", ErrMalformedReply, code, r.Code)
		}
		if enhanced {
			if enh, after, ok := splitEnhanced(rest, code); ok {
				if n == 0 {
					r.Enhanced = enh
				}
				rest = after
			}
		}
		if n > 0 {
			text.WriteByte('\n')
		}
		writeSanitised(&text, rest)
		if last {
			r.Text = text.String()
			return r, nil
		}
	}
}

// parseReplyLine splits one reply line (RFC 5321 §4.2: Reply-code [ SP / "-"
// textstring ]) without its line end. last is false for a "-" continuation.
func parseReplyLine(line []byte) (code int, last bool, text []byte, ok bool) {
	// Reply-code = %x32-35 %x30-35 %x30-39
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '5' || line[2] < '0' || line[2] > '9' {
		return 0, false, nil, false
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, true, nil, true
	}
	switch line[3] {
	case ' ':
		return code, true, line[4:], true
	case '-':
		return code, false, line[4:], true
	}
	return 0, false, nil, false
}

// splitEnhanced recognises an RFC 3463 enhanced status code at the start of
// text ("class.subject.detail", class matching the reply's first digit, then
// SP or the end) and returns it and the text after it.
func splitEnhanced(text []byte, code int) (enhanced string, rest []byte, ok bool) {
	if len(text) < 5 || text[0] != byte('0'+code/100) || text[1] != '.' {
		return "", nil, false
	}
	i := 2
	for part := 0; part < 2; part++ {
		start := i
		for i < len(text) && i-start < 3 && text[i] >= '0' && text[i] <= '9' {
			i++
		}
		if i == start {
			return "", nil, false
		}
		if part == 0 {
			if i == len(text) || text[i] != '.' {
				return "", nil, false
			}
			i++
		}
	}
	switch {
	case i == len(text):
		rest = text[i:]
	case text[i] == ' ':
		rest = text[i+1:]
	default:
		return "", nil, false
	}
	return internEnhanced(text[:i]), rest, true
}

// internEnhanced returns the enhanced codes of routine replies without
// allocating.
func internEnhanced(b []byte) string {
	switch string(b) {
	case "2.0.0":
		return "2.0.0"
	case "2.1.0":
		return "2.1.0"
	case "2.1.5":
		return "2.1.5"
	case "2.6.0":
		return "2.6.0"
	}
	return string(b)
}

// writeSanitised writes b to sb with control characters other than HT
// replaced by '?', and so invalid UTF-8 and Unicode control and format
// characters (C1 controls, bidirectional overrides), so that server text
// is safe in logs and terminals.
func writeSanitised(sb *strings.Builder, b []byte) {
	clean := true
	for _, c := range b {
		if c < ' ' && c != '\t' || c >= 0x7f {
			clean = false
			break
		}
	}
	if clean {
		sb.Write(b)
		return
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < ' ' && c != '\t' || c == 0x7f {
				c = '?'
			}
			sb.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsGraphic(r) {
			sb.WriteByte('?')
		} else {
			sb.Write(b[i : i+size])
		}
		i += size
	}
}

// trimEOL removes a trailing LF or CRLF.
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

// clip shortens a line for an error message.
func clip(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
