package smtp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// A silent or stalled server never hangs the client: every step has its
// timeout. These tests use short timeouts and check the kind of error, not
// how long it took.
func TestTimeouts(t *testing.T) {
	const short = 50 * time.Millisecond
	body := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 4096) // 260 KB
	tests := []struct {
		name      string
		silentAt  string
		cfg       Config
		op        string
		committed bool
	}{
		{name: "greeting", silentAt: "greeting", cfg: Config{GreetingTimeout: short}, op: "greeting"},
		{name: "EHLO", silentAt: "EHLO", cfg: Config{CommandTimeout: short}, op: "EHLO"},
		{name: "MAIL", silentAt: "MAIL", cfg: Config{CommandTimeout: short}, op: "MAIL"},
		{name: "DATA initiation", silentAt: "DATA", cfg: Config{DataInitTimeout: short}, op: "DATA"},
		{name: "data block", silentAt: "body", cfg: Config{DataBlockTimeout: short}, op: "message"},
		{name: "final reply", silentAt: ".", cfg: Config{DataTermTimeout: short}, op: "message", committed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, false)
			s.silentAt = tt.silentAt
			c, err := s.pipe(t, &tt.cfg)
			if tt.op == "greeting" {
				if e := wantConnError(t, err, nil); !e.Timeout() || e.Op != "greeting" {
					t.Fatalf("error %v: op %q, timeout %v", err, e.Op, e.Timeout())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(body))
			e := wantConnError(t, err, nil)
			if !e.Timeout() || e.Op != tt.op {
				t.Fatalf("error %v: op %q, timeout %v; want op %q and a timeout", err, e.Op, e.Timeout(), tt.op)
			}
			if res.Committed != tt.committed || res.Reply != nil {
				t.Errorf("result %+v, want committed %v and no reply", res, tt.committed)
			}
			if c.Usable() {
				t.Error("usable after a timeout")
			}
		})
	}
}

// TestDataDeadlineMovesWithProgress sends a body to a slow reader: the whole
// transfer takes longer than DataBlockTimeout, each block does not.
func TestDataDeadlineMovesWithProgress(t *testing.T) {
	s := newSink(t, true)
	s.bodyDelay = 20 * time.Millisecond
	s.keep = true
	c, err := s.pipe(t, &Config{DataBlockTimeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 30000) // 2.3 MB, about 36 blocks
	start := time.Now()
	if _, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(body)); err != nil {
		t.Fatalf("after %v: %v", time.Since(start), err)
	}
	if got := s.bodies[0]; !bytes.Equal(got, []byte(body+".\r\n")) {
		t.Errorf("server got %d octets, want %d", len(got), len(body)+3)
	}
}

func TestContext(t *testing.T) {
	t.Run("cancelled while waiting", func(t *testing.T) {
		s := newSink(t, true)
		s.silentAt = "EHLO"
		c, err := s.pipe(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		err = c.Hello(ctx)
		if e := wantConnError(t, err, context.Canceled); e.Timeout() {
			t.Error("cancellation reported as a timeout")
		}
		if c.Usable() {
			t.Error("usable after cancellation")
		}
	})
	t.Run("deadline while writing the body", func(t *testing.T) {
		s := newSink(t, true)
		s.silentAt = "body"
		c, err := s.pipe(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		res, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(strings.Repeat("x\n", 1<<17)))
		if e := wantConnError(t, err, context.DeadlineExceeded); !e.Timeout() || res.Committed {
			t.Errorf("timeout %v, committed %v", e.Timeout(), res.Committed)
		}
	})
	t.Run("cancelled during the greeting", func(t *testing.T) {
		s := newSink(t, true)
		s.silentAt = "greeting"
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(20*time.Millisecond, cancel)
		client, server := pipePair(t)
		go s.serve(server)
		_, err := NewClient(ctx, client, "sink.test", nil)
		wantConnError(t, err, context.Canceled)
	})
	t.Run("a finished call leaves no deadline behind", func(t *testing.T) {
		s := newSink(t, true)
		c, err := s.pipe(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := c.Hello(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := c.Noop(context.Background()); err != nil {
			t.Fatalf("NOOP after an earlier call's context ended: %v", err)
		}
	})
}

// TestRoundTrips counts how often the server had to answer before the
// client could go on: 2 per message with PIPELINING (MAIL, RCPT and DATA
// together, then the body), 4 without.
func TestRoundTrips(t *testing.T) {
	for _, tt := range []struct {
		pipelining bool
		want       int64
	}{{true, 2}, {false, 4}} {
		s := newSink(t, tt.pipelining)
		c, err := s.pipe(t, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := c.Hello(ctx); err != nil {
			t.Fatal(err)
		}
		const n = 5
		before := s.roundTrips.Load()
		for i := 0; i < n; i++ {
			if _, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(testBody)); err != nil {
				t.Fatal(err)
			}
		}
		if got := (s.roundTrips.Load() - before) / n; got != tt.want {
			t.Errorf("PIPELINING %v: %d round trips per message, want %d", tt.pipelining, got, tt.want)
		}
		if err := c.Quit(ctx); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
}
