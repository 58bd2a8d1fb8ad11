package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxPipeline is the most commands sent in one write with PIPELINING; a
// transaction with more recipients is sent in several groups, each read
// back before the next, so neither side's buffers can fill up and deadlock
// (RFC 2920 §3.1).
const maxPipeline = 100

// ErrNotTried is the result of a recipient that was never offered to the
// server, or whose transaction failed before its RCPT counted (MAIL
// refused, 452 to an earlier RCPT, connection lost): send it again.
var ErrNotTried = errors.New("smtp: recipient not tried")

// ErrInvalidAddress is returned, wrapped, for an address that is not an
// RFC 5321 §4.1.2 Mailbox and so cannot go into a MAIL or RCPT command: a
// source route, a local part that needs quoting and is not quoted, a
// malformed domain, invalid UTF-8, more than 254 octets, or empty for a
// recipient. It is permanent: the message cannot go to that address.
var ErrInvalidAddress = errors.New("smtp: invalid address")

// ErrSMTPUTF8Required is returned, wrapped, for an address with non-ASCII
// characters (or a message with UTF-8 header fields) when the server does
// not offer SMTPUTF8 (RFC 6531). It is permanent for that server.
var ErrSMTPUTF8Required = errors.New("smtp: SMTPUTF8 needed but not offered by the server")

// ErrMessageTooLarge is returned, wrapped, when the message is larger than
// the limit the server advertised with SIZE (RFC 1870); nothing is sent.
var ErrMessageTooLarge = errors.New("smtp: message larger than the server's SIZE limit")

// MailOptions are the ESMTP parameters of MAIL FROM.
type MailOptions struct {
	Size     int64 // SIZE= (RFC 1870), sent when > 0 and the server offers SIZE
	EightBit bool  // BODY=8BITMIME (RFC 6152): the body has octets over 127
	UTF8     bool  // SMTPUTF8 (RFC 6531); a non-ASCII sender implies it
}

// Envelope is one transaction.
type Envelope struct {
	From string   // reverse-path; "" for the null sender "<>"
	To   []string // forward-paths, one RCPT each
	// Size is the body's size in octets for SIZE= when the server offers it
	// (0: unknown; Send then uses the length of a seekable body).
	Size int64
	// EightBit says the body has octets over 127: BODY=8BITMIME, only then.
	EightBit bool
	// UTF8Headers says the header fields carry raw UTF-8 (RFC 6532): the
	// transaction needs SMTPUTF8 and BODY=8BITMIME.
	UTF8Headers bool
	// BeforeBody, if set, is called after the 354 reply and before the first
	// body octet is written. If it returns an error, Send abandons the
	// transaction without the final dot (closing the connection) and
	// returns that error.
	BeforeBody func(context.Context) error
	// Then, if set, is the envelope of the transaction that follows on this
	// connection. When the server offers PIPELINING, its MAIL, RCPT and
	// DATA commands go out in the same write as this message's final dot
	// (RFC 2920 §3.1) and their replies are read after the dot's: a round
	// trip and a write saved per message. The next Send must then be given
	// Then itself, with its body; until it is, the server may be waiting for
	// that body, so Quit only closes the connection and other commands fail.
	Then *Envelope
}

// Result is the outcome of Send.
type Result struct {
	// Rcpts has one entry per Envelope.To, in the same order.
	Rcpts []RcptResult
	// Reply is the reply after the final dot, when one was read.
	Reply *Reply
	// Committed says the final dot was written completely. An error with
	// Committed set and Reply nil means the connection was lost after the
	// dot and before the reply: the outcome is unknown.
	Committed bool
}

// RcptResult is one recipient's outcome at RCPT.
type RcptResult struct {
	To string
	// Err is nil when the server accepted the recipient at RCPT; an *Error
	// when it refused (a 452 "too many recipients" is Temporary: send those
	// recipients in a later transaction); ErrNotTried if never sent; or an
	// error wrapping ErrInvalidAddress or ErrSMTPUTF8Required.
	Err error
}

