package sender

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender/smtp"
)

// Relay is one SMTP server a pool sends through, with its own
// connections, credentials and limits. A pool with several relays sends
// each message through whichever relay has a free connection and a rate
// token first; see Config.Relays.
type Relay struct {
	// Name names the relay in the journal (journal.Record.Relay), in
	// reports and to Progress; "" means Endpoint.Addr(). Names are unique
	// within a pool.
	Name string
	// Endpoint is the server; required.
	Endpoint *Endpoint
	// Client configures each connection, as Config.Client does.
	Client smtp.Config
	// Credentials returns what AUTH needs, as Config.Credentials does;
	// required when Endpoint.Username is set.
	Credentials func(ctx context.Context) (smtp.Credentials, error)
	// Connections is the number of connections to this relay
	// (0: DefaultConnections).
	Connections int
	// Rate limits transactions through this relay (0 or rate.Inf:
	// unlimited); Burst is its token bucket's size (0: 1). A throttling
	// reply from this relay slows this relay only.
	Rate  rate.Limit
	Burst int
	// DailyLimit, when above 0, is the number of recipients this relay may
	// carry in any 24 hours, counted from the journal's sent records that
	// name it, across runs, and from every transaction this run starts
	// through it, whatever becomes of it. At the limit the relay leaves the
	// rotation until room opens.
	DailyLimit int
}

// RelayProgress is a [Progress] that also hears of relays leaving and
// rejoining the rotation of a pool with several relays. Progress
// implementations may implement it; the pool asks with a type assertion.
type RelayProgress interface {
	Progress
	// Relay reports that the relay name left the rotation because of err
	// (a *StopError: ErrAuthFailed, ErrUnreachable, ErrQuota or
	// ErrDailyLimit), until about until, or for the rest of the run when
	// until is zero; the other relays carry the batch. A nil err reports
	// that the relay is back in the rotation. It is told once per change,
	// from a connection's goroutine. A pool with one relay never calls it:
	// the run stops instead.
	Relay(name string, err error, until time.Time)
}

// RelayError is the cause in a StopError of a run over several relays
// that stopped because every relay had left the rotation: the relay that
// left last, and why.
type RelayError struct {
	Relay string
	Err   error
}

// Error names the relay and says what it met.
func (e *RelayError) Error() string { return "relay " + e.Relay + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *RelayError) Unwrap() error { return e.Err }

// relays returns the relays of cfg with their defaults filled in: those of
// Config.Relays, or one made of the top-level fields when it is empty.
func relays(cfg *Config) ([]Relay, error) {
	rs := cfg.Relays
	if len(rs) == 0 {
		if cfg.Endpoint == nil {
			return nil, errors.New("sender: no endpoint")
		}
		rs = []Relay{{Endpoint: cfg.Endpoint, Client: cfg.Client, Credentials: cfg.Credentials,
			Connections: cfg.Connections, Rate: cfg.Rate, Burst: cfg.Burst}}
	} else if cfg.Endpoint != nil {
		return nil, errors.New("sender: both an endpoint and relays")
	}
	out := make([]Relay, len(rs))
	seen := make(map[string]bool, len(rs))
	for i, rl := range rs {
		switch {
		case rl.Endpoint == nil:
			return nil, fmt.Errorf("sender: relay %d has no endpoint", i+1)
		case rl.Endpoint.Username != "" && rl.Credentials == nil:
			if len(cfg.Relays) == 0 {
				return nil, errors.New("sender: endpoint has a user name but no credentials")
			}
			return nil, fmt.Errorf("sender: relay %s has a user name but no credentials", rl.Endpoint.Addr())
		case rl.Connections < 0 || rl.Burst < 0 || rl.DailyLimit < 0:
			return nil, errors.New("sender: negative count in configuration")
		}
		if rl.Name == "" {
			rl.Name = rl.Endpoint.Addr()
		}
		if seen[rl.Name] {
			return nil, fmt.Errorf("sender: two relays named %s", rl.Name)
		}
		seen[rl.Name] = true
		if rl.Connections == 0 {
			rl.Connections = DefaultConnections
		}
		if rl.Rate <= 0 {
			rl.Rate = rate.Inf
		}
		out[i] = rl
	}
	return out, nil
}

// relayState is where a relay stands in the rotation.
type relayState int

const (
	relayIn      relayState = iota // carrying messages
	relayResting                   // out until a time: unreachable, or at its daily limit
	relayGone                      // out for the rest of the run
)

// relay is one relay's state in a run. Its workers (Connections of them)
// use its gate, throttle and daily count; run.relayMu guards the rotation
// fields.
type relay struct {
	Relay
	gate     *gate
	throttle *throttle

	dayMu sync.Mutex
	day   *daily // nil without DailyLimit

	// Guarded by run.relayMu.
	state   relayState
	until   time.Time  // resting: when it is tried again
	why     *StopError // out: why
	waiting bool       // resting at its daily limit under Config.WaitForRoom: still counts as in
	outs    int        // times taken out as unreachable since it last connected, to pace the next try
}

