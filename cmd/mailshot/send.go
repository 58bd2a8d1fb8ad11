package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/mailshot/mailshot/merge"
	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// sendFlags are send's own flags.
type sendFlags struct {
	in            inputFlags
	cred          credentialFlags
	smtpURL       string
	journal       string
	connections   int
	rate          string
	burst         int
	maxPerConn    int
	retries       int
	tlsCA         string
	skipInvalid   bool
	retryFailed   bool
	resendUnknown bool
	limit         int
	trace         string
	helo          string
	testTo        string
}

func (f *sendFlags) register(fs *flag.FlagSet) {
	f.in.register(fs)
	fs.StringVar(&f.smtpURL, "smtp", "", "server `URL`: smtp://user@host:587 (STARTTLS) or smtps://user@host:465 (implicit TLS); no user means no AUTH")
	fs.StringVar(&f.journal, "journal", "", "journal `FILE` (default: TEMPLATE-DATA.journal.jsonl in the current directory)")
	fs.IntVar(&f.connections, "connections", sender.DefaultConnections, "`N` connections, each reused for many messages")
	fs.StringVar(&f.rate, "rate", "", "at most `R` messages: 10/s, 600/m, 3000/h (default: unlimited)")
	fs.IntVar(&f.burst, "burst", 1, "messages that may go at once within --rate")
	fs.IntVar(&f.maxPerConn, "max-per-conn", sender.DefaultMaxPerConn, "messages per connection before a fresh one (0: unlimited)")
	fs.IntVar(&f.retries, "retries", sender.DefaultRetries, "retries of a temporary failure before it is recorded as deferred")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "trust the CA certificates in `FILE` (PEM) as well as the system's")
	fs.BoolVar(&f.skipInvalid, "skip-invalid", false, "record invalid rows as failed and send the rest (default: invalid rows stop the run before anything is sent)")
	fs.BoolVar(&f.retryFailed, "retry-failed", false, "also retry recipients that failed permanently in an earlier run")
	fs.BoolVar(&f.resendUnknown, "resend-unknown", false, "also resend recipients whose outcome is unknown (they may get the message twice)")
	fs.IntVar(&f.limit, "limit", 0, "send at most `N` messages in this run (0: all)")
	f.cred.register(fs)
	fs.StringVar(&f.trace, "trace", "", "write the SMTP transcript (credentials redacted) to `FILE`")
	fs.StringVar(&f.helo, "helo", "", "`NAME` to send in EHLO (default: this host's name)")
	fs.StringVar(&f.testTo, "test-to", "", "test send: deliver the first --limit messages (default 1), Subject marked [TEST], only to `ADDRESS`; nothing is journalled")
}

func runSend(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("send", stderr, "mailshot send -t DIR -d FILE --smtp URL [flags]",
		"Validates and renders every row, then sends one message per row through the SMTP\n"+
			"server, recording every outcome in a journal. Running the same command again\n"+
			"resumes: recipients already sent are never sent again.\n\n"+
			"The password comes from $"+passwordEnv+", --password-file, --password-cmd or a\n"+
			"prompt; an OAuth2 token (--auth xoauth2) from $"+tokenEnv+", --token-file or --token-cmd.")
	// The pool, the progress view and token commands write to stderr
	// from several goroutines.
	stderr = &lockedWriter{w: stderr}
	r := &sendRun{args: args, stdout: stdout, stderr: stderr}
	r.f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := r.setUp(ctx, stdin)
	if err != nil {
		return err
	}
	if r.journal != nil {
		defer r.journal.Close()
	}
	if trace, ok := cfg.Client.Trace.(io.Closer); ok {
		defer trace.Close()
	}
	if done, err := r.preflight(ctx); done || err != nil {
		return err
	}
	r.setMemoryLimit()
	view := newProgressView(stderr, r.plan.recipients)
	cfg.Progress = view
	pool, err := sender.NewPool(cfg)
	if err != nil {
		view.finish()
		return err
	}
	return r.send(ctx, pool, view)
}

