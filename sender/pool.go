package sender

// Who owns what while a Run goes on:
//
//   - Run's goroutine starts the others and waits for the workers; then it
//     records as deferred the jobs left waiting for a retry, syncs the
//     journal, closes the reporter and builds the Summary.
//   - The feed goroutine (run.feed) pulls the caller's iter.Seq2, leaves
//     out what the journal settles (the resume check, with a Plan),
//     journals invalid messages and sends the rest on run.input, which it
//     closes.
//   - One worker goroutine per connection (worker.loop), Connections of
//     them per relay, owns its *smtp.Client, the job in hand and what
//     lookahead prepared for it (ahead). It takes jobs from the scheduler,
//     passes its relay's gate to connect, and journals intents and
//     outcomes.
//   - The reporter goroutine (reporter.loop) tells Progress.Outcome each
//     final outcome once its journal commit is durable, in order.
//   - The journal's flusher (package journal) writes and syncs records in
//     groups and completes their Commits.
//
// Each lock guards its own type's state and none is held while another
// of them is taken:
//
//   - scheduler.mu: the job queue and its ready times, the jobs held by
//     workers, the workers receiving from run.input, the end of the input,
//     whether the work finished, and the messages taken; its changed
//     channel wakes the workers waiting for a job.
//   - gate.mu (one gate per relay): the live connections, the probing
//     gate and the failures to connect in a row; its changed channel wakes
//     the workers waiting to connect.
//   - run.relayMu: where each relay stands in the rotation (relay.state,
//     until, why, outs); relay.dayMu: a relay's daily count.
//   - run.mu: the summary's other counters, the fatal error and the
//     source's error.
//   - throttle.mu and reporter.mu: their own state; run.traceMu: one
//     transcript line at a time.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"sync"
	"sync/atomic"
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
	// Relays, when not empty, are the servers the pool sends through, each
	// with its own connections, credentials, rate and daily limit:
	// Endpoint, Client, Credentials, Connections, Rate and Burst are then
	// not used (Endpoint must be nil); the other fields apply to every
	// relay. Each message goes through whichever relay has a free
	// connection and a rate token first. A relay that is unreachable after
	// the retries, refuses the credentials or TLS, or answers with a
	// sender-quota reply leaves the rotation (an unreachable one is tried
	// again later, with backoff) and the others carry the batch; the run
	// stops, with the reason it would stop for with one relay, only when
	// every relay is out. Empty: one relay made of the fields below.
	Relays []Relay

	// Endpoint is the server; required without Relays.
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
	// ThrottleHold is how long a relay keeps a halved rate before each
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
	// send that Run takes; it stops pulling its sequence at the next valid
	// message after them (invalid ones before it are still recorded).
	Limit int
	// DailyLimit, when above 0, is the number of recipients that may be
	// sent in any 24 hours, through all relays (see Relay.DailyLimit for
	// each one's own), counted from the journal's sent records across
	// runs and the recipients this run takes. At the limit Run stops taking
	// messages and returns ErrDailyLimit, or, with WaitForRoom, waits until
	// the oldest recipients counted are 24 hours old and goes on.
	DailyLimit  int
	WaitForRoom bool
	// Now returns the time for DailyLimit; nil means time.Now (nil, except
	// for tests).
	Now func() time.Time

	// Progress, if not nil, is told outcomes and throttling; one that is a
	// RelayProgress also hears of relays leaving the rotation.
	Progress Progress
}

// Pool sends messages through a pool of reused SMTP connections. Create
// it with NewPool; call Run once per batch, one Run at a time.
type Pool struct {
	cfg     Config
	current atomic.Pointer[run] // the Run going on, for Busy
}