// newRelay returns the state of rl for a run of cfg.
func newRelay(rl Relay, cfg *Config) *relay {
	s := &relay{
		Relay:    rl,
		gate:     newGate(),
		throttle: newThrottle(rl.Rate, rl.Burst, cfg.ThrottleHold, cfg.RetryMax, cfg.Progress),
	}
	if rl.DailyLimit > 0 {
		d := newDaily(rl.DailyLimit, cfg.Journal, cfg.Now())
		kept := d.stamps[:0]
		for _, st := range d.stamps {
			if st.Relay == rl.Name {
				kept = append(kept, st)
			}
		}
		d.stamps = kept
		s.day = d
	}
	return s
}

// reserveDay counts k recipients against the relay's daily limit at now
// and reports true, or reports false and when k more fit (zero: never).
func (rl *relay) reserveDay(k int, now time.Time) (bool, time.Time) {
	if rl.day == nil {
		return true, time.Time{}
	}
	rl.dayMu.Lock()
	defer rl.dayMu.Unlock()
	if !rl.day.fits(k, now) {
		return false, rl.day.next(k, now)
	}
	rl.day.take(k, now)
	return true, time.Time{}
}

// dayError returns the cause for a relay at its daily limit.
func (rl *relay) dayError(now, next time.Time) *DailyLimitError {
	rl.dayMu.Lock()
	defer rl.dayMu.Unlock()
	return &DailyLimitError{Sent: rl.day.used(now), Limit: rl.day.limit, Next: next}
}

// relayOut takes rl out of the rotation because of why, until until (zero:
// for the rest of the run), and reports false; or, when no other relay is
// left in the rotation, stops the run with why and reports true. With one
// relay it is exactly r.fail. Called from rl's workers.
func (r *run) relayOut(rl *relay, why *StopError, until time.Time) (stopped bool) {
	r.relayMu.Lock()
	if rl.state != relayIn {
		r.relayMu.Unlock()
		return r.stopCtx.Err() != nil // another of its workers took it out already
	}
	waiting := r.cfg.WaitForRoom && errors.Is(why.Reason, ErrDailyLimit) && !until.IsZero()
	others := false
	for _, o := range r.relays {
		if o != rl && (o.state == relayIn || o.waiting) {
			others = true
		}
	}
	if !others && !waiting {
		r.relayMu.Unlock()
		if len(r.relays) > 1 {
			why = &StopError{Reason: why.Reason, Err: &RelayError{Relay: rl.Name, Err: why.Err}}
		}
		r.fail(why)
		return true
	}
	rl.state, rl.until, rl.why, rl.waiting = relayResting, until, why, waiting
	if until.IsZero() {
		rl.state = relayGone
	}
	r.relayMu.Unlock()
	if p, ok := r.cfg.Progress.(RelayProgress); ok {
		p.Relay(rl.Name, why, until)
	}
	return false
}

// restUntil returns when an unreachable relay is tried again: after the
// retries' backoff, doubling each time it is taken out again.
func (r *run) restUntil(rl *relay) time.Time {
	r.relayMu.Lock()
	rl.outs++
	n := rl.outs
	r.relayMu.Unlock()
	return time.Now().Add(r.backoff(n))
}

// inRotation reports whether rl carries messages now.
func (r *run) inRotation(rl *relay) bool {
	r.relayMu.Lock()
	defer r.relayMu.Unlock()
	return rl.state == relayIn
}

// awaitRelay waits until rl, out of the rotation, is due back, and puts it
// back. It reports false when rl is gone for the rest of the run, or the
// work stops first.
func (r *run) awaitRelay(rl *relay) bool {
	for {
		r.relayMu.Lock()
		state, until := rl.state, rl.until
		r.relayMu.Unlock()
		switch state {
		case relayIn:
			return true
		case relayGone:
			return false
		}
		if !sleep(r.workCtx, time.Until(until)) {
			return false
		}
		r.relayMu.Lock()
		back := rl.state == relayResting && rl.until.Equal(until)
		if back {
			rl.state, rl.why, rl.waiting = relayIn, nil, false
		}
		r.relayMu.Unlock()
		if back {
			if p, ok := r.cfg.Progress.(RelayProgress); ok {
				p.Relay(rl.Name, nil, time.Time{})
			}
		}
	}
}

// connectedTo tells rl's rotation state that a connection to it succeeded:
// the backoff of its next absence starts over.
func (r *run) connectedTo(rl *relay) {
	r.relayMu.Lock()
	rl.outs = 0
	r.relayMu.Unlock()
}