// Mail sends MAIL FROM (RFC 5321 §4.1.1.2) with the parameters of opts the
// server supports. A message larger than the server's SIZE limit is refused
// before sending (ErrMessageTooLarge); so is a transaction needing SMTPUTF8
// or 8BITMIME from a server without it.
func (c *Client) Mail(ctx context.Context, from string, opts *MailOptions) error {
	stop, err := c.beginGreeted(ctx, "MAIL")
	if err != nil {
		return err
	}
	defer stop()
	var o MailOptions
	if opts != nil {
		o = *opts
	}
	o.UTF8 = o.UTF8 || needsUTF8(from)
	if err := c.checkMail(from, &o); err != nil {
		return err
	}
	c.cmd = c.appendMail(c.cmd[:0], from, &o)
	r, err := c.roundTrip(ctx, "MAIL", orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout))
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return c.replyError("MAIL", r)
	}
	return nil
}

// Rcpt sends RCPT TO (RFC 5321 §4.1.1.3) for one recipient.
func (c *Client) Rcpt(ctx context.Context, to string) error {
	if err := c.begin(ctx, "RCPT"); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	if err := c.checkRcpt(to); err != nil {
		return err
	}
	c.cmd = appendRcpt(c.cmd[:0], to)
	r, err := c.roundTrip(ctx, "RCPT", orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout))
	if err != nil {
		return err
	}
	if r.Code != 250 && r.Code != 251 {
		return c.replyError("RCPT", r)
	}
	return nil
}

// Data sends DATA (RFC 5321 §4.1.1.4) and returns the writer of the body:
// it dot-stuffs, turns every line end into CRLF and refuses lines over 998
// octets (ErrLineTooLong). Its Close, which must be called, sends the final
// dot and returns the reply as an *Error unless it is 2xx. ctx covers the
// writes and Close. Send does all this and more; Data is for callers that
// need the steps one by one.
func (c *Client) Data(ctx context.Context) (io.WriteCloser, error) {
	if err := c.begin(ctx, "DATA"); err != nil {
		return nil, err
	}
	stop := c.watch(ctx)
	c.cmd = append(c.cmd[:0], "DATA\r\n"...)
	r, err := c.roundTrip(ctx, "DATA", orDefault(c.cfg.DataInitTimeout, DefaultDataInitTimeout))
	if err != nil {
		stop()
		return nil, err
	}
	if r.Code != 354 {
		stop()
		return nil, c.replyError("DATA", r)
	}
	w := c.startData(ctx)
	w.stop = stop
	return w, nil
}

// Send runs one transaction: MAIL FROM, a RCPT TO per recipient and DATA,
// in one write when the server offers PIPELINING (RFC 2920; every reply is
// read and checked, in order), else one command at a time; then, after the
// 354 reply, the body, dot-stuffed and with CRLF line ends, and the final
// dot. It returns a nil error only when the reply after the dot is 2xx:
// the message went to every recipient whose Rcpts entry has a nil Err.
//
// If no recipient is accepted no body is sent, and the error is the first
// recipient's. After a failed transaction on a usable connection Send sends
// RSET; a rejected RSET closes the connection. SMTPUTF8 and BODY=8BITMIME
// are used only when the envelope needs them; SIZE= whenever the server
// offers it. A body of Pieces or a seekable one is checked for long lines
// (ErrLineTooLong) before anything is sent; shared Pieces are written from
// where they are, with no copy (see Piece). Send always returns a non-nil
// Result.
//
// With env.Then set, the next transaction's commands go out with this one's
// final dot (see Envelope.Then); Send must then be called next with Then.
//
// The whole call is bounded by Config.TransactionTimeout (a *ConnError
// wrapping ErrTransactionTimeout), besides each step's own timeout.
func (c *Client) Send(ctx context.Context, env *Envelope, body io.Reader) (*Result, error) {
	defer c.transactionPhase()()
	if o := c.opened; o != nil {
		c.opened = nil
		return c.sendOpened(ctx, o, env, body)
	}
	res := newResult(env)
	if len(env.To) == 0 {
		return res, errors.New("smtp: no recipients")
	}
	if err := validAddress(env.From, true); err != nil {
		return res, err
	}
	stop, err := c.beginGreeted(ctx, "MAIL")
	if err != nil {
		return res, err
	}
	defer stop()

	size := env.Size
	if n, ok, err := c.checkBody(body); err != nil {
		return res, err
	} else if ok && size == 0 {
		size = n
	}
	tx, localErr, err := c.plan(env, size, res)
	if err != nil {
		return res, err
	}
	if _, ok := c.ext["PIPELINING"]; ok {
		err = c.pipelined(ctx, tx)
	} else {
		err = c.lockstep(ctx, tx)
	}
	if err != nil { // a ConnError
		return res, err
	}
	return c.finishTx(ctx, tx, localErr, body)
}

