package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// runPool runs a pool with cfg over msgs and returns its summary and error.
func runPool(t testing.TB, cfg Config, msgs []*Message) (*Summary, error) {
	t.Helper()
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p.Run(context.Background(), feed(msgs))
}

// journalFor opens a journal in a temporary directory.
func journalFor(t testing.TB) *journal.File {
	return openTestJournal(t, filepath.Join(t.TempDir(), "journal"))
}

// statuses reads the journal back with ReadReport and returns each
// recipient's status, by Message-ID and lower-case address.
func statuses(t *testing.T, j *journal.File, msgs []*Message) map[string]journal.RecipientReport {
	t.Helper()
	if err := j.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := journal.ReadReport(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]string)
	for _, m := range msgs {
		ids[m.Key] = m.MessageID
	}
	out := make(map[string]journal.RecipientReport)
	for _, r := range rep.Recipients {
		out[ids[r.Key]+" "+strings.ToLower(r.To)] = r
	}
	return out
}

// checkDelivery compares the server's deliveries with the journal: a
// recipient journalled sent got exactly one copy; unknown at most one;
// failed, deferred or absent none. It returns the journal's totals.
func checkDelivery(t *testing.T, ts *testServer, j *journal.File, msgs []*Message) journal.Totals {
	t.Helper()
	got := ts.deliveries()
	st := statuses(t, j, msgs)
	var totals journal.Totals
	for _, m := range msgs {
		for _, to := range m.To {
			k := m.MessageID + " " + strings.ToLower(to)
			n := got[k]
			switch s := st[k].Status; s {
			case journal.Sent:
				totals.Sent++
				if n != 1 {
					t.Errorf("%s: journalled sent, delivered %d times", k, n)
				}
			case journal.Unknown:
				totals.Unknown++
				if n > 1 {
					t.Errorf("%s: journalled unknown, delivered %d times", k, n)
				}
			default:
				switch s {
				case journal.Failed:
					totals.Failed++
				case journal.Deferred:
					totals.Deferred++
				}
				if n != 0 {
					t.Errorf("%s: journalled %q, delivered %d times", k, s, n)
				}
			}
		}
	}
	return totals
}

func TestPoolSendsThroughReusedConnections(t *testing.T) {
	ts := (&testServer{t: t, user: "alice@example.test", password: "s3cret"}).start()
	j := journalFor(t)
	p := &progressLog{}
	cfg := ts.config(j, p)
	cfg.Connections = 4
	msgs := testMessages(200, 2, 2000)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 400}); sum.Totals != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	if got := checkDelivery(t, ts, j, msgs); got != (journal.Totals{Sent: 400}) {
		t.Errorf("journal %+v", got)
	}
	conns := ts.connections()
	if len(conns) != 4 || sum.Connections != 4 {
		t.Errorf("%d connections at the server, %d in the summary; want 4", len(conns), sum.Connections)
	}
	mails := 0
	for _, c := range conns {
		if c.auths != 1 {
			t.Errorf("connection %d authenticated %d times, want once", c.id, c.auths)
		}
		mails += c.mails
	}
	if mails != 200 || sum.Transactions != 200 || sum.Messages != 200 {
		t.Errorf("%d MAIL at the server, summary %+v; want 200", mails, sum)
	}
	// Progress heard every recipient once, after the journal had it.
	n := 0
	for _, r := range p.records {
		if r.Status != journal.Sent {
			t.Errorf("progress told %+v", r)
		}
		n += len(r.Recipients)
	}
	if n != 400 {
		t.Errorf("progress told %d recipients, want 400", n)
	}
	// The bodies arrived intact.
	delivered, _ := ts.messages()
	for _, d := range delivered[:3] {
		var want []byte
		for _, m := range msgs {
			if m.MessageID == d.messageID {
				want = m.Body
			}
		}
		if !bytes.Equal(d.data, want) {
			t.Errorf("message %s arrived changed", d.messageID)
		}
	}
}

