package sender

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

// testScheduler returns a scheduler over a fresh input, for at most
// maxWaiting queued jobs, and the function that stops its run.
func testScheduler(t *testing.T, maxWaiting int) (*scheduler, chan *Message, context.CancelFunc) {
	input := make(chan *Message)
	stopCtx, stop := context.WithCancel(t.Context())
	workCtx, endWork := context.WithCancel(stopCtx)
	t.Cleanup(stop)
	return newScheduler(input, maxWaiting, stopCtx, workCtx, endWork), input, stop
}

// TestSchedulerRetryWhenDue: a job requeued after a temporary failure
// comes back to a worker when its backoff is over, not before; once the
// input is closed and every job settled, the work is finished.
func TestSchedulerRetryWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, input, _ := testScheduler(t, 16)
		go func() { input <- testMessages(1, 2, 100)[0] }()
		j := s.next()
		if j == nil || len(j.to) != 2 {
			t.Fatalf("next = %+v, want the message's job", j)
		}
		start := time.Now()
		s.requeue(j, start.Add(2*time.Second))
		s.done()
		if k := s.next(); k != j || time.Since(start) != 2*time.Second {
			t.Fatalf("next = %p after %v, want the job %p after its 2s backoff", k, time.Since(start), j)
		}
		close(input)
		s.done()
		if k := s.next(); k != nil {
			t.Fatalf("next = %+v after the end of the input", k)
		}
		messages, recipients, finished := s.taken()
		if messages != 1 || recipients != 2 || !finished || s.workCtx.Err() == nil {
			t.Errorf("taken %d messages, %d recipients, finished %v, work ended %v; want 1, 2, true, true",
				messages, recipients, finished, s.workCtx.Err() != nil)
		}
	})
}

// TestSchedulerWaitsForJobsHeld: with the input closed, a worker whose
// next finds nothing waits while another worker holds a job, since that job
// may come back for a retry, rather than end the work.
func TestSchedulerWaitsForJobsHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, input, _ := testScheduler(t, 16)
		go func() {
			input <- testMessages(1, 1, 100)[0]
			close(input)
		}()
		j := s.next()
		got := make(chan *job)
		go func() { got <- s.next() }()
		synctest.Wait()
		select {
		case k := <-got:
			t.Fatalf("next = %+v while another worker held a job", k)
		default:
		}
		start := time.Now()
		s.requeue(j, start.Add(time.Second))
		s.done()
		if k := <-got; k != j || time.Since(start) != time.Second {
			t.Fatalf("the waiting worker got %p after %v, want %p after 1s", k, time.Since(start), j)
		}
		s.done()
		if k := s.next(); k != nil {
			t.Fatalf("next = %+v with every job settled", k)
		}
		if _, _, finished := s.taken(); !finished {
			t.Error("not finished with every job settled")
		}
	})
}

// TestSchedulerTryNext: lookahead's tryNext never waits; it takes a
// message being sent, but none while the queue of retries is full.
func TestSchedulerTryNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, input, _ := testScheduler(t, 1)
		if j := s.tryNext(); j != nil {
			t.Fatalf("tryNext = %+v with nothing sent", j)
		}
		msgs := testMessages(2, 1, 100)
		go func() { input <- msgs[0] }()
		synctest.Wait() // the feed is at its send
		j := s.tryNext()
		if j == nil || j.m != msgs[0] {
			t.Fatalf("tryNext = %+v, want the message sent", j)
		}
		s.requeue(j, time.Now().Add(time.Minute))
		s.done()
		go func() { input <- msgs[1] }()
		synctest.Wait()
		if k := s.tryNext(); k != nil {
			t.Fatalf("tryNext = %+v with the queue of retries full", k)
		}
		if m := <-input; m != msgs[1] {
			t.Fatalf("the input held %+v", m)
		}
		if s.recipients != 1 || s.inFlight != 0 || s.receiving != 0 {
			t.Errorf("%d recipients, %d in flight, %d receiving; want 1, 0, 0", s.recipients, s.inFlight, s.receiving)
		}
	})
}

// TestSchedulerStopDuringBackoff: a stop ends a worker's wait for a retry
// an hour away at once; the job is left for deferLeftovers.
func TestSchedulerStopDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, input, stop := testScheduler(t, 16)
		go func() { input <- testMessages(1, 1, 100)[0] }()
		j := s.next()
		start := time.Now()
		s.requeue(j, start.Add(time.Hour))
		s.done()
		go func() {
			time.Sleep(time.Second)
			stop()
		}()
		if k := s.next(); k != nil || time.Since(start) != time.Second {
			t.Fatalf("next = %+v after %v, want nil at the stop, after 1s", k, time.Since(start))
		}
		if _, _, finished := s.taken(); finished {
			t.Error("finished after a stop")
		}
		if left := s.drain(); len(left) != 1 || left[0] != j {
			t.Errorf("left %v, want the job waiting for its retry", left)
		}
	})
}
