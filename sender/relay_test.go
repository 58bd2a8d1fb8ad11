package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
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

// relayEvent is one call of RelayProgress.Relay.
type relayEvent struct {
	name  string
	err   error
	until time.Time
}

// relayLog is a progressLog that also remembers relays leaving and
// rejoining the rotation.
type relayLog struct {
	progressLog
	relayMu sync.Mutex
	events  []relayEvent
}

func (p *relayLog) Relay(name string, err error, until time.Time) {
	p.relayMu.Lock()
	defer p.relayMu.Unlock()
	p.events = append(p.events, relayEvent{name, err, until})
}

func (p *relayLog) relayEvents() []relayEvent {
	p.relayMu.Lock()
	defer p.relayMu.Unlock()
	return append([]relayEvent(nil), p.events...)
}

// relay returns ts as a Relay named name, with conns connections.
func (ts *testServer) relay(name string, conns int) Relay {
	cfg := ts.config(nil, nil)
	return Relay{Name: name, Endpoint: cfg.Endpoint, Client: cfg.Client, Credentials: cfg.Credentials, Connections: conns}
}

// relaysConfig returns a pool configuration over rs, with quick retries.
func relaysConfig(j *journal.File, p Progress, rs ...Relay) Config {
	cfg := (&testServer{}).config(j, p)
	cfg.Endpoint = nil
	cfg.Relays = rs
	return cfg
}

// checkRelays compares what the servers, by relay name, received with the
// journal: a recipient journalled sent got exactly one copy in all, from
// the server of the relay its record names; none was failed. It returns
// the journal's sent recipients by relay.
func checkRelays(t *testing.T, servers map[string]*testServer, j *journal.File, msgs []*Message) map[string]int {
	t.Helper()
	st := statuses(t, j, msgs)
	byRelay := make(map[string]int)
	for _, m := range msgs {
		for _, to := range m.To {
			k := m.MessageID + " " + strings.ToLower(to)
			rr := st[k]
			total := 0
			for _, ts := range servers {
				total += ts.deliveries()[k]
			}
			switch rr.Status {
			case journal.Sent:
				byRelay[rr.Relay]++
				ts := servers[rr.Relay]
				if ts == nil || ts.deliveries()[k] != 1 || total != 1 {
					t.Errorf("%s: journalled sent through %q, delivered %d times in all", k, rr.Relay, total)
				}
			case journal.Unknown:
				if total > 1 {
					t.Errorf("%s: journalled unknown, delivered %d times", k, total)
				}
			default:
				t.Errorf("%s: %s (%s), want sent", k, rr.Status, rr.Reply)
			}
		}
	}
	return byRelay
}

// A batch over two relays is split between them, each message through
// one, and the journal names the relay that took each.
func TestTwoRelaysSplitTheBatch(t *testing.T) {
	a := &testServer{t: t}
	b := &testServer{t: t}
	// A little time per message, so that both relays' connections are
	// busy at once.
	for _, ts := range []*testServer{a, b} {
		ts.onData = func(*serverConn, []byte) error { time.Sleep(time.Millisecond); return nil }
		ts.start()
	}
	j := journalFor(t)
	msgs := testMessages(60, 2, 300)
	cfg := relaysConfig(j, nil, a.relay("a", 2), b.relay("b", 2))
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 120 || sum.Connections != 4 {
		t.Errorf("summary %+v, want 120 sent over 4 connections", sum)
	}
	by := checkRelays(t, map[string]*testServer{"a": a, "b": b}, j, msgs)
	if by["a"] == 0 || by["b"] == 0 || by["a"]+by["b"] != 120 {
		t.Errorf("sent by relay %v, want both relays used", by)
	}
	// Every intent and outcome names its relay.
	rep, _ := journal.ReadReport(j.Path())
	if len(rep.Relays) != 2 || rep.Relays[0].Name != "a" || rep.Relays[0].Sent != by["a"] {
		t.Errorf("report by relay %+v, want a and b with %v", rep.Relays, by)
	}
}

