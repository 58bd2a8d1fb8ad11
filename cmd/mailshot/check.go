package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/mailshot/mailshot/merge"
)

// checkSummary is check --json's one object.
type checkSummary struct {
	Rows          int        `json:"rows"`
	Valid         int        `json:"valid"`
	Invalid       int        `json:"invalid"`
	Duplicates    int        `json:"duplicates"`
	NoUnsubscribe int        `json:"no_unsubscribe"`
	InvalidRows   []checkRow `json:"invalid_rows"`
}

// checkRow is one invalid row in check --json.
type checkRow struct {
	Row   int    `json:"row"`
	Error string `json:"error"`
}

// checkFlags are check's flags.
type checkFlags struct {
	in   inputFlags
	json bool
}

func (f *checkFlags) register(fs *flag.FlagSet) {
	f.in.register(fs)
	fs.BoolVar(&f.json, "json", false, "print the counts and every invalid row as one JSON object on stdout, for scripts")
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check", stderr, "mailshot check -t DIR -d FILE [flags]",
		"Renders every row of FILE with the template in DIR and sends nothing. Prints each\n"+
			"invalid row as FILE:ROW: column \"x\": reason, duplicated recipients as warnings,\n"+
			"then a summary. Exit status 0 when every row is valid, 1 otherwise.")
	var f checkFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	b, err := f.in.batch()
	if err != nil {
		return err
	}
	out := stdout
	if f.json {
		out = stderr // stdout holds only the JSON object
	}
	rows := newRowPrinter(out, b.Data)
	lint := newLinter(b)
	invalid := []checkRow{}
	stats, err := b.Validate(ctx, true, func(it *merge.Item, _ []byte) error {
		rows.Row(it)
		lint.Add(it)
		if it.Err != nil && f.json {
			invalid = append(invalid, checkRow{Row: it.Row, Error: it.Err.Error()})
		}
		return nil
	})
	rows.Flush()
	if err != nil {
		return err
	}
	lint.Print(out)
	fmt.Fprintf(out, "%s\n", summarizeRows(stats))
	if f.json {
		b, _ := json.Marshal(checkSummary{Rows: stats.Rows, Valid: stats.Valid(), Invalid: stats.Invalid,
			Duplicates: stats.Duplicates, NoUnsubscribe: stats.NoUnsubscribe, InvalidRows: invalid})
		fmt.Fprintf(stdout, "%s\n", b)
	}
	if stats.Invalid > 0 {
		return statusError{status: exitInvalid, msg: "invalid rows"}
	}
	return nil
}
