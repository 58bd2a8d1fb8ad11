package sender

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailshot/mailshot/sender/journal"
)

// A sender-quota reply after k messages stops the run: the message that got
// it and every message after it stay pending (deferred or never tried),
// none failed, and a plain rerun, once the quota allows, sends the rest.
func TestQuotaReplyStopsTheRunWithoutFailingAnyone(t *testing.T) {
	for _, tt := range []struct {
		name  string
		reply *gosmtp.SMTPError
		at    string // the command that gets the reply
	}{
		{"gmail at MAIL", &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 4, 5}, Message: "Daily user sending quota exceeded."}, "MAIL"},
		{"microsoft after the dot", &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 2, 0}, Message: "STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process message"}, "DATA"},
		{"ses at RCPT", &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.NoEnhancedCode, Message: "Throttling failure: Daily message quota exceeded."}, "RCPT"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const k, n = 5, 12
			var quota atomic.Bool
			ts := &testServer{t: t}
			check := func(cmd string) error {
				if cmd == tt.at && quota.Load() {
					return tt.reply
				}
				return nil
			}
			ts.onMail = func(*serverConn, string) error { return check("MAIL") }
			ts.onRcpt = func(*serverConn, string) error { return check("RCPT") }
			ts.onData = func(*serverConn, []byte) error {
				if err := check("DATA"); err != nil {
					return err
				}
				if len(ts.accepted()) == k-1 {
					quota.Store(true)
				}
				return nil
			}
			ts.start()
			j := journalFor(t)
			msgs := testMessages(n, 1, 200)
			cfg := ts.config(j, nil)
			cfg.Connections = 1
			sum, err := runPool(t, cfg, msgs)
			if !errors.Is(err, ErrQuota) {
				t.Fatalf("Run: %v, want ErrQuota", err)
			}
			if sum.Sent != k || sum.Failed != 0 {
				t.Errorf("summary: sent %d, failed %d; want %d sent, none failed", sum.Sent, sum.Failed, k)
			}
			st := statuses(t, j, msgs)
			for _, rr := range st {
				if rr.Status == journal.Failed {
					t.Errorf("%s recorded failed after a quota reply: %s", rr.To, rr.Reply)
				}
			}
			// Room again: a plain rerun sends the rest, nobody twice.
			quota.Store(false)
			ts.onData = nil
			sum, err = runPool(t, cfg, msgs)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(ts.accepted()); got != n {
				t.Errorf("after the rerun the server has %d messages, want %d", got, n)
			}
			for id, c := range ts.deliveries() {
				if c != 1 {
					t.Errorf("%s delivered %d times", id, c)
				}
			}
		})
	}
}

// DailyLimit counts the journal's sent recipients of the last 24 hours
// across runs: a run stops at the limit with a *DailyLimitError saying when
// room opens; a run 24 hours later (an injected clock) goes on.
func TestDailyLimitAcrossRuns(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	msgs := testMessages(10, 2, 200) // 20 recipients
	now := time.Now()
	cfg := ts.config(j, nil)
	cfg.DailyLimit = 7
	cfg.Now = func() time.Time { return now }

	sum, err := runPool(t, cfg, msgs)
	var le *DailyLimitError
	if !errors.Is(err, ErrDailyLimit) || !errors.As(err, &le) {
		t.Fatalf("first run: %v, want ErrDailyLimit", err)
	}
	if sum.Sent != 6 || sum.Failed+sum.Deferred+sum.Unknown != 0 {
		t.Errorf("first run: %+v, want 6 sent (3 messages of 2 fit in 7)", sum.Totals)
	}
	if le.Sent != 6 || le.Limit != 7 || le.Next.Before(now.Add(23*time.Hour)) {
		t.Errorf("limit error %+v", le)
	}
	// An hour later: still no room, nothing sent.
	now = now.Add(time.Hour)
	if sum, err = runPool(t, cfg, msgs); !errors.Is(err, ErrDailyLimit) || sum.Messages != 0 {
		t.Errorf("an hour later: %v, %d messages taken", err, sum.Messages)
	}
	// A day later the window has room for three more messages.
	now = le.Next.Add(time.Second)
	if sum, err = runPool(t, cfg, msgs); !errors.Is(err, ErrDailyLimit) || sum.Sent != 6 {
		t.Errorf("a day later: %v, sent %d, want 6", err, sum.Sent)
	}
	if got := len(ts.accepted()); got != 6 {
		t.Errorf("server has %d messages, want 6", got)
	}
}

// With WaitForRoom the run waits for the window instead of stopping, and
// says so to Progress: the journal holds a recipient sent 24 hours ago
// less 300 ms, so room for the next opens 300 ms into the run.
func TestDailyLimitWaits(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	c, err := j.Add(&journal.Record{Time: time.Now().Add(-24*time.Hour + 300*time.Millisecond),
		Key: "earlier", Recipients: []string{"earlier@example.org"}, Status: journal.Sent})
	if err == nil {
		err = c.Wait(t.Context())
	}
	if err != nil {
		t.Fatal(err)
	}
	msgs := testMessages(1, 1, 200)
	p := &progressLog{}
	cfg := ts.config(j, p)
	cfg.DailyLimit = 1
	cfg.WaitForRoom = true
	start := time.Now()
	sum, err := runPool(t, cfg, msgs)
	if err != nil || sum.Sent != 1 {
		t.Fatalf("Run: %v, %+v", err, sum.Totals)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("sent after %v, before the window had room", waited)
	}
	if len(p.paused) != 2 || p.paused[0] == "" || p.paused[1] != "" {
		t.Errorf("Progress.Paused calls: %q, want a reason then \"\"", p.paused)
	}
}

// Busy names the connections in a transaction and the row each carries,
// while a slow server holds them.
func TestPoolBusy(t *testing.T) {
	release := make(chan struct{})
	ts := &testServer{t: t}
	ts.onData = func(*serverConn, []byte) error { <-release; return nil }
	ts.start()
	cfg := ts.config(nil, nil)
	cfg.Connections = 2
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if p.Busy() != nil {
		t.Error("Busy before Run")
	}
	msgs := testMessages(2, 1, 100)
	done := make(chan error, 1)
	go func() { _, err := p.Run(t.Context(), feed(msgs)); done <- err }()
	var got []Busy
	for deadline := time.Now().Add(10 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		got = p.Busy()
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Row+got[1].Row != msgs[0].Row+msgs[1].Row || got[0].Conn == got[1].Conn || got[0].Since.After(got[1].Since) {
		t.Errorf("Busy() = %+v", got)
	}
	if b := p.Busy(); b != nil {
		t.Errorf("Busy after Run = %+v", b)
	}
}
