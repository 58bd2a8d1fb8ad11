package sender

import (
	"time"
)

// Message is one complete message to deliver to one or more envelope
// recipients. The pool reads it but never modifies it.
type Message struct {
	// Key identifies the recipient row across runs, whatever its position
	// in the data: for example its lower-cased To addresses. The journal
	// records outcomes per Key and recipient.
	Key string
	// Row is the data file's row number, for reports.
	Row int
	// MessageID is the message's Message-ID (RFC 5322 §3.6.4), for reports.
	MessageID string
	// From is the envelope sender (RFC 5321 MAIL FROM), "" for the null
	// reverse-path.
	From string
	// To lists the envelope recipients (RFC 5321 RCPT TO). Duplicates,
	// compared without regard to case, are sent once.
	To []string
	// Body is the complete RFC 5322 message, header and body, with CRLF
	// line ends.
	Body []byte
	// Fingerprint is a hash of what was rendered for this row, so that a
	// resumed run notices a row that changed after it was sent.
	Fingerprint string
}

// Status is the state of one recipient in the journal.
type Status string

// The statuses a journal records. Every recipient ends in one of sent,
// failed, deferred or unknown; intent is the write-ahead record made before
// a transaction.
const (
	// StatusIntent records that a transaction is about to start. It is not
	// an outcome: a recipient whose latest record is an intent is unknown.
	StatusIntent Status = "intent"
	// StatusSent: the server accepted the message for this recipient
	// (RFC 5321 §4.2.5: a 250 after the final dot).
	StatusSent Status = "sent"
	// StatusFailed: the server refused the recipient or the message with a
	// permanent (5yz) reply. Not retried unless the caller asks.
	StatusFailed Status = "failed"
	// StatusDeferred: temporary failures outlasted the retries, or the run
	// stopped first. A resumed run tries again.
	StatusDeferred Status = "deferred"
	// StatusUnknown: the connection was lost after the final dot and before
	// the reply, or the process stopped in the middle of a transaction, so
	// the server may or may not have taken the message.
	StatusUnknown Status = "unknown"
)

// Record is one line of the journal, and one outcome told to [Progress]:
// what happened to some recipients of one message. A message whose
// recipients had different outcomes gets one record per outcome.
type Record struct {
	Time       time.Time `json:"time"`
	Row        int       `json:"row"`
	Key        string    `json:"key"`
	Recipients []string  `json:"recipients"`
	Status     Status    `json:"status"`
	// Code is the SMTP reply code (RFC 5321 §4.2) of the reply that decided
	// the outcome, 0 when there was none (e.g. a lost connection).
	Code int `json:"code,omitempty"`
	// Enhanced is the reply's RFC 3463 enhanced status code, when the
	// server sent one.
	Enhanced string `json:"enhanced,omitempty"`
	// Reply is the reply text, without code and enhanced code, or a
	// description of the failure when there was no reply.
	Reply string `json:"reply,omitempty"`
	// Attempts counts the transactions tried for these recipients.
	Attempts    int    `json:"attempts,omitempty"`
	MessageID   string `json:"message_id,omitempty"`
	Fingerprint string `json:"fingerprint,omitempty"`
}
