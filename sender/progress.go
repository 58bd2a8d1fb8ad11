package sender

import "golang.org/x/time/rate"

// Progress receives what a running pool does, for a progress bar or a log.
// Its methods are called from the pool's goroutines, possibly at the same
// time, so implementations must be safe for concurrent use; they should
// return quickly.
type Progress interface {
	// Outcome reports the final outcome of some recipients of one message
	// (Status is never StatusIntent). When the pool has a journal, the
	// record is durable before Outcome is called.
	Outcome(r *Record)
	// Throttle reports that the server throttled the pool (on is true) and
	// the rate the pool now keeps, each time it changes while it recovers,
	// and finally that the configured rate is back (on is false).
	Throttle(on bool, limit rate.Limit)
}

// NoProgress is a [Progress] that ignores everything.
type NoProgress struct{}

// Outcome does nothing.
func (NoProgress) Outcome(*Record) {}

// Throttle does nothing.
func (NoProgress) Throttle(bool, rate.Limit) {}
