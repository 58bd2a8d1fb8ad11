package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// outcomes reports n single-recipient outcomes of one status.
func outcomes(v *progressView, st journal.Status, n int) {
	for range n {
		v.Outcome(&journal.Record{Status: st, Recipients: []string{"someone@example.org"}})
	}
}

var stamped = regexp.MustCompile(`^\d\d:\d\d:\d\d `)

// logLines returns what the view logged, one line each, and checks that
// every line is timestamped and none repeats the one before.
func logLines(t *testing.T, out *bytes.Buffer) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i, l := range lines {
		if !stamped.MatchString(l) {
			t.Errorf("line %d has no time: %q", i, l)
		}
		if i > 0 && l[9:] == lines[i-1][9:] {
			t.Errorf("line %d repeats the one before: %q", i, l)
		}
	}
	return lines
}

func TestProgressLogLines(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgress(&out, 200, "people.csv", false, clock.now)

	// 10/s for 10 s.
	for range 2 {
		outcomes(v, journal.Sent, 50)
		clock.advance(logEvery)
		v.tick()
	}
	// Then 1/s for 60 s, with a failure: the rate shown is the recent one,
	// not the 2.3/s average since the start.
	for range 12 {
		outcomes(v, journal.Sent, 4)
		outcomes(v, journal.Failed, 1)
		clock.advance(logEvery)
		v.tick()
	}
	// Then nothing for 150 s.
	for range 30 {
		clock.advance(logEvery)
		v.tick()
	}
	lines := logLines(t, &out)
	want := []string{
		"09:00:05 50/200 (25%), 10/s, elapsed 0:05, ETA 0:15",
		"09:00:10 100/200 (50%), 10/s, elapsed 0:10, ETA 0:10",
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	if got, want := lines[13], "09:01:10 160/200 (80%), 1/s, elapsed 1:10, ETA 0:40, 12 failed"; got != want {
		t.Errorf("after a minute at 1/s:\n got %q\nwant %q", got, want)
	}
	stall := lines[14:]
	wantStall := []string{
		"09:02:10 no progress for 60 s: waiting on the server",
		"09:03:10 no progress for 2 min: waiting on the server",
	}
	if strings.Join(stall, "\n") != strings.Join(wantStall, "\n") {
		t.Errorf("a stalled run logged:\n%s\nwant:\n%s", strings.Join(stall, "\n"), strings.Join(wantStall, "\n"))
	}
}

func TestProgressLogsAtMostEveryFewSeconds(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgress(&out, 100, "people.csv", false, clock.now)
	for range 20 { // a tick each second
		outcomes(v, journal.Sent, 1)
		clock.advance(time.Second)
		v.tick()
	}
	if lines := logLines(t, &out); len(lines) != 4 {
		t.Errorf("20 s of progress logged %d lines, want 4 (one each %s):\n%s", len(lines), logEvery, out.String())
	}
}

func TestProgressStates(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgress(&out, 1000, "people.csv", false, clock.now)
	outcomes(v, journal.Sent, 10)
	clock.advance(logEvery)
	v.tick()

	v.Throttle(true, 2)
	if s := v.status(); !strings.HasSuffix(s.text, ", throttled to 2/s") {
		t.Errorf("throttled: status %q", s.text)
	}
	for range 13 {
		clock.advance(logEvery)
		v.tick()
	}
	v.Throttle(false, 10)

	until := time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)
	v.Paused("daily limit of 500 recipients reached", until)
	if s := v.status(); !strings.HasSuffix(s.text, ", paused: daily limit of 500 recipients reached, until Tue 00:00") {
		t.Errorf("paused: status %q", s.text)
	}
	for range 100 { // a paused run with a known end is quiet
		clock.advance(logEvery)
		v.tick()
	}
	v.Paused("", time.Time{})
	v.Paused("reconnecting", time.Time{})
	for range 12 {
		clock.advance(logEvery)
		v.tick()
	}

	got := logLines(t, &out)
	want := []string{
		"09:00:05 10/1000 (1%), 2/s, elapsed 0:05, ETA 8:15",
		"09:00:05 server is throttling: slowed to 2/s",
		"09:01:05 no progress for 60 s: waiting on the server, which throttles the run to 2/s",
		"09:01:10 throttling over: back to the configured rate",
		"09:01:10 paused: daily limit of 500 recipients reached, until Tue 00:00",
		"09:09:30 sending again",
		"09:09:30 paused: reconnecting",
		"09:10:30 no progress for 60 s: paused: reconnecting",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestProgressChangedRow(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgress(&out, 10, "people.csv", false, clock.now)
	v.Changed(&sender.Message{Row: 7, Key: "ann@example.org"})
	if got, want := out.String(), "09:00:00 people.csv:7: ann@example.org was already sent; the row or template changed since, and it is not sent again\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestClockAndSpan(t *testing.T) {
	for _, tt := range []struct {
		in         time.Duration
		clock, spn string
	}{
		{0, "0:00", "0 s"},
		{59*time.Second + 600*time.Millisecond, "1:00", "59 s"},
		{90 * time.Second, "1:30", "90 s"},
		{2 * time.Minute, "2:00", "2 min"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1:02:03", "62 min"},
	} {
		if got := clock(tt.in); got != tt.clock {
			t.Errorf("clock(%s) = %q, want %q", tt.in, got, tt.clock)
		}
		if got := span(tt.in); got != tt.spn {
			t.Errorf("span(%s) = %q, want %q", tt.in, got, tt.spn)
		}
	}
}

// A stalled run names the connection that waits longest, its relay and
// its row.
func TestProgressNamesAStalledConnection(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	var out bytes.Buffer
	v := newProgress(&out, 10, "people.csv", false, clock.now)
	since := clock.now()
	v.setBusy(func() []sender.Busy {
		return []sender.Busy{
			{Conn: 3, Relay: "smtp.example.org:587", Row: 17, Since: since},
			{Conn: 1, Relay: "smtp.example.org:587", Row: 18, Since: since.Add(time.Second)},
		}
	})
	outcomes(v, journal.Sent, 1)
	for range 14 {
		clock.advance(logEvery)
		v.tick()
	}
	want := "no progress for 60 s: connection 3 (smtp.example.org:587) has waited 65 s for the server on row 17, and 1 other connection"
	if !strings.Contains(out.String(), want) {
		t.Errorf("log:\n%s\nwant a line with %q", out.String(), want)
	}
}
