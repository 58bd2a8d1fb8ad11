package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
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
	checked, err := r.preflight(ctx, cfg)
	if checked == nil || err != nil {
		return err
	}
	r.setMemoryLimit()
	view := newProgressView(stderr, r.plan.Recipients, r.batch.Data)
	cfg.Progress = view
	pool, err := sender.NewPool(cfg)
	if err != nil {
		view.finish()
		return err
	}
	sum, err := pool.Run(ctx, r.messages(ctx, checked))
	view.finish()
	return r.finish(sum, err, checked)
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

	// What the preflight found.
	stats   merge.Stats
	plan    sender.Plan
	maxSize int // an estimate of the largest message, in octets
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
			return cfg, err
		}
		fmt.Fprintf(r.stderr, "journal: %s\n", f.journal)
	}
	cfg = sender.Config{
		Endpoint:    ep,
		Credentials: creds,
		Connections: f.connections,
		MaxPerConn:  f.maxPerConn,
		Rate:        limit,
		Burst:       f.burst,
		Retries:     f.retries,
		Journal:     r.journal,
		Resume:      journal.ResumePolicy{RetryFailed: f.retryFailed, ResendUnknown: f.resendUnknown},
		Limit:       f.limit,
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
// leaves, and counts what the journal says is left to send. It returns the
// checked batch, or nil when there is nothing to send.
func (r *sendRun) preflight(ctx context.Context, cfg sender.Config) (*merge.Checked, error) {
	r.plan = sender.Plan{Journal: cfg.Journal, Resume: cfg.Resume, Limit: cfg.Limit}
	checked, stats, err := r.batch.Preflight(ctx, func(it *merge.Item) error {
		printRow(r.stderr, r.batch.Data, it)
		if it.Err != nil || it.DuplicateOf != 0 {
			return nil
		}
		r.maxSize = max(r.maxSize, it.Message.SizeEstimate())
		m := &sender.Message{Key: it.Key, To: it.Message.Recipients()}
		if r.testTo != nil {
			m.Key, m.To = testKey(it), []string{r.testTo.Address}
		}
		r.plan.Add(m) // no fingerprint yet: a changed row is noticed while sending
		return nil
	})
	r.stats = stats
	switch {
	case ctx.Err() != nil:
		fmt.Fprintln(r.stderr, "mailshot: interrupted while checking the data; nothing was sent")
		return nil, statusError{status: exitStopped, msg: "interrupted"}
	case errors.Is(err, merge.ErrDataChanged):
		return nil, withHint(fmt.Errorf("%s changed while it was being checked; nothing was sent", r.batch.Data),
			"save the file, then run the same command again")
	case err != nil:
		return nil, err
	case stats.Invalid > 0 && !r.f.skipInvalid:
		return nil, withHint(fmt.Errorf("%d of %d rows are invalid; nothing was sent", stats.Invalid, stats.Rows),
			"fix the rows listed above (mailshot check lists them), or pass --skip-invalid to record them as failed and send the rest")
	}
	r.reportPlan()
	if r.plan.Recipients == 0 && (!r.f.skipInvalid || stats.Invalid == 0) {
		fmt.Fprintln(r.stdout, "nothing to send")
		if r.plan.Skipped.NotSent() > 0 {
			return nil, statusError{status: exitIncomplete, msg: "incomplete"}
		}
		return nil, nil
	}
	return checked, nil
}

// reportPlan prints what the preflight found and what is left to send.
func (r *sendRun) reportPlan() {
	w, p := r.stderr, &r.plan
	fmt.Fprintf(w, "%s\n", summarizeRows(r.stats))
	if p.Skipped.All() > 0 {
		fmt.Fprintf(w, "resuming: %d recipients already sent; %d failed and %d unknown left alone (--retry-failed, --resend-unknown)\n",
			p.Skipped.Sent, p.Skipped.Failed, p.Skipped.Unknown)
	}
	fmt.Fprintf(w, "to send: %d messages to %d recipients\n", p.Messages, p.Recipients)
}

// messages is the sequence the pool sends: the checked batch's second
// pass, each row rendered and composed again just before it is queued.
func (r *sendRun) messages(ctx context.Context, checked *merge.Checked) iter.Seq2[*sender.Message, error] {
	return func(yield func(*sender.Message, error) bool) {
		errStop := errors.New("stop")
		err := checked.Each(ctx, func(it *merge.Item, eml []byte) error {
			var m *sender.Message
			switch {
			case it.Err != nil: // invalid in the preflight too: --skip-invalid
				if r.testTo != nil {
					return nil
				}
				m = &sender.Message{Key: it.Key, Row: it.Row, Invalid: it.Err}
			case it.DuplicateOf != 0:
				return nil
			case r.testTo != nil:
				var err error
				if m, err = testMessage(it, r.testTo); err != nil {
					return err
				}
			default:
				m = &sender.Message{
					Key:         it.Key,
					Row:         it.Row,
					MessageID:   it.Message.MessageID,
					From:        it.Message.From.Address,
					To:          it.Message.Recipients(),
					Body:        bytes.Clone(eml),
					Fingerprint: it.Message.Fingerprint(),
				}
			}
			if !yield(m, nil) {
				return errStop
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) && ctx.Err() == nil {
			yield(nil, err)
		}
	}
}

// finish prints the run's summary and returns its exit status.
func (r *sendRun) finish(sum *sender.Summary, err error, checked *merge.Checked) error {
	if sum != nil {
		printSummary(r.stdout, sum)
	}
	if err == nil {
		if cerr := checked.Unchanged(); cerr != nil {
			err = fmt.Errorf("%s changed while it was being sent; the rows read after the change may not match what was checked", r.batch.Data)
		}
	}
	switch {
	case err != nil && r.testTo != nil:
		fmt.Fprintf(r.stderr, "mailshot: test send %s\n", describe(stopped(err)))
		return statusError{status: exitStopped, msg: "stopped"}
	case err != nil:
		return stoppedError(err, r.args, r.f.journal, r.stderr)
	case sum.Unsettled() > 0:
		// Never claim success for recipients without an outcome.
		fmt.Fprintf(r.stderr, "mailshot: %d recipients got no outcome; run the same command again to send them\n", sum.Unsettled())
		return statusError{status: exitIncomplete, msg: "incomplete"}
	case sum.NotSent()+r.plan.Skipped.Failed+r.plan.Skipped.Unknown > 0 || r.stats.Invalid > 0:
		if r.journal != nil {
			fmt.Fprintf(r.stderr, "not every recipient was sent: mailshot report --journal %s\n", shellQuote(r.f.journal))
		}
		return statusError{status: exitIncomplete, msg: "incomplete"}
	}
	return nil
}

// testKey keys a row's test copy apart from the row itself.
func testKey(it *merge.Item) string { return "test " + it.Key }

// testMessage renders the test copy of a row for --test-to.
func testMessage(it *merge.Item, to *mail.Address) (*sender.Message, error) {
	c := it.Message.TestCopy()
	var body bytes.Buffer
	if err := (&merge.Composer{}).Compose(&body, c); err != nil {
		return nil, err
	}
	return &sender.Message{
		Key:       testKey(it),
		Row:       it.Row,
		MessageID: c.MessageID,
		From:      c.From.Address,
		To:        []string{to.Address},
		Body:      body.Bytes(),
	}, nil
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
	fmt.Fprintf(stderr, "mailshot: %s\n", describe(stopped(err)))
	if hint := hintFor(err); hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	fmt.Fprintf(stderr, "resume with: %s\n", resumeCommand(args, journalPath))
	return statusError{status: exitStopped, msg: "stopped"}
}

// stopped returns err as a *sender.StopError: a run that stopped early for
// another reason (the data changed under it) stops as the source's doing.
func stopped(err error) error {
	if errors.As(err, new(*sender.StopError)) {
		return err
	}
	return &sender.StopError{Reason: sender.ErrSource, Err: err}
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