// newResult returns a Result with every recipient of env not tried.
func newResult(env *Envelope) *Result {
	res := &Result{Rcpts: make([]RcptResult, len(env.To))}
	for i, to := range env.To {
		res.Rcpts[i] = RcptResult{To: to, Err: ErrNotTried}
	}
	return res
}

// plan checks env against the server's extensions and returns its
// transaction, with the recipients refused here (and the first such error)
// left out. An error means nothing can be sent.
func (c *Client) plan(env *Envelope, size int64, res *Result) (tx *transaction, localErr, err error) {
	opts := MailOptions{
		Size:     size,
		EightBit: env.EightBit || env.UTF8Headers,
		UTF8:     env.UTF8Headers || needsUTF8(env.From),
	}
	tried := make([]int, 0, len(env.To))
	for i, to := range env.To {
		if err := c.checkRcpt(to); err != nil {
			res.Rcpts[i].Err = err
			localErr = firstError(localErr, err)
			continue
		}
		opts.UTF8 = opts.UTF8 || needsUTF8(to)
		tried = append(tried, i)
	}
	if len(tried) == 0 {
		return nil, nil, localErr
	}
	if err := c.checkMail(env.From, &opts); err != nil {
		return nil, nil, err
	}
	return &transaction{env: env, opts: &opts, tried: tried, res: res}, localErr, nil
}

// finishTx ends a transaction whose commands were answered: RSET after a
// failure, else the body and the final dot, with the commands of env.Then
// after it when they can go.
func (c *Client) finishTx(ctx context.Context, tx *transaction, localErr error, body io.Reader) (*Result, error) {
	env, res := tx.env, tx.res
	if txErr := tx.failure(localErr); txErr != nil {
		c.abandon(ctx, tx)
		return res, txErr
	}
	if env.BeforeBody != nil {
		if err := env.BeforeBody(ctx); err != nil {
			c.breakConn()
			return res, err
		}
	}
	w := c.startData(ctx)
	if err := c.copyBody(w, body); err != nil {
		return res, err
	}
	then := c.planThen(env.Then)
	var next []byte
	if then != nil {
		next = c.cmd[:0]
		for s := range then.tx.steps() {
			next = c.appendStep(next, &then.tx, s)
		}
		c.cmd = next
	}
	r, committed, err := w.finish(next)
	res.Committed = committed
	if err != nil {
		return res, err
	}
	if then != nil && r.Code != 421 { // after a 421 the server hangs up
		c.readThen(ctx, then)
		c.opened = then
	}
	res.Reply = &Reply{Code: r.Code, Enhanced: r.Enhanced, Text: r.Text}
	if !r.Positive() {
		e := c.replyError("message", r)
		// The reply ends the transaction (RFC 5321 §4.1.1.4); RSET only to
		// be sure, and never into the next one already begun.
		if then == nil && c.Usable() {
			c.reset(ctx) //nolint:errcheck // a rejected RSET makes the client unusable; the message's error matters
		}
		return res, e
	}
	return res, nil
}

// opened is a transaction whose commands went out with the previous
// message's final dot (Envelope.Then), their replies read.
type opened struct {
	tx       transaction
	localErr error // recipients refused before sending
	err      error // a ConnError reading the replies
}

