package sender

import (
	"github.com/mailshot/mailshot/sender/journal"

	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/time/rate"
)

func TestIsThrottleReply(t *testing.T) {
	tests := []struct {
		code           int
		enhanced, text string
		want           bool
	}{
		{450, "4.7.1", "Error: too much mail from 127.0.0.1", true}, // Postfix anvil
		{421, "4.7.0", "mailshot.test Error: too many connections from 127.0.0.1", true},
		{451, "", "Rate limit exceeded, try later", true},
		{452, "", "Throttling: slow down", true},
		{454, "4.7.0", "Temporary authentication failure", true},
		{421, "4.4.2", "Connection timed out", false},
		{421, "", "4.7.0 mailshot.test Error: too many connections from 127.0.0.1", true}, // a greeting
		{421, "", "4.3.2 Service shutting down", false},
		{452, "4.5.3", "Too many recipients", false},
		{452, "4.5.3", "Maximum limit of 2 recipients reached", false}, // go-smtp
		{451, "4.3.0", "Internal error", false},
		{450, "4.2.1", "Mailbox busy", false},
		{452, "4.2.2", "Mailbox over quota limit", false}, // a full mailbox, not a policy limit
		{452, "", "Mailbox over quota limit", false},      // the same from a server without enhanced codes
		{451, "", "Please generate a separate request", false},
		{451, "4.3.0", "Sending rate limit exceeded", true},
		{550, "5.7.1", "rate limit", false}, // permanent: not a throttle, a refusal
		{250, "2.0.0", "Ok", false},
	}
	for _, tt := range tests {
		if got := isThrottleReply(tt.code, tt.enhanced, tt.text); got != tt.want {
			t.Errorf("isThrottleReply(%d, %q, %q) = %v, want %v", tt.code, tt.enhanced, tt.text, got, tt.want)
		}
	}
}

// progressLog is a Progress that remembers what it was told.
type progressLog struct {
	mu       sync.Mutex
	records  []*journal.Record
	throttle []throttleEvent
	changed  []*Message
	paused   []string // reasons, "" for going on
}

type throttleEvent struct {
	on    bool
	limit rate.Limit
}

func (p *progressLog) Outcome(r *journal.Record) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, r)
}

func (p *progressLog) Throttle(on bool, limit rate.Limit) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.throttle = append(p.throttle, throttleEvent{on, limit})
}

func (p *progressLog) Changed(m *Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.changed = append(p.changed, m)
}

func (p *progressLog) Paused(reason string, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = append(p.paused, reason)
}

func (p *progressLog) throttleEvents() []throttleEvent {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]throttleEvent(nil), p.throttle...)
}

func TestThrottleHalvesAndRecovers(t *testing.T) {
	p := &progressLog{}
	const hold = 5 * time.Second
	th := newThrottle(100, 1, hold, time.Minute, p)
	t0 := time.Unix(1e9, 0)

	th.signal(t0)
	if l, on := th.current(); l != 50 || !on {
		t.Fatalf("after a signal: %v, %v; want 50, throttled", l, on)
	}
	// The other connections hear the same signal: no second halving.
	th.signal(t0.Add(time.Second))
	if l, _ := th.current(); l != 50 {
		t.Fatalf("a second signal within hold halved again: %v", l)
	}
	// Later signals halve again, down to the floor.
	th.signal(t0.Add(hold))
	if l, _ := th.current(); l != 25 {
		t.Fatalf("a signal after hold: %v, want 25", l)
	}
	// No recovery before hold has passed without signals.
	now := t0.Add(hold)
	th.success(now.Add(hold / 2))
	if l, _ := th.current(); l != 25 {
		t.Fatalf("recovered before hold: %v", l)
	}
	// Then ×1.25 per hold, never above the configured rate.
	var steps int
	for l, on := th.current(); on; l, on = th.current() {
		now = now.Add(hold)
		th.success(now)
		next, _ := th.current()
		if next <= l || next > 100 {
			t.Fatalf("recovery step from %v to %v", l, next)
		}
		steps++
	}
	if steps < 3 {
		t.Errorf("recovered from 25 to 100 in %d steps: not gradual", steps)
	}
	if got := th.limiter.Limit(); got != 100 {
		t.Errorf("limiter at %v after recovery, want 100", got)
	}
	ev := p.throttleEvents()
	if len(ev) < 2 || !ev[0].on || ev[0].limit != 50 || ev[len(ev)-1] != (throttleEvent{false, 100}) {
		t.Errorf("progress told %v", ev)
	}
}

func TestThrottleUnlimited(t *testing.T) {
	p := &progressLog{}
	th := newThrottle(rate.Inf, 1, time.Second, time.Minute, p)
	t0 := time.Unix(1e9, 0)
	// Before anything was sent there is no rate to halve: only a pause.
	th.signal(t0)
	if l, on := th.current(); l != rate.Inf || on || len(p.throttleEvents()) != 0 {
		t.Fatalf("throttled to %v, %v before any message", l, on)
	}
	t0 = t0.Add(time.Minute)
	// 200 messages a second for two seconds.
	for i := range 400 {
		th.success(t0.Add(time.Duration(i) * 5 * time.Millisecond))
	}
	now := t0.Add(2 * time.Second)
	th.signal(now)
	l, on := th.current()
	if !on || l < 80 || l > 120 {
		t.Fatalf("unlimited pool throttled to %v, %v; want about half of 200/s", l, on)
	}
	for on {
		now = now.Add(time.Second)
		th.success(now)
		l, on = th.current()
	}
	if l != rate.Inf || th.limiter.Limit() != rate.Inf {
		t.Errorf("after recovery: %v, limiter %v; want unlimited again", l, th.limiter.Limit())
	}
}

func TestThrottleFloor(t *testing.T) {
	th := newThrottle(1, 1, time.Second, time.Minute, NoProgress{})
	now := time.Unix(1e9, 0)
	for range 20 {
		th.signal(now)
		now = now.Add(time.Second)
	}
	if l, _ := th.current(); l != minRate {
		t.Errorf("rate after many signals %v, want the floor %v", l, minRate)
	}
}

// TestThrottlePauses: after a throttling reply the pool starts nothing for
// the pause, hold/4 at first: wait returns when it is over, or when the
// context ends; reserve, for lookahead, gives no token meanwhile.
func TestThrottlePauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hold = 400 * time.Millisecond
		th := newThrottle(rate.Inf, 1, hold, time.Minute, NoProgress{})
		start := time.Now()
		th.signal(start)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := th.wait(ctx); err == nil {
			t.Error("wait returned during a pause with a cancelled context")
		}
		if token := th.reserve(); token != nil {
			t.Error("reserve gave a token during a pause")
		}
		if err := th.wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != hold/4 {
			t.Errorf("wait returned after %v, want the pause of %v", d, hold/4)
		}
		if token := th.reserve(); token == nil {
			t.Error("reserve gave no token after the pause")
		}
	})
}
