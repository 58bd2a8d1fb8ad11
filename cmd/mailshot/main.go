// Command mailshot sends personalised email to every row of a CSV or XLSX
// file: it renders a message template per recipient, previews the result, and
// sends it through an SMTP server with a journal that makes a stopped or
// failed batch resumable without mailing anyone twice.
//
// Usage:
//
//	mailshot check   -t DIR -d FILE            validate every row, send nothing
//	mailshot preview -t DIR -d FILE -o OUTDIR  write .eml files and index.html
//	mailshot send    -t DIR -d FILE --smtp URL send, journal, resume
//	mailshot report  --journal FILE            totals and recipients not sent
//	mailshot init    DIR                       write a starter kit
//	mailshot help    [COMMAND]                 usage, or a command's flags and examples
//	mailshot version                           version, commit and Go version
//	mailshot completion bash|zsh|fish          a shell completion script
//
// Exit status: 0 success; 1 usage or invalid input (nothing sent); 2 the run
// finished but some recipients failed, stayed deferred or are unknown; 3
// stopped early (fatal server error or interrupted) and resumable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
)

// memoryLimit is the soft limit (runtime/debug.SetMemoryLimit) the process
// keeps unless GOMEMLIMIT says otherwise: the garbage collector works harder
// near it instead of doubling the heap, so a large batch stays small (the
// journal's index and the duplicate check keep a few megabytes each in
// memory, the rest in a temporary file; see internal/keyindex).
const memoryLimit = 64 << 20

// gcPercent is the garbage collector's target (runtime/debug.SetGCPercent)
// unless GOGC says otherwise: a send allocates each message's bodies and
// frees them a moment later, over a small live heap, so the default 100
// collects thousands of times a minute; 300 spends about 13% less CPU per
// 45 KB message (.ci/bench) for some ten megabytes more, and memoryLimit
// still bounds the heap.
const gcPercent = 300

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	stopProfiles := startProfiles()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopProfiles()
	os.Exit(exitStatus(err, os.Stderr))
}

const usage = `mailshot turns a spreadsheet of people and a message template into one
personalised email per row.

Usage:
  mailshot check   -t DIR -d FILE [flags]             validate every row, send nothing
  mailshot preview -t DIR -d FILE -o OUTDIR [flags]   write .eml files and index.html
  mailshot send    -t DIR -d FILE --smtp URL [flags]  send, with a journal for resume
  mailshot report  --journal FILE [flags]             totals and recipients not sent
  mailshot init    DIR                                write a starter template and data
  mailshot help    [COMMAND]                          this, or a command's flags and examples
  mailshot version                                    version, commit and Go version
  mailshot completion bash|zsh|fish                   a shell completion script

Run 'mailshot help COMMAND' or 'mailshot COMMAND -h' for a command's flags.

Exit status: 0 ok; 1 usage or invalid input; 2 some recipients not sent;
3 stopped early (fatal server error or interrupted), resumable.
`

// run executes one mailshot command line (without the program name). main
// calls it with the process's streams; tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{errors.New("no command given")}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "-help", "--help":
		return runHelp(ctx, rest, stdout)
	case "version", "-version", "--version":
		return runVersion(rest, stdout)
	case "completion":
		return runCompletion(ctx, rest, stdout)
	}
	err := runCommand(ctx, cmd, rest, stdin, stdout, stderr)
	var help helpRequest
	if errors.As(err, &help) {
		help.fs.SetOutput(stdout)
		help.fs.Usage()
		return nil
	}
	return err
}

// runCommand runs one of the commands that do the work.
func runCommand(ctx context.Context, cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	switch cmd {
	case "check":
		return runCheck(ctx, args, stdout, stderr)
	case "preview":
		return runPreview(ctx, args, stdout, stderr)
	case "send":
		return runSend(ctx, args, stdin, stdout, stderr)
	case "report":
		return runReport(ctx, args, stdout, stderr)
	case "init":
		return runInit(ctx, args, stdout, stderr)
	}
	return unknownCommand(cmd)
}

// runHelp prints mailshot's usage, or a command's help, to stdout.
func runHelp(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) > 1 {
		return usageError{fmt.Errorf("help takes one command, not %d (mailshot help)", len(args))}
	}
	name := args[0]
	if slices.Contains(workCommands, name) {
		// A command answers -h before doing anything else.
		err := runCommand(ctx, name, []string{"-h"}, strings.NewReader(""), stdout, stdout)
		var help helpRequest
		if errors.As(err, &help) {
			help.fs.SetOutput(stdout)
			help.fs.Usage()
			return nil
		}
		if errors.Is(err, flag.ErrHelp) {
			return nil // it printed its help itself
		}
		return err
	}
	for _, c := range commands {
		if c.name == name { // help, version, completion: no flags
			fmt.Fprintf(stdout, "Usage: %s\n\n%s%s.\n\nExamples:\n", commandSynopsis(c.name), strings.ToUpper(c.summary[:1]), c.summary[1:])
			for _, e := range c.examples {
				fmt.Fprintf(stdout, "  %s\n", e)
			}
			return nil
		}
	}
	return unknownCommand(name)
}

// workCommands are the commands that take flags.
var workCommands = []string{"check", "preview", "send", "report", "init"}

// commandFlagSet returns the flag set one of workCommands parses its
// command line with, as the command makes it when asked for its help,
// which it answers before doing anything else.
func commandFlagSet(ctx context.Context, name string) *flag.FlagSet {
	err := runCommand(ctx, name, []string{"-h"}, strings.NewReader(""), io.Discard, io.Discard)
	var help helpRequest
	if errors.As(err, &help) {
		return help.fs
	}
	// A command that parses on its own (init) has no flags of its own.
	return newFlagSet(name, io.Discard, "", "")
}

// commandSynopsis is the usage line of the commands without flags.
func commandSynopsis(name string) string {
	switch name {
	case "help":
		return "mailshot help [COMMAND]"
	case "completion":
		return "mailshot completion bash|zsh|fish"
	}
	return "mailshot " + name
}
