package journal

import (
	"errors"
	"strings"
	"time"
)

// Status is the state of one recipient in the journal.
type Status string

// The statuses a journal records. Every recipient ends in one of Sent,
// Failed, Deferred or Unknown; Intent is the write-ahead record made before
// a transaction.
const (
	// Intent records that a transaction is about to start. It is not an
	// outcome: a recipient whose latest record is an intent is unknown.
	Intent Status = "intent"
	// Sent: the server accepted the message for this recipient
	// (RFC 5321 §4.2.5: a 250 after the final dot).
	Sent Status = "sent"
	// Failed: the server refused the recipient or the message with a
	// permanent (5yz) reply, or the message could not be built. Not retried
	// unless the caller asks.
	Failed Status = "failed"
	// Deferred: temporary failures outlasted the retries, or the run
	// stopped first. A resumed run tries again.
	Deferred Status = "deferred"
	// Unknown: the connection was lost after the final dot and before the
	// reply, or the process stopped in the middle of a transaction, so the
	// server may or may not have taken the message.
	Unknown Status = "unknown"
)

// Record is one line of the journal: what happened to some recipients of
// one message. A message whose recipients had different outcomes gets one
// record per outcome.
type Record struct {
	Time time.Time `json:"time"`
	// Row is the data file's row number, for reports.
	Row int `json:"row"`
	// Key identifies the message across runs, whatever its row: outcomes
	// are recorded per Key and recipient (see SameRecipient).
	Key        string   `json:"key"`
	Recipients []string `json:"recipients"`
	Status     Status   `json:"status"`
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
	Attempts  int    `json:"attempts,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	// Fingerprint is a hash of what was sent, so that a resumed run notices
	// a message that changed since.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Relay names the relay that carried, or was to carry, the
	// transaction: set on intents and on the outcomes of transactions, ""
	// where no relay was involved (an invalid row).
	Relay string `json:"relay,omitempty"`
}

// Totals counts recipients by final status.
type Totals struct {
	Sent     int `json:"sent"`
	Failed   int `json:"failed"`
	Deferred int `json:"deferred"`
	Unknown  int `json:"unknown"`
}

// Add counts n recipients as having status st. An intent counts as unknown:
// it is what a crash leaves of a transaction.
func (t *Totals) Add(st Status, n int) {
	switch st {
	case Sent:
		t.Sent += n
	case Failed:
		t.Failed += n
	case Deferred:
		t.Deferred += n
	case Unknown, Intent:
		t.Unknown += n
	}
}

// NotSent is the number of recipients counted as failed, deferred or
// unknown.
func (t Totals) NotSent() int { return t.Failed + t.Deferred + t.Unknown }

// All is the number of recipients counted.
func (t Totals) All() int { return t.Sent + t.NotSent() }

// ErrInUse is the cause of the error Open returns when another process
// has the journal open: two runs must never append to one journal.
var ErrInUse = errors.New("in use by another process")

// SameRecipient reports whether two envelope addresses are one recipient
// to the journal: equal but for the case of letters. The journal keeps one
// state per message key and recipient under this rule, and a sender should
// send to such addresses once.
func SameRecipient(a, b string) bool { return foldAddress(a) == foldAddress(b) }

// foldAddress is the form of an address under which the journal tells
// recipients apart.
func foldAddress(a string) string { return strings.ToLower(a) }
