package sender

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// record journals one outcome for recipients of m before a run.
func record(t *testing.T, j *journal.File, m *Message, st journal.Status, fingerprint string, to ...string) {
	t.Helper()
	c, err := j.Add(&journal.Record{Row: m.Row, Key: m.Key, Recipients: to, Status: st, Fingerprint: fingerprint})
	if err == nil {
		err = c.Wait(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunResumes gives Run the whole batch over a journal that already
// holds an outcome for some recipients: Run itself leaves out what the
// journal settles under each policy, and the server sees only the rest.
func TestRunResumes(t *testing.T) {
	tests := []struct {
		policy      journal.ResumePolicy
		wantSent    []string // addresses the server gets
		wantSkipped journal.Totals
	}{
		{journal.ResumePolicy{}, []string{"deferred@example.org", "new@example.org"},
			journal.Totals{Sent: 1, Failed: 1, Unknown: 2}},
		{journal.ResumePolicy{RetryFailed: true}, []string{"deferred@example.org", "failed@example.org", "new@example.org"},
			journal.Totals{Sent: 1, Unknown: 2}},
		{journal.ResumePolicy{ResendUnknown: true}, []string{"deferred@example.org", "intent@example.org", "new@example.org", "unknown@example.org"},
			journal.Totals{Sent: 1, Failed: 1}},
	}
	for _, tt := range tests {
		ts := (&testServer{t: t}).start()
		j := journalFor(t)
		all := []string{"sent@example.org", "failed@example.org", "unknown@example.org", "intent@example.org", "deferred@example.org", "new@example.org"}
		m := &Message{Key: "k", Row: 2, MessageID: "<1@example.org>", From: "a@example.com", To: all,
			Body: []byte("Subject: x\r\n\r\nhello\r\n"), Fingerprint: "fp"}
		record(t, j, m, journal.Sent, "fp", "SENT@example.org") // case does not make another recipient
		record(t, j, m, journal.Failed, "", "failed@example.org")
		record(t, j, m, journal.Unknown, "", "unknown@example.org")
		record(t, j, m, journal.Intent, "", "intent@example.org")
		record(t, j, m, journal.Deferred, "", "deferred@example.org")

		cfg := ts.config(j, nil)
		cfg.Resume = tt.policy
		sum, err := runPool(t, cfg, []*Message{m})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, d := range ts.accepted() {
			got = append(got, d.to...)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.wantSent) {
			t.Errorf("%+v: server got %v, want %v", tt.policy, got, tt.wantSent)
		}
		if sum.Skipped != tt.wantSkipped || sum.Sent != len(tt.wantSent) || sum.Recipients != len(tt.wantSent) || sum.Unsettled() != 0 {
			t.Errorf("%+v: summary %+v", tt.policy, sum)
		}
		// The same batch once more: nothing left to send.
		again, err := runPool(t, cfg, []*Message{m})
		if err != nil {
			t.Fatal(err)
		}
		if again.Messages != 0 || len(ts.accepted()) != 1 {
			t.Errorf("%+v: a second run took %d messages; the server has %d", tt.policy, again.Messages, len(ts.accepted()))
		}
	}
}

// TestRunWithoutJournal sends everything, every time: nothing remembers.
func TestRunWithoutJournal(t *testing.T) {
	ts := (&testServer{t: t}).start()
	msgs := testMessages(3, 2, 100)
	for range 2 {
		sum, err := runPool(t, ts.config(nil, nil), msgs)
		if err != nil || sum.Sent != 6 || sum.Skipped != (journal.Totals{}) {
			t.Fatalf("Run without a journal: %+v, %v", sum, err)
		}
	}
	if n := len(ts.accepted()); n != 6 {
		t.Errorf("server got %d messages, want 6", n)
	}
}

// TestRunLimit takes at most Limit messages with something to send; a
// second run with the same limit takes the next ones.
func TestRunLimit(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	cfg := ts.config(j, nil)
	cfg.Limit = 3
	msgs := testMessages(10, 1, 100)
	for run, want := range []int{3, 3, 3, 1, 0} {
		sum, err := runPool(t, cfg, msgs)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Messages != want || sum.Sent != want {
			t.Errorf("run %d: %d messages, %d sent; want %d", run+1, sum.Messages, sum.Sent, want)
		}
	}
	if got := checkDelivery(t, ts, j, msgs); got != (journal.Totals{Sent: 10}) {
		t.Errorf("journal %+v, want 10 sent", got)
	}
}

// TestRunInvalid journals a message that could not be built as failed,
// with its reason, and sends nothing for it.
func TestRunInvalid(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	msgs := testMessages(2, 1, 100)
	bad := &Message{Key: "invalid row 3", Row: 3, Invalid: errors.New(`column "email": empty cell`)}
	sum, err := runPool(t, ts.config(j, nil), []*Message{msgs[0], bad, msgs[1]})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Invalid != 1 || sum.Sent != 2 || len(ts.accepted()) != 2 {
		t.Errorf("summary %+v; server got %d messages", sum, len(ts.accepted()))
	}
	rep, err := journal.ReadReport(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.Recipients, func(r journal.RecipientReport) bool { return r.Key == bad.Key })
	if i < 0 || rep.Recipients[i].Status != journal.Failed || rep.Recipients[i].Reply != `invalid row: column "email": empty cell` || rep.Recipients[i].To != "(row 3)" {
		t.Errorf("report of the invalid message: %+v", rep.Recipients)
	}
}

// TestRunSourceError stops the run when the sequence yields an error: what
// was taken before is settled and journalled, the rest is left to resume.
func TestRunSourceError(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	msgs := testMessages(4, 1, 100)
	broken := errors.New("people.csv:4: the row changed")
	seq := func(yield func(*Message, error) bool) {
		for _, m := range msgs[:2] {
			if !yield(m, nil) {
				return
			}
		}
		if yield(nil, broken) {
			t.Error("Run went on after an error from the sequence")
		}
	}
	p, err := NewPool(ts.config(j, nil))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := p.Run(context.Background(), seq)
	if !errors.Is(err, ErrSource) || !errors.Is(err, broken) {
		t.Fatalf("Run: %v, want ErrSource with the cause", err)
	}
	if sum.Sent != 2 || sum.Unsettled() != 0 {
		t.Errorf("summary %+v, want the 2 messages taken sent", sum)
	}
	if got := checkDelivery(t, ts, j, msgs); got != (journal.Totals{Sent: 2}) {
		t.Errorf("journal %+v", got)
	}
}

// TestRunChanged tells Progress of a message sent before in another
// version, and does not send it again.
func TestRunChanged(t *testing.T) {
	ts := (&testServer{t: t}).start()
	j := journalFor(t)
	msgs := testMessages(2, 1, 100)
	if _, err := runPool(t, ts.config(j, nil), msgs); err != nil {
		t.Fatal(err)
	}
	edited := *msgs[1]
	edited.Fingerprint = "edited"
	p := &progressLog{}
	sum, err := runPool(t, ts.config(j, p), []*Message{msgs[0], &edited})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Messages != 0 || sum.Changed != 1 || len(p.changed) != 1 || p.changed[0].Key != edited.Key {
		t.Errorf("summary %+v, Changed told %v", sum, p.changed)
	}
	if n := len(ts.accepted()); n != 2 {
		t.Errorf("server got %d messages, want the first 2 only", n)
	}
}

// TestRunWaitsForTheSequence stops a run on a fatal error while the
// caller's sequence is in the middle of producing: Run returns only after
// the sequence has, and never yields to it after it said stop.
func TestRunWaitsForTheSequence(t *testing.T) {
	ts := (&testServer{t: t, user: "alice@example.test", password: "right"}).start()
	cfg := ts.config(nil, nil)
	cfg.Credentials = func(context.Context) (smtp.Credentials, error) { return smtp.Credentials{Password: "wrong"}, nil }
	var returned atomic.Bool
	seq := func(yield func(*Message, error) bool) {
		defer returned.Store(true)
		for _, m := range testMessages(1000, 1, 100) {
			time.Sleep(100 * time.Microsecond) // rendering
			if !yield(m, nil) {
				return
			}
		}
		t.Error("the sequence ran to its end: Run did not stop it")
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(context.Background(), seq); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Run: %v, want ErrAuthFailed", err)
	}
	if !returned.Load() {
		t.Error("Run returned while the sequence was still running")
	}
}
