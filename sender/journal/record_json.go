package journal

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r as one JSON line, byte for byte what
// encoding/json's Encoder writes with SetEscapeHTML(false), without its
// reflection: the journal encodes two records per message.
func appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = r.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","row":`...)
	b = strconv.AppendInt(b, int64(r.Row), 10)
	b = append(b, `,"key":`...)
	b = appendString(b, r.Key)
	b = append(b, `,"recipients":`...)
	if r.Recipients == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, to := range r.Recipients {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, to)
		}
		b = append(b, ']')
	}
	b = append(b, `,"status":`...)
	b = appendString(b, string(r.Status))
	if r.Code != 0 {
		b = append(b, `,"code":`...)
		b = strconv.AppendInt(b, int64(r.Code), 10)
	}
	if r.Enhanced != "" {
		b = append(b, `,"enhanced":`...)
		b = appendString(b, r.Enhanced)
	}
	if r.Reply != "" {
		b = append(b, `,"reply":`...)
		b = appendString(b, r.Reply)
	}
	if r.Attempts != 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(r.Attempts), 10)
	}
	if r.MessageID != "" {
		b = append(b, `,"message_id":`...)
		b = appendString(b, r.MessageID)
	}
	if r.Fingerprint != "" {
		b = append(b, `,"fingerprint":`...)
		b = appendString(b, r.Fingerprint)
	}
	if r.Relay != "" {
		b = append(b, `,"relay":`...)
		b = appendString(b, r.Relay)
	}
	return append(b, "}\n"...)
}

// appendString appends s as a JSON string (RFC 8259 §7) the way
// encoding/json does without HTML escaping: control characters, '"' and
// '\\' escaped, invalid UTF-8 replaced by U+FFFD, U+2028 and U+2029
// escaped for JavaScript.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
