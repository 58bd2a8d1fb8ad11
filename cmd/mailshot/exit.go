package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit statuses, documented in README.md.
const (
	exitOK         = 0 // every row valid / every recipient sent
	exitInvalid    = 1 // usage error or invalid input; nothing sent
	exitIncomplete = 2 // the run finished but some recipients were not sent
	exitStopped    = 3 // stopped early (fatal server error, interrupted); resumable
)

// usageError is a mistake on the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// hintError is an error shown to a person with a line saying what to do.
type hintError struct {
	err  error
	hint string
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

// withHint attaches a hint to err; it returns nil when err is nil.
func withHint(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return hintError{err: err, hint: fmt.Sprintf(format, args...)}
}

// statusError ends a run with a given exit status. Its message, if any, has
// already been printed by the command (a summary, a resume command), so
// exitStatus prints nothing more for it.
type statusError struct {
	status int
	msg    string
}

func (e statusError) Error() string { return e.msg }

// exitStatus prints err for a person (one line, then a hint line when there
// is one) and returns the process exit status for it.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var st statusError
	if errors.As(err, &st) {
		return st.status
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	msg := strings.TrimPrefix(err.Error(), "mailshot: ")
	fmt.Fprintf(stderr, "mailshot: %s\n", msg)
	var h hintError
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(stderr, "hint: %s\n", h.hint)
	}
	var sh interface{ Status() int }
	if errors.As(err, &sh) {
		return sh.Status()
	}
	return exitInvalid
}