// planThen returns the transaction for env to pipeline after a final dot,
// or nil when it cannot go that way: no env, no PIPELINING, too many
// recipients for one group, or an envelope refused here (its own Send then
// reports why).
func (c *Client) planThen(env *Envelope) *opened {
	if env == nil || len(env.To) == 0 || len(env.To)+2 > maxPipeline || validAddress(env.From, true) != nil {
		return nil
	}
	if _, ok := c.ext["PIPELINING"]; !ok {
		return nil
	}
	tx, localErr, err := c.plan(env, env.Size, newResult(env))
	if err != nil || tx == nil {
		return nil
	}
	return &opened{tx: *tx, localErr: localErr}
}

// readThen reads the replies to the commands of o, sent after a final dot.
func (c *Client) readThen(ctx context.Context, o *opened) {
	for s := range o.tx.steps() {
		op, timeout := c.stepTimeout(&o.tx, s)
		r, err := c.readReply(ctx, op, timeout)
		if err != nil {
			o.err = err
			return
		}
		c.note(&o.tx, s, r)
		if o.tx.closing != nil {
			return
		}
	}
}

// sendOpened finishes the transaction whose commands went out with the
// previous final dot.
func (c *Client) sendOpened(ctx context.Context, o *opened, env *Envelope, body io.Reader) (*Result, error) {
	if o.tx.env != env {
		c.breakConn()
		return newResult(env), errors.New("smtp: Send called with another envelope than the previous one's Then; the connection was closed")
	}
	res := o.tx.res
	if o.err != nil {
		return res, o.err
	}
	if err := o.tx.failure(o.localErr); err != nil && !c.Usable() {
		return res, err // a 421: the server closed the connection
	}
	if err := c.begin(ctx, "message"); err != nil {
		return res, err
	}
	stop := c.watch(ctx)
	defer stop()
	if n, ok, err := c.checkBody(body); ok || err != nil {
		if limit := c.maxSize(); err == nil && limit > 0 && n > limit {
			err = fmt.Errorf("%w: %d octets, limit %d", ErrMessageTooLarge, n, limit)
		}
		if err != nil {
			if o.tx.got354 {
				c.breakConn() // the server waits for a body: only closing ends it
			} else {
				c.abandon(ctx, &o.tx)
			}
			return res, err
		}
	}
	return c.finishTx(ctx, &o.tx, o.localErr, body)
}

// transaction is the command phase of Send.
type transaction struct {
	env   *Envelope
	opts  *MailOptions
	tried []int // indexes in env.To of the recipients sent
	res   *Result

	mailErr  *Error // MAIL refused
	rcptErr  *Error // the first RCPT refused
	dataErr  *Error // DATA refused
	closing  *Error // a 421: the server is closing the connection
	accepted int    // recipients accepted
	got354   bool   // the server waits for the body
}

// steps are MAIL, one RCPT per tried recipient, DATA.
func (tx *transaction) steps() int { return len(tx.tried) + 2 }

func (tx *transaction) isData(step int) bool { return step == len(tx.tried)+1 }

// failure is the transaction's error, nil when the body may go.
func (tx *transaction) failure(localErr error) error {
	switch {
	case tx.closing != nil:
		return tx.closing
	case tx.mailErr != nil:
		return tx.mailErr
	case tx.accepted == 0:
		if tx.rcptErr != nil {
			return tx.rcptErr
		}
		if localErr != nil {
			return localErr
		}
		return errors.New("smtp: no recipient accepted")
	case tx.dataErr != nil:
		return tx.dataErr
	case !tx.got354:
		return errors.New("smtp: DATA was not sent")
	}
	return nil
}

// appendStep appends the command of one step.
func (c *Client) appendStep(b []byte, tx *transaction, step int) []byte {
	switch {
	case step == 0:
		return c.appendMail(b, tx.env.From, tx.opts)
	case tx.isData(step):
		return append(b, "DATA\r\n"...)
	}
	return appendRcpt(b, tx.env.To[tx.tried[step-1]])
}

func (c *Client) stepTimeout(tx *transaction, step int) (op string, timeout time.Duration) {
	switch {
	case step == 0:
		return "MAIL", orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout)
	case tx.isData(step):
		return "DATA", orDefault(c.cfg.DataInitTimeout, DefaultDataInitTimeout)
	}
	return "RCPT", orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout)
}

