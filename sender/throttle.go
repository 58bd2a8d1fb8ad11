package sender

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// isThrottleReply reports whether a temporary reply means the server is
// limiting how fast we send: a 421, 450, 451, 452 or 454 reply with an
// enhanced code of class 4.7 (RFC 3463 §3.8, security or policy status) or
// text that speaks of a rate, a limit or throttling, except 4.5.3 (too many
// recipients, RFC 3463 §3.6).
func isThrottleReply(code int, enhanced, text string) bool {
	switch code {
	case 421, 450, 451, 452, 454:
	default:
		return false
	}
	if enhanced == "" && strings.HasPrefix(text, "4.") {
		// Before EHLO (a greeting) the client cannot know that the server
		// sends enhanced codes: it is still at the start of the text.
		enhanced, _, _ = strings.Cut(text, " ")
	}
	switch {
	case strings.HasPrefix(enhanced, "4.7."):
		return true
	case enhanced == "4.5.3":
		return false // too many recipients: a limit on one transaction, not on the rate
	}
	// Otherwise only plain words about the sending rate make it
	// throttling, not "limit" alone: "452 Mailbox over quota limit" is a
	// full mailbox, whatever code comes with it.
	t := strings.ToLower(text)
	for _, w := range throttleWords {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// throttleWords are the phrases of replies that ask a client to slow down.
var throttleWords = []string{"rate limit", "rate-limit", "ratelimit", "rate exceeded", "throttl",
	"too much mail", "too many messages", "too many connections", "sending limit", "limit exceeded"}

// throttle is the pool's shared rate: a token bucket at the configured rate
// that halves when the server throttles and climbs back gradually (additive
// in spirit, multiplicative in steps: ×1.25 every hold period without a new
// signal) until it reaches the configured rate again. It also pauses the
// whole pool for a while after each signal, doubling the pause while the
// signals keep coming.
type throttle struct {
	limiter  *rate.Limiter
	base     rate.Limit    // configured rate, possibly rate.Inf
	hold     time.Duration // between two halvings, and between two recovery steps
	maxPause time.Duration
	progress Progress

	mu         sync.Mutex
	limit      rate.Limit // current rate
	throttled  bool
	ceiling    rate.Limit // with base rate.Inf: where recovery gives up limiting
	lastChange time.Time  // of the last halving or recovery step
	pause      time.Duration
	pauseUntil time.Time

	// Throughput estimate, needed to halve an unlimited rate.
	winStart time.Time
	winCount int
	observed rate.Limit
}

// Recovery parameters.
const (
	recoveryFactor = 1.25
	minRate        = rate.Limit(1.0 / 60) // never slower than a message a minute
)

func newThrottle(base rate.Limit, burst int, hold, maxPause time.Duration, p Progress) *throttle {
	if base <= 0 {
		base = rate.Inf
	}
	if burst < 1 {
		burst = 1
	}
	return &throttle{
		limiter:  rate.NewLimiter(base, burst),
		base:     base,
		limit:    base,
		hold:     hold,
		maxPause: maxPause,
		progress: p,
	}
}

// wait blocks until the pool may start one more transaction: after any
// pause, and when the token bucket allows.
func (t *throttle) wait(ctx context.Context) error {
	if err := t.waitPause(ctx); err != nil {
		return err
	}
	return t.limiter.Wait(ctx)
}

// waitPause blocks until the pause after a throttling reply, if any, is
// over.
func (t *throttle) waitPause(ctx context.Context) error {
	for {
		t.mu.Lock()
		d := time.Until(t.pauseUntil)
		t.mu.Unlock()
		if d <= 0 {
			break
		}
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	return nil
}

// reserve returns the token for one more transaction if the pool may start
// it now (wait without the waiting), or nil. Cancelling the token gives it
// back when the transaction does not happen.
func (t *throttle) reserve() *rate.Reservation {
	t.mu.Lock()
	paused := time.Now().Before(t.pauseUntil)
	t.mu.Unlock()
	if paused {
		return nil
	}
	r := t.limiter.Reserve()
	if !r.OK() || r.Delay() > 0 {
		r.Cancel()
		return nil
	}
	return r
}

// current returns the rate in force and whether it is throttled.
func (t *throttle) current() (rate.Limit, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit, t.throttled
}

// signal reacts to a throttling reply received at now: halve the rate and
// pause, unless the pool already reacted less than hold ago (several
// connections usually hear the same signal at once).
func (t *throttle) signal(now time.Time) {
	t.mu.Lock()
	if t.throttled && now.Sub(t.lastChange) < t.hold {
		t.mu.Unlock()
		return
	}
	t.pause = min(max(2*t.pause, t.hold/4), t.maxPause)
	t.pauseUntil = now.Add(t.pause)
	from := t.limit
	if from == rate.Inf {
		var ok bool
		if from, ok = t.estimate(now); !ok {
			// Too early to know the rate to halve: only pause.
			t.mu.Unlock()
			return
		}
		t.ceiling = 2 * from
	}
	t.limit = max(from/2, min(minRate, t.base))
	t.limiter.SetLimitAt(now, t.limit)
	t.throttled = true
	t.lastChange = now
	limit := t.limit
	t.mu.Unlock()
	t.progress.Throttle(true, limit)
}

// success counts a transaction that went through at now, and takes a
// recovery step when the last change is hold ago.
func (t *throttle) success(now time.Time) {
	t.mu.Lock()
	t.count(now)
	if !t.throttled || now.Sub(t.lastChange) < t.hold {
		t.mu.Unlock()
		return
	}
	t.lastChange = now
	t.pause = 0
	t.limit *= recoveryFactor
	if t.base != rate.Inf && t.limit >= t.base || t.base == rate.Inf && t.limit >= t.ceiling {
		t.limit = t.base
		t.throttled = false
	}
	t.limiter.SetLimitAt(now, t.limit)
	on, limit := t.throttled, t.limit
	t.mu.Unlock()
	t.progress.Throttle(on, limit)
}

// count adds one transaction to the throughput estimate.
func (t *throttle) count(now time.Time) {
	if t.winStart.IsZero() {
		t.winStart = now
	}
	t.winCount++
	if d := now.Sub(t.winStart); d >= time.Second {
		t.observed = rate.Limit(float64(t.winCount) / d.Seconds())
		t.winStart, t.winCount = now, 0
	}
}

// estimate returns the recent throughput, at least one message a second,
// and whether enough has been sent to tell.
func (t *throttle) estimate(now time.Time) (rate.Limit, bool) {
	r := t.observed
	if d := now.Sub(t.winStart); t.winCount >= 10 && d >= 100*time.Millisecond {
		r = max(r, rate.Limit(float64(t.winCount)/d.Seconds()))
	}
	return max(r, 1), r > 0
}
