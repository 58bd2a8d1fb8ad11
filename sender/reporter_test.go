package sender

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender/journal"
)

// stuckProgress is a display that hangs on its first outcome until
// released, as a terminal whose output is paused (Ctrl-S) does, and checks
// that each outcome it is told is in the journal file already.
type stuckProgress struct {
	t       *testing.T
	path    string
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	told    int
}

func (p *stuckProgress) Outcome(r *journal.Record) {
	p.once.Do(func() { <-p.release })
	data, err := os.ReadFile(p.path)
	durable := false
	for line := range bytes.Lines(data) {
		if bytes.Contains(line, []byte(`"status":"`+string(r.Status)+`"`)) && bytes.Contains(line, []byte(`"message_id":"`+r.MessageID+`"`)) {
			durable = true
		}
	}
	if err != nil || !durable {
		p.t.Errorf("outcome of %s told before it was in the journal", r.MessageID)
	}
	p.mu.Lock()
	p.told++
	p.mu.Unlock()
}
func (p *stuckProgress) Throttle(bool, rate.Limit) {}
func (p *stuckProgress) Changed(*Message)          {}
func (p *stuckProgress) Paused(string, time.Time)  {}

// TestProgressNeverHoldsBackSending: a display stuck on its first outcome
// does not slow the batch; every message is delivered while it is stuck,
// and every outcome is told afterwards, in order, once durable.
func TestProgressNeverHoldsBackSending(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	p := &stuckProgress{t: t, path: j.Path(), release: make(chan struct{})}
	msgs := testMessages(40, 1, 200)
	go func() {
		defer close(p.release)
		deadline := time.Now().Add(20 * time.Second)
		for len(ts.deliveries()) < len(msgs) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(ts.deliveries()); n < len(msgs) {
			t.Errorf("only %d of %d messages delivered while the display was stuck", n, len(msgs))
		}
	}()
	sum, err := runPool(t, ts.config(j, p), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != len(msgs) || p.told != len(msgs) {
		t.Errorf("sent %d, told %d outcomes; want %d each", sum.Sent, p.told, len(msgs))
	}
}
