package sender

import (
	"time"

	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender/journal"
)

// Progress receives what a running pool does, for a progress bar or a log.
// Outcome is called from one goroutine of the pool's own, in the order the
// outcomes were recorded, never from a connection's or the journal's, so a
// slow display slows nothing but itself; Throttle is called from the
// connections', Changed from the goroutine that takes messages.
// Implementations must be safe for concurrent use.
type Progress interface {
	// Outcome reports the final outcome of some recipients of one message
	// (Status is never journal.Intent). When the pool has a journal, the
	// record is durable before Outcome is called.
	Outcome(r *journal.Record)
	// Throttle reports that the server throttled the pool (on is true) and
	// the rate the pool now keeps, each time it changes while it recovers,
	// and finally that the configured rate is back (on is false).
	Throttle(on bool, limit rate.Limit)
	// Changed reports a message some of whose recipients were sent a
	// version with another Fingerprint: they are not sent again.
	Changed(m *Message)
	// Paused reports that the pool waits, and why (the daily limit, say),
	// until about until (zero: not known); a reason of "" reports that it
	// goes on. Called from the goroutine that takes messages.
	Paused(reason string, until time.Time)
}

// NoProgress is a [Progress] that ignores everything.
type NoProgress struct{}

// Outcome does nothing.
func (NoProgress) Outcome(*journal.Record) {}

// Throttle does nothing.
func (NoProgress) Throttle(bool, rate.Limit) {}

// Changed does nothing.
func (NoProgress) Changed(*Message) {}

// Paused does nothing.
func (NoProgress) Paused(string, time.Time) {}
