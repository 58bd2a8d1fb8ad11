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
//
// Exit status: 0 success; 1 usage or invalid input (nothing sent); 2 the run
// finished but some recipients failed, stayed deferred or are unknown; 3
// stopped early (fatal server error or interrupted) and resumable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// memoryLimit is the soft limit (runtime/debug.SetMemoryLimit) the process
// keeps unless GOMEMLIMIT says otherwise: the garbage collector works harder
// near it instead of doubling the heap, so a batch of a million rows, whose
// journal index alone is tens of megabytes, stays small.
const memoryLimit = 64 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(exitStatus(err, os.Stderr))
}

const usage = `mailshot turns a spreadsheet of people and a message template into one
personalised email per row.

Usage:
  mailshot check   -t DIR -d FILE [flags]             validate every row, send nothing
  mailshot preview -t DIR -d FILE -o OUTDIR [flags]   write .eml files and index.html
  mailshot send    -t DIR -d FILE --smtp URL [flags]  send, with a journal for resume
  mailshot report  --journal FILE [--json]            totals and recipients not sent
  mailshot init    DIR                                write a starter template and data

Run 'mailshot COMMAND -h' for a command's flags.

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
	case "check":
		return runCheck(ctx, rest, stdout, stderr)
	case "preview":
		return runPreview(ctx, rest, stdout, stderr)
	case "send":
		return runSend(ctx, rest, stdin, stdout, stderr)
	case "report":
		return runReport(ctx, rest, stdout, stderr)
	case "init":
		return runInit(ctx, rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usageError{fmt.Errorf("unknown command %q", cmd)}
	}
}
