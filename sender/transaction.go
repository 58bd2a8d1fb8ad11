package sender

import (
	"bytes"
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

// transact runs one transaction for j on w's connection and settles every
// recipient: a final outcome, or a later transaction. next, if not nil, is
// the job that follows on the connection: its commands go out with j's
// final dot.
func (w *worker) transact(j, next *job) {
	r := w.r
	defer r.done()
	reused := w.used > 0
	j.attempts++
	env := j.envelope()
	j.env, j.conn, j.token = nil, nil, nil // the token is spent
	if next != nil {
		env.Then = next.envelope()
	}
	if jr := r.cfg.Journal; jr != nil {
		// Write ahead: the intent goes into the journal now, in the same
		// group as the outcome of the connection's previous transaction,
		// appended just before; the body waits for both to be durable.
		intent, err := jr.Add(&journal.Record{
			Row: j.m.Row, Key: j.m.Key, Recipients: j.to, Status: journal.Intent,
			Attempts: j.attempts, MessageID: j.m.MessageID,
		})
		if err != nil {
			j.attempts--
			r.requeue(j, time.Now())
			r.fail(&StopError{Reason: ErrJournal, Err: err})
			return
		}
		j.intentOpen = true
		env.BeforeBody = func(ctx context.Context) error {
			select {
			case <-intent.Done():
				if err := intent.Err(); err != nil {
					return &journalError{err}
				}
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	r.mu.Lock()
	r.summary.Transactions++
	r.mu.Unlock()
	res, err := w.c.Send(r.sendCtx, env, bytes.NewReader(j.m.Body))
	w.used++
	w.lastUsed = time.Now()
	if !w.c.Usable() {
		w.drop()
	}
	w.settle(j, res, err, reused)
}

// Dispositions of a recipient after a transaction.
const (
	settled = iota // a final outcome
	retry          // a temporary failure: again after a backoff, charged
	again          // not tried (too many recipients, a reused connection lost): again now, free
)

// decision is what happens next to some recipients.
type decision struct {
	disp int
	o    outcome
}

// settle decides, records and requeues after a transaction.
func (w *worker) settle(j *job, res *smtp.Result, err error, reused bool) {
	r := w.r
	now := time.Now()

	var je *journalError
	if errors.As(err, &je) {
		j.attempts--
		r.requeue(j, now)
		r.fail(&StopError{Reason: ErrJournal, Err: je.err})
		return
	}
	// A reused connection that the server closed while it was idle: the
	// first command meets a 421 or a reset. Reconnect, free of charge.
	if err != nil && reused && r.sendCtx.Err() == nil && firstCommandLost(err) {
		j.attempts--
		r.reopen(j, "not sent: the connection was lost: "+err.Error())
		r.requeue(j, now)
		return
	}

	tx, throttled := w.classify(err, res)
	groups := make(map[decision][]string, 2)
	var order []decision
	add := func(d decision, to string) {
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], to)
	}
	accepted := 0
	for _, rr := range res.Rcpts {
		if rr.Err == nil {
			accepted++
		}
	}
	var se *smtp.Error
	refusedAtRcpt := errors.As(err, &se) && se.Command == "RCPT"
	for i, rr := range res.Rcpts {
		to := j.to[i]
		switch {
		case rr.Err == nil:
			add(tx, to)
		case errors.Is(rr.Err, smtp.ErrNotTried):
			switch {
			case accepted > 0 && (err == nil || res.Committed || tx.disp == settled):
				// Left out of a transaction that went ahead without it.
				add(decision{disp: again}, to)
			case refusedAtRcpt:
				// Every recipient tried was refused; this one was not
				// reached. Another transaction, charged, so it ends.
				add(decision{retry, outcome{status: journal.Deferred, reply: "not tried: " + err.Error()}}, to)
			default:
				// The transaction failed before its recipients counted.
				add(tx, to)
			}
		case errors.As(rr.Err, &se):
			switch {
			case se.Permanent():
				add(decision{settled, replyOutcome(journal.Failed, se.Reply)}, to)
			case tooManyRecipients(se) && accepted > 0:
				add(decision{disp: again}, to)
			case isThrottleReply(se.Code, se.Enhanced, se.Text):
				throttled = true
				add(decision{retry, replyOutcome(journal.Deferred, se.Reply)}, to)
			default:
				add(decision{retry, replyOutcome(journal.Deferred, se.Reply)}, to)
			}
		default: // refused before sending: an address the server cannot take
			add(decision{settled, outcome{status: journal.Failed, reply: rr.Err.Error()}}, to)
		}
	}
	if throttled {
		r.throttle.signal(now)
	} else if err == nil {
		r.throttle.success(now)
	}

	for _, d := range order {
		to := groups[d]
		switch d.disp {
		case settled:
			r.record(j, to, d.o, true)
		case again:
			k := j.split(to)
			r.reopen(k, "not sent in this transaction: "+errorText(err, "too many recipients"))
			r.requeue(k, now)
		case retry:
			k := j.split(to)
			k.failures++
			o := d.o
			k.last = &o
			if r.stopCtx.Err() != nil {
				// Stopping: no more retries; deferLeftovers records it.
				k.intentOpen = true
				r.requeue(k, now)
				continue
			}
			if k.failures > r.cfg.Retries {
				r.record(k, to, d.o, true)
				continue
			}
			r.reopen(k, "")
			r.requeue(k, now.Add(r.backoff(k.failures)))
		}
	}
}

// reopen journals j's recipients as deferred until their next transaction,
// so that a crash meanwhile does not leave them unknown: the only intents
// without an outcome are then those of transactions in flight, at most one
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
		// RFC 4954 §6: authentication required. Every message would fail.
		r.fail(&StopError{Reason: ErrAuthFailed, Err: err})
		return decision{retry, replyOutcome(journal.Deferred, se.Reply)}, false
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
