package sender

import (
	"errors"
	"fmt"
	"time"
)

// Reasons a run stops early, for errors.Is on the error [Pool.Run] returns.
// Every one of them leaves a journal that a later run resumes from.
var (
	// ErrAuthFailed: the server refused the credentials (RFC 4954 §6: 535,
	// 534 or another 5yz reply to AUTH), or the connection offered no TLS to
	// protect them. The pool stops at once rather than try again with
	// credentials that will fail again, which could lock the account.
	ErrAuthFailed = errors.New("sender: authentication failed")
	// ErrUnreachable: no connection to the server could be established
	// after the retries, or the server refused service permanently (a 5yz
	// greeting or EHLO reply, an untrusted certificate).
	ErrUnreachable = errors.New("sender: server unreachable")
	// ErrJournal: the journal could not be written or synced, so outcomes
	// could no longer be recorded durably.
	ErrJournal = errors.New("sender: journal write failed")
	// ErrInterrupted: the run's context was cancelled (Ctrl-C, SIGTERM).
	ErrInterrupted = errors.New("sender: interrupted")
	// ErrSource: the sequence of messages given to Run yielded an error.
	ErrSource = errors.New("sender: message source failed")
	// ErrQuota: the server answered that the sender's account reached its
	// provider's sending quota (Gmail's 5.4.5, Microsoft 365's
	// SubmissionQuotaExceeded, SES's daily message quota). The message that
	// got the reply and everything after it stay pending, never failed.
	ErrQuota = errors.New("sender: sending quota reached")
	// ErrDailyLimit: Config.DailyLimit recipients were sent in the last 24
	// hours; the cause is a *DailyLimitError saying when room opens.
	ErrDailyLimit = errors.New("sender: daily limit reached")
)

// DailyLimitError is the cause in a StopError with reason ErrDailyLimit:
// how many recipients the rolling 24 hours hold, the limit, and when the
// next message fits.
type DailyLimitError struct {
	Sent, Limit int
	Next        time.Time
}

// Error says the count and when room opens.
func (e *DailyLimitError) Error() string {
	return fmt.Sprintf("%d of %d recipients sent in the last 24 hours; the next message fits at %s",
		e.Sent, e.Limit, e.Next.Format(time.RFC3339))
}

// StopError is the error [Pool.Run] returns when the run stopped before
// every message was handled. errors.Is(err, Reason) holds, and errors.As
// finds the cause in Err (for example the *smtp.Error of a refused AUTH).
type StopError struct {
	Reason error // ErrAuthFailed, ErrUnreachable, ErrJournal, ErrSource or ErrInterrupted
	Err    error // what happened, or nil
}

// Error returns the reason followed by the cause.
func (e *StopError) Error() string {
	if e.Err == nil {
		return e.Reason.Error()
	}
	return e.Reason.Error() + ": " + e.Err.Error()
}

// Unwrap returns the reason and the cause.
func (e *StopError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// ConnectError is the cause in a StopError with reason ErrUnreachable when
// no connection could be set up after the retries: how many attempts were
// made, and the last one's error.
type ConnectError struct {
	Attempts int
	Err      error
}

// Error counts the attempts and says what the last one met.
func (e *ConnectError) Error() string {
	return fmt.Sprintf("%d attempts to connect: %v", e.Attempts, e.Err)
}

// Unwrap returns the last attempt's error.
func (e *ConnectError) Unwrap() error { return e.Err }
