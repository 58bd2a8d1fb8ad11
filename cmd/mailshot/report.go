package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/mailshot/mailshot/merge"
	"github.com/mailshot/mailshot/sender/journal"
)

// reportFlags are report's flags.
type reportFlags struct {
	journals  stringList
	journal   string // the first of journals
	json      bool
	failedCSV string
	force     bool
	in        inputFlags // the send's template and data, for --failed-csv; default: the journal's campaign
}

// resendCommand is the send that goes through the rows --failed-csv wrote,
// under the same journal, with every input flag the send had.
func resendCommand(in *inputFlags, csvPath, journalPath string) string {
	parts := []string{"mailshot send", "-t", shellQuote(in.template), "-d", shellQuote(csvPath)}
	if in.attachments != "" {
		parts = append(parts, "--attachments", shellQuote(in.attachments))
	}
	parts = append(parts, "--journal", shellQuote(journalPath), "--other-data", "--retry-failed", "--smtp URL")
	return strings.Join(parts, " ")
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.journals, "journal", "journal `FILE` written by mailshot send; repeat to merge the journals of one batch (its shards)")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
	fs.StringVar(&f.failedCSV, "failed-csv", "", "write every recipient not sent to `FILE`: the data's columns plus status, code and reply (template and data from the journal's campaign unless -t and -d say otherwise)")
	fs.BoolVar(&f.force, "force", false, "let --failed-csv replace an existing file")
	f.in.register(fs)
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("report", stderr, "mailshot report --journal FILE [--json] [--failed-csv OUT -t DIR -d FILE]",
		"Summarises a send journal: totals per status and per reply code, then every\n"+
			"recipient not sent with its row and the server's reply. With --json, prints one\n"+
			"object listing every recipient (see README). With --failed-csv, also writes the\n"+
			"rows of the recipients not sent, from the send's data, to a CSV to fix and resend.")
	var f reportFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	asJSON := f.json
	if len(f.journals) == 0 {
		return usageError{errors.New("report needs --journal FILE (send prints its journal's name when it starts)")}
	}
	f.journal = f.journals[0]
	var reps []*journal.Report
	for _, path := range f.journals {
		r, err := journal.ReadReport(path)
		if errors.Is(err, journal.ErrNotJournal) {
			return withHint(fmt.Errorf("%s is not a mailshot journal", path), "send prints its journal's name when it starts")
		}
		if err != nil {
			return err
		}
		reps = append(reps, r)
	}
	r := reps[0]
	if len(reps) > 1 {
		r = journal.MergeReports(reps...)
	}
	if f.failedCSV != "" {
		if err := f.fromCampaign(r); err != nil {
			return err
		}
		if err := writeFailedCSV(ctx, &f, r, stderr); err != nil {
			return err
		}
	}
	if asJSON {
		return r.WriteJSON(stdout)
	}
	return r.WriteText(stdout)
}

// fromCampaign fills in the input flags not given from the journal's
// campaign header: the send's template, data, sheet, delimiter and
// attachments.
func (f *reportFlags) fromCampaign(r *journal.Report) error {
	c, err := journalCampaign(r)
	if err != nil || c == nil {
		return err
	}
	fill := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	fill(&f.in.template, c.Template)
	fill(&f.in.data, c.Data)
	fill(&f.in.sheet, c.Sheet)
	fill(&f.in.delimiter, c.Delimiter)
	fill(&f.in.attachments, c.Attachments)
	return nil
}

// writeFailedCSV writes the data rows of the recipients the journal does
// not have as sent, with the columns of the data plus status, code and
// reply, to --failed-csv: a new file, or an existing one with --force, and
// never one of the inputs.
func writeFailedCSV(ctx context.Context, f *reportFlags, r *journal.Report, stderr io.Writer) error {
	in, journalPath, path := &f.in, f.journal, f.failedCSV
	if in.template == "" || in.data == "" {
		return usageError{errors.New("--failed-csv needs the send's -t DIR and -d FILE: this journal does not name them")}
	}
	for _, j := range f.journals {
		if sameFile(path, j) {
			return usageError{fmt.Errorf("--failed-csv %s is a journal; name a new file", path)}
		}
	}
	if err := notAnInput(path, in); err != nil {
		return err
	}
	b, err := in.batch()
	if err != nil {
		return err
	}
	notSent := make(map[string][]journal.RecipientReport)
	for _, rc := range r.Recipients {
		if rc.Status != journal.Sent {
			notSent[rc.Key] = append(notSent[rc.Key], rc)
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if f.force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	out, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return withHint(fmt.Errorf("--failed-csv %s exists; it was left as it is", path), "name a new file, or add --force to replace it")
	}
	if err != nil {
		return fmt.Errorf("--failed-csv: %w", err)
	}
	defer out.Close()
	var w *merge.RecordWriter
	extra := []string{"status", "code", "reply"}
	rows := 0
	err = b.Each(ctx, func(it *merge.Item) error {
		if it.Record == nil {
			return nil
		}
		list := notSent[it.Key]
		if len(list) == 0 {
			return nil
		}
		delete(notSent, it.Key) // one row per message, even if the data repeats it
		if w == nil {
			var err error
			if w, err = merge.NewRecordWriter(out, it.Record.Columns.Names(), extra); err != nil {
				return err
			}
		}
		rows++
		rc := list[0]
		return w.Write(it.Record, string(rc.Status), strconv.Itoa(rc.Code), rc.Reply)
	})
	if err != nil {
		return err
	}
	if w == nil { // nothing to write: still a valid CSV with the header
		data, err := merge.OpenDataContext(ctx, b.Data, b.Options)
		if err != nil {
			return err
		}
		cols := data.Columns().Names()
		data.Close()
		if w, err = merge.NewRecordWriter(out, cols, extra); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("--failed-csv: %w", err)
	}
	fmt.Fprintf(stderr, "wrote %d rows not sent to %s; after fixing them: %s\n", rows, path, resendCommand(in, path, journalPath))
	if len(notSent) > 0 {
		fmt.Fprintf(stderr, "warning: %d messages not sent are no longer in %s (changed data?)\n", len(notSent), b.Data)
	}
	return nil
}
