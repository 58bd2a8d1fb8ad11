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
	conn  *smtp.Client
	token *rate.Reservation
	env   *smtp.Envelope
}

// send runs the transaction of j, the job in hand, with the commands of
// the next job pipelined after its final dot when lookahead takes one, and
// returns that job: the job in hand after it.
func (w *worker) send(j *job) *job {
	env := w.envelope(j)
	next, a := w.lookahead()
	w.ahead = a // j's token, if any, is spent
	if a != nil {
		env.Then = a.env
	}
	w.transact(j, env)
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
	j := r.sched.tryNext()
	if j == nil {
		return nil, nil
	}
	token := r.throttle.reserve()
	if token == nil {
		r.sched.putBack(j)
		return nil, nil
	}
	return j, &ahead{conn: w.c, token: token, env: j.newEnvelope()}
}

// dropAhead gives back the rate token lookahead took for the job in hand
// and forgets its envelope, when the job is not sent next on that
// connection after all.
func (w *worker) dropAhead() {
	if w.ahead != nil {
		w.ahead.token.Cancel()
		w.ahead = nil
	}
}
