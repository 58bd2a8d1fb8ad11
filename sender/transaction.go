package sender

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// journalError marks a journal failure met while waiting for an intent.
type journalError struct{ err error }

func (e *journalError) Error() string { return e.err.Error() }
func (e *journalError) Unwrap() error { return e.err }

// transact runs one transaction for j on w's connection, with envelope
// env, and settles every recipient: a final outcome, or a later
// transaction. env.Then, if set, is the envelope of the job that follows
// on the connection: its commands go out with j's final dot. intended
// says that lookahead journalled j's intent already.
func (w *worker) transact(j *job, env *smtp.Envelope, intended bool) {
	r := w.r
	defer r.sched.done()
	reused := w.used > 0
	j.relay = w.rl.Name
	if !intended {
		j.attempts++
		if r.cfg.Journal != nil && !w.writeAhead(j, env) {
			r.sched.requeue(j, time.Now())
			return
		}
	}
	r.count(func(s *Summary) { s.Transactions++ })
	w.busy.start(j.m.Row)
	res, err := w.c.Send(r.sendCtx, env, smtp.NewPieces(j.m.body()))
	w.busy.end()
	w.used++
	w.lastUsed = time.Now()
	if !w.c.Usable() {
		w.drop()
	}
	w.settle(j, res, err, reused)
}

// writeAhead journals the intent of j's transaction and holds env's body
// until the intent is durable, and with it every record appended before
// (the outcome of the transaction before the one in flight). When the
// journal fails it stops the run and reports false; the caller gives j
// back.
func (w *worker) writeAhead(j *job, env *smtp.Envelope) bool {
	r := w.r
	j.relay = w.rl.Name
	intent, err := r.cfg.Journal.Add(&journal.Record{
		Row: j.m.Row, Key: j.m.Key, Recipients: j.to, Status: journal.Intent,
		Attempts: j.attempts, MessageID: j.m.MessageID, Relay: j.relay,
	})
	if err != nil {
		j.attempts--
		r.fail(&StopError{Reason: ErrJournal, Err: err})
		return false
	}
	j.intentOpen = true
	env.BeforeBody = func(ctx context.Context) error { return durable(ctx, intent) }
	return true
}

