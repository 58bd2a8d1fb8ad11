package sender

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"iter"
	"math/rand/v2"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// Defaults, also meant for the command line's flags.
const (
	DefaultConnections  = 3   // Microsoft 365 allows 3 concurrent connections per mailbox
	DefaultMaxPerConn   = 100 // messages per connection before a fresh one
	DefaultRetries      = 5
	DefaultMaxConnAge   = 5 * time.Minute
	DefaultIdleProbe    = 15 * time.Second
	DefaultRetryBase    = 2 * time.Second
	DefaultRetryMax     = 2 * time.Minute
	DefaultThrottleHold = 5 * time.Second
	DefaultGrace        = 10 * time.Second
)

// quitTimeout bounds the QUIT that ends a connection.
const quitTimeout = 5 * time.Second

// Config is the configuration of a [Pool]. Zero values mean the documented
// defaults, except where a field says otherwise.
type Config struct {
	// Endpoint is the server; required.
	Endpoint *Endpoint
	// Client configures each connection: EHLO name, TLS (verified by
	// default; set RootCAs for a private CA), timeouts and transcript. A
	// transcript's lines are prefixed with the connection's number.
	Client smtp.Config
	// Credentials returns what AUTH needs; it is called once for each new
	// connection, so a command that issues short-lived tokens can refresh.
	// Required when Endpoint.Username is set; an empty Username in the
	// result means Endpoint.Username.
	Credentials func(ctx context.Context) (smtp.Credentials, error)

	// Connections is the number of connections, each dialled, secured
	// and authenticated once, then reused (0: DefaultConnections).
	Connections int
	// MaxPerConn is the number of transactions after which a connection
	// is closed with QUIT and replaced; 0 means unlimited (the command
	// line's default is DefaultMaxPerConn).
	MaxPerConn int
	// MaxConnAge is the lifetime after which a connection is replaced,
	// between transactions (0: DefaultMaxConnAge).
	MaxConnAge time.Duration
	// IdleProbe: a connection idle longer than this is checked with NOOP
	// before it carries a message (0: DefaultIdleProbe).
	IdleProbe time.Duration

	// Rate limits transactions (one per message) across the whole pool;
	// 0 or rate.Inf means unlimited. Burst is the token bucket's size
	// (0: 1).
	Rate  rate.Limit
	Burst int
	// ThrottleHold is how long the pool keeps a halved rate before each
	// recovery step, and the least time between two halvings
	// (0: DefaultThrottleHold).
	ThrottleHold time.Duration

	// Retries is the number of times a temporary failure is retried
	// before the recipients are recorded as deferred; 0 means no retries
	// (the command line's default is DefaultRetries). A retry waits
	// RetryBase·2ⁿ, at most RetryMax, with jitter (0: DefaultRetryBase,
	// DefaultRetryMax). The same backoff paces reconnections.
	Retries   int
	RetryBase time.Duration
	RetryMax  time.Duration

	// Grace is how long messages in flight may take to finish after the
	// run's context is cancelled or the run stops on a fatal error
	// (0: DefaultGrace).
	Grace time.Duration

	// Journal, if not nil, is the batch's journal: Run sends only the
	// recipients it does not already settle (see Resume), records an intent
	// before each transaction and every outcome. Without a journal, every
	// recipient is sent and nothing is recorded.
	Journal *journal.File
	// Resume says which recipients the journal settles beyond those sent:
	// failed ones unless RetryFailed, unknown ones unless ResendUnknown.
	Resume journal.ResumePolicy
	// Limit, when above 0, is the number of messages with recipients to
	// send after which Run takes no more from its sequence.
	Limit int
	// Progress, if not nil, is told outcomes and throttling.
	Progress Progress
}

// Pool sends messages through a pool of reused SMTP connections. Create
// it with NewPool; call Run once per batch, one Run at a time.
type Pool struct {
	cfg Config
}