// sendRun is one mailshot send: its flags, what it opened and what the
// preflight found.
type sendRun struct {
	f              sendFlags
	args           []string
	stdout, stderr io.Writer

	batch   *merge.Batch
	journal *journal.File // nil for a test send: nothing is journalled
	testTo  *mail.Address // --test-to, or nil
	policy  journal.ResumePolicy

	// What the preflight found.
	valid      validation
	plan       sendPlan
	duplicates map[int]merge.Duplicate // rows the send pass skips, without remembering every key
	invalid    map[int]bool            // rows the preflight found invalid (kept with --skip-invalid)
	dataState  fileState               // the data file the preflight read
	maxSize    int                     // an estimate of the largest message, in octets
}

// setUp checks the flags, loads the template, reads the credentials and
// opens the journal, and returns the pool's configuration.
func (r *sendRun) setUp(ctx context.Context, stdin io.Reader) (sender.Config, error) {
	f := &r.f
	var cfg sender.Config
	if f.smtpURL == "" {
		return cfg, usageError{errors.New("send needs --smtp URL, e.g. smtp://user@smtp.example.com:587")}
	}
	if f.connections < 1 || f.burst < 1 || f.maxPerConn < 0 || f.retries < 0 || f.limit < 0 {
		return cfg, usageError{errors.New("--connections and --burst must be at least 1; --max-per-conn, --retries and --limit not negative")}
	}
	ep, err := sender.ParseURL(f.smtpURL)
	if err != nil {
		return cfg, usageError{err}
	}
	limit, err := sender.ParseRate(f.rate)
	if err != nil {
		return cfg, usageError{err}
	}
	if r.batch, err = f.in.batch(); err != nil {
		return cfg, err
	}
	var tlsConfig *tls.Config
	if f.tlsCA != "" {
		if tlsConfig, err = smtp.TrustCA(f.tlsCA); err != nil {
			return cfg, withHint(err, "--tls-ca takes the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)")
		}
	}
	creds, err := f.cred.credentials(ctx, ep, stdin, r.stderr)
	if err != nil {
		return cfg, err
	}
	if f.testTo != "" {
		if r.testTo, err = mail.ParseAddress(f.testTo); err != nil {
			return cfg, usageError{fmt.Errorf("--test-to %q is not an email address", f.testTo)}
		}
		if f.limit == 0 {
			f.limit = 1
		}
		fmt.Fprintf(r.stderr, "test send: the first %d messages go only to %s, nothing is journalled\n", f.limit, r.testTo.Address)
	} else {
		if f.journal == "" {
			f.journal = f.in.name() + ".journal.jsonl"
		}
		if r.journal, err = journal.Open(f.journal); err != nil {
			return cfg, withHint(err, "--journal names the file that records every outcome; another mailshot may be using it")
		}
		fmt.Fprintf(r.stderr, "journal: %s\n", f.journal)
	}
	r.policy = journal.ResumePolicy{RetryFailed: f.retryFailed, ResendUnknown: f.resendUnknown}
	cfg = sender.Config{
		Endpoint:    ep,
		Credentials: creds,
		Connections: f.connections,
		MaxPerConn:  f.maxPerConn,
		Rate:        limit,
		Burst:       f.burst,
		Retries:     f.retries,
		Journal:     r.journal,
	}
	cfg.Client.TLSConfig = tlsConfig
	cfg.Client.LocalName = f.helo
	if f.trace != "" {
		trace, err := os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return cfg, fmt.Errorf("--trace: %w", err)
		}
		cfg.Client.Trace = trace
	}
	return cfg, nil
}

