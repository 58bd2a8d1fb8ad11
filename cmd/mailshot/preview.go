package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/mailshot/mailshot/merge"
)

// previewFlags are preview's flags.
type previewFlags struct {
	in    inputFlags
	dkim  dkimFlags
	out   string
	limit int
	json  bool
}

func (f *previewFlags) register(fs *flag.FlagSet) {
	f.in.register(fs)
	f.dkim.register(fs)
	fs.BoolVar(&f.json, "json", false, "print the counts and the index page's path as one JSON object on stdout, for scripts")
	fs.StringVar(&f.out, "o", "", "output `DIR` for the .eml files and index.html")
	fs.StringVar(&f.out, "out", "", "same as -o")
	fs.IntVar(&f.limit, "limit", 0, "write at most `N` messages (0: all)")
}

func runPreview(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("preview", stderr, "mailshot preview -t DIR -d FILE -o OUTDIR [flags]",
		"Validates every row as check does, then writes one .eml file per recipient and an\n"+
			"index.html to OUTDIR. Open OUTDIR/index.html in a browser to see every message.\n"+
			"OUTDIR is preview's own: a new or empty folder, or one an earlier preview wrote,\n"+
			"whose files it removes first.")
	var f previewFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	in, out, limit := f.in, f.out, f.limit
	if out == "" {
		return usageError{errors.New("preview needs -o OUTDIR")}
	}
	b, err := in.batch()
	if err != nil {
		return err
	}
	if b.Composer, err = f.dkim.composer(stderr); err != nil {
		return err
	}
	lint := newLinter(b)
	p, err := merge.NewPreview(out, in.template, in.data, in.attachments)
	switch {
	case errors.Is(err, merge.ErrNotPreviewDir):
		return withHint(err, "give -o a new or empty folder: preview writes only into a folder of its own, and empties it of its earlier files first")
	case errors.Is(err, merge.ErrPreviewHoldsInput):
		return withHint(err, "give -o a folder apart from the template (-t), the data (-d) and --attachments")
	case err != nil:
		return err
	}
	written := 0
	rows := newRowPrinter(stderr, b.Data)
	stats, err := b.Validate(ctx, true, func(it *merge.Item, eml []byte) error {
		rows.Row(it)
		lint.Add(it)
		if it.Err != nil || limit > 0 && written >= limit {
			return nil // keep validating the rest
		}
		written++
		return p.Add(it.Message, eml)
	})
	rows.Flush()
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	lint.Print(stderr)
	index := filepath.Join(out, "index.html")
	if f.json {
		fmt.Fprintf(stderr, "%s\n", summarizeRows(stats))
		b, _ := json.Marshal(struct {
			Rows    int    `json:"rows"`
			Valid   int    `json:"valid"`
			Invalid int    `json:"invalid"`
			Written int    `json:"written"`
			Index   string `json:"index"`
		}{stats.Rows, stats.Valid(), stats.Invalid, written, index})
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "%s\nwrote %d messages; open %s\n", summarizeRows(stats), written, index)
	}
	if stats.Invalid > 0 {
		return statusError{status: exitInvalid, msg: "invalid rows"}
	}
	return nil
}
