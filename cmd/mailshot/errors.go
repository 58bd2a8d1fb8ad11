package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"syscall"

	"github.com/mailshot/mailshot/merge"
	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// This file is where errors become what a person reads: one line saying
// what went wrong and where, at most one "hint:" line saying what to do,
// and the exit status. The libraries return typed errors and never speak
// of flags; the hints that name flags are here, in one table.

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

// hintError is an error of the command's own, with a line saying what to
// do that only the command can know (which flag, which file).
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
	fmt.Fprintf(stderr, "mailshot: %s\n", describe(err))
	if h := hintFor(err); h != "" {
		fmt.Fprintf(stderr, "hint: %s\n", h)
	}
	if errors.As(err, new(*sender.StopError)) {
		return exitStopped
	}
	return exitInvalid
}

// hints pairs the typed causes the libraries return with what a person can
// do about them; the first that matches is said.
var hints = []struct {
	match func(error) bool
	hint  func(error) string
}{
	{is(sender.ErrPasswordInURL), say("give the password in $" + passwordEnv + " or --password-file, and only user@ in the --smtp URL")},
	{func(err error) bool {
		var ue *sender.URLError
		return errors.As(err, &ue) && ue.Suggest != ""
	}, func(err error) string {
		var ue *sender.URLError
		errors.As(err, &ue)
		return "write --smtp " + ue.Suggest + " (STARTTLS), or smtps:// for implicit TLS"
	}},
	{as[*sender.URLError], say("write --smtp smtp://user@host:587 (STARTTLS) or smtps://user@host:465 (implicit TLS)")},
	{as[*sender.RateError], say("write --rate N/s, N/m or N/h, e.g. 600/m")},
	{is(merge.ErrNoSuchColumn), say("--where COLUMN=VALUE names a column of the data's header row")},
	{as[*merge.SelectionError], selectionHint},
	{as[*merge.InsecureKeyFileError], func(err error) string {
		var e *merge.InsecureKeyFileError
		errors.As(err, &e)
		return "a private key is for you alone: chmod 600 " + shellQuote(e.Path)
	}},
	{is(merge.ErrNoRows), say("add the recipients as rows below the header row")},
	{as[*merge.DataLimitError], say("the workbook is damaged or made to exhaust memory; open it in a spreadsheet and save it again, or export the sheet as CSV UTF-8")},
	{as[*merge.LimitError], say("a loop or an attachment makes the message too large: check {{range}} and {{attach}} in the template")},
	{as[*exec.ExitError], say("the --password-cmd or --token-cmd command failed: run it by hand to see why")},
	{is(smtp.ErrEncryptionRequired), say("the server offers no TLS, so the password was not sent: use smtps://host:465 or the submission port 587 with STARTTLS")},
	{func(err error) bool {
		return errors.Is(err, sender.ErrAuthFailed) && errors.Is(err, errors.ErrUnsupported)
	},
		say("the server offers no AUTH mechanism mailshot can use on this port: check the port (587 or 465), or leave the user out of --smtp for a relay that needs no login")},
	{is(sender.ErrAuthFailed), authHint},
	{as[*tls.CertificateVerificationError], say("the server's certificate is not signed by a CA this machine trusts: --tls-ca FILE adds a private CA's certificate (PEM)")},
	{is(smtp.ErrImplicitTLS), say("this port expects TLS at once: use smtps://host:port")},
	{as[*smtp.HelloNameError], say("--helo takes a host name such as mail.example.org, or an address literal such as [192.0.2.1]")},
	{as[tls.RecordHeaderError], say("this port speaks plain SMTP first: use smtp://host:port, which upgrades with STARTTLS")},
	{is(sender.ErrUnreachable), say("check the host and port in --smtp, the network, and --tls-ca for a private CA")},
	{is(journal.ErrInUse), say("another mailshot is sending with this journal: wait for it to end, or name another file with --journal for another campaign")},
	{is(sender.ErrJournal), say("the journal's disk may be full or read-only; the journal up to here is intact")},
}