// NewPool checks cfg, fills in the defaults and returns a Pool.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Endpoint == nil {
		return nil, errors.New("sender: no endpoint")
	}
	if cfg.Endpoint.Username != "" && cfg.Credentials == nil {
		return nil, errors.New("sender: endpoint has a user name but no credentials")
	}
	if cfg.Connections < 0 || cfg.MaxPerConn < 0 || cfg.Retries < 0 || cfg.Burst < 0 || cfg.Limit < 0 {
		return nil, errors.New("sender: negative count in configuration")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if cfg.Connections == 0 {
		cfg.Connections = DefaultConnections
	}
	def(&cfg.MaxConnAge, DefaultMaxConnAge)
	def(&cfg.IdleProbe, DefaultIdleProbe)
	def(&cfg.ThrottleHold, DefaultThrottleHold)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.Grace, DefaultGrace)
	if cfg.Rate <= 0 {
		cfg.Rate = rate.Inf
	}
	if cfg.Progress == nil {
		cfg.Progress = NoProgress{}
	}
	return &Pool{cfg: cfg}, nil
}

// Summary is what a run did.
type Summary struct {
	// Totals counts the recipients that reached each final status in this
	// run. Recipients of messages not yet taken when a run stops early are
	// not counted.
	journal.Totals
	// Skipped counts the recipients left out because the journal already
	// settles them: sent, and failed or unknown under Config.Resume.
	Skipped journal.Totals
	// Changed counts the messages left out, or partly, because some of
	// their recipients were sent a version with another Fingerprint.
	Changed int
	// Invalid counts the messages that could not be built (Message.Invalid),
	// journalled as failed.
	Invalid      int
	Messages     int           // messages taken with recipients to send
	Recipients   int           // the recipients of those messages to send
	Transactions int           // transactions started (MAIL FROM sent)
	Connections  int           // connections established (greeted, secured, authenticated)
	Elapsed      time.Duration // from the start of Run to its end
}

// Unsettled returns how many recipients taken in the run got no final
// outcome: none after a run that was not stopped.
func (s *Summary) Unsettled() int { return s.Recipients - s.All() }

// Run sends the messages of a batch, from the sequence messages, and
// returns when the sequence has ended and every message taken is settled.
// Run owns resume: of each message it sends only the recipients the
// journal does not already settle (see Pending), so a batch run again
// after a stop or a crash mails nobody twice. Messages go out in parallel
// over the pool's connections, within the rate; every outcome is
// journalled, then told to Progress.
//
// The sequence is pulled from a goroutine of Run's own, one message ahead
// of the connections. An error from it ends the sequence: the messages
// taken before are sent, then Run returns a *StopError with reason
// ErrSource. When ctx
// is cancelled, Run stops taking messages, lets transactions in flight
// finish within Config.Grace, records messages waiting for a retry as
// deferred, makes the journal durable and returns a *StopError with reason
// ErrInterrupted. A fatal error (refused credentials, an unreachable
// server, a journal that cannot be written) stops the run the same way with
// its own reason. Only an error is a StopError; failed, deferred and
// unknown recipients are in the Summary.
func (p *Pool) Run(ctx context.Context, messages iter.Seq2[*Message, error]) (*Summary, error) {
	r := newRun(ctx, &p.cfg)
	defer r.cancelSend()
	defer r.stop(nil) // releases stopCtx; the grace timer dies with sendCtx

	var wg sync.WaitGroup
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		r.feed(messages)
	}()
	for id := range p.cfg.Connections {
		w := &worker{r: r, id: id + 1}
		wg.Go(w.loop)
	}
	wg.Wait()
	r.stopWork()
	<-fed

	r.deferLeftovers()
	if j := r.cfg.Journal; j != nil {
		if err := j.Sync(context.WithoutCancel(ctx)); err != nil {
			r.fail(&StopError{Reason: ErrJournal, Err: err})
		}
	}
	r.reporter.close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary.Elapsed = time.Since(r.start)
	sum := r.summary
	switch {
	case r.fatal != nil:
		return &sum, r.fatal
	case !r.finished:
		return &sum, &StopError{Reason: ErrInterrupted, Err: context.Cause(ctx)}
	case r.sourceErr != nil:
		return &sum, &StopError{Reason: ErrSource, Err: r.sourceErr}
	}
	return &sum, nil
}