func TestPoolWithoutJournal(t *testing.T) {
	ts := (&testServer{t: t}).start()
	p := &progressLog{}
	msgs := testMessages(20, 1, 500)
	sum, err := runPool(t, ts.config(nil, p), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 20 || len(p.records) != 20 || len(ts.deliveries()) != 20 {
		t.Errorf("summary %+v, %d outcomes, %d deliveries; want 20", sum, len(p.records), len(ts.deliveries()))
	}
}

func TestPoolPerRecipientResults(t *testing.T) {
	ts := &testServer{t: t}
	ts.onRcpt = func(c *serverConn, to string) error {
		if strings.HasSuffix(to, "-1@example.org") {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	msgs := testMessages(10, 3, 500)
	sum, err := runPool(t, ts.config(j, nil), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 20, Failed: 10}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	st := statuses(t, j, msgs)
	r := st[msgs[0].MessageID+" rcpt0-1@example.org"]
	if r.Code != 550 || r.Reply != "5.1.1 <rcpt0-1@example.org>: Recipient address rejected: User unknown" {
		t.Errorf("failed recipient reported %+v", r)
	}
	if sum.Transactions != 10 {
		t.Errorf("%d transactions: a permanent failure was retried", sum.Transactions)
	}
}

func TestPoolRetriesTemporaryFailures(t *testing.T) {
	ts := &testServer{t: t}
	var mu sync.Mutex
	seen := map[string]bool{}
	ts.onRcpt = func(c *serverConn, to string) error {
		mu.Lock()
		defer mu.Unlock()
		if !seen[to] {
			seen[to] = true
			return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	msgs := testMessages(10, 1, 500)
	sum, err := runPool(t, ts.config(j, nil), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 10}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	for _, r := range statuses(t, j, msgs) {
		if r.Attempts != 2 {
			t.Errorf("%s sent after %d attempts, want 2", r.To, r.Attempts)
		}
	}
}

func TestPoolDefersAfterRetries(t *testing.T) {
	ts := &testServer{t: t}
	ts.onMail = func(c *serverConn, from string) error {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "local problem"}
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Retries = 2
	msgs := testMessages(4, 2, 500)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Deferred: 8}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	if sum.Transactions != 4*3 {
		t.Errorf("%d transactions, want %d (1 + 2 retries each)", sum.Transactions, 4*3)
	}
	for _, r := range statuses(t, j, msgs) {
		if r.Code != 451 || r.Attempts != 3 {
			t.Errorf("deferred recipient %+v", r)
		}
	}
	// A second run resumes the deferred.
	res := pending(j, msgs[0], journal.ResumePolicy{})
	if len(res.Send) != 2 {
		t.Errorf("Pending after deferral %+v, want both recipients", res)
	}
}

func TestPoolTooManyRecipients(t *testing.T) {
	ts := &testServer{t: t, configure: func(s *gosmtp.Server) { s.MaxRecipients = 2 }}
	ts.start()
	j := journalFor(t)
	msgs := testMessages(3, 5, 500)
	sum, err := runPool(t, ts.config(j, nil), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 15}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	if sum.Transactions != 3*3 {
		t.Errorf("%d transactions, want 3 per message (2+2+1 recipients)", sum.Transactions)
	}
}

// TestPoolServerClosesConnection has the server say 421 and close after k
// messages on a connection: the message in hand goes through another one.
func TestPoolServerClosesConnection(t *testing.T) {
	const k = 3
	ts := &testServer{t: t}
	ts.onMail = func(c *serverConn, from string) error {
		if c.mails > k {
			c.fc.closeAfterReply("")
			return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "too many messages, closing"}
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Connections = 2
	cfg.Retries = 0 // a 421 at the first command of a reused connection is free
	msgs := testMessages(30, 1, 500)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 30}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	for _, c := range ts.connections() {
		if c.mails > k+1 {
			t.Errorf("connection %d got %d MAIL after its 421", c.id, c.mails)
		}
	}
	for _, r := range statuses(t, j, msgs) {
		if r.Attempts != 1 {
			t.Errorf("%s: %d attempts; the reconnection was charged", r.To, r.Attempts)
		}
	}
}

// TestPoolIdleTimeout has the server drop connections idle for a moment,
// with an unsolicited 421 as Postfix does: the pool reconnects without
// charging the message.
func TestPoolIdleTimeout(t *testing.T) {
	ts := &testServer{t: t}
	ts.onData = func(c *serverConn, body []byte) error {
		// After the reply to this message the server times out.
		c.fc.closeAfterReply("421 4.4.2 test.example.com Error: timeout exceeded\r\n")
		return nil
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Connections = 1
	cfg.Retries = 0
	msgs := testMessages(10, 1, 500)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 10}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	if n := len(ts.connections()); n != 10 {
		t.Errorf("%d connections, want one per message", n)
	}
}

func TestPoolIdleProbe(t *testing.T) {
	ts := (&testServer{t: t}).start()
	var trace syncBuffer
	cfg := ts.config(nil, nil)
	cfg.Connections = 1
	cfg.IdleProbe = 5 * time.Millisecond
	cfg.Client.Trace = &trace
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The messages come slower than the probe threshold: the connection
	// sits idle before each reuse.
	in := func(yield func(*Message, error) bool) {
		for i, m := range testMessages(3, 1, 100) {
			if i > 0 {
				time.Sleep(20 * time.Millisecond)
			}
			if !yield(m, nil) {
				return
			}
		}
	}
	if _, err := p.Run(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(trace.String(), "C: NOOP"); n != 2 {
		t.Errorf("%d NOOP probes, want 2 (before each reuse)\n%s", n, trace.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestPoolMaxPerConn(t *testing.T) {
	ts := (&testServer{t: t}).start()
	var trace syncBuffer
	cfg := ts.config(nil, nil)
	cfg.Connections = 2
	cfg.MaxPerConn = 5
	cfg.Client.Trace = &trace
	sum, err := runPool(t, cfg, testMessages(40, 1, 300))
	if err != nil {
		t.Fatal(err)
	}
	conns := ts.connections()
	for _, c := range conns {
		if c.mails > 5 {
			t.Errorf("connection %d carried %d messages, max 5", c.id, c.mails)
		}
	}
	if len(conns) < 8 || sum.Connections != len(conns) {
		t.Errorf("%d connections (summary %d) for 40 messages at 5 each", len(conns), sum.Connections)
	}
	if n := strings.Count(trace.String(), "C: QUIT"); n != len(conns) {
		t.Errorf("%d QUIT for %d connections", n, len(conns))
	}
	if !strings.Contains(trace.String(), "[2] ") {
		t.Error("transcript lines are not prefixed with the connection number")
	}
}

func TestPoolDropInData(t *testing.T) {
	ts := &testServer{t: t}
	var mu sync.Mutex
	dropped := 0
	ts.readData = func(c *serverConn, r io.Reader) error {
		mu.Lock()
		defer mu.Unlock()
		if dropped < 2 {
			dropped++
			// Read a little of the body, then hang up.
			io.CopyN(io.Discard, r, 64<<10)
			c.fc.Conn.Close()
			return errors.New("dropped")
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Connections = 1
	// Bodies larger than the socket buffers, so that the client is still
	// writing when the connection goes.
	msgs := testMessages(3, 1, 16<<20)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 3}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	if sum.Transactions != 5 {
		t.Errorf("%d transactions, want 5 (two cut short, retried)", sum.Transactions)
	}
}

func TestPoolDropAfterDot(t *testing.T) {
	ts := &testServer{t: t}
	ts.onData = func(c *serverConn, body []byte) error {
		if bytes.Contains(body, []byte("Subject: test 1\r\n")) {
			return errDropAfterAccept
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	msgs := testMessages(5, 2, 500)
	sum, err := runPool(t, ts.config(j, nil), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 8, Unknown: 2}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	if res := pending(j, msgs[1], journal.ResumePolicy{}); len(res.Send) != 0 || res.Unknown != 2 {
		t.Errorf("Pending(unknown) = %+v, want nothing to send", res)
	}
	if res := pending(j, msgs[1], journal.ResumePolicy{ResendUnknown: true}); len(res.Send) != 2 {
		t.Errorf("Pending(unknown, ResendUnknown) = %+v, want both", res)
	}
}

func TestPoolSlowServer(t *testing.T) {
	ts := &testServer{t: t}
	var mu sync.Mutex
	slowRcpt, slowData := 1, 1
	ts.onRcpt = func(c *serverConn, to string) error {
		mu.Lock()
		slow := slowRcpt > 0 && strings.HasPrefix(to, "rcpt0-")
		if slow {
			slowRcpt--
		}
		mu.Unlock()
		if slow {
			time.Sleep(time.Second)
		}
		return nil
	}
	ts.onData = func(c *serverConn, body []byte) error {
		mu.Lock()
		slow := slowData > 0 && bytes.Contains(body, []byte("Subject: test 1\r\n"))
		if slow {
			slowData--
		}
		mu.Unlock()
		if slow {
			time.Sleep(time.Second)
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Client.CommandTimeout = 200 * time.Millisecond
	cfg.Client.DataTermTimeout = 200 * time.Millisecond
	msgs := testMessages(4, 1, 500)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	// Message 0 timed out at RCPT and was retried; message 1 timed out
	// after the dot (the server took it): unknown.
	if want := (journal.Totals{Sent: 3, Unknown: 1}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	st := statuses(t, j, msgs)
	if r := st[msgs[0].MessageID+" rcpt0-0@example.org"]; r.Status != journal.Sent || r.Attempts != 2 {
		t.Errorf("message 0: %+v, want sent at the second attempt", r)
	}
	if r := st[msgs[1].MessageID+" rcpt1-0@example.org"]; r.Status != journal.Unknown {
		t.Errorf("message 1: %+v, want unknown", r)
	}
}

func TestPoolWrongPassword(t *testing.T) {
	ts := (&testServer{t: t, user: "alice@example.test", password: "s3cret"}).start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Connections = 3
	cfg.Credentials = func(context.Context) (smtp.Credentials, error) {
		return smtp.Credentials{Password: "wrong"}, nil
	}
	msgs := testMessages(20, 1, 300)
	sum, err := runPool(t, cfg, msgs)
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Run: %v, want ErrAuthFailed", err)
	}
	var ae *smtp.AuthError
	if !errors.As(err, &ae) || ae.Err.Code != 535 {
		t.Errorf("Run: %v, want the server's 535 inside", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error reveals the password: %v", err)
	}
	if sum.Sent != 0 || len(ts.deliveries()) != 0 {
		t.Errorf("sent %d, delivered %d after an authentication failure", sum.Sent, len(ts.deliveries()))
	}
	if got := j.Totals(); got != (journal.Totals{}) {
		t.Errorf("journal %+v, want nothing recorded", got)
	}
	total := 0
	for _, c := range ts.connections() {
		if c.auths > 1 {
			t.Errorf("connection %d tried AUTH %d times", c.id, c.auths)
		}
		total += c.auths
	}
	if total < 1 || total > cfg.Connections {
		t.Errorf("%d AUTH attempts in all, want 1 to %d", total, cfg.Connections)
	}
}

// A refused port at the run's first connection is a wrong address: the run
// stops after that one attempt, not after a storm of retries.
func TestPoolUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, addr: ln.Addr().String()}
	ln.Close() // nothing listens there any more
	cfg := ts.config(nil, nil)
	cfg.Retries = 2
	cfg.RetryBase, cfg.RetryMax = time.Second, time.Second
	start := time.Now()
	sum, err := runPool(t, cfg, testMessages(5, 1, 100))
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("Run took %v: it waited for a retry", d)
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Run: %v, want ErrUnreachable", err)
	}
	var se *StopError
	if !errors.As(err, &se) || sum.Sent != 0 {
		t.Errorf("Run: %v, %+v", err, sum)
	}
	var ce *ConnectError
	var ne *net.OpError
	if !errors.As(err, &ce) || ce.Attempts != 1 || !errors.As(ce, &ne) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Run: %v, want a ConnectError of 1 attempt over the dial's error", err)
	}
}

// A host name that does not resolve stops the run at once too.
func TestPoolHostNotFound(t *testing.T) {
	cfg := (&testServer{t: t, addr: "no-such-host.invalid:25"}).config(nil, nil)
	cfg.RetryBase, cfg.RetryMax = time.Second, time.Second
	_, err := runPool(t, cfg, testMessages(2, 1, 100))
	var dns *net.DNSError
	var ce *ConnectError
	if !errors.Is(err, ErrUnreachable) || !errors.As(err, &dns) || !errors.As(err, &ce) || ce.Attempts != 1 {
		t.Fatalf("Run: %v, want one attempt ending in a *net.DNSError", err)
	}
}

func TestPoolServerRestart(t *testing.T) {
	ts := &testServer{t: t, user: "alice@example.test", password: "s3cret"}
	var once sync.Once
	restarted := make(chan struct{})
	ts.onData = func(c *serverConn, body []byte) error {
		if bytes.Contains(body, []byte("Subject: test 20\r\n")) {
			once.Do(func() {
				go func() {
					ts.restart(300 * time.Millisecond)
					close(restarted)
				}()
			})
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Retries = 6
	cfg.RetryBase = 50 * time.Millisecond
	cfg.RetryMax = time.Second
	msgs := testMessages(60, 1, 500)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	<-restarted
	got := checkDelivery(t, ts, j, msgs)
	if got.Sent+got.Unknown != 60 || sum.Totals != got || got.Unknown > DefaultConnections {
		t.Errorf("summary %+v, journal %+v; want 60 sent or (at most %d) unknown", sum.Totals, got, DefaultConnections)
	}
}

func TestPoolRateNeverExceeded(t *testing.T) {
	ts := (&testServer{t: t}).start()
	cfg := ts.config(nil, nil)
	cfg.Connections = 4
	const r, burst = 40.0, 3
	cfg.Rate, cfg.Burst = r, burst
	if _, err := runPool(t, cfg, testMessages(40, 1, 100)); err != nil {
		t.Fatal(err)
	}
	times := ts.mailTimes()
	if len(times) != 40 {
		t.Fatalf("%d MAIL, want 40", len(times))
	}
	// Over any window [times[i], times[k]], a token bucket allows burst +
	// rate·length messages; one more is allowed for the network's jitter
	// between the client's clock and the server's.
	for i := range times {
		for k := i + 1; k < len(times); k++ {
			n := k - i + 1
			allowed := burst + 1 + r*times[k].Sub(times[i]).Seconds()
			if float64(n) > allowed {
				t.Fatalf("%d messages in %v: more than %.1f allowed at %v/s, burst %d", n, times[k].Sub(times[i]), allowed, r, burst)
			}
		}
	}
}

func TestPoolThrottles(t *testing.T) {
	ts := &testServer{t: t}
	var mu sync.Mutex
	count := 0
	ts.onMail = func(c *serverConn, from string) error {
		mu.Lock()
		defer mu.Unlock()
		count++
		if count%7 == 0 {
			return &gosmtp.SMTPError{Code: 450, EnhancedCode: gosmtp.EnhancedCode{4, 7, 1}, Message: "Error: too much mail from 127.0.0.1"}
		}
		return nil
	}
	ts.start()
	p := &progressLog{}
	j := journalFor(t)
	cfg := ts.config(j, p)
	cfg.Rate = 500
	cfg.ThrottleHold = 20 * time.Millisecond
	cfg.Retries = 5
	msgs := testMessages(30, 1, 100)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 30}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	ev := p.throttleEvents()
	if len(ev) == 0 || !ev[0].on || ev[0].limit != 250 {
		t.Errorf("progress heard %v, want throttling at 250/s first", ev)
	}
}

// TestPoolStartTLS checks that the pool upgrades with STARTTLS when
// offered, verifying the certificate, and stops on an untrusted one.
func TestPoolStartTLS(t *testing.T) {
	serverTLS, roots := selfSignedTLS(t)
	ts := (&testServer{t: t, user: "alice@example.test", password: "s3cret", tlsConfig: serverTLS}).start()
	var trace syncBuffer
	cfg := ts.config(nil, nil)
	cfg.Client.TLSConfig = &tls.Config{RootCAs: roots}
	cfg.Client.Trace = &trace
	if _, err := runPool(t, cfg, testMessages(3, 1, 100)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(trace.String(), "C: STARTTLS") || strings.Contains(trace.String(), "s3cret") {
		t.Errorf("transcript without STARTTLS, or with the password:\n%s", trace.String())
	}

	cfg.Client.TLSConfig = nil // system roots: the certificate is untrusted
	_, err := runPool(t, cfg, testMessages(3, 1, 100))
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Run with an untrusted certificate: %v, want ErrUnreachable at once", err)
	}
}

func TestPoolInterrupted(t *testing.T) {
	ts := &testServer{t: t}
	var slow atomic.Bool
	slow.Store(true)
	ts.onData = func(c *serverConn, body []byte) error {
		if slow.Load() {
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	ts.start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	msgs := testMessages(200, 1, 300)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for len(ts.deliveries()) < 10 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	sum, err := p.Run(ctx, feed(msgs))
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v, want ErrInterrupted", err)
	}
	got := checkDelivery(t, ts, j, msgs)
	// In-flight messages finished within the grace period: nothing is
	// unknown, and the rest is left for the resumed run.
	if got.Unknown != 0 || got.Sent < 10 || got.Sent == 200 || sum.Totals != got {
		t.Errorf("summary %+v, journal %+v", sum.Totals, got)
	}
	// Resume with the whole batch: the rest goes, nobody twice.
	slow.Store(false)
	again, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if again.Messages != 200-got.Sent || again.Skipped != (journal.Totals{Sent: got.Sent}) {
		t.Errorf("resumed run took %d messages and skipped %+v, after %d of 200 sent", again.Messages, again.Skipped, got.Sent)
	}
	if got := checkDelivery(t, ts, j, msgs); got != (journal.Totals{Sent: 200}) {
		t.Errorf("after resuming: %+v", got)
	}
}

func TestPoolEightBitAndUTF8(t *testing.T) {
	ts := (&testServer{t: t}).start()
	plain := &Message{Key: "k1", From: "a@example.com", To: []string{"b@example.com"}, Body: []byte("Subject: hi\r\n\r\nplain\r\n")}
	eightBit := &Message{Key: "k2", From: "a@example.com", To: []string{"b@example.com"}, Body: []byte("Subject: hi\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncafé\r\n")}
	utf8Header := &Message{Key: "k3", From: "a@example.com", To: []string{"b@example.com"}, Body: []byte("Subject: café\r\n\r\ncafé\r\n")}
	// In pieces, the header's end and a shared 8-bit piece met twice.
	café := []byte("\ncafé\r\n")
	pieces := func(key string, p ...smtp.Piece) *Message {
		return &Message{Key: key, From: "a@example.com", To: []string{"b@example.com"}, Pieces: p}
	}
	splitEnd := pieces("k4", smtp.Piece{Octets: []byte("Subject: hi\r\n\r")}, smtp.Piece{Octets: café, Shared: true})
	splitHeader := pieces("k5", smtp.Piece{Octets: []byte("Subject: caf")}, smtp.Piece{Octets: []byte("é\r\n\r\nok\r\n"), Shared: true})
	again := pieces("k6", smtp.Piece{Octets: []byte("Subject: hi\r\n\r")}, smtp.Piece{Octets: café, Shared: true})
	ascii := pieces("k7", smtp.Piece{Octets: []byte("Subject: hi\r\n\r\n")}, smtp.Piece{Octets: []byte("aGk=\r\n"), Shared: true})
	cfg := ts.config(nil, nil)
	cfg.Connections = 1
	for i, tt := range []struct {
		m               *Message
		want8, wantUTF8 bool
	}{{plain, false, false}, {eightBit, true, false}, {utf8Header, true, true},
		{splitEnd, true, false}, {splitHeader, true, true}, {again, true, false}, {ascii, false, false}} {
		m, want8, wantUTF8 := tt.m, tt.want8, tt.wantUTF8
		if _, err := runPool(t, cfg, []*Message{m}); err != nil {
			t.Fatal(err)
		}
		_, all := ts.messages()
		opts := all[i]
		if got8 := opts.Body == gosmtp.Body8BitMIME; got8 != want8 || opts.UTF8 != wantUTF8 {
			t.Errorf("message %d: BODY=%q SMTPUTF8=%v, want 8BITMIME %v, SMTPUTF8 %v", i, opts.Body, opts.UTF8, want8, wantUTF8)
		}
	}
}

func TestPoolDuplicateRecipients(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	m := testMessages(1, 1, 100)[0]
	m.To = []string{"a@example.org", "A@Example.org", "b@example.org", "a@example.org"}
	sum, err := runPool(t, ts.config(j, nil), []*Message{m})
	if err != nil {
		t.Fatal(err)
	}
	delivered, _ := ts.messages()
	if sum.Sent != 2 || len(delivered) != 1 || len(delivered[0].to) != 2 {
		t.Errorf("summary %+v, delivered %+v; want each address once", sum, delivered)
	}
}

func TestPoolCredentialsPerConnection(t *testing.T) {
	ts := (&testServer{t: t, user: "alice@example.test", password: "s3cret"}).start()
	cfg := ts.config(nil, nil)
	cfg.Connections = 2
	cfg.MaxPerConn = 3
	var mu sync.Mutex
	calls := 0
	cfg.Credentials = func(context.Context) (smtp.Credentials, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return smtp.Credentials{Password: "s3cret"}, nil
	}
	sum, err := runPool(t, cfg, testMessages(12, 1, 100))
	if err != nil {
		t.Fatal(err)
	}
	if calls != sum.Connections || calls != len(ts.connections()) {
		t.Errorf("Credentials called %d times for %d connections", calls, sum.Connections)
	}

	cfg.Credentials = func(context.Context) (smtp.Credentials, error) {
		return smtp.Credentials{}, errors.New("token command failed")
	}
	if _, err := runPool(t, cfg, testMessages(2, 1, 100)); !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "token command failed") {
		t.Errorf("Run with failing credentials: %v", err)
	}
}

// TestPoolJournalFailure runs a pool whose journal is on a full disk
// (/dev/full refuses every write with ENOSPC).
func TestPoolJournalFailure(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := openTestJournal(t, "/dev/full")
	_, err := runPool(t, ts.config(j, nil), testMessages(5, 1, 100))
	if !errors.Is(err, ErrJournal) {
		t.Fatalf("Run: %v, want ErrJournal", err)
	}
	// No body went out without its intent durable.
	if n := len(ts.deliveries()); n != 0 {
		t.Errorf("%d messages delivered without a journal", n)
	}
}

// TestPoolInterruptedDuringBackoff stops a run whose last message waits
// for a retry: it is journalled deferred, and Run says interrupted.
func TestPoolInterruptedDuringBackoff(t *testing.T) {
	ts := &testServer{t: t}
	ts.onMail = func(c *serverConn, from string) error {
		return &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "later"}
	}
	ts.start()
	j := journalFor(t)
	p := &progressLog{}
	cfg := ts.config(j, p)
	cfg.RetryBase, cfg.RetryMax = time.Hour, time.Hour
	pool, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	msgs := testMessages(2, 1, 100)
	go func() {
		for len(ts.mailTimes()) < 2 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	sum, err := pool.Run(ctx, feed(msgs))
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run: %v, want ErrInterrupted", err)
	}
	if want := (journal.Totals{Deferred: 2}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want || len(p.records) != 2 {
		t.Errorf("summary %+v, %d outcomes; want 2 deferred", sum.Totals, len(p.records))
	}
}

// TestPoolTooManyConnections has the server refuse a second connection at
// once with 421 4.7.0 at the greeting: the pool carries on with fewer
// connections and loses nothing.
func TestPoolTooManyConnections(t *testing.T) {
	ts := (&testServer{t: t, maxConns: 1}).start()
	j := journalFor(t)
	p := &progressLog{}
	cfg := ts.config(j, p)
	cfg.Connections = 3
	cfg.Retries = 1
	cfg.ThrottleHold = 20 * time.Millisecond
	msgs := testMessages(40, 1, 200)
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if want := (journal.Totals{Sent: 40}); sum.Totals != want || checkDelivery(t, ts, j, msgs) != want {
		t.Errorf("summary %+v, want %+v", sum.Totals, want)
	}
	ts.mu.Lock()
	refused := ts.refused
	ts.mu.Unlock()
	if refused == 0 {
		t.Errorf("no connection refused: the test did not test")
	}
	if ev := p.throttleEvents(); len(ev) != 0 {
		t.Errorf("throttled %v: a limit on connections is not one on the rate", ev)
	}
}

// TestPoolNoMessageLostAtTheEnd runs many short batches with more
// connections than messages: a message received just as the channel closes
// must still be sent (a race found by the benchmarks).
func TestPoolNoMessageLostAtTheEnd(t *testing.T) {
	ts := (&testServer{t: t, sink: true}).start()
	cfg := ts.config(nil, nil)
	cfg.Connections = 16
	for i := range 200 {
		msgs := testMessages(1+i%3, 1, 100)
		sum, err := runPool(t, cfg, msgs)
		if err != nil || sum.Sent != len(msgs) {
			t.Fatalf("batch %d: %+v, %v; want %d sent", i, sum, err, len(msgs))
		}
	}
}

func TestHas8bit(t *testing.T) {
	for n := range 40 {
		ascii := bytes.Repeat([]byte("a"), n)
		if has8bit(ascii) {
			t.Errorf("%d ASCII octets reported 8-bit", n)
		}
		for i := range n {
			b := bytes.Clone(ascii)
			b[i] = 0x80 | byte(i)
			if !has8bit(b) {
				t.Errorf("octet %d of %d is 0x%x, not noticed", i, n, b[i])
			}
		}
	}
}
