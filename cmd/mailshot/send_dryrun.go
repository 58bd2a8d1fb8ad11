package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
)

// dryRun does what a send does before its first MAIL FROM, after the
// preflight: one connection with TLS and AUTH, the largest message against
// the server's SIZE, the journal's counts and the room under --daily-limit;
// then QUIT. Nothing is sent or journalled.
func (r *sendRun) dryRun(ctx context.Context, cfg sender.Config) error {
	w := r.stdout
	relays := cfg.Relays
	if len(relays) == 0 {
		relays = []sender.Relay{{Endpoint: cfg.Endpoint}}
	}
	var probe *sender.Probe
	for _, rl := range relays {
		c := cfg
		if len(cfg.Relays) > 0 {
			c.Relays = []sender.Relay{rl}
		}
		p, err := sender.ProbeServer(ctx, c)
		if err != nil {
			fmt.Fprintf(r.stderr, "mailshot: dry run: %s: %s\n", rl.Endpoint.Addr(), describeStop(errorAsStop(err)))
			if h := hintFor(err); h != "" {
				fmt.Fprintf(r.stderr, "hint: %s\n", h)
			}
			return statusError{status: exitStopped, msg: "dry run failed"}
		}
		how := "without TLS"
		if p.TLS {
			how = "with TLS"
		}
		login := "no login (no user in --smtp)"
		if p.LoggedIn {
			login = "logged in as " + rl.Endpoint.Username
		}
		fmt.Fprintf(w, "dry run: connected to %s %s, %s\n", rl.Endpoint.Addr(), how, login)
		if probe == nil || p.MaxSize > 0 && (probe.MaxSize == 0 || p.MaxSize < probe.MaxSize) {
			probe = p
		}
	}
	if probe.MaxSize > 0 {
		fmt.Fprintf(w, "dry run: the largest message is about %s; the server takes up to %s\n", octets(int64(r.maxSize)), octets(probe.MaxSize))
		if int64(r.maxSize) > probe.MaxSize {
			fmt.Fprintf(r.stderr, "warning: the largest messages are over the server's size limit and would be refused: make the attachments smaller\n")
		}
	}
	if limit := r.f.dailyLimit; limit > 0 {
		used := sentInDay(r.journal)
		room := max(limit-used, 0)
		fmt.Fprintf(w, "dry run: --daily-limit %d: %d sent in the last 24 hours, room for %d of the %d recipients to send now\n",
			limit, used, min(room, r.plan.Recipients), r.plan.Recipients)
	}
	if r.journal == nil {
		fmt.Fprintf(w, "dry run: the journal would be %s\n", r.f.journal)
	}
	fmt.Fprintf(w, "dry run: would send %s to %s; nothing was sent\n", count(r.plan.Messages, "message"), count(r.plan.Recipients, "recipient"))
	return nil
}

// errorAsStop returns err as the *sender.StopError it wraps.
func errorAsStop(err error) *sender.StopError {
	if s, ok := stopped(err).(*sender.StopError); ok {
		return s
	}
	return &sender.StopError{Reason: sender.ErrUnreachable, Err: err}
}

// octets says a size for people: 812 octets, 7.9 KB, 35.2 MB.
func octets(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d octets", n)
}

// failureLog keeps the first failures of a run that has no journal to
// read them from afterwards (a test send), to say why they failed.
type failureLog struct {
	sender.Progress
	mu    sync.Mutex
	lines []string
	more  int
}

// Relay passes on what a relay's state became to the display.
func (l *failureLog) Relay(name string, err error, until time.Time) {
	if rp, ok := l.Progress.(sender.RelayProgress); ok {
		rp.Relay(name, err, until)
	}
}

// Outcome notes a failure, then tells the display.
func (l *failureLog) Outcome(rec *journal.Record) {
	if rec.Status != journal.Sent {
		reply := rec.Reply
		if rec.Enhanced != "" {
			reply = rec.Enhanced + " " + reply
		}
		if rec.Code != 0 {
			reply = fmt.Sprint(rec.Code) + " " + reply
		}
		l.mu.Lock()
		if len(l.lines) < 5 {
			l.lines = append(l.lines, fmt.Sprintf("%s to %v: %s", rec.Status, rec.Recipients, reply))
		} else {
			l.more++
		}
		l.mu.Unlock()
	}
	l.Progress.Outcome(rec)
}