// preflight validates and renders every row before the first message
// leaves, and counts what the journal says is left to send. It reports done
// when there is nothing to send.
func (r *sendRun) preflight(ctx context.Context) (done bool, err error) {
	r.duplicates = make(map[int]merge.Duplicate)
	r.invalid = make(map[int]bool)
	if r.dataState, err = statFile(r.batch.Data); err != nil {
		return true, err
	}
	r.valid, err = validate(ctx, r.batch, r.stderr, false, func(it *merge.Item, _ []byte) error {
		if it.DuplicateOf != 0 {
			r.duplicates[it.Row] = merge.Duplicate{Of: it.DuplicateOf, KeyHash: it.KeyHash, Conflict: it.Err != nil}
		}
		if it.Err != nil {
			r.invalid[it.Row] = true
		}
		if it.Err != nil || it.DuplicateOf != 0 {
			return nil
		}
		r.maxSize = max(r.maxSize, it.Message.SizeEstimate())
		// Only counts here: no fingerprint, so no change is noticed yet.
		p := r.pending(&sender.Message{Key: it.Key, To: it.Message.Recipients()})
		if r.testTo != nil {
			p.Send = []string{r.testTo.Address}
		}
		r.plan.count(p, r.f.limit)
		return nil
	})
	v := r.valid
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(r.stderr, "mailshot: interrupted while checking the data; nothing was sent")
		return true, statusError{status: exitStopped, msg: "interrupted"}
	case err != nil:
		return true, err
	case v.invalid > 0 && !r.f.skipInvalid:
		return true, withHint(fmt.Errorf("%d of %d rows are invalid; nothing was sent", v.invalid, v.rows),
			"fix the rows listed above (mailshot check lists them), or pass --skip-invalid to record them as failed and send the rest")
	}
	r.plan.report(r.stderr, v)
	if r.plan.recipients == 0 && (!r.f.skipInvalid || v.invalid == 0) {
		fmt.Fprintln(r.stdout, "nothing to send")
		return true, r.plan.status()
	}
	// The send pass reads the data again: it must be what was checked.
	if now, err := statFile(r.batch.Data); err != nil || !now.same(r.dataState) {
		return true, withHint(fmt.Errorf("%s changed while it was being checked; nothing was sent", r.batch.Data),
			"save the file, then run the same command again")
	}
	return false, nil
}

// send runs the pool while a second pass over the data renders the messages
// again and hands it those still to send, then reports the outcome.
func (r *sendRun) send(ctx context.Context, pool *sender.Pool, view *progressView) error {
	messages := make(chan *sender.Message, 2*r.f.connections)
	var (
		sum     *sender.Summary
		poolErr error
	)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		sum, poolErr = pool.Run(ctx, messages)
	}()
	queuedRcpts, produceErr := r.produce(ctx, messages, stopped)
	<-stopped
	view.finish()
	if r.journal != nil {
		if err := r.journal.Sync(context.WithoutCancel(ctx)); err != nil && poolErr == nil {
			poolErr = err
		}
	}
	if sum != nil {
		printSummary(r.stdout, sum)
	}
	if poolErr == nil {
		poolErr = produceErr
	}
	if now, err := statFile(r.batch.Data); poolErr == nil && (err != nil || !now.same(r.dataState)) {
		poolErr = fmt.Errorf("%s changed while it was being sent; the rows read after the change may not match what was checked", r.batch.Data)
	}
	switch {
	case poolErr != nil && r.testTo != nil:
		fmt.Fprintf(r.stderr, "mailshot: test send stopped: %v\n", poolErr)
		return statusError{status: exitStopped, msg: "stopped"}
	case poolErr != nil:
		return stoppedError(poolErr, r.args, r.f.journal, r.stderr)
	}
	if settled := sum.Sent + sum.Failed + sum.Deferred + sum.Unknown; settled < queuedRcpts {
		// Never claim success for recipients without an outcome.
		fmt.Fprintf(r.stderr, "mailshot: %d recipients got no outcome; run the same command again to send them\n", queuedRcpts-settled)
		return statusError{status: exitIncomplete, msg: "incomplete"}
	}
	if sum.Failed+sum.Deferred+sum.Unknown > 0 || r.plan.failedBefore+r.plan.unknownBefore > 0 || r.valid.invalid > 0 {
		if r.journal != nil {
			fmt.Fprintf(r.stderr, "not every recipient was sent: mailshot report --journal %s\n", shellQuote(r.f.journal))
		}
		return statusError{status: exitIncomplete, msg: "incomplete"}
	}
	return nil
}