// feed takes messages from the caller's sequence, leaves out what the
// journal settles, records invalid ones, and hands the workers those with
// recipients to send, until the sequence ends, Config.Limit is reached or
// the run stops. It closes r.input.
func (r *run) feed(messages iter.Seq2[*Message, error]) {
	defer close(r.input)
	plan := &Plan{Journal: r.cfg.Journal, Resume: r.cfg.Resume, Limit: r.cfg.Limit}
	defer func() {
		r.mu.Lock()
		r.summary.Skipped, r.summary.Changed = plan.Skipped, plan.Changed
		r.mu.Unlock()
	}()
	for m, err := range messages {
		if err != nil {
			// The messages taken so far are sent; then Run says why it
			// took no more.
			r.mu.Lock()
			r.sourceErr = err
			r.mu.Unlock()
			return
		}
		if r.stopCtx.Err() != nil {
			return
		}
		if m.Invalid != nil {
			r.recordInvalid(m)
			continue
		}
		send, changed := plan.Add(m)
		if changed {
			r.cfg.Progress.Changed(m)
		}
		if len(send) == 0 {
			continue
		}
		if len(send) < len(m.To) {
			k := *m
			k.To = send
			m = &k
		}
		select {
		case r.input <- m:
		case <-r.stopCtx.Done():
			return
		}
		if plan.Full() {
			return
		}
	}
}

// recordInvalid journals the recipients of a message that could not be
// built as failed, with the reason.
func (r *run) recordInvalid(m *Message) {
	r.mu.Lock()
	r.summary.Invalid++
	r.mu.Unlock()
	if r.cfg.Journal == nil {
		return
	}
	_, err := r.cfg.Journal.Add(&journal.Record{
		Row: m.Row, Key: m.Key, Recipients: m.To, Status: journal.Failed,
		Reply: "invalid: " + m.Invalid.Error(), MessageID: m.MessageID,
	})
	if err != nil {
		r.fail(&StopError{Reason: ErrJournal, Err: err})
	}
}

// run is the state of one Run.
type run struct {
	cfg      *Config
	input    chan *Message // from feed to the workers
	throttle *throttle
	reporter *reporter
	start    time.Time

	// stopCtx ends on the caller's cancellation or a fatal error: no new
	// messages. workCtx also ends when all the work is done. sendCtx ends
	// Grace after stopCtx: transactions in flight are cut short.
	stopCtx    context.Context
	stop       context.CancelCauseFunc
	workCtx    context.Context
	stopWork   context.CancelFunc
	sendCtx    context.Context
	cancelSend context.CancelFunc

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when the state below changes
	queue     []*job        // jobs waiting for a retry or a free connection
	inFlight  int           // jobs held by workers
	receiving int           // workers waiting on the channel, or holding a message not yet counted
	inputDone bool
	finished  bool // every message received and settled
	live      int  // connections established and not yet closed
	probing   bool // with live == 0, one worker is connecting; the others wait
	failures  int  // consecutive failures to connect while no connection was up
	fatal     error
	sourceErr error // what ended the caller's sequence early
	summary   Summary

	traceMu sync.Mutex // serialises the connections' transcript lines
}

func newRun(ctx context.Context, cfg *Config) *run {
	r := &run{
		cfg:      cfg,
		input:    make(chan *Message),
		throttle: newThrottle(cfg.Rate, cfg.Burst, cfg.ThrottleHold, cfg.RetryMax, cfg.Progress),
		reporter: newReporter(cfg.Progress),
		start:    time.Now(),
		changed:  make(chan struct{}),
	}
	r.stopCtx, r.stop = context.WithCancelCause(ctx)
	r.workCtx, r.stopWork = context.WithCancel(r.stopCtx)
	r.sendCtx, r.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(r.stopCtx, func() {
		t := time.AfterFunc(cfg.Grace, r.cancelSend)
		context.AfterFunc(r.sendCtx, func() { t.Stop() })
	})
	return r
}

