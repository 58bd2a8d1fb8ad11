package sender

import (
	"sync"

	"github.com/mailshot/mailshot/sender/journal"
)

// reporter tells Progress of final outcomes once their records are
// durable, in the order they were queued, from a goroutine of its own: a
// slow progress display never holds back the journal's writer or a
// connection.
type reporter struct {
	progress Progress
	durable  func(*journal.Record) // called first for each durable outcome; may be nil
	wake     chan struct{}         // a token when the queue has grown or closing is set
	done     chan struct{}         // closed when loop returns

	mu      sync.Mutex
	queue   []told
	closing bool
}

// told is one outcome waiting to be told: its record, and the commit that
// makes it durable (nil without a journal).
type told struct {
	c commit
	r *journal.Record
}

// commit is what the reporter waits on before it tells an outcome: the
// journal.Commit of its record.
type commit interface {
	Done() <-chan struct{}
	Err() error
}

func newReporter(p Progress, durable func(*journal.Record)) *reporter {
	rp := &reporter{progress: p, durable: durable, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go rp.loop()
	return rp
}

// tell queues r, to be told once c is done; it never blocks.
func (rp *reporter) tell(c commit, r *journal.Record) {
	rp.mu.Lock()
	rp.queue = append(rp.queue, told{c, r})
	rp.mu.Unlock()
	rp.signal()
}

func (rp *reporter) signal() {
	select {
	case rp.wake <- struct{}{}:
	default:
	}
}

func (rp *reporter) loop() {
	defer close(rp.done)
	var batch []told
	for {
		rp.mu.Lock()
		batch, rp.queue = rp.queue, batch[:0]
		closing := rp.closing
		rp.mu.Unlock()
		for _, t := range batch {
			if t.c != nil {
				<-t.c.Done()
				if t.c.Err() != nil {
					continue // not durable: the run stops with ErrJournal
				}
			}
			if rp.durable != nil {
				rp.durable(t.r)
			}
			rp.progress.Outcome(t.r)
		}
		clear(batch)
		if closing && len(batch) == 0 {
			return
		}
		if len(batch) == 0 {
			<-rp.wake
		}
	}
}

// close tells what is queued and returns once it has been told. Every
// Commit queued must be done by then, or be sure to be (the journal's Sync
// or Close).
func (rp *reporter) close() {
	rp.mu.Lock()
	rp.closing = true
	rp.mu.Unlock()
	rp.signal()
	<-rp.done
}
