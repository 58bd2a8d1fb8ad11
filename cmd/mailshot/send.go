package main

import (
	"bytes"
	"context"
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
	dkim          dkimFlags
	cred          credentialFlags
	smtpURLs      smtpURLs
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
	otherData     bool
	dryRun        bool
	dailyLimit    int
	wait          bool
	tlsInsecure   bool
	shard         shard
	json          bool
	timeout       time.Duration
}

func (f *sendFlags) register(fs *flag.FlagSet) {
	f.in.register(fs)
	f.dkim.register(fs)
	fs.Var(&f.smtpURLs, "smtp", "server `URL`: smtp://user@host:587 (STARTTLS) or smtps://user@host:465 (implicit TLS); no user means no AUTH. Repeat for several relays; --connections, --rate, --burst, --daily-limit, --helo, --tls-ca and --auth then apply to each")
	fs.StringVar(&f.journal, "journal", "", "journal `FILE` (default: DATA.TEMPLATE-HASH.journal.jsonl beside the data file, the same for this template and data from any directory)")
	fs.BoolVar(&f.otherData, "other-data", false, "send this data file under a --journal started with another one (the rows report --failed-csv wrote, fixed)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "do everything but send: check every row, log in to the server, compare sizes, read the journal; nothing is sent or journalled")
	fs.IntVar(&f.dailyLimit, "daily-limit", 0, "send to at most `N` recipients in any 24 hours, counted from the journal across runs (0: no limit)")
	fs.BoolVar(&f.wait, "wait", false, "at --daily-limit, wait until there is room again instead of stopping")
	fs.DurationVar(&f.timeout, "timeout", 0, "give up on one message's transaction after `D` (e.g. 2m), and on setting up a connection after D too (default: 20m and 5m)")
	fs.BoolVar(&f.json, "json", false, "print the run's summary as one JSON object on stdout, for scripts")
	fs.Var(&f.shard, "shard", "send only shard `K/N` of the recipients (a stable partition by message key): N machines each running one K, each with its own journal, cover every recipient once")
	fs.BoolVar(&f.tlsInsecure, "tls-insecure", false, "do not verify the server's certificate (a lab relay with a self-signed certificate; never for a real server)")
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
	shared := relaySpec{connections: r.f.connections, rate: r.f.rate, burst: r.f.burst, dailyLimit: r.f.dailyLimit,
		helo: r.f.helo, tlsCA: r.f.tlsCA, cred: r.f.cred}
	r.relays = flagRelays(r.f.smtpURLs, shared)
	if len(r.relays) == 0 {
		var err error
		if r.relays, err = settingsRelays(fs, shared); err != nil {
			return err
		}
	}
	cfg, err := r.setUp(ctx)
	defer r.closeJournal()
	if err != nil {
		return err
	}
	if trace, ok := cfg.Client.Trace.(io.Closer); ok {
		defer trace.Close()
	}
	checked, err := r.preflight(ctx, cfg)
	if checked == nil || err != nil {
		return err
	}
	if err := r.roomToday(); err != nil {
		return err
	}
	// The password is asked for only now: after the data is known to be
	// good, and not at all when there is nothing to send.
	if err := relayCredentials(ctx, &cfg, r.relays, stdin, r.stderr); err != nil {
		return err
	}
	if r.f.dryRun {
		return r.dryRun(ctx, cfg)
	}
	if err := r.startCampaign(ctx); err != nil {
		return err
	}
	r.setMemoryLimit()
	view := newProgressView(stderr, r.plan.Recipients, r.batch.Data)
	cfg.Progress = view
	if r.testTo != nil {
		r.failures = &failureLog{Progress: view}
		cfg.Progress = r.failures
	}
	pool, err := sender.NewPool(cfg)
	if err != nil {
		view.finish()
		return err
	}
	view.setBusy(pool.Busy)
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

	batch    *merge.Batch
	journal  *journal.File // nil for a test send or a dry run without one: nothing is journalled
	created  bool          // this run created the journal's file
	campaign *campaign     // what this run sends; written to a new journal
	earlier  *campaign     // what the journal says it is about, or nil
	testTo   *mail.Address // --test-to, or nil
	testEnv  string        // --test-to as the envelope writes it
	relays   []relaySpec   // the servers: --smtp, or [[relay]] tables
	failures *failureLog   // a test send's failures, to say why

	// What the preflight found.
	stats   merge.Stats
	plan    sender.Plan
	maxSize int // an estimate of the largest message, in octets
}

// setUp checks the flags, loads the template and opens the journal, and
// returns the pool's configuration, without credentials.
func (r *sendRun) setUp(ctx context.Context) (sender.Config, error) {
	f := &r.f
	var cfg sender.Config
	if len(r.relays) == 0 {
		return cfg, usageError{errors.New("send needs --smtp URL, e.g. smtp://user@smtp.example.com:587")}
	}
	if f.connections < 1 || f.burst < 1 || f.maxPerConn < 0 || f.retries < 0 || f.limit < 0 || f.dailyLimit < 0 {
		return cfg, usageError{errors.New("--connections and --burst must be at least 1; --max-per-conn, --retries, --limit and --daily-limit not negative")}
	}
	if f.wait && f.dailyLimit == 0 {
		return cfg, usageError{errors.New("--wait goes with --daily-limit N")}
	}
	if f.helo != "" {
		if err := checkHelo(f.helo); err != nil {
			return cfg, usageError{err}
		}
	}
	// The servers' URLs and rates first: a mistake there is said before
	// the data is read.
	if _, err := buildRelays(r.relays, false, nil, io.Discard); err != nil {
		return cfg, err
	}
	var err error
	if r.batch, err = f.in.batch(); err != nil {
		return cfg, err
	}
	if r.batch.Composer, err = f.dkim.composer(r.stderr); err != nil {
		return cfg, err
	}
	if f.testTo != "" {
		if r.testTo, err = mail.ParseAddress(f.testTo); err == nil {
			r.testEnv, err = merge.EnvelopeAddress(r.testTo.Address)
		}
		if err != nil {
			return cfg, usageError{fmt.Errorf("--test-to %q is not an email address", f.testTo)}
		}
		if f.limit == 0 {
			f.limit = 1
		}
		fmt.Fprintf(r.stderr, "test send: the first %d messages go only to %s, nothing is journalled\n", f.limit, r.testTo.Address)
	} else if err := r.openJournal(); err != nil {
		return cfg, err
	}
	cfg = sender.Config{
		MaxPerConn:  f.maxPerConn,
		Retries:     f.retries,
		Journal:     r.journal,
		Resume:      journal.ResumePolicy{RetryFailed: f.retryFailed, ResendUnknown: f.resendUnknown},
		Limit:       f.limit,
		DailyLimit:  f.dailyLimit,
		WaitForRoom: f.wait,
	}
	if f.trace != "" {
		if err := notAnInput(f.trace, &f.in); err != nil {
			return cfg, err
		}
		if r.journal != nil && sameFile(f.trace, r.journal.Path()) {
			return cfg, usageError{fmt.Errorf("--trace %s is the journal; name another file", f.trace)}
		}
		trace, err := os.OpenFile(f.trace, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return cfg, fmt.Errorf("--trace: %w", err)
		}
		cfg.Client.Trace = trace
	}
	rs, err := buildRelays(r.relays, f.tlsInsecure, cfg.Client.Trace, r.stderr)
	if err != nil {
		return cfg, err
	}
	if f.timeout < 0 {
		return cfg, usageError{errors.New("--timeout must not be negative")}
	}
	for i := range rs {
		rs[i].Client.TransactionTimeout, rs[i].Client.SetupTimeout = f.timeout, f.timeout
	}
	applyRelays(&cfg, rs)
	return cfg, nil
}

// preflight validates and renders every row before the first message
// leaves, and counts what the journal says is left to send. It returns the
// checked batch, or nil when there is nothing to send.
func (r *sendRun) preflight(ctx context.Context, cfg sender.Config) (*merge.Checked, error) {
	r.plan = sender.Plan{Journal: cfg.Journal, Resume: cfg.Resume, Limit: cfg.Limit}
	anySent := cfg.Journal != nil && cfg.Journal.Totals().Sent > 0
	rows := newRowPrinter(r.stderr, r.batch.Data)
	lint := newLinter(r.batch)
	checked, stats, err := r.batch.Preflight(ctx, func(it *merge.Item) error {
		rows.Row(it)
		lint.Add(it)
		if it.Err != nil || it.DuplicateOf != 0 || !r.f.shard.has(it.Key) {
			return nil
		}
		r.maxSize = max(r.maxSize, it.Message.SizeEstimate())
		m := &sender.Message{Key: it.Key, To: it.Message.Recipients()}
		if r.testTo != nil {
			m.Key, m.To = testKey(it), []string{r.testEnv}
		} else if anySent {
			// Only then can a recipient have had another version.
			m.Fingerprint = it.Message.Fingerprint()
		}
		r.plan.Add(m)
		return nil
	})
	rows.Flush()
	lint.Print(r.stderr)
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
		if r.plan.Changed > 0 && r.plan.Changed == r.plan.Skipped.All() {
			r.say("nothing to send: all %d recipients already got an earlier version of this %s\n", r.plan.Skipped.Sent, r.changedWhat())
			r.writeJSON(nil, "nothing to send")
			fmt.Fprintf(r.stderr, "hint: to send this version to them all, start a new campaign with --journal NEW\n")
			return nil, nil
		}
		r.say("nothing to send\n")
		r.writeJSON(nil, "nothing to send")
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
	if p.Changed > 0 && p.Recipients > 0 {
		fmt.Fprintf(w, "warning: %d messages already went out in an earlier version of this %s and are not sent again\n", p.Changed, r.changedWhat())
	}
	fmt.Fprintf(w, "to send: %s to %s\n", count(p.Messages, "message"), count(p.Recipients, "recipient"))
	if limit := r.f.dailyLimit; limit > 0 && r.journal != nil {
		used := sentInDay(r.journal)
		if room := max(limit-used, 0); room < p.Recipients {
			later := "the rest go in later runs"
			if r.f.wait {
				later = "--wait waits for room for the rest"
			}
			fmt.Fprintf(w, "--daily-limit %d: room for %s now (%d sent in the last 24 hours); %s\n", limit, count(room, "recipient"), used, later)
		}
	}
}

// changedWhat names what changed since the journal's campaign started:
// the template, when its files differ, else the rows.
func (r *sendRun) changedWhat() string {
	if r.templateChanged() {
		return "template (changed since " + r.earlier.Started.Local().Format("2006-01-02 15:04") + ")"
	}
	return "campaign (its rows changed)"
}

// messages is the sequence the pool sends: the checked batch's second
// pass, each row rendered and composed again just before it is queued.
func (r *sendRun) messages(ctx context.Context, checked *merge.Checked) iter.Seq2[*sender.Message, error] {
	return func(yield func(*sender.Message, error) bool) {
		errStop := errors.New("stop")
		err := checked.Each(ctx, func(it *merge.Item, msg []merge.Piece) error {
			var m *sender.Message
			switch {
			case !r.f.shard.has(it.Key):
				return nil
			case it.Err != nil: // invalid in the preflight too: --skip-invalid
				if r.testTo != nil {
					return nil
				}
				m = &sender.Message{Key: it.Key, Row: it.Row, Invalid: it.Err}
			case it.DuplicateOf != 0:
				return nil
			case r.testTo != nil:
				var err error
				if m, err = testMessage(it, r.testEnv, r.batch.Composer); err != nil {
					return err
				}
			default:
				m = &sender.Message{
					Key:         it.Key,
					Row:         it.Row,
					MessageID:   it.Message.MessageID,
					From:        it.Message.Envelope().From,
					To:          it.Message.Recipients(),
					Pieces:      wirePieces(msg), // its own, or the template's files (merge.Checked.Each)
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
		if r.f.json {
			printSummary(r.stderr, sum)
		} else {
			printSummary(r.stdout, sum)
		}
		r.writeJSON(sum, describeRun(err))
	}
	if err == nil {
		err = checked.Unchanged()
	}
	if errors.Is(err, merge.ErrDataChanged) {
		err = fmt.Errorf("%s changed while it was being sent; nothing read after the change was sent, and running the same command again sends the new data to whoever has not had it", r.batch.Data)
	}
	switch {
	case err != nil && r.testTo != nil:
		fmt.Fprintf(r.stderr, "mailshot: test send %s\n", describe(stopped(err)))
		return statusError{status: exitStopped, msg: "stopped"}
	case r.failures != nil && sum.NotSent() > 0:
		for _, l := range r.failures.lines {
			fmt.Fprintf(r.stderr, "test send: %s\n", l)
		}
		if r.failures.more > 0 {
			fmt.Fprintf(r.stderr, "test send: and %d more not sent\n", r.failures.more)
		}
		return statusError{status: exitIncomplete, msg: "incomplete"}
	case err != nil:
		return r.stoppedError(err, sum)
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

// wirePieces hands a message composed in pieces to the SMTP client as it
// is: the shared pieces, a template's files, stay shared.
func wirePieces(msg []merge.Piece) []smtp.Piece {
	out := make([]smtp.Piece, len(msg))
	for i, p := range msg {
		out[i] = smtp.Piece(p)
	}
	return out
}

// testKey keys a row's test copy apart from the row itself.
func testKey(it *merge.Item) string { return "test " + it.Key }

// testMessage renders the test copy of a row for --test-to.
func testMessage(it *merge.Item, to string, composer *merge.Composer) (*sender.Message, error) {
	c := it.Message.TestCopy()
	if composer == nil {
		composer = &merge.Composer{}
	}
	var body bytes.Buffer
	if err := composer.Compose(&body, c); err != nil {
		return nil, err
	}
	return &sender.Message{
		Key:       testKey(it),
		Row:       it.Row,
		MessageID: c.MessageID,
		From:      c.Envelope().From,
		To:        []string{to},
		Body:      body.Bytes(),
	}, nil
}

// printSummary prints the line that ends a send: the outcomes, then how
// many messages went over how many connections, and how fast, when any
// connection was made.
func printSummary(w io.Writer, s *sender.Summary) {
	line := fmt.Sprintf("sent %d, failed %d, deferred %d, unknown %d", s.Sent, s.Failed, s.Deferred, s.Unknown)
	switch {
	case s.Connections > 0:
		line += fmt.Sprintf("; %s over %s in %s", count(s.Messages, "message"), count(s.Connections, "connection"), s.Elapsed.Round(time.Millisecond))
		if secs := s.Elapsed.Seconds(); secs > 0 && s.Sent > 0 {
			line += fmt.Sprintf(" (%.1f messages/s)", float64(s.Messages)/secs)
		}
	case s.Messages > 0:
		line += "; no connection to the server was made"
	}
	fmt.Fprintln(w, line)
}

// count says n things in English: "1 message", "3 messages".
func count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// stoppedError explains why a run stopped early, prints the command that
// resumes it, and returns exit status 3. A stop at a quota or the daily
// limit ends with the line that says when there is room again.
func (r *sendRun) stoppedError(err error, sum *sender.Summary) error {
	stderr := r.stderr
	journalFlag := r.f.journal
	if r.campaign != nil && journalFlag == r.campaign.defaultJournal() {
		journalFlag = "" // the same command finds it
	}
	resume := resumeCommand(r.args, journalFlag)
	var le *sender.DailyLimitError
	switch {
	case errors.As(err, &le) && le.Next.IsZero():
		fmt.Fprintf(stderr, "mailshot: stopped: a message has more recipients than --daily-limit %d allows in a day; raise the limit\n", le.Limit)
	case errors.As(err, &le):
		or := " (or add --wait to wait for room)"
		if r.f.wait {
			or = ""
		}
		fmt.Fprintf(stderr, "resume with: %s%s\n", resume, or)
		fmt.Fprintf(stderr, "mailshot: stopped at --daily-limit: %d of %d recipients sent in the last 24 hours; the next slot opens at %s\n",
			le.Sent, le.Limit, timeOfDay(le.Next))
	case errors.Is(err, sender.ErrQuota):
		fmt.Fprintf(stderr, "resume with: %s\n", resume)
		when := "within 24 hours (providers count a rolling day)"
		if t := roomFrom(r.journal, time.Now()); !t.IsZero() {
			when = "from about " + timeOfDay(t) + ", as the recipients sent 24 hours earlier age out"
		}
		fmt.Fprintf(stderr, "mailshot: stopped: %s; nobody was marked failed, and room can be expected %s (--daily-limit N keeps under it)\n",
			describeStop(errorAsStop(err)), when)
	default:
		fmt.Fprintf(stderr, "mailshot: %s\n", describe(stopped(err)))
		if hint := hintFor(err); hint != "" {
			fmt.Fprintf(stderr, "hint: %s\n", hint)
		}
		if configuration := errors.Is(err, sender.ErrUnreachable) || errors.Is(err, sender.ErrAuthFailed); configuration && (sum == nil || sum.Transactions == 0) {
			fmt.Fprintln(stderr, "nothing was sent; once that is fixed, run the same command again")
		} else {
			fmt.Fprintf(stderr, "resume with: %s\n", resume)
		}
	}
	return statusError{status: exitStopped, msg: "stopped"}
}

// timeOfDay is a time within the next day for people: local HH:MM, and
// "tomorrow" when it is.
func timeOfDay(t time.Time) string {
	t = t.Local()
	now := time.Now()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04")
	}
	if t.Sub(now) < 48*time.Hour {
		return t.Format("15:04") + " tomorrow"
	}
	return t.Format("2006-01-02 15:04")
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
	if !hasJournal && journalPath != "" {
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
	conns := 0
	for _, rl := range r.relays {
		conns += rl.connections
	}
	// Per connection: the message in hand and the one pipelined after it,
	// one ready in the pool's input, and the retries; one more in the feed.
	inFlight := int64(r.maxSize) * (int64(conns)*(2+1+16) + 1)
	debug.SetMemoryLimit(memoryLimit + 2*inFlight)
}
