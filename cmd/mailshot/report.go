package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mailshot/mailshot/sender"
)

// reportFlags are report's flags.
type reportFlags struct {
	journal string
	json    bool
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.journal, "journal", "", "journal `FILE` written by mailshot send")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
}

func runReport(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr, "mailshot report --journal FILE [--json]",
		"Summarises a send journal: totals per status and per reply code, then every\n"+
			"recipient not sent with its row and the server's reply. With --json, prints one\n"+
			"object listing every recipient (see README).")
	var f reportFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	journal, asJSON := f.journal, f.json
	if journal == "" {
		return usageError{errors.New("report needs --journal FILE (send prints its journal's name when it starts)")}
	}
	r, err := sender.ReadReport(journal)
	if err != nil {
		return err
	}
	if asJSON {
		return r.WriteJSON(stdout)
	}
	t := r.Totals
	fmt.Fprintf(stdout, "sent %d, failed %d, deferred %d, unknown %d\n", t.Sent, t.Failed, t.Deferred, t.Unknown)
	if len(r.Codes) > 0 {
		fmt.Fprint(stdout, "by reply code:")
		for _, c := range r.Codes {
			code := fmt.Sprint(c.Code)
			if c.Code == 0 {
				code = "none"
			}
			fmt.Fprintf(stdout, " %s: %d;", code, c.Count)
		}
		fmt.Fprintln(stdout)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	header := false
	for _, rc := range r.Recipients {
		if rc.Status == sender.StatusSent {
			continue
		}
		if !header {
			fmt.Fprintln(tw, "ROW\tTO\tSTATUS\tCODE\tREPLY")
			header = true
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", rc.Row, rc.To, rc.Status, rc.Code, rc.Reply)
	}
	return tw.Flush()
}
