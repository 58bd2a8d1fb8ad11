package sender

import (
	"context"
	"sync"
)

// gate lets the workers connect: any number at once while a connection is
// up, one at a time while none is, so that a wrong password or a server
// that is down costs one attempt, not one per connection. The one worker
// let through while none is up is the prober; the others wait until it
// succeeds or releases the gate. The gate also counts the failures to
// connect in a row while no connection was up.
type gate struct {
	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when live or probing changes
	live     int           // connections established and not yet closed
	probing  bool          // with live == 0, one worker is connecting; the others wait
	failures int           // consecutive failures to connect while no connection was up
	ever     bool          // a connection was established in this run
}

func newGate() *gate {
	return &gate{changed: make(chan struct{})}
}

// enter waits until the caller may try to connect, and reports whether it
// is the prober: no connection is up, and the others now wait for it until
// opened or release. ok is false when ctx ends first.
func (g *gate) enter(ctx context.Context) (prober, ok bool) {
	for {
		g.mu.Lock()
		if g.live > 0 || !g.probing {
			prober = g.live == 0
			g.probing = g.probing || prober
			g.mu.Unlock()
			return prober, true
		}
		changed := g.changed
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return false, false
		case <-changed:
		}
	}
}

// opened counts a connection established by a worker that entered, and
// ends the failures in a row: the others may connect now.
func (g *gate) opened(prober bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if prober {
		g.probing = false
	}
	g.live++
	g.ever = true
	g.failures = 0
	g.broadcast()
}

// release lets another worker probe: the prober gave up, or its backoff
// after a failure is over.
func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.probing = false
	g.broadcast()
}

// failed counts a failure to connect, and returns the failures in a row
// while no connection was up, the connections up now, and whether any
// connection was established in this run.
func (g *gate) failed() (inARow, live int, ever bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.live == 0 {
		g.failures++
	}
	return g.failures, g.live, g.ever
}

// consecutiveFailures returns the failures to connect in a row while no
// connection was up, to pace the next attempt.
func (g *gate) consecutiveFailures() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failures
}

// closed counts a connection closed.
func (g *gate) closed() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.live--
	g.broadcast()
}

// broadcast wakes the workers waiting to connect. Called with mu held.
func (g *gate) broadcast() {
	close(g.changed)
	g.changed = make(chan struct{})
}
