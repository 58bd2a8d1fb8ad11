package sender

import (
	"context"
	"sync"
	"time"
)

// maxWaitingPerConn bounds the jobs waiting for a retry, per connection:
// beyond it the pool stops taking new messages, so that a server that
// defers everything does not fill memory.
const maxWaitingPerConn = 16

// scheduler hands the workers their jobs: first those whose retry is due,
// then new messages from the feed. It knows when every job is settled, and
// then ends the work.
type scheduler struct {
	input      <-chan *Message    // from the feed goroutine, which closes it
	shared     sharedScan         // what newJob found in shared pieces
	maxWaiting int                // queued jobs beyond which no new message is taken
	stopCtx    context.Context    // ended: the run stopped before its work was done
	workCtx    context.Context    // ended: the run stopped, or every job is settled
	endWork    context.CancelFunc // ends workCtx

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced when the state below changes
	queue      []*job        // jobs waiting for a retry or a free connection
	inFlight   int           // jobs held by workers
	receiving  int           // workers waiting on input, or holding a message not yet counted
	inputDone  bool          // input is closed
	finished   bool          // every message received and settled, before any stop
	messages   int           // messages received, for the Summary
	recipients int           // the recipients of those messages
}

func newScheduler(input <-chan *Message, maxWaiting int, stopCtx, workCtx context.Context, endWork context.CancelFunc) *scheduler {
	return &scheduler{
		input:      input,
		maxWaiting: maxWaiting,
		stopCtx:    stopCtx,
		workCtx:    workCtx,
		endWork:    endWork,
		changed:    make(chan struct{}),
	}
}

// next returns the next job for a worker: one whose retry is due, else a
// new message, waiting for either. It returns nil when the work is done or
// the run stops.
func (s *scheduler) next() *job {
	for {
		s.mu.Lock()
		j, retryAt := s.takeDue(time.Now())
		if j != nil {
			s.mu.Unlock()
			return j
		}
		if s.allSettled() {
			s.finished = s.stopCtx.Err() == nil
			s.mu.Unlock()
			s.endWork()
			return nil
		}
		input, changed := s.startReceiving(), s.changed
		s.mu.Unlock()
		if j := s.await(retryAt, changed, input); j != nil {
			return j
		}
		if s.workCtx.Err() != nil {
			return nil
		}
	}
}

// tryNext returns the job next would, or nil at once if none is ready:
// lookahead uses it to pipeline a job that needs no waiting.
func (s *scheduler) tryNext() *job {
	s.mu.Lock()
	j, _ := s.takeDue(time.Now())
	var input <-chan *Message
	if j == nil {
		input = s.startReceiving()
	}
	s.mu.Unlock()
	if j != nil || input == nil {
		return j
	}
	select {
	case m, ok := <-input:
		return s.endReceiving(m, !ok)
	default:
		return s.endReceiving(nil, false)
	}
}

// takeDue removes and returns the queued job whose retry is due first; or
// it returns nil and when the earliest queued job will be due, the zero
// time if none is queued. Called with mu held.
func (s *scheduler) takeDue(now time.Time) (*job, time.Time) {
	if len(s.queue) == 0 {
		return nil, time.Time{}
	}
	best := 0
	for i, j := range s.queue {
		if j.ready.Before(s.queue[best].ready) {
			best = i
		}
	}
	j := s.queue[best]
	if j.ready.After(now) {
		return nil, j.ready
	}
	s.queue = append(s.queue[:best], s.queue[best+1:]...)
	s.inFlight++
	return j, time.Time{}
}

// allSettled reports whether the work is done: the input closed, and no
// job queued, held by a worker or being received. Called with mu held.
func (s *scheduler) allSettled() bool {
	return s.inputDone && len(s.queue) == 0 && s.inFlight == 0 && s.receiving == 0
}

// startReceiving returns the input and counts the caller among the
// workers receiving until it calls endReceiving; or it returns nil when no
// new message is to be taken now: the input is closed, or so many jobs
// wait for a retry that memory would fill. Called with mu held.
func (s *scheduler) startReceiving() <-chan *Message {
	if s.inputDone || len(s.queue) >= s.maxWaiting {
		return nil
	}
	s.receiving++ // until the message received counts as in flight
	return s.input
}

// await waits until the earliest queued job is due (retryAt, zero for
// none), the scheduler's state changes, a message comes on input (nil when
// none is to be taken) or the work stops. It returns the job for a message
// received, if any.
func (s *scheduler) await(retryAt time.Time, changed <-chan struct{}, input <-chan *Message) *job {
	var due <-chan time.Time
	if !retryAt.IsZero() {
		t := time.NewTimer(time.Until(retryAt))
		defer t.Stop()
		due = t.C
	}
	select {
	case m, ok := <-input:
		return s.endReceiving(m, !ok)
	case <-due:
	case <-changed:
	case <-s.workCtx.Done():
	}
	if input == nil {
		return nil
	}
	return s.endReceiving(nil, false)
}

// endReceiving ends a worker's turn on the input, which gave it m, or was
// closed, or neither; it returns the job for m, held by the worker, or nil.
func (s *scheduler) endReceiving(m *Message, closed bool) *job {
	var j *job
	if m != nil {
		j = newJob(m, &s.shared) // outside mu: it reads the whole body
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.receiving--
	if closed {
		s.inputDone = true
	}
	if j != nil {
		s.messages++
		s.recipients += len(j.to)
		if len(j.to) > 0 {
			s.inFlight++
		} else {
			j = nil
		}
	}
	if closed || s.inputDone && s.receiving == 0 {
		s.broadcast() // the others may see the end now
	}
	return j
}

// requeue gives back a job, to be tried again at ready, by any worker. The
// worker that held it still counts as holding it until done.
func (s *scheduler) requeue(j *job, ready time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.ready = ready
	s.queue = append(s.queue, j)
	s.broadcast()
}

// done tells the scheduler that a worker no longer holds a job (settled or
// requeued).
func (s *scheduler) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inFlight--
	s.broadcast()
}

// putBack gives back a job a worker took but did not try: ready now, for
// any worker.
func (s *scheduler) putBack(j *job) {
	s.requeue(j, time.Now())
	s.done()
}

// drain removes and returns the jobs still queued, once the workers are
// gone.
func (s *scheduler) drain() []*job {
	s.mu.Lock()
	defer s.mu.Unlock()
	left := s.queue
	s.queue = nil
	return left
}

// taken returns the messages and recipients received, and whether every
// one of them was settled before any stop.
func (s *scheduler) taken() (messages, recipients int, finished bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messages, s.recipients, s.finished
}

// broadcast wakes the workers waiting for a change. Called with mu held.
func (s *scheduler) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}