// broadcast wakes the workers waiting for a change. Called with mu held.
func (r *run) broadcast() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// fail records the first fatal error and stops the run.
func (r *run) fail(err error) {
	r.mu.Lock()
	if r.fatal == nil {
		r.fatal = err
	}
	r.mu.Unlock()
	r.stop(err)
}

// job is some recipients of one message on their way.
type job struct {
	m          *Message
	to         []string // recipients still to send
	attempts   int      // transactions tried for them
	failures   int      // temporary failures so far, against Config.Retries
	ready      time.Time
	intentOpen bool     // an intent for them is the latest journal record
	last       *outcome // the latest temporary failure
	eightBit   bool     // the body has octets over 127
	utf8Header bool     // the header has raw UTF-8 (RFC 6532)

	// env, when set, is the envelope of the next transaction, perhaps sent
	// already as the Then of the previous one on conn.
	env  *smtp.Envelope
	conn *smtp.Client
	// token is the rate token lookahead took for the job on conn, or nil.
	token *rate.Reservation
}

// unrate gives back the rate token and envelope lookahead prepared for j,
// when j is not sent right after on that connection after all.
func (j *job) unrate() {
	if j.token != nil {
		j.token.Cancel()
	}
	j.token, j.env, j.conn = nil, nil, nil
}

// envelope returns the envelope of j's next transaction.
func (j *job) envelope() *smtp.Envelope {
	if j.env == nil {
		j.env = &smtp.Envelope{
			From:        j.m.From,
			To:          j.to,
			Size:        int64(len(j.m.Body)),
			EightBit:    j.eightBit,
			UTF8Headers: j.utf8Header,
		}
	}
	return j.env
}

func newJob(m *Message) *job {
	j := &job{m: m, to: dedupe(m.To)}
	if j.eightBit = has8bit(m.Body); j.eightBit {
		header := m.Body
		if i := bytes.Index(m.Body, []byte("\r\n\r\n")); i >= 0 {
			header = m.Body[:i]
		}
		j.utf8Header = has8bit(header)
	}
	return j
}