// note records the reply to one step.
func (c *Client) note(tx *transaction, step int, r Reply) {
	switch {
	case step == 0:
		if r.Code != 250 {
			tx.mailErr = c.replyError("MAIL", r)
		}
	case tx.isData(step):
		if r.Code == 354 {
			tx.got354 = true
		} else {
			tx.dataErr = c.replyError("DATA", r)
		}
	case tx.mailErr != nil:
		// The server had no transaction: its RCPT replies say nothing
		// about the recipients, which stay ErrNotTried.
	case r.Code == 250 || r.Code == 251:
		tx.res.Rcpts[tx.tried[step-1]].Err = nil
		tx.accepted++
	default:
		e := c.replyError("RCPT", r)
		tx.res.Rcpts[tx.tried[step-1]].Err = e
		if tx.rcptErr == nil {
			tx.rcptErr = e
		}
	}
	if r.Code == 421 && tx.closing == nil {
		tx.closing = &Error{Command: stepName(tx, step), Reply: r}
	}
}

func stepName(tx *transaction, step int) string {
	switch {
	case step == 0:
		return "MAIL"
	case tx.isData(step):
		return "DATA"
	}
	return "RCPT"
}

// pipelined sends the steps in groups of at most maxPipeline commands, one
// write each, and reads every reply in order.
func (c *Client) pipelined(ctx context.Context, tx *transaction) error {
	steps := tx.steps()
	for start := 0; start < steps; start += maxPipeline {
		end := min(start+maxPipeline, steps)
		c.cmd = c.cmd[:0]
		for s := start; s < end; s++ {
			c.cmd = c.appendStep(c.cmd, tx, s)
		}
		if err := c.writeCmd(ctx, stepName(tx, start)); err != nil {
			return err
		}
		for s := start; s < end; s++ {
			op, timeout := c.stepTimeout(tx, s)
			r, err := c.readReply(ctx, op, timeout)
			if err != nil {
				return err
			}
			c.note(tx, s, r)
			if tx.closing != nil {
				return nil
			}
		}
		if tx.mailErr != nil {
			return nil
		}
	}
	return nil
}

// lockstep sends one step at a time. MAIL refused ends the transaction; a
// 452 to RCPT (too many recipients, RFC 5321 §4.5.3.1.10) leaves the rest
// for another transaction; DATA goes only after an accepted recipient.
func (c *Client) lockstep(ctx context.Context, tx *transaction) error {
	steps := tx.steps()
	for s := 0; s < steps; s++ {
		if tx.isData(s) && tx.accepted == 0 {
			return nil
		}
		c.cmd = c.appendStep(c.cmd[:0], tx, s)
		op, timeout := c.stepTimeout(tx, s)
		r, err := c.roundTrip(ctx, op, timeout)
		if err != nil {
			return err
		}
		c.note(tx, s, r)
		switch {
		case tx.closing != nil, tx.mailErr != nil:
			return nil
		case !tx.isData(s) && s > 0 && r.Code == 452:
			s = steps - 2 // on to DATA
		}
	}
	return nil
}

// abandon cleans up after a transaction that failed before the body: an
// empty body if the server is waiting for one (RFC 2920 §3.1), then RSET.
func (c *Client) abandon(ctx context.Context, tx *transaction) {
	if !c.Usable() {
		return
	}
	if tx.got354 {
		c.cmd = append(c.cmd[:0], ".\r\n"...)
		if _, err := c.roundTrip(ctx, "message", orDefault(c.cfg.DataTermTimeout, DefaultDataTermTimeout)); err != nil {
			return
		}
	}
	c.reset(ctx) //nolint:errcheck // a rejected RSET makes the client unusable; the transaction's error matters
}