// A relay that answers a sender-quota reply after k messages leaves the
// rotation, said once to Progress; the message that met the reply is not
// charged and goes through the other relay, which finishes the batch.
func TestRelayQuotaFailsOver(t *testing.T) {
	const k, n = 5, 40
	a := &testServer{t: t}
	var taken atomic.Int32
	a.onMail = func(*serverConn, string) error {
		if taken.Add(1) > k {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 4, 5}, Message: "Daily user sending quota exceeded."}
		}
		return nil
	}
	a.start()
	b := (&testServer{t: t}).start()
	j := journalFor(t)
	p := &relayLog{}
	msgs := testMessages(n, 1, 200)
	cfg := relaysConfig(j, p, a.relay("a", 1), b.relay("b", 1))
	cfg.Rate = 0
	// b waits for a's first k: a relay is used while it has room.
	cfg.Relays[1].Rate, cfg.Relays[1].Burst = 20, 1
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatalf("Run: %v, want the other relay to finish the batch", err)
	}
	if sum.Sent != n || sum.NotSent() != 0 {
		t.Errorf("summary %+v, want %d sent", sum.Totals, n)
	}
	by := checkRelays(t, map[string]*testServer{"a": a, "b": b}, j, msgs)
	if by["a"] != k || by["b"] != n-k {
		t.Errorf("sent by relay %v, want a %d (before its quota), b the rest", by, k)
	}
	ev := p.relayEvents()
	if len(ev) != 1 || ev[0].name != "a" || !errors.Is(ev[0].err, ErrQuota) || !ev[0].until.IsZero() {
		t.Errorf("relay events %+v, want a out for the rest of the run, ErrQuota", ev)
	}
	// The message that met the quota is not charged: one transaction
	// through a, one through b, each with its record.
	for _, rr := range statuses(t, j, msgs) {
		if rr.Attempts > 2 {
			t.Errorf("%s: %d attempts", rr.To, rr.Attempts)
		}
	}
}

// freeAddr returns a loopback address where nothing listens.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// A relay down from the start leaves the rotation for a while, said once,
// and the other carries the whole batch.
func TestRelayDownFromTheStart(t *testing.T) {
	down := &testServer{t: t, addr: freeAddr(t)}
	b := (&testServer{t: t}).start()
	j := journalFor(t)
	p := &relayLog{}
	msgs := testMessages(30, 1, 200)
	cfg := relaysConfig(j, p, down.relay("down", 2), b.relay("b", 2))
	cfg.RetryBase, cfg.RetryMax = time.Minute, time.Hour // not back within the test
	start := time.Now()
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 30 {
		t.Errorf("summary %+v, want 30 sent", sum.Totals)
	}
	by := checkRelays(t, map[string]*testServer{"b": b}, j, msgs)
	if by["b"] != 30 {
		t.Errorf("sent by relay %v", by)
	}
	ev := p.relayEvents()
	if len(ev) != 1 || ev[0].name != "down" || !errors.Is(ev[0].err, ErrUnreachable) || !ev[0].until.After(start) {
		t.Errorf("relay events %+v, want down out for a while, unreachable", ev)
	}
}

// An unreachable relay is tried again after its backoff and, once it
// answers, rejoins the rotation, said to Progress.
func TestRelayRejoinsAfterBackoff(t *testing.T) {
	a := &testServer{t: t, addr: freeAddr(t)}
	b := &testServer{t: t}
	started := make(chan struct{})
	var once sync.Once
	var served atomic.Int32
	b.onData = func(*serverConn, []byte) error {
		if served.Add(1) == 1 {
			// b's first message: a is out by now; bring it up.
			once.Do(func() { a.start(); close(started) })
		}
		time.Sleep(2 * time.Millisecond) // b is slow: the batch outlasts a's absence
		return nil
	}
	b.start()
	j := journalFor(t)
	p := &relayLog{}
	msgs := testMessages(400, 1, 200)
	cfg := relaysConfig(j, p, a.relay("a", 1), b.relay("b", 1))
	cfg.RetryBase, cfg.RetryMax = 20*time.Millisecond, 40*time.Millisecond
	if _, err := runPool(t, cfg, msgs); err != nil {
		t.Fatal(err)
	}
	<-started
	by := checkRelays(t, map[string]*testServer{"a": a, "b": b}, j, msgs)
	ev := p.relayEvents()
	if len(ev) < 2 || ev[0].name != "a" || ev[0].err == nil || ev[1].name != "a" || ev[1].err != nil {
		t.Errorf("relay events %+v, want a out, then back", ev)
	}
	if by["a"] == 0 {
		t.Errorf("sent by relay %v: a never carried a message after it came back", by)
	}
}

// Each relay keeps its own rate: over every window of one relay's MAIL
// commands, no more than its burst and rate allow.
func TestRelayRatesEach(t *testing.T) {
	a := (&testServer{t: t}).start()
	b := (&testServer{t: t}).start()
	ra, rb := a.relay("a", 3), b.relay("b", 3)
	ra.Rate, ra.Burst = 40, 2
	rb.Rate, rb.Burst = 20, 1
	msgs := testMessages(45, 1, 100)
	if _, err := runPool(t, relaysConfig(nil, nil, ra, rb), msgs); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range []struct {
		ts    *testServer
		rate  float64
		burst int
	}{{a, 40, 2}, {b, 20, 1}} {
		times := c.ts.mailTimes()
		total += len(times)
		for i := range times {
			for k := i + 1; k < len(times); k++ {
				n := k - i + 1
				// One more for the jitter between the client's clock
				// and the server's.
				allowed := float64(c.burst) + 1 + c.rate*times[k].Sub(times[i]).Seconds()
				if float64(n) > allowed {
					t.Fatalf("%d messages in %v: more than %.1f allowed at %v/s, burst %d", n, times[k].Sub(times[i]), allowed, c.rate, c.burst)
				}
			}
		}
		if len(times) == 0 {
			t.Errorf("a relay carried nothing")
		}
	}
	if total != 45 {
		t.Errorf("%d MAIL in all, want 45", total)
	}
}

