package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mailshot/mailshot/merge"
)

// checkFlags are check's flags.
type checkFlags struct {
	in inputFlags
}

func (f *checkFlags) register(fs *flag.FlagSet) { f.in.register(fs) }

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
	stats, err := b.Validate(ctx, true, func(it *merge.Item, _ []byte) error {
		printRow(stdout, b.Data, it)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", summarizeRows(stats))
	if stats.Invalid > 0 {
		return statusError{status: exitInvalid, msg: "invalid rows"}
	}
	return nil
}

// newFlagSet makes a command's flag set whose -h prints synopsis, what the
// command does, and its flags.
func newFlagSet(name string, stderr io.Writer, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "read saved settings from `FILE` (default: "+settingsFile+" in the current directory, if there is one)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n\n%s\n\nFlags:\n", synopsis, about)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, refuses stray positional arguments, then fills
// the flags args did not set from the settings file.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q (flags come before it? every value needs its flag)", fs.Name(), fs.Arg(0))}
	}
	return applySettings(fs, fs.Output())
}