// produce renders the rows again, nothing held from the preflight but the
// duplicate rows so that memory stays flat, and queues each message that
// still has recipients to send, until the data ends, --limit is reached or
// the pool stops. It closes messages and returns how many recipients it
// queued and the error that stopped it early, if any.
func (r *sendRun) produce(ctx context.Context, messages chan<- *sender.Message, stopped <-chan struct{}) (queuedRcpts int, err error) {
	defer close(messages)
	b, f := r.batch, &r.f
	b.Duplicates = r.duplicates
	// Each row just before it is queued: what is sent is what its files
	// hold now (the preflight rendered ahead on every CPU).
	b.Renderers = 1
	queued := 0
	queue := func(m *sender.Message, err error) error {
		if err != nil {
			return err
		}
		select {
		case messages <- m:
			queued++
			queuedRcpts += len(m.To)
			return nil
		case <-stopped:
			return errPoolStopped
		}
	}
	_, err = validate(ctx, b, io.Discard, r.testTo == nil, func(it *merge.Item, eml []byte) error {
		switch {
		case it.Err != nil && !r.invalid[it.Row]:
			// Valid in the preflight, invalid now: a file changed
			// under us. Stop rather than lose the row.
			return fmt.Errorf("%w (it was valid when checked: did a file change during the run?)", it.Err)
		case it.Err != nil: // invalid in the preflight too: --skip-invalid
			return recordInvalid(ctx, r.journal, b.Data, it)
		case it.DuplicateOf != 0:
			return nil
		case f.limit > 0 && queued >= f.limit:
			return errLimitReached
		case r.testTo != nil:
			return queue(testMessage(it, r.testTo))
		}
		m := senderMessage(it)
		pending := r.pending(m)
		if pending.Changed {
			fmt.Fprintf(r.stderr, "%s:%d: %s was already sent; the row or template changed since, and it is not sent again\n", b.Data, it.Row, it.Key)
		}
		if len(pending.Send) == 0 {
			return nil
		}
		m.To = pending.Send
		m.Body = bytes.Clone(eml)
		return queue(m, nil)
	})
	if errors.Is(err, errLimitReached) || errors.Is(err, errPoolStopped) || errors.Is(err, context.Canceled) {
		err = nil
	}
	return queuedRcpts, err
}

var (
	errLimitReached = errors.New("--limit reached")
	errPoolStopped  = errors.New("pool stopped")
)

// pending returns the recipients of m still to send: all of them for a
// test send, which has no journal.
func (r *sendRun) pending(m *sender.Message) journal.Resume {
	if r.journal == nil {
		return journal.Resume{Send: m.To}
	}
	return r.journal.Pending(m.Key, m.To, m.Fingerprint, r.policy)
}

// testMessage renders the test copy of a row for --test-to.
func testMessage(it *merge.Item, to *mail.Address) (*sender.Message, error) {
	c := it.Message.TestCopy()
	var body bytes.Buffer
	if err := (&merge.Composer{}).Compose(&body, c); err != nil {
		return nil, err
	}
	return &sender.Message{
		Key:       "test " + it.Key,
		Row:       it.Row,
		MessageID: c.MessageID,
		From:      c.From.Address,
		To:        []string{to.Address},
		Body:      body.Bytes(),
	}, nil
}

// senderMessage turns a rendered row into what the pool sends, without its
// body.
func senderMessage(it *merge.Item) *sender.Message {
	return &sender.Message{
		Key:         it.Key,
		Row:         it.Row,
		MessageID:   it.Message.MessageID,
		From:        it.Message.From.Address,
		To:          it.Message.Recipients(),
		Fingerprint: it.Message.Fingerprint(),
	}
}

// recordInvalid journals an invalid row as failed, as --skip-invalid asks,
// so the report lists it. A test send (no journal) records nothing.
func recordInvalid(ctx context.Context, j *journal.File, data string, it *merge.Item) error {
	if j == nil {
		return nil
	}
	c, err := j.Add(&journal.Record{
		Time:       time.Now(),
		Row:        it.Row,
		Key:        invalidRowKey(it.Row, data),
		Recipients: []string{fmt.Sprintf("(row %d)", it.Row)},
		Status:     journal.Failed,
		Reply:      "invalid row: " + it.Err.Error(),
	})
	if err != nil {
		return err
	}
	return c.Wait(ctx)
}