// A relay whose AUTH fails leaves the rotation for the rest of the run
// after one attempt; the other, whose AUTH succeeds, carries the batch.
func TestRelayAuthFailsOtherCarries(t *testing.T) {
	bad := (&testServer{t: t, user: "alice@example.test", password: "right"}).start()
	good := (&testServer{t: t, user: "bob@example.test", password: "s3cret"}).start()
	j := journalFor(t)
	p := &relayLog{}
	rbad := bad.relay("bad", 3)
	rbad.Credentials = func(context.Context) (smtp.Credentials, error) { return smtp.Credentials{Password: "wrong"}, nil }
	msgs := testMessages(20, 1, 200)
	sum, err := runPool(t, relaysConfig(j, p, rbad, good.relay("good", 3)), msgs)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 20 {
		t.Errorf("summary %+v", sum.Totals)
	}
	if by := checkRelays(t, map[string]*testServer{"good": good}, j, msgs); by["good"] != 20 {
		t.Errorf("sent by relay %v", by)
	}
	auths := 0
	for _, c := range bad.connections() {
		auths += c.auths
	}
	if auths != 1 {
		t.Errorf("%d AUTH attempts on the relay with the wrong password, want 1", auths)
	}
	ev := p.relayEvents()
	if len(ev) != 1 || ev[0].name != "bad" || !errors.Is(ev[0].err, ErrAuthFailed) || !ev[0].until.IsZero() {
		t.Errorf("relay events %+v, want bad out for the run, ErrAuthFailed", ev)
	}
}

// Only when every relay is out does the run stop, with the reason of the
// one that left last and its name; a rerun resumes.
func TestAllRelaysOutStops(t *testing.T) {
	bad := (&testServer{t: t, user: "alice@example.test", password: "right"}).start()
	quota := &testServer{t: t}
	var full atomic.Bool
	full.Store(true)
	var taken atomic.Int32
	quota.onMail = func(*serverConn, string) error {
		if full.Load() && taken.Add(1) > 3 {
			return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 4, 5}, Message: "Daily user sending quota exceeded."}
		}
		return nil
	}
	quota.start()
	j := journalFor(t)
	rbad := bad.relay("bad", 1)
	rbad.Credentials = func(context.Context) (smtp.Credentials, error) { return smtp.Credentials{Password: "wrong"}, nil }
	msgs := testMessages(10, 1, 200)
	cfg := relaysConfig(j, &relayLog{}, rbad, quota.relay("quota", 1))
	sum, err := runPool(t, cfg, msgs)
	var re *RelayError
	if !errors.As(err, &re) || (!errors.Is(err, ErrQuota) && !errors.Is(err, ErrAuthFailed)) {
		t.Fatalf("Run: %v, want a StopError naming a relay", err)
	}
	if sum.Sent != 3 || sum.Failed != 0 {
		t.Errorf("summary %+v, want 3 sent, none failed", sum.Totals)
	}
	// Room again at quota: the rerun sends the rest, nobody twice.
	full.Store(false)
	cfg.Relays[0] = quota.relay("quota-again", 1) // the bad relay fixed: another way to the same server
	if _, err := runPool(t, cfg, msgs); err != nil {
		t.Fatal(err)
	}
	for id, c := range quota.deliveries() {
		if c != 1 {
			t.Errorf("%s delivered %d times", id, c)
		}
	}
	if got := len(quota.deliveries()); got != 10 {
		t.Errorf("%d delivered in all, want 10", got)
	}
}

