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
	"strings"
	"time"

	"github.com/mailshot/mailshot/merge"
	"github.com/mailshot/mailshot/sender"
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
			"The password comes from $"+passwordEnv+", --password-file, or a prompt.")
	var f sendFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if f.smtpURL == "" {
		return usageError{errors.New("send needs --smtp URL, e.g. smtp://user@smtp.example.com:587")}
	}
	if f.connections < 1 || f.burst < 1 || f.maxPerConn < 0 || f.retries < 0 || f.limit < 0 {
		return usageError{errors.New("--connections and --burst must be at least 1; --max-per-conn, --retries and --limit not negative")}
	}
	ep, err := sender.ParseURL(f.smtpURL)
	if err != nil {
		return usageError{err}
	}
	limit, err := sender.ParseRate(f.rate)
	if err != nil {
		return usageError{err}
	}
	b, err := f.in.batch()
	if err != nil {
		return err
	}
	var tlsConfig *tls.Config
	if f.tlsCA != "" {
		if tlsConfig, err = smtp.TrustCA(f.tlsCA); err != nil {
			return withHint(err, "--tls-ca takes the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)")
		}
	}
	creds, err := f.cred.credentials(ctx, ep, stdin, stderr)
	if err != nil {
		return err
	}
	var testTo *mail.Address
	var journal *sender.Journal // nil for a test send: nothing is journalled
	if f.testTo != "" {
		if testTo, err = mail.ParseAddress(f.testTo); err != nil {
			return usageError{fmt.Errorf("--test-to %q is not an email address", f.testTo)}
		}
		if f.limit == 0 {
			f.limit = 1
		}
		fmt.Fprintf(stderr, "test send: the first %d messages go only to %s, nothing is journalled\n", f.limit, testTo.Address)
	} else {
		if f.journal == "" {
			f.journal = f.in.name() + ".journal.jsonl"
		}
		if journal, err = sender.OpenJournal(f.journal); err != nil {
			return withHint(err, "--journal names the file that records every outcome; another mailshot may be using it")
		}
		defer journal.Close()
		fmt.Fprintf(stderr, "journal: %s\n", f.journal)
	}
	policy := sender.ResumePolicy{RetryFailed: f.retryFailed, ResendUnknown: f.resendUnknown}

	// Preflight: every row valid and rendered before the first message leaves.
	var plan sendPlan
	duplicates := make(map[int]merge.Duplicate) // the send pass skips them without remembering every key
	dataState, err := statFile(b.Data)
	if err != nil {
		return err
	}
	v, err := validate(ctx, b, stderr, false, func(it *merge.Item, _ []byte) error {
		if it.DuplicateOf != 0 {
			duplicates[it.Row] = merge.Duplicate{Of: it.DuplicateOf, KeyHash: it.KeyHash, Conflict: it.Err != nil}
		}
		if it.Err != nil || it.DuplicateOf != 0 {
			return nil
		}
		// Only counts here: no fingerprint, so no change is noticed yet.
		r := journal.Pending(&sender.Message{Key: it.Key, To: it.Message.Recipients()}, policy)
		if testTo != nil {
			r.Send = []string{testTo.Address}
		}
		plan.count(r, f.limit)
		return nil
	})
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "mailshot: interrupted while checking the data; nothing was sent")
		return statusError{status: exitStopped, msg: "interrupted"}
	}
	if err != nil {
		return err
	}
	if v.invalid > 0 && !f.skipInvalid {
		return withHint(fmt.Errorf("%d of %d rows are invalid; nothing was sent", v.invalid, v.rows),
			"fix the rows listed above (mailshot check lists them), or pass --skip-invalid to record them as failed and send the rest")
	}
	plan.report(stderr, v)
	if plan.recipients == 0 && (!f.skipInvalid || v.invalid == 0) {
		fmt.Fprintln(stdout, "nothing to send")
		return plan.status()
	}

	var traceFile *os.File
	if f.trace != "" {
		if traceFile, err = os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer traceFile.Close()
	}
	view := newProgressView(stderr, plan.recipients)
	cfg := sender.Config{
		Endpoint:    ep,
		Credentials: creds,
		Connections: f.connections,
		MaxPerConn:  f.maxPerConn,
		Rate:        limit,
		Burst:       f.burst,
		Retries:     f.retries,
		Journal:     journal,
		Progress:    view,
	}
	cfg.Client.TLSConfig = tlsConfig
	cfg.Client.LocalName = f.helo
	if traceFile != nil {
		cfg.Client.Trace = traceFile
	}
	pool, err := sender.NewPool(cfg)
	if err != nil {
		return err
	}

	messages := make(chan *sender.Message, 2*f.connections)
	type result struct {
		sum *sender.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := pool.Run(ctx, messages)
		done <- result{sum, err}
	}()
	stopped := make(chan struct{})
	var res result
	go func() {
		res = <-done
		close(stopped)
	}()

	// The send pass renders again (nothing is held from the preflight but
	// the duplicate rows), so memory stays flat in the number of rows. The
	// data must be the data the preflight checked.
	if now, err := statFile(b.Data); err != nil || now != dataState {
		return withHint(fmt.Errorf("%s changed while it was being checked; nothing was sent", b.Data),
			"save the file, then run the same command again")
	}
	b.Duplicates = duplicates
	queued, queuedRcpts := 0, 0
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
	produceErr := func() error {
		defer close(messages)
		_, err := validate(ctx, b, io.Discard, testTo == nil, func(it *merge.Item, eml []byte) error {
			if it.Err != nil {
				// Valid in the preflight, invalid now: a file changed
				// under us. Stop rather than lose the row.
				if !f.skipInvalid {
					return fmt.Errorf("%w (it was valid when checked: did a file change during the run?)", it.Err)
				}
				if journal == nil {
					return nil
				}
				return recordInvalid(ctx, journal, b.Data, it, true)
			}
			if it.DuplicateOf != 0 {
				return nil
			}
			if f.limit > 0 && queued >= f.limit {
				return errLimitReached
			}
			m := senderMessage(it, nil)
			if testTo != nil {
				return queue(testMessage(it, testTo))
			}
			pending := journal.Pending(m, policy)
			if pending.Changed {
				fmt.Fprintf(stderr, "%s:%d: %s was already sent; the row or template changed since, and it is not sent again\n", b.Data, it.Row, it.Key)
			}
			if len(pending.Send) == 0 {
				return nil
			}
			m.To = pending.Send
			m.Body = bytes.Clone(eml)
			return queue(m, nil)
		})
		return err
	}()
	<-stopped
	view.finish()
	if errors.Is(produceErr, errLimitReached) || errors.Is(produceErr, errPoolStopped) || errors.Is(produceErr, context.Canceled) {
		produceErr = nil
	}
	if journal != nil {
		if err := journal.Sync(context.WithoutCancel(ctx)); err != nil && res.err == nil {
			res.err = err
		}
	}
	if res.sum != nil {
		printSummary(stdout, res.sum, plan)
	}
	if res.err == nil && produceErr != nil {
		res.err = produceErr
	}
	if res.err != nil {
		if testTo != nil {
			fmt.Fprintf(stderr, "mailshot: test send stopped: %v\n", res.err)
			return statusError{status: exitStopped, msg: "stopped"}
		}
		return stoppedError(res.err, args, f.journal, stderr)
	}
	if s := res.sum; s.Sent+s.Failed+s.Deferred+s.Unknown < queuedRcpts {
		// Never claim success for recipients without an outcome.
		fmt.Fprintf(stderr, "mailshot: %d recipients got no outcome; run the same command again to send them\n",
			queuedRcpts-(s.Sent+s.Failed+s.Deferred+s.Unknown))
		return statusError{status: exitIncomplete, msg: "incomplete"}
	}
	if res.sum.Failed+res.sum.Deferred+res.sum.Unknown > 0 || plan.failedBefore+plan.unknownBefore > 0 || v.invalid > 0 {
		if journal != nil {
			fmt.Fprintf(stderr, "not every recipient was sent: mailshot report --journal %s\n", shellQuote(f.journal))
		}
		return statusError{status: exitIncomplete, msg: "incomplete"}
	}
	return nil
}

