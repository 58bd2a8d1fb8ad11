package sender

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// entering starts n workers entering g, and returns the channel on which
// each says, once through, whether it is the prober.
func entering(ctx context.Context, g *gate, n int) <-chan bool {
	through := make(chan bool, n)
	for range n {
		go func() {
			if prober, ok := g.enter(ctx); ok {
				through <- prober
			}
		}()
	}
	return through
}

// TestGateOneProberWhileNoneUp: while no connection is up, one worker at a
// time tries to connect; once one is up, the others go at once.
func TestGateOneProberWhileNoneUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newGate()
		if prober, ok := g.enter(t.Context()); !prober || !ok {
			t.Fatalf("the first worker entered: prober %v, ok %v; want the prober", prober, ok)
		}
		through := entering(t.Context(), g, 3)
		synctest.Wait()
		if len(through) != 0 {
			t.Fatalf("%d workers connecting beside the prober", len(through))
		}
		g.release() // the prober gave up
		synctest.Wait()
		if len(through) != 1 || !<-through {
			t.Fatal("after release, want exactly one more worker, as the prober")
		}
		g.opened(true)
		synctest.Wait()
		if len(through) != 2 || <-through || <-through {
			t.Fatal("with a connection up, want the two others through, neither a prober")
		}
	})
}

// testRun returns a run with cfg's defaults filled in, over no messages,
// and cleans it up as Run does.
func testRun(t *testing.T, cfg Config) *run {
	cfg.Endpoint = &Endpoint{Host: "127.0.0.1", Port: "1"}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(t.Context(), &p.cfg)
	t.Cleanup(func() {
		r.stop(nil)
		r.cancelSend()
		r.reporter.close()
	})
	return r
}

// TestGateHeldThroughBackoff: a prober that fails keeps the gate through
// its backoff, RetryBase with jitter, so that a server that is down meets
// one attempt at a time, paced.
func TestGateHeldThroughBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := testRun(t, Config{Retries: 5, RetryBase: time.Second, RetryMax: time.Minute})
		w := &worker{r: r, rl: r.relays[0], id: 1}
		if prober, ok := r.relays[0].gate.enter(r.workCtx); !prober || !ok {
			t.Fatal("the first worker is not the prober")
		}
		w.connectFailed(errors.New("connection refused"), true)
		start := time.Now()
		through := entering(r.workCtx, r.relays[0].gate, 1)
		synctest.Wait()
		if len(through) != 0 {
			t.Fatal("another worker connects while the prober backs off")
		}
		if !w.connectBackoff() {
			t.Fatal("connectBackoff reported a stop")
		}
		if d := time.Since(start); d < 500*time.Millisecond || d > time.Second {
			t.Errorf("backed off %v, want RetryBase (1s) with equal jitter", d)
		}
		synctest.Wait()
		if len(through) != 1 || !<-through {
			t.Fatal("after the backoff, want the other worker through as the prober")
		}
		if n := r.relays[0].gate.consecutiveFailures(); n != 1 {
			t.Errorf("%d failures in a row, want 1", n)
		}
	})
}

// TestGateUnreachable: Config.Retries failures in a row with no connection
// up, and one more, stop the run as unreachable.
func TestGateUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := testRun(t, Config{Retries: 2})
		w := &worker{r: r, rl: r.relays[0], id: 1}
		for range 3 {
			r.relays[0].gate.enter(r.workCtx)
			w.connectFailed(errors.New("connection refused"), true)
			r.relays[0].gate.release()
		}
		if !errors.Is(r.fatal, ErrUnreachable) || r.stopCtx.Err() == nil {
			t.Errorf("after 3 failures with Retries 2: %v, want the run stopped, unreachable", r.fatal)
		}
	})
}