// durable waits until c is on disk. A journal failure comes back as a
// *journalError, for settle to tell from the connection's.
func durable(ctx context.Context, c *journal.Commit) error {
	select {
	case <-c.Done():
		if err := c.Err(); err != nil {
			return &journalError{err}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// disposition is what happens next to a recipient after a transaction.
type disposition int

const (
	// settled: a final outcome, recorded now.
	settled disposition = iota
	// retry: a temporary failure; tried again after a backoff, charged
	// against Config.Retries.
	retry
	// again: not tried, left out of a transaction that went ahead without
	// it (too many recipients, say); tried again now, free of charge.
	again
	// elsewhere: refused because of the relay, not the message (a
	// sender-quota reply, authentication required): the relay left the
	// rotation and the recipients go to another now, free of charge; or,
	// when the run stopped because no other relay is left, as retry.
	elsewhere
)

// decision is what happens next to some recipients.
type decision struct {
	disp disposition
	o    outcome
}

// settle decides, records and requeues after a transaction.
func (w *worker) settle(j *job, res *smtp.Result, err error, reused bool) {
	r := w.r
	now := time.Now()
	var je *journalError
	if errors.As(err, &je) {
		j.attempts--
		r.sched.requeue(j, now)
		r.fail(&StopError{Reason: ErrJournal, Err: je.err})
		return
	}
	// A reused connection that the server closed while it was idle: the
	// first command meets a 421 or a reset. Reconnect, free of charge.
	if err != nil && reused && r.sendCtx.Err() == nil && firstCommandLost(err) {
		j.attempts--
		r.reopen(j, "not sent: the connection was lost: "+err.Error())
		r.sched.requeue(j, now)
		return
	}
	ds, throttled := w.decide(j, res, err)
	if throttled {
		w.rl.throttle.signal(now)
	} else if err == nil {
		w.rl.throttle.success(now)
	}
	for _, d := range ds.order {
		r.carryOut(j, d, ds.to[d], err, now)
	}
}

// decisions groups recipients by what happens to them next, in the order
// the decisions were first made.
type decisions struct {
	order []decision
	to    map[decision][]string
}

func (ds *decisions) add(d decision, to string) {
	if _, ok := ds.to[d]; !ok {
		ds.order = append(ds.order, d)
	}
	ds.to[d] = append(ds.to[d], to)
}

// decide returns what happens next to each recipient of j after a
// transaction, and whether the server throttled.
func (w *worker) decide(j *job, res *smtp.Result, err error) (*decisions, bool) {
	tx, throttled := w.classify(err, res)
	v := newVerdict(res, err, tx)
	ds := &decisions{to: make(map[decision][]string, 2)}
	for i, rr := range res.Rcpts {
		d, t := v.recipient(rr)
		throttled = throttled || t
		ds.add(d, j.to[i])
	}
	if v.quota != nil {
		w.r.relayOut(w.rl, &StopError{Reason: ErrQuota, Err: v.quota}, time.Time{})
	}
	return ds, throttled
}

// verdict is what one transaction's result means for its recipients.
type verdict struct {
	tx            decision    // for the recipients the server accepted
	err           error       // the transaction's
	accepted      int         // recipients the server accepted
	wentAhead     bool        // the message went through, committed, or has a final outcome
	refusedAtRcpt bool        // it failed at RCPT: every recipient tried was refused
	quota         *smtp.Error // a recipient was refused with a sender-quota reply
}

func newVerdict(res *smtp.Result, err error, tx decision) *verdict {
	v := &verdict{tx: tx, err: err, wentAhead: err == nil || res.Committed || tx.disp == settled}
	for _, rr := range res.Rcpts {
		if rr.Err == nil {
			v.accepted++
		}
	}
	var se *smtp.Error
	v.refusedAtRcpt = errors.As(err, &se) && se.Command == "RCPT"
	return v
}

// recipient returns what happens next to a recipient whose RCPT had the
// result rr, and whether its reply was throttling.
func (v *verdict) recipient(rr smtp.RcptResult) (decision, bool) {
	var se *smtp.Error
	switch {
	case rr.Err == nil:
		return v.tx, false
	case errors.Is(rr.Err, smtp.ErrNotTried):
		return v.notTried(), false
	case errors.As(rr.Err, &se):
		return v.refused(se)
	}
	// Refused before sending: an address the server cannot take.
	return decision{settled, outcome{status: journal.Failed, reply: rr.Err.Error()}}, false
}

// notTried returns what happens next to a recipient the transaction did
// not reach.
func (v *verdict) notTried() decision {
	switch {
	case v.accepted > 0 && v.wentAhead:
		// Left out of a transaction that went ahead without it.
		return decision{disp: again}
	case v.refusedAtRcpt:
		// Every recipient tried was refused; this one was not reached.
		// Another transaction, charged, so it ends.
		return decision{retry, outcome{status: journal.Deferred, reply: "not tried: " + v.err.Error()}}
	}
	// The transaction failed before its recipients counted.
	return v.tx
}

// refused returns what happens next to a recipient the server refused
// with se, and whether se was throttling.
func (v *verdict) refused(se *smtp.Error) (decision, bool) {
	switch {
	case senderQuota(se):
		if v.quota == nil {
			v.quota = se
		}
		return decision{elsewhere, replyOutcome(journal.Deferred, se.Reply)}, false
	case se.Permanent():
		return decision{settled, replyOutcome(journal.Failed, se.Reply)}, false
	case tooManyRecipients(se) && v.accepted > 0:
		return decision{disp: again}, false
	}
	return decision{retry, replyOutcome(journal.Deferred, se.Reply)}, isThrottleReply(se.Code, se.Enhanced, se.Text)
}

// carryOut does what d says for the recipients to of j: records their
// final outcome, or requeues them in a job of their own.
func (r *run) carryOut(j *job, d decision, to []string, err error, now time.Time) {
	switch d.disp {
	case settled:
		r.record(j, to, d.o, true)
	case again:
		k := j.split(to)
		r.reopen(k, "not sent in this transaction: "+errorText(err, "too many recipients"))
		r.sched.requeue(k, now)
	case retry:
		r.retryLater(j.split(to), d.o, now)
	case elsewhere:
		if r.stopCtx.Err() != nil {
			r.retryLater(j.split(to), d.o, now)
			return
		}
		k := j.split(to)
		r.reopen(k, "not sent: relay "+j.relay+" left the rotation: "+errorText(err, d.o.reply))
		r.sched.requeue(k, now)
	}
}

// retryLater requeues k after a temporary failure o, for a retry after the
// backoff, or records it deferred once its retries are spent. A run that
// is stopping retries nothing: deferLeftovers records k.
func (r *run) retryLater(k *job, o outcome, now time.Time) {
	k.failures++
	k.last = &o
	switch {
	case r.stopCtx.Err() != nil:
		k.intentOpen = true
		r.sched.requeue(k, now)
	case k.failures > r.cfg.Retries:
		r.record(k, k.to, o, true)
	default:
		r.reopen(k, "")
		r.sched.requeue(k, now.Add(r.backoff(k.failures)))
	}
}

// reopen journals j's recipients as deferred until their next transaction,
// so that a crash meanwhile does not leave them unknown: the only intents
// without an outcome are then those of transactions in flight, at most two
// per connection. reply, if not "", replaces j's last failure as the
// reason.
func (r *run) reopen(j *job, reply string) {
	o := outcome{status: journal.Deferred, reply: reply}
	if reply == "" && j.last != nil {
		o = *j.last
	}
	if j.intentOpen {
		r.record(j, j.to, o, false)
	}
	j.intentOpen = false
}

// errorText returns err's text, or alt when err is nil.
func errorText(err error, alt string) string {
	if err == nil {
		return alt
	}
	return err.Error()
}

// classify returns what a transaction's error means for the recipients
// the server accepted, and whether it was a throttling reply.
func (w *worker) classify(err error, res *smtp.Result) (d decision, throttled bool) {
	r := w.r
	var se *smtp.Error
	switch {
	case err == nil:
		return decision{settled, replyOutcome(journal.Sent, *res.Reply)}, false
	case res.Committed && res.Reply == nil:
		return decision{settled, outcome{status: journal.Unknown,
			reply: "no reply after the final dot (the server may have taken the message): " + err.Error()}}, false
	case errors.As(err, &se) && se.Command == "MAIL" && se.Code == 530:
		// RFC 4954 §6: authentication required. Every message would fail
		// through this relay.
		r.relayOut(w.rl, &StopError{Reason: ErrAuthFailed, Err: err}, time.Time{})
		return decision{elsewhere, replyOutcome(journal.Deferred, se.Reply)}, false
	case senderQuota(se):
		// The sender's quota, not this message's fault: it stays pending,
		// or goes through another relay, and so does everything after it.
		r.relayOut(w.rl, &StopError{Reason: ErrQuota, Err: err}, time.Time{})
		return decision{elsewhere, replyOutcome(journal.Deferred, se.Reply)}, false
	case se != nil && se.Permanent():
		return decision{settled, replyOutcome(journal.Failed, se.Reply)}, false
	case se != nil:
		return decision{retry, replyOutcome(journal.Deferred, se.Reply)},
			isThrottleReply(se.Code, se.Enhanced, se.Text)
	case errors.Is(err, smtp.ErrInvalidAddress), errors.Is(err, smtp.ErrSMTPUTF8Required),
		errors.Is(err, smtp.ErrMessageTooLarge), errors.Is(err, smtp.ErrLineTooLong):
		return decision{settled, outcome{status: journal.Failed, reply: err.Error()}}, false
	}
	// The connection was lost, or timed out, before the body was complete.
	return decision{retry, outcome{status: journal.Deferred, reply: err.Error()}}, false
}

// firstCommandLost reports a failure of a transaction's first command
// caused by the connection rather than the message: a 421 or a broken
// connection at MAIL.
func firstCommandLost(err error) bool {
	var se *smtp.Error
	if errors.As(err, &se) {
		return se.Command == "MAIL" && se.Code == 421
	}
	var ce *smtp.ConnError
	return errors.As(err, &ce) && ce.Op == "MAIL"
}

// tooManyRecipients reports the RCPT reply that asks for the remaining
// recipients in another transaction (RFC 5321 §4.5.3.1.10, RFC 3463 4.5.3).
func tooManyRecipients(se *smtp.Error) bool {
	return se.Code == 452 && (se.Enhanced == "4.5.3" || strings.Contains(strings.ToLower(se.Text), "too many recipients"))
}
