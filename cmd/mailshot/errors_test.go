package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailshot/mailshot/merge"
	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// TestErrorsSayOneLineAndOneHint turns typed errors, as the libraries
// return them, into what a person reads: one line without the layers'
// words, one hint, the exit status.
func TestErrorsSayOneLineAndOneHint(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1},
		Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	untrusted := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	_, urlErr := sender.ParseURL("smtp://bob:pw@host")
	_, rateErr := sender.ParseRate("5")
	tests := []struct {
		name   string
		err    error
		line   string
		hint   string
		status int
	}{
		{"refused connection, retried",
			&sender.StopError{Reason: sender.ErrUnreachable, Err: &sender.ConnectError{Attempts: 6, Err: &smtp.ConnError{Op: "dial", Err: refused}}},
			"stopped: no connection to the server: cannot connect to 127.0.0.1:1: connection refused (6 attempts)",
			"check the host and port in --smtp", exitStopped},
		{"untrusted certificate",
			&sender.StopError{Reason: sender.ErrUnreachable, Err: &smtp.ConnError{Op: "STARTTLS", Err: untrusted}},
			"stopped: no connection to the server: the server's certificate is not trusted: x509: certificate signed by unknown authority",
			"--tls-ca FILE", exitStopped},
		{"TLS to a plain port",
			&sender.StopError{Reason: sender.ErrUnreachable, Err: &smtp.ConnError{Op: "TLS", Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}},
			"stopped: no connection to the server: the server does not speak TLS on this port",
			"use smtp://host:port", exitStopped},
		{"refused login",
			&sender.StopError{Reason: sender.ErrAuthFailed, Err: &smtp.Error{Command: "AUTH", Reply: smtp.Reply{Code: 535, Enhanced: "5.7.8", Text: "Username and Password not accepted"}}},
			"stopped: the server refused the login: AUTH answered 535 5.7.8 Username and Password not accepted",
			"check the user name in --smtp and the password", exitStopped},
		{"Gmail app password",
			&sender.StopError{Reason: sender.ErrAuthFailed, Err: &smtp.Error{Command: "AUTH", Reply: smtp.Reply{Code: 534, Enhanced: "5.7.9", Text: "Application-specific password required"}}},
			"stopped: the server refused the login: AUTH answered 534 5.7.9 Application-specific password required",
			"Gmail wants an app password", exitStopped},
		{"no AUTH on a relay port",
			&sender.StopError{Reason: sender.ErrAuthFailed, Err: fmt.Errorf("smtp: AUTH: not offered by the server (STARTTLS first?): %w", errors.ErrUnsupported)},
			"stopped: could not log in: AUTH: not offered by the server (STARTTLS first?)",
			"leave the user out of --smtp", exitStopped},
		{"no TLS for the password",
			&sender.StopError{Reason: sender.ErrAuthFailed, Err: fmt.Errorf("%w to 127.0.0.1", smtp.ErrEncryptionRequired)},
			"stopped: could not log in: the server offers no TLS, so the password was not sent",
			"use smtps://host:465", exitStopped},
		{"journal in use", fmt.Errorf("journal j.jsonl: %w", journal.ErrInUse), "journal j.jsonl: in use by another process",
			"another mailshot is sending with this journal", exitInvalid},
		{"full disk",
			&sender.StopError{Reason: sender.ErrJournal, Err: fmt.Errorf("journal j.jsonl: write: %w", &os.PathError{Op: "write", Path: "j.jsonl", Err: syscall.ENOSPC})},
			"stopped: the journal could not be written: journal j.jsonl: write: write j.jsonl: no space left on device",
			"disk may be full", exitStopped},
		{"row turned invalid", &sender.StopError{Reason: sender.ErrSource, Err: &merge.RowError{File: "d.csv", Row: 32, Err: errors.New("no such file")}},
			"stopped: d.csv:32: no such file", "", exitStopped},
		{"password in the URL", urlErr, "smtp URL: must not contain a password", "$MAILSHOT_SMTP_PASSWORD", exitInvalid},
		{"rate without unit", usageError{rateErr}, `rate "5": missing unit`, "--rate N/s", exitInvalid},
		{"where on a missing column", &merge.RowError{File: "d.csv", Row: 1, Column: "town", Err: fmt.Errorf("%w; the columns are \"email\"", merge.ErrNoSuchColumn)},
			`d.csv:1: column "town": a condition names a column the data lacks; the columns are "email"`, "--where COLUMN=VALUE", exitInvalid},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		status := exitStatus(tt.err, &out)
		lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if status != tt.status || lines[0] != "mailshot: "+tt.line {
			t.Errorf("%s: status %d, first line\n%q\nwant\n%q", tt.name, status, lines[0], "mailshot: "+tt.line)
		}
		switch {
		case tt.hint == "" && len(lines) != 1:
			t.Errorf("%s: want one line, got %q", tt.name, lines)
		case tt.hint != "" && (len(lines) != 2 || !strings.HasPrefix(lines[1], "hint: ") || !strings.Contains(lines[1], tt.hint)):
			t.Errorf("%s: want a hint with %q, got %q", tt.name, tt.hint, lines)
		}
	}
}

// The summary is correct English, and says nothing of rates or connections
// after a run that never connected.
func TestSummaryLine(t *testing.T) {
	for _, tt := range []struct {
		s    sender.Summary
		want string
	}{
		{sender.Summary{Totals: journal.Totals{Sent: 1}, Messages: 1, Connections: 1, Elapsed: time.Second},
			"sent 1, failed 0, deferred 0, unknown 0; 1 message over 1 connection in 1s (1.0 messages/s)\n"},
		{sender.Summary{Totals: journal.Totals{Sent: 6}, Messages: 6, Connections: 3, Elapsed: 2 * time.Second},
			"sent 6, failed 0, deferred 0, unknown 0; 6 messages over 3 connections in 2s (3.0 messages/s)\n"},
		{sender.Summary{Totals: journal.Totals{Deferred: 3}, Messages: 3, Elapsed: 57 * time.Millisecond},
			"sent 0, failed 0, deferred 3, unknown 0; no connection to the server was made\n"},
	} {
		var b strings.Builder
		printSummary(&b, &tt.s)
		if b.String() != tt.want {
			t.Errorf("printSummary(%+v) = %q, want %q", tt.s, b.String(), tt.want)
		}
	}
}
