package sender

import "github.com/mailshot/mailshot/sender/smtp"

// Message is one complete message to deliver to one or more envelope
// recipients. The pool reads it but never modifies it.
type Message struct {
	// Key identifies the message across runs, whatever its position in the
	// data: for example its lower-cased To addresses. The journal records
	// outcomes per Key and recipient.
	Key string
	// Row is the data file's row number, for reports.
	Row int
	// MessageID is the message's Message-ID (RFC 5322 §3.6.4), for reports.
	MessageID string
	// From is the envelope sender (RFC 5321 MAIL FROM), "" for the null
	// reverse-path.
	From string
	// To lists the envelope recipients (RFC 5321 RCPT TO). Duplicates,
	// compared as journal.SameRecipient does, are sent once.
	To []string
	// Body is the complete RFC 5322 message, header and body, with CRLF
	// line ends.
	Body []byte
	// Pieces, when not nil, is the message instead of Body, in pieces
	// sent one after another: the octets of a template's files, the same
	// in every message, may stand apart, shared (see smtp.Piece), so that
	// no message holds a copy of them.
	Pieces []smtp.Piece
	// Fingerprint is a hash of what was rendered for this message, so that
	// a resumed run notices a message that changed after it was sent.
	Fingerprint string
	// Invalid, when not nil, says why the message could not be built: Run
	// sends nothing and records its recipients as failed, with this
	// reason; when To is empty, the record names the row instead.
	Invalid error
}

// body returns m's message in pieces: Pieces, or Body as one piece.
func (m *Message) body() []smtp.Piece {
	if m.Pieces != nil {
		return m.Pieces
	}
	return []smtp.Piece{{Octets: m.Body}}
}

// size returns the octets of m's message.
func (m *Message) size() int64 {
	if m.Pieces == nil {
		return int64(len(m.Body))
	}
	var n int64
	for _, p := range m.Pieces {
		n += int64(len(p.Octets))
	}
	return n
}