// has8bit reports whether b has an octet over 127.
func has8bit(b []byte) bool {
	// Eight octets at a time: this runs over every message body.
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// split returns a job for some of j's recipients.
func (j *job) split(to []string) *job {
	k := *j
	k.to, k.env, k.conn, k.token = to, nil, nil, nil
	return &k
}

// dedupe returns to without repeated addresses, compared as the journal
// tells recipients apart.
func dedupe(to []string) []string {
	out := make([]string, 0, len(to))
	for i, a := range to {
		dup := false
		for _, b := range to[:i] {
			if journal.SameRecipient(a, b) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}

// maxWaitingPerConn bounds the jobs waiting for a retry, per connection:
// beyond it the pool stops taking new messages, so that a server that
// defers everything does not fill memory.
const maxWaitingPerConn = 16

// next returns the next job for a worker: one whose retry is due, else a
// new message. It returns nil when the work is done or the run stops.
func (r *run) next() *job { return r.take(true) }

// tryNext returns the job next would, or nil at once if none is ready.
func (r *run) tryNext() *job { return r.take(false) }

// take is next, waiting for a job or not.
func (r *run) take(wait bool) *job {
	for {
		r.mu.Lock()
		now := time.Now()
		var wake <-chan time.Time
		if len(r.queue) > 0 {
			best := 0
			for i, j := range r.queue {
				if j.ready.Before(r.queue[best].ready) {
					best = i
				}
			}
			if j := r.queue[best]; !j.ready.After(now) {
				r.queue = append(r.queue[:best], r.queue[best+1:]...)
				r.inFlight++
				r.mu.Unlock()
				return j
			}
			wake = time.After(r.queue[best].ready.Sub(now))
		}
		if !wait && (r.inputDone || len(r.queue) >= maxWaitingPerConn*r.cfg.Connections) {
			r.mu.Unlock()
			return nil
		}
		if r.inputDone && len(r.queue) == 0 && r.inFlight == 0 && r.receiving == 0 {
			r.finished = r.stopCtx.Err() == nil
			r.mu.Unlock()
			r.stopWork()
			return nil
		}
		input := r.input
		if r.inputDone || len(r.queue) >= maxWaitingPerConn*r.cfg.Connections {
			input = nil
		} else {
			r.receiving++ // until the message received counts as in flight
		}
		changed := r.changed
		r.mu.Unlock()

		var (
			m            *Message
			ok, received bool
		)
		if wait {
			select {
			case <-r.workCtx.Done():
			case <-changed:
			case <-wake:
			case m, ok = <-input:
				received = true
			}
		} else {
			select {
			case m, ok = <-input:
				received = true
			default:
			}
		}
		if input == nil {
			if r.workCtx.Err() != nil {
				return nil
			}
			continue
		}
		var j *job
		if ok {
			j = newJob(m)
		}
		r.mu.Lock()
		r.receiving--
		switch {
		case received && !ok:
			r.inputDone = true
			r.broadcast()
		case ok:
			r.summary.Messages++
			r.summary.Recipients += len(j.to)
			if len(j.to) > 0 {
				r.inFlight++
			} else {
				j = nil
			}
		}
		if r.inputDone && r.receiving == 0 {
			r.broadcast() // the others may see the end now
		}
		r.mu.Unlock()
		if j != nil {
			return j
		}
		if !wait || r.workCtx.Err() != nil {
			return nil
		}
	}
}

// requeue gives a job back, to be tried again at ready, by any worker.
func (r *run) requeue(j *job, ready time.Time) {
	j.unrate()
	j.ready = ready
	r.mu.Lock()
	r.queue = append(r.queue, j)
	r.broadcast()
	r.mu.Unlock()
}

// done tells the run that a worker no longer holds a job (finished or
// requeued).
func (r *run) done() {
	r.mu.Lock()
	r.inFlight--
	r.broadcast()
	r.mu.Unlock()
}

// backoff returns the wait before retry n (1, 2, ...): RetryBase·2ⁿ⁻¹,
// at most RetryMax, with "equal jitter" (half fixed, half random) so that
// connections that failed together do not retry together.
func (r *run) backoff(n int) time.Duration {
	d := r.cfg.RetryMax
	if n < 31 {
		d = min(r.cfg.RetryBase<<(n-1), r.cfg.RetryMax)
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or until the work stops; it reports whether it slept.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deferLeftovers records as deferred the jobs still waiting when the run
// ends early. Their recipients have a journal record already when they
// were tried; a job never tried stays unrecorded, to be sent on resume.
func (r *run) deferLeftovers() {
	r.mu.Lock()
	left := r.queue
	r.queue = nil
	r.mu.Unlock()
	for _, j := range left {
		if j.attempts == 0 && !j.intentOpen {
			continue
		}
		o := outcome{status: journal.Deferred, reply: "not sent: the run stopped before the retry"}
		if j.last != nil {
			o = *j.last
			o.status = journal.Deferred
		}
		r.record(j, j.to, o, true)
	}
}

// outcome is what one transaction decided for some recipients.
type outcome struct {
	status   journal.Status
	code     int
	enhanced string
	reply    string
}

func replyOutcome(st journal.Status, rep smtp.Reply) outcome {
	return outcome{status: st, code: rep.Code, enhanced: rep.Enhanced, reply: rep.Text}
}

// record journals a record for recipients to of j. A final record is
// counted, and told to Progress once durable (see reporter); others are
// only journalled.
func (r *run) record(j *job, to []string, o outcome, final bool) {
	rec := &journal.Record{
		Row: j.m.Row, Key: j.m.Key, Recipients: to, Status: o.status,
		Code: o.code, Enhanced: o.enhanced, Reply: o.reply, Attempts: j.attempts,
		MessageID: j.m.MessageID, Fingerprint: j.m.Fingerprint,
	}
	var c *journal.Commit
	if r.cfg.Journal != nil {
		var err error
		if c, err = r.cfg.Journal.Add(rec); err != nil {
			r.fail(&StopError{Reason: ErrJournal, Err: err})
			return
		}
	}
	if final {
		r.mu.Lock()
		r.summary.Add(o.status, len(to))
		r.mu.Unlock()
		r.reporter.tell(c, rec)
	}
}
