package sender

import (
	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender/smtp"
)

// ahead is what lookahead prepared for the job it took for the next
// transaction on a connection: the rate token taken for it, and its
// envelope, whose commands go out with the final dot before (see
// smtp.Envelope.Then). Both are good only on that connection.
type ahead struct {
	conn   *smtp.Client
	token  *rate.Reservation
	env    *smtp.Envelope
	intent bool // the job's intent is journalled already; env.BeforeBody waits for it
}

// send runs the transaction of j, the job in hand, with the commands of
// the next job pipelined after its final dot when lookahead takes one, and
// returns that job: the job in hand after it.
func (w *worker) send(j *job) *job {
	env := w.envelope(j)
	intended := w.ahead != nil && w.ahead.intent
	next, a := w.lookahead()
	w.ahead = a // j's token, if any, is spent
	if a != nil {
		env.Then = a.env
	}
	w.transact(j, env, intended)
	return next
}

// envelope returns the envelope of j's transaction: the one lookahead
// sent ahead, or a fresh one.
func (w *worker) envelope(j *job) *smtp.Envelope {
	if w.ahead != nil {
		return w.ahead.env
	}
	return j.newEnvelope()
}

// lookahead returns the job to pipeline after the one about to go, with
// its rate token taken, or nil: when the server does not offer PIPELINING,
// the connection must end after this transaction, the run is stopping, or
// no job is ready now.
func (w *worker) lookahead() (*job, *ahead) {
	r := w.r
	if ok, _ := w.c.Extension("PIPELINING"); !ok || r.stopCtx.Err() != nil || w.wornAfter(1) {
		return nil, nil
	}
	if !r.inRotation(w.rl) {
		return nil, nil
	}
	j := r.sched.tryNext()
	if j == nil {
		return nil, nil
	}
	token := w.rl.throttle.reserve()
	if token == nil {
		r.sched.putBack(j)
		return nil, nil
	}
	if ok, _ := w.rl.reserveDay(len(j.to), r.cfg.Now()); !ok {
		// The job in hand decides what the limit means, on its turn.
		token.Cancel()
		r.sched.putBack(j)
		return nil, nil
	}
	a := &ahead{conn: w.c, token: token, env: j.newEnvelope()}
	if r.cfg.Journal != nil {
		// Its intent goes into the journal now, before the outcome of the
		// transaction about to go: its write overlaps that transaction
		// instead of waiting in front of the next body. So a connection
		// has at most two intents without an outcome: the transaction in
		// flight and this one.
		j.attempts++
		if !w.writeAhead(j, a.env) {
			token.Cancel()
			r.sched.putBack(j) // the run stops: deferLeftovers sees it
			return nil, nil
		}
		a.intent = true
	}
	return j, a
}

// dropAhead gives back the rate token lookahead took for j, the job in
// hand, and forgets its envelope, when j is not sent next on that
// connection after all. An intent journalled for it is closed as deferred:
// it did not start.
func (w *worker) dropAhead(j *job) {
	if w.ahead == nil {
		return
	}
	w.ahead.token.Cancel()
	if w.ahead.intent {
		w.r.reopen(j, "not sent: its connection ended before its turn")
		if w.r.stopCtx.Err() == nil {
			j.attempts-- // not tried: not charged
		} // else it stays counted, so the run's end records it deferred
	}
	w.ahead = nil
}
