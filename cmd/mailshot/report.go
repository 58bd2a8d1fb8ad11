package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/mailshot/mailshot/merge"
	"github.com/mailshot/mailshot/sender/journal"
)

// reportFlags are report's flags.
type reportFlags struct {
	journal   string
	json      bool
	failedCSV string
	in        inputFlags // the send's template and data, for --failed-csv
}

func (f *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.journal, "journal", "", "journal `FILE` written by mailshot send")
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
	fs.StringVar(&f.failedCSV, "failed-csv", "", "write every recipient not sent to `FILE`: the data's columns plus status, code and reply (needs the send's -t and -d)")
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
	path, asJSON := f.journal, f.json
	if path == "" {
		return usageError{errors.New("report needs --journal FILE (send prints its journal's name when it starts)")}
	}
	r, err := journal.ReadReport(path)
	if err != nil {
		return err
	}
	if f.failedCSV != "" {
		if err := writeFailedCSV(ctx, &f.in, path, r, f.failedCSV, stderr); err != nil {
			return err
		}
	}
	if asJSON {
		return r.WriteJSON(stdout)
	}
	return r.WriteText(stdout)
}

// writeFailedCSV writes the data rows of the recipients the journal does
// not have as sent, with the columns of the data plus status, code and
// reply, to path.
func writeFailedCSV(ctx context.Context, in *inputFlags, journalPath string, r *journal.Report, path string, stderr io.Writer) error {
	if in.template == "" || in.data == "" {
		return usageError{errors.New("--failed-csv needs the send's -t DIR and -d FILE, to copy the rows from the data")}
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
	out, err := os.Create(path)
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
		data, err := merge.OpenData(b.Data, b.Options)
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
	fmt.Fprintf(stderr, "wrote %d rows not sent to %s; after fixing them: mailshot send -t %s -d %s --journal %s --retry-failed --smtp ...\n",
		rows, path, shellQuote(in.template), shellQuote(path), shellQuote(journalPath))
	if len(notSent) > 0 {
		fmt.Fprintf(stderr, "warning: %d messages not sent are no longer in %s (changed data?)\n", len(notSent), b.Data)
	}
	return nil
}