// hintFor returns what to do about err: the command's own hint, else the
// table's, else "".
func hintFor(err error) string {
	var h hintError
	if errors.As(err, &h) {
		return h.hint
	}
	for _, h := range hints {
		if h.match(err) {
			return h.hint(err)
		}
	}
	return ""
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
func as[T error](err error) bool       { return errors.As(err, new(T)) }
func say(hint string) func(error) string {
	return func(error) string { return hint }
}

// selectionHint says why --rows or --where selected nothing, from what
// the file holds.
func selectionHint(err error) string {
	var se *merge.SelectionError
	errors.As(err, &se)
	switch {
	case len(se.Near) > 0:
		n := se.Near[0]
		op := "="
		if n.Condition.Not {
			op = "!="
		}
		return "--where compares exactly: write --where " + shellQuote(n.Condition.Column+op+n.Value)
	case se.AtEnd && se.FirstRow > 0:
		return fmt.Sprintf("choose --rows between %d and %d (row 1 is the header)", se.FirstRow, se.LastRow)
	}
	return "check --rows and --where against the data (mailshot check without them lists every row)"
}

// authHints pair words of well-known refusals of AUTH with what to do.
var authHints = []struct {
	words []string // any of them, compared without case
	hint  string
}{
	{
		[]string{"application-specific password required"},
		"Gmail wants an app password: turn on 2-step verification, create an app password under Google Account > Security > App passwords, and use it as the password (or use --auth xoauth2 with an OAuth2 token)",
	},
	{
		[]string{"smtpclientauthentication is disabled", "basic authentication is disabled", "5.7.139"},
		"Microsoft 365 has SMTP AUTH turned off for this mailbox or tenant: an administrator enables Authenticated SMTP for the mailbox (Microsoft 365 admin center > Users > Mail > Manage email apps), or use --auth xoauth2 with an OAuth2 token",
	},
}

// authHint says what to do about refused credentials, from the words of
// the server's reply when a provider is known by them.
func authHint(err error) string {
	var se *smtp.Error
	if errors.As(err, &se) {
		text := strings.ToLower(se.Enhanced + " " + se.Text)
		for _, h := range authHints {
			for _, w := range h.words {
				if strings.Contains(text, w) {
					return h.hint
				}
			}
		}
	}
	return "check the user name in --smtp and the password; nothing more was tried, to keep the account from being locked"
}

// describe is the one line a person reads about err.
func describe(err error) string {
	var stop *sender.StopError
	if errors.As(err, &stop) {
		return "stopped: " + describeStop(stop)
	}
	return strings.TrimPrefix(err.Error(), "mailshot: ")
}

// describeStop says why a run stopped, from the reason and the typed
// cause, without the chain of every layer's words.
func describeStop(stop *sender.StopError) string {
	if stop.Err == nil || errors.Is(stop.Reason, sender.ErrInterrupted) && errors.Is(stop.Err, context.Canceled) {
		return strings.TrimPrefix(stop.Reason.Error(), "sender: ")
	}
	cause := describeCause(stop.Err)
	switch {
	case errors.Is(stop.Reason, sender.ErrAuthFailed) && refusedByServer(stop.Err):
		return "the server refused the login: " + cause
	case errors.Is(stop.Reason, sender.ErrAuthFailed):
		return "could not log in: " + cause
	case errors.Is(stop.Reason, sender.ErrUnreachable):
		return "no connection to the server: " + cause
	case errors.Is(stop.Reason, sender.ErrJournal):
		return "the journal could not be written: " + cause
	case errors.Is(stop.Reason, sender.ErrQuota):
		return "the account's sending quota was reached: " + cause
	}
	return cause // ErrSource: the row or file says where
}

// refusedByServer reports whether err holds the server's own reply.
func refusedByServer(err error) bool { return errors.As(err, new(*smtp.Error)) }

// describeCause renders what went wrong in the SMTP client or below it.
func describeCause(err error) string {
	var (
		attempts *sender.ConnectError
		reply    *smtp.Error
		conn     *smtp.ConnError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		dns      *net.DNSError
		op       *net.OpError
	)
	suffix := ""
	if errors.As(err, &attempts) && attempts.Attempts > 1 {
		suffix = fmt.Sprintf(" (%d attempts)", attempts.Attempts)
	}
	var exit *exec.ExitError
	switch {
	case errors.Is(err, smtp.ErrImplicitTLS):
		return "the server sends nothing on a plain connection and answers TLS: it expects TLS at once" + suffix
	case errors.Is(err, smtp.ErrEncryptionRequired):
		return "the server offers no TLS, so the password was not sent" + suffix
	case errors.As(err, &exit):
		return "the password or token command failed: " + exit.Error()
	case errors.Is(err, errors.ErrUnsupported) && !errors.As(err, &reply):
		// The client's own words say what is missing ("AUTH: not offered
		// by the server").
		what := strings.TrimPrefix(err.Error(), "smtp: ")
		return strings.TrimSuffix(what, ": "+errors.ErrUnsupported.Error()) + suffix
	case errors.As(err, &reply):
		return fmt.Sprintf("%s answered %s%s", reply.Command, replyText(reply), suffix)
	case errors.As(err, &verify):
		return "the server's certificate is not trusted: " + verify.Err.Error() + suffix
	case errors.As(err, &record):
		return "the server does not speak TLS on this port" + suffix
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot find the host %s: %s%s", dns.Name, dns.Err, suffix)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Sprintf("cannot connect to %s: %s%s", op.Addr, innermost(op.Err), suffix)
	case errors.As(err, &conn) && conn.Timeout():
		return fmt.Sprintf("no answer to %s in time%s", conn.Op, suffix)
	case errors.As(err, &conn):
		return fmt.Sprintf("%s: %s%s", conn.Op, innermost(conn.Err), suffix)
	}
	return err.Error()
}

// replyText is a reply as the server sent it: code, enhanced code, text.
func replyText(e *smtp.Error) string {
	s := fmt.Sprint(e.Code)
	if e.Enhanced != "" {
		s += " " + e.Enhanced
	}
	if e.Text != "" {
		s += " " + strings.ReplaceAll(e.Text, "\n", " ")
	}
	return s
}

// innermost returns the text of the error at the end of err's chain: the
// system's own words ("connection refused").
func innermost(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}