// Each relay keeps its own rolling daily limit, counted from the journal's
// records that name it: at its limit a relay leaves the rotation until
// room opens, and the others go on; when every relay is at its limit the
// run stops with ErrDailyLimit.
func TestRelayDailyLimits(t *testing.T) {
	a := (&testServer{t: t}).start()
	b := (&testServer{t: t}).start()
	j := journalFor(t)
	p := &relayLog{}
	ra, rb := a.relay("a", 1), b.relay("b", 1)
	ra.DailyLimit = 4
	rb.Rate = 50 // a takes its share first
	msgs := testMessages(12, 1, 200)
	sum, err := runPool(t, relaysConfig(j, p, ra, rb), msgs)
	if err != nil {
		t.Fatal(err)
	}
	by := checkRelays(t, map[string]*testServer{"a": a, "b": b}, j, msgs)
	if sum.Sent != 12 || by["a"] > 4 || by["a"]+by["b"] != 12 {
		t.Errorf("sent by relay %v, want a at most 4", by)
	}
	if len(a.accepted()) > 4 {
		t.Errorf("relay a got %d messages, over its daily limit 4", len(a.accepted()))
	}
	// A second batch in the same journal: a's count is in the journal.
	rb.DailyLimit = by["b"] + 2           // room for two more through b
	more := testMessages(20, 1, 200)[12:] // other recipients
	_, err = runPool(t, relaysConfig(j, p, ra, rb), more)
	var le *DailyLimitError
	if !errors.Is(err, ErrDailyLimit) || !errors.As(err, &le) {
		t.Fatalf("second batch: %v, want ErrDailyLimit; a has %d, b %d, first %v", err, len(a.accepted()), len(b.accepted()), by)
	}
	if got := len(a.accepted()) + len(b.accepted()); got != 12+(4-by["a"])+2 {
		t.Errorf("servers have %d messages after the second batch, want %d", got, 12+(4-by["a"])+2)
	}
}

// TestTwoRelaysKilledAndResumed runs a pool over two relays in a child
// process, kills it with SIGKILL in the middle of the batch, and resumes
// over the same two relays: nobody gets a message twice, through either
// relay, and the journal's unknown recipients are at most two messages
// per connection.
func TestTwoRelaysKilledAndResumed(t *testing.T) {
	if spec := os.Getenv("SENDER_RELAYS_CHILD"); spec != "" {
		relaysChild(spec)
		return
	}
	const n, conns = 300, 2 // connections per relay
	servers := map[string]*testServer{"a": {t: t}, "b": {t: t}}
	var slow atomic.Bool
	slow.Store(true)
	for _, ts := range servers {
		ts.onData = func(*serverConn, []byte) error {
			if slow.Load() {
				time.Sleep(2 * time.Millisecond) // keep transactions in flight
			}
			return nil
		}
		ts.start()
	}
	path := filepath.Join(t.TempDir(), "journal")
	name := fmt.Sprint(time.Now().UnixNano())
	msgs := namedMessages(name, n, 2, 1000)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTwoRelaysKilledAndResumed$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SENDER_RELAYS_CHILD=%s|%s|%s|%s|%d|%d",
		servers["a"].addr, servers["b"].addr, path, name, n, conns))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	delivered := func() int { return len(servers["a"].deliveries()) + len(servers["b"].deliveries()) }
	for delivered() < n/2 { // recipients, so about a third of the messages
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	before := delivered()

	j := openTestJournal(t, path)
	slow.Store(false)
	cfg := relaysConfig(j, nil, servers["a"].relay("a", conns), servers["b"].relay("b", conns))
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	unknown := sum.Skipped.Unknown
	if max := 2 * conns * 2 * 2; unknown > max { // two relays, two open intents per connection, two recipients per message
		t.Errorf("%d recipients unknown after the kill, more than %d", unknown, max)
	}
	if sum.Messages == 0 || sum.Messages == n {
		t.Fatalf("%d of %d messages sent on resuming: not killed mid-batch", sum.Messages, n)
	}
	by := checkRelays(t, servers, j, msgs)
	if by["a"]+by["b"]+unknown != 2*n || by["a"] == 0 || by["b"] == 0 {
		t.Errorf("sent by relay %v and %d unknown, want %d in all over both relays", by, unknown, 2*n)
	}
	t.Logf("killed after %d deliveries; %d messages resumed; %d recipients unknown; sent by relay %v", before, sum.Messages, unknown, by)
}

// relaysChild sends namedMessages through a pool over two relays with a
// journal, until killed.
func relaysChild(spec string) {
	parts := strings.Split(spec, "|")
	var n, conns int
	fmt.Sscan(parts[4], &n)
	fmt.Sscan(parts[5], &conns)
	j, err := journal.Open(parts[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	a, b := &testServer{addr: parts[0]}, &testServer{addr: parts[1]}
	p, err := NewPool(Config{
		Relays: []Relay{
			{Name: "a", Endpoint: a.endpoint(), Client: smtp.Config{LocalName: "child.example.com"}, Connections: conns},
			{Name: "b", Endpoint: b.endpoint(), Client: smtp.Config{LocalName: "child.example.com"}, Connections: conns},
		},
		Journal: j,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.Run(context.Background(), feed(namedMessages(parts[3], n, 2, 1000)))
	os.Exit(0)
}
