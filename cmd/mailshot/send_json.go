package main

import (
	"encoding/json"
	"fmt"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
)

// sendSummary is send --json's one object: what the run did, for scripts.
type sendSummary struct {
	Journal     string         `json:"journal,omitempty"`
	Outcome     string         `json:"outcome"` // "finished", "nothing to send", or why it stopped
	Rows        int            `json:"rows"`
	Invalid     int            `json:"invalid"`
	Totals      journal.Totals `json:"totals"`  // this run's outcomes
	Skipped     journal.Totals `json:"skipped"` // settled by earlier runs
	Messages    int            `json:"messages"`
	Recipients  int            `json:"recipients"`
	Connections int            `json:"connections"`
	Seconds     float64        `json:"seconds"`
}

// say prints a line for people: on stdout, or on stderr under --json,
// which keeps stdout for the JSON object.
func (r *sendRun) say(format string, args ...any) {
	w := r.stdout
	if r.f.json {
		w = r.stderr
	}
	fmt.Fprintf(w, format, args...)
}

// writeJSON prints the run's summary object when --json asks for it.
func (r *sendRun) writeJSON(sum *sender.Summary, outcome string) {
	if !r.f.json {
		return
	}
	s := sendSummary{Outcome: outcome, Rows: r.stats.Rows, Invalid: r.stats.Invalid, Skipped: r.plan.Skipped}
	if r.journal != nil {
		s.Journal = r.journal.Path()
	}
	if sum != nil {
		s.Totals, s.Skipped = sum.Totals, sum.Skipped
		s.Messages, s.Recipients, s.Connections = sum.Messages, sum.Recipients, sum.Connections
		s.Seconds = sum.Elapsed.Seconds()
	}
	b, _ := json.Marshal(s)
	fmt.Fprintf(r.stdout, "%s\n", b)
}

// describeRun is the outcome of a run for send --json: "finished", or why it
// stopped.
func describeRun(err error) string {
	if err == nil {
		return "finished"
	}
	return describe(stopped(err))
}