// checkBody looks at a body that can be read before it is sent (Pieces,
// or an io.ReadSeeker, which it reads once and rewinds) for
// ErrLineTooLong, and returns its length; ok is false for a body it
// cannot look at, which the writer checks as it goes.
func (c *Client) checkBody(body io.Reader) (n int64, ok bool, err error) {
	if p, ok := body.(*Pieces); ok {
		n, err := c.checkPieces(p)
		return n, true, err
	}
	rs, ok := body.(io.ReadSeeker)
	if !ok {
		return 0, false, nil
	}
	start, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, false, nil // not really seekable
	}
	if c.rbuf == nil {
		c.rbuf = make([]byte, 32<<10)
	}
	n, err = checkLines(rs, c.rbuf)
	if _, serr := rs.Seek(start, io.SeekStart); serr != nil && err == nil {
		err = fmt.Errorf("smtp: rewinding the message: %w", serr)
	}
	return n, true, err
}

// checkMail refuses, before anything is sent, a MAIL the server cannot take.
func (c *Client) checkMail(from string, o *MailOptions) error {
	if err := validAddress(from, true); err != nil {
		return err
	}
	if _, ok := c.ext["SMTPUTF8"]; o.UTF8 && !ok {
		return fmt.Errorf("%w: sender %q or the header fields", ErrSMTPUTF8Required, from)
	}
	if _, ok := c.ext["8BITMIME"]; o.EightBit && !ok {
		return fmt.Errorf("smtp: MAIL: 8-bit message and the server does not offer 8BITMIME: %w", errors.ErrUnsupported)
	}
	if limit := c.maxSize(); limit > 0 && o.Size > limit {
		return fmt.Errorf("%w: %d octets, limit %d", ErrMessageTooLarge, o.Size, limit)
	}
	return nil
}

// checkRcpt refuses, before anything is sent, a recipient the server cannot
// take.
func (c *Client) checkRcpt(to string) error {
	if err := validAddress(to, false); err != nil {
		return err
	}
	if _, ok := c.ext["SMTPUTF8"]; needsUTF8(to) && !ok {
		return fmt.Errorf("%w: recipient %q", ErrSMTPUTF8Required, to)
	}
	return nil
}

// appendMail appends "MAIL FROM:<from>" and its parameters.
func (c *Client) appendMail(b []byte, from string, o *MailOptions) []byte {
	b = append(append(append(b, "MAIL FROM:<"...), from...), '>')
	if _, ok := c.ext["SIZE"]; ok && o.Size > 0 {
		b = strconv.AppendInt(append(b, " SIZE="...), o.Size, 10)
	}
	if o.EightBit {
		b = append(b, " BODY=8BITMIME"...)
	}
	if o.UTF8 {
		b = append(b, " SMTPUTF8"...)
	}
	return append(b, "\r\n"...)
}

// appendRcpt appends "RCPT TO:<to>".
func appendRcpt(b []byte, to string) []byte {
	return append(append(append(b, "RCPT TO:<"...), to...), ">\r\n"...)
}

// validAddress accepts an RFC 5321 Mailbox (see checkMailbox) of at most
// 254 octets, "" for the null reverse-path when allowEmpty, and the
// special recipient "Postmaster" without a domain (RFC 5321 §4.1.1.3).
// Nothing else goes into a MAIL or RCPT command: not a source route, not a
// local part that needs quoting written without its quotes.
func validAddress(a string, allowEmpty bool) error {
	switch {
	case a == "" && allowEmpty:
		return nil
	case a == "":
		return fmt.Errorf("%w: empty", ErrInvalidAddress)
	case len(a) > 254:
		return fmt.Errorf("%w: longer than 254 octets", ErrInvalidAddress)
	case !utf8.ValidString(a):
		return fmt.Errorf("%w %q: not UTF-8", ErrInvalidAddress, a)
	case !allowEmpty && strings.EqualFold(a, "postmaster"):
		return nil
	}
	if reason := checkMailbox(a); reason != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidAddress, a, reason)
	}
	return nil
}

// needsUTF8 reports whether an address has non-ASCII octets.
func needsUTF8(a string) bool {
	for i := 0; i < len(a); i++ {
		if a[i] >= 0x80 {
			return true
		}
	}
	return false
}

// firstError returns the first non-nil error.
func firstError(first, next error) error {
	if first != nil {
		return first
	}
	return next
}