// NewPool checks cfg, fills in the defaults and returns a Pool.
func NewPool(cfg Config) (*Pool, error) {
	rs, err := relays(&cfg)
	if err != nil {
		return nil, err
	}
	cfg.Relays = rs
	if cfg.Connections < 0 || cfg.MaxPerConn < 0 || cfg.Retries < 0 || cfg.Burst < 0 || cfg.Limit < 0 || cfg.DailyLimit < 0 {
		return nil, errors.New("sender: negative count in configuration")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.MaxConnAge, DefaultMaxConnAge)
	def(&cfg.IdleProbe, DefaultIdleProbe)
	def(&cfg.ThrottleHold, DefaultThrottleHold)
	def(&cfg.RetryBase, DefaultRetryBase)
	def(&cfg.RetryMax, DefaultRetryMax)
	def(&cfg.Grace, DefaultGrace)
	if cfg.Progress == nil {
		cfg.Progress = NoProgress{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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
// The sequence is pulled from a goroutine of Run's own, up to a message
// for every connection ahead of them. An error from it ends the sequence: the messages
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
	p.current.Store(r)
	defer p.current.Store(nil)
	defer r.cancelSend()
	defer r.stop(nil) // releases stopCtx; the grace timer dies with sendCtx
	r.sendAll(messages)
	r.closeOut(ctx)
	return r.result(ctx)
}

// run is the state of one Run.
type run struct {
	cfg      *Config
	input    chan *Message // from feed to the workers, through sched
	sched    *scheduler
	relays   []*relay // Config.Relays, each with its gate, throttle and workers
	relayMu  sync.Mutex
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
	summary   Summary // but Messages and Recipients, which sched counts
	fatal     error
	sourceErr error            // what ended the caller's sequence early
	limited   *DailyLimitError // Config.DailyLimit ended the run early

	traceMu sync.Mutex // serialises the connections' transcript lines

	workersMu sync.Mutex // guards workers, for Pool.Busy
	workers   []*worker
}

func newRun(ctx context.Context, cfg *Config) *run {
	r := &run{
		cfg:   cfg,
		start: time.Now(),
	}
	conns := 0
	for _, rl := range cfg.Relays {
		r.relays = append(r.relays, newRelay(rl, cfg))
		conns += rl.Connections
	}
	// A message for every connection may wait in input, made while the
	// connections are busy: a worker finishing a transaction then finds
	// the next one ready and pipelines its commands after the final dot
	// (lookahead), instead of a round trip of their own. Waiting there, a
	// message is not yet in the journal, like a row not yet read.
	r.input = make(chan *Message, conns)
	// The summary counts an outcome once it is durable, as Progress is
	// told it: never more than the journal holds.
	r.reporter = newReporter(cfg.Progress, func(rec *journal.Record) {
		r.count(func(s *Summary) { s.Add(rec.Status, len(rec.Recipients)) })
	})
	r.stopCtx, r.stop = context.WithCancelCause(ctx)
	r.workCtx, r.stopWork = context.WithCancel(r.stopCtx)
	r.sendCtx, r.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(r.stopCtx, func() {
		t := time.AfterFunc(cfg.Grace, r.cancelSend)
		context.AfterFunc(r.sendCtx, func() { t.Stop() })
	})
	r.sched = newScheduler(r.input, maxWaitingPerConn*conns, r.stopCtx, r.workCtx, r.stopWork)
	return r
}

// sendAll runs the feed and one worker per connection of each relay, and
// returns once they are all done.
func (r *run) sendAll(messages iter.Seq2[*Message, error]) {
	var wg sync.WaitGroup
	fed := make(chan struct{})
	go func() {
		defer close(fed)
		r.feed(messages)
	}()
	id := 0
	for _, rl := range r.relays {
		for range rl.Connections {
			id++
			w := &worker{r: r, rl: rl, id: id}
			r.workersMu.Lock()
			r.workers = append(r.workers, w)
			r.workersMu.Unlock()
			wg.Go(w.loop)
		}
	}
	wg.Wait()
	r.stopWork()
	<-fed
}

// closeOut records the jobs left waiting as deferred, makes the journal
// durable, and returns once Progress has been told every outcome.
func (r *run) closeOut(ctx context.Context) {
	r.deferLeftovers()
	if j := r.cfg.Journal; j != nil {
		if err := j.Sync(context.WithoutCancel(ctx)); err != nil {
			r.fail(&StopError{Reason: ErrJournal, Err: err})
		}
	}
	r.reporter.close()
}

// result returns the run's Summary, and why it stopped early if it did.
func (r *run) result(ctx context.Context) (*Summary, error) {
	messages, recipients, finished := r.sched.taken()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary.Messages, r.summary.Recipients = messages, recipients
	r.summary.Elapsed = time.Since(r.start)
	sum := r.summary
	switch {
	case r.fatal != nil:
		return &sum, r.fatal
	case !finished:
		return &sum, &StopError{Reason: ErrInterrupted, Err: context.Cause(ctx)}
	case r.sourceErr != nil:
		return &sum, &StopError{Reason: ErrSource, Err: r.sourceErr}
	case r.limited != nil:
		return &sum, &StopError{Reason: ErrDailyLimit, Err: r.limited}
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
	defer r.count(func(s *Summary) { s.Skipped, s.Changed = plan.Skipped, plan.Changed })
	var day *daily
	if r.cfg.DailyLimit > 0 {
		day = newDaily(r.cfg.DailyLimit, r.cfg.Journal, r.cfg.Now())
	}
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
		if plan.Full() {
			// Limit reached; the invalid messages before this one were
			// recorded all the same, so the report lists them.
			return
		}
		if m = r.toSend(plan, m); m == nil {
			continue
		}
		if day != nil && !r.room(day, len(m.To)) {
			return
		}
		select {
		case r.input <- m:
		case <-r.stopCtx.Done():
			return
		case <-r.workCtx.Done(): // the workers are gone: nobody will take it
			return
		}
	}
}

// room waits, under Config.WaitForRoom, until k more recipients fit
// within Config.DailyLimit, and counts them. Without WaitForRoom, or when
// the run stops meanwhile, it reports false, the run's end.
func (r *run) room(day *daily, k int) bool {
	for now := r.cfg.Now(); !day.fits(k, now); now = r.cfg.Now() {
		next := day.next(k, now)
		if !r.cfg.WaitForRoom || next.IsZero() {
			r.mu.Lock()
			r.limited = &DailyLimitError{Sent: day.used(now), Limit: day.limit, Next: next}
			r.mu.Unlock()
			return false
		}
		r.cfg.Progress.Paused(fmt.Sprintf("daily limit of %d recipients reached", day.limit), next)
		ok := sleep(r.stopCtx, next.Sub(now))
		r.cfg.Progress.Paused("", time.Time{})
		if !ok {
			return false
		}
	}
	day.take(k, r.cfg.Now())
	return true
}

// toSend returns m with only the recipients plan says to send, or nil
// when there are none.
func (r *run) toSend(plan *Plan, m *Message) *Message {
	send, changed := plan.Add(m)
	if changed {
		r.cfg.Progress.Changed(m)
	}
	if len(send) == 0 {
		return nil
	}
	if len(send) < len(m.To) {
		k := *m
		k.To = send
		m = &k
	}
	return m
}

// recordInvalid journals the recipients of a message that could not be
// built as failed, with the reason.
func (r *run) recordInvalid(m *Message) {
	r.count(func(s *Summary) { s.Invalid++ })
	if r.cfg.Journal == nil {
		return
	}
	to := m.To
	if len(to) == 0 {
		to = []string{fmt.Sprintf("(row %d)", m.Row)} // a record names someone
	}
	_, err := r.cfg.Journal.Add(&journal.Record{
		Row: m.Row, Key: m.Key, Recipients: to, Status: journal.Failed,
		Reply: "invalid row: " + m.Invalid.Error(), MessageID: m.MessageID,
	})
	if err != nil {
		r.fail(&StopError{Reason: ErrJournal, Err: err})
	}
}

// count updates the summary with f.
func (r *run) count(f func(*Summary)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.summary)
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
	for _, j := range r.sched.drain() {
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
// counted in the Summary and told to Progress once durable (see
// reporter); others are only journalled.
func (r *run) record(j *job, to []string, o outcome, final bool) {
	rec := &journal.Record{
		Row: j.m.Row, Key: j.m.Key, Recipients: to, Status: o.status,
		Code: o.code, Enhanced: o.enhanced, Reply: o.reply, Attempts: j.attempts,
		MessageID: j.m.MessageID, Fingerprint: j.m.Fingerprint, Relay: j.relay,
	}
	var c commit // nil without a journal: nothing to wait for
	if r.cfg.Journal != nil {
		jc, err := r.cfg.Journal.Add(rec)
		if err != nil {
			r.fail(&StopError{Reason: ErrJournal, Err: err})
			return
		}
		c = jc
	}
	if final {
		r.reporter.tell(c, rec)
	}
}