var (
	errLimitReached = errors.New("--limit reached")
	errPoolStopped  = errors.New("pool stopped")
)

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

// senderMessage turns a rendered row into what the pool sends.
func senderMessage(it *merge.Item, body []byte) *sender.Message {
	return &sender.Message{
		Key:         it.Key,
		Row:         it.Row,
		MessageID:   it.Message.MessageID,
		From:        it.Message.From.Address,
		To:          it.Message.Recipients(),
		Body:        body,
		Fingerprint: it.Message.Fingerprint(),
	}
}

// recordInvalid journals an invalid row as failed when --skip-invalid asks
// for it, so the report lists it.
func recordInvalid(ctx context.Context, j *sender.Journal, data string, it *merge.Item, skip bool) error {
	if !skip {
		return nil
	}
	return j.Append(ctx, &sender.Record{
		Time:       time.Now(),
		Row:        it.Row,
		Key:        invalidRowKey(it.Row, data),
		Recipients: []string{fmt.Sprintf("(row %d)", it.Row)},
		Status:     sender.StatusFailed,
		Reply:      "invalid row: " + it.Err.Error(),
	})
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

func (p *sendPlan) count(r sender.Resume, limit int) {
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

func printSummary(w io.Writer, s *sender.Summary, p sendPlan) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.Messages) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "sent %d, failed %d, deferred %d, unknown %d; %d messages over %d connections in %s (%.1f messages/s)\n",
		s.Sent, s.Failed, s.Deferred, s.Unknown, s.Messages, s.Connections, s.Elapsed.Round(time.Millisecond), rate)
}

// stoppedError explains why a run stopped early, prints the command that
// resumes it, and returns exit status 3.
func stoppedError(err error, args []string, journal string, stderr io.Writer) error {
	fmt.Fprintf(stderr, "mailshot: stopped: %v\n", err)
	if hint := stopHint(err); hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", hint)
	}
	fmt.Fprintf(stderr, "resume with: %s\n", resumeCommand(args, journal))
	return statusError{status: exitStopped, msg: "stopped"}
}

// resumeCommand is the command line that resumes this run: the same
// arguments, with the journal named explicitly.
func resumeCommand(args []string, journal string) string {
	parts := []string{"mailshot", "send"}
	hasJournal := false
	for _, a := range args {
		if a == "--journal" || a == "-journal" || strings.HasPrefix(a, "--journal=") || strings.HasPrefix(a, "-journal=") {
			hasJournal = true
		}
		parts = append(parts, shellQuote(a))
	}
	if !hasJournal {
		parts = append(parts, "--journal", shellQuote(journal))
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
type fileState struct {
	size    int64
	modTime time.Time
}

func statFile(path string) (fileState, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileState{}, err
	}
	return fileState{fi.Size(), fi.ModTime()}, nil
}