// invalidRowKey is the journal key of an invalid row recorded by
// --skip-invalid: it has no recipients that parse to key it by.
func invalidRowKey(row int, data string) string {
	return fmt.Sprintf("invalid row %d of %s", row, data)
}

// sendPlan counts, before sending, what the journal says of the batch.
type sendPlan struct {
	messages, recipients                    int
	sentBefore, failedBefore, unknownBefore int
}

func (p *sendPlan) count(r journal.Resume, limit int) {
	p.sentBefore += r.Sent
	p.failedBefore += r.Failed
	p.unknownBefore += r.Unknown
	if len(r.Send) > 0 && (limit == 0 || p.messages < limit) {
		p.messages++
		p.recipients += len(r.Send)
	}
}

func (p *sendPlan) report(w io.Writer, v validation) {
	fmt.Fprintf(w, "%s\n", v.summary())
	if p.sentBefore+p.failedBefore+p.unknownBefore > 0 {
		fmt.Fprintf(w, "resuming: %d recipients already sent; %d failed and %d unknown left alone (--retry-failed, --resend-unknown)\n",
			p.sentBefore, p.failedBefore, p.unknownBefore)
	}
	fmt.Fprintf(w, "to send: %d messages to %d recipients\n", p.messages, p.recipients)
}

// status is the exit status of a run that had nothing left to send.
func (p *sendPlan) status() error {
	if p.failedBefore+p.unknownBefore > 0 {
		return statusError{status: exitIncomplete, msg: "incomplete"}
	}
	return nil
}

func printSummary(w io.Writer, s *sender.Summary) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Messages) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "sent %d, failed %d, deferred %d, unknown %d; %d messages over %d connections in %s (%.1f messages/s)\n",
		s.Sent, s.Failed, s.Deferred, s.Unknown, s.Messages, s.Connections, s.Elapsed.Round(time.Millisecond), rate)
}

// stoppedError explains why a run stopped early, prints the command that
// resumes it, and returns exit status 3.
func stoppedError(err error, args []string, journalPath string, stderr io.Writer) error {
	fmt.Fprintf(stderr, "mailshot: stopped: %v\n", err)
	if hint := stopHint(err); hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	fmt.Fprintf(stderr, "resume with: %s\n", resumeCommand(args, journalPath))
	return statusError{status: exitStopped, msg: "stopped"}
}

// resumeCommand is the command line that resumes this run: the same
// arguments, with the journal named explicitly.
func resumeCommand(args []string, journalPath string) string {
	parts := []string{"mailshot", "send"}
	hasJournal := false
	for _, a := range args {
		if a == "--journal" || a == "-journal" || strings.HasPrefix(a, "--journal=") || strings.HasPrefix(a, "-journal=") {
			hasJournal = true
		}
		parts = append(parts, shellQuote(a))
	}
	if !hasJournal {
		parts = append(parts, "--journal", shellQuote(journalPath))
	}
	return strings.Join(parts, " ")
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// fileState identifies a version of a file.
type fileState struct{ fi os.FileInfo }

func statFile(path string) (fileState, error) {
	fi, err := os.Stat(path)
	return fileState{fi}, err
}

// same reports whether s and t are the same file, unchanged: the same inode
// (an editor that saves by renaming makes a new one), size and time.
func (s fileState) same(t fileState) bool {
	return s.fi != nil && t.fi != nil && os.SameFile(s.fi, t.fi) &&
		s.fi.Size() == t.fi.Size() && s.fi.ModTime().Equal(t.fi.ModTime())
}

// setMemoryLimit sets the soft memory limit (see memoryLimit in main.go)
// for this batch: the base, plus room for the largest message in every
// place one can wait (the queue, the connections, the retries), so a batch
// of large attachments does not spend its time collecting garbage. It
// leaves a limit set through GOMEMLIMIT alone.
func (r *sendRun) setMemoryLimit() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	inFlight := int64(r.maxSize) * int64(r.f.connections) * (2 + 1 + 16)
	debug.SetMemoryLimit(memoryLimit + 2*inFlight)
}
