package main

import (
	"errors"
	"os/exec"
	"strings"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/smtp"
)

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

// stopHint says what to do about the error that stopped a run, or "".
func stopHint(err error) string {
	switch {
	case errors.As(err, new(*exec.ExitError)):
		return "the --password-cmd or --token-cmd command failed: run it by hand to see why"
	case errors.Is(err, smtp.ErrEncryptionRequired):
		return "the server offers no TLS, so the password was not sent: use smtps://host:465 or the submission port 587 with STARTTLS"
	case errors.Is(err, sender.ErrAuthFailed) && errors.Is(err, errors.ErrUnsupported):
		return "the server offers no AUTH mechanism mailshot can use on this port: check the port (587 or 465), or leave the user out of --smtp for a relay that needs no login"
	case errors.Is(err, sender.ErrAuthFailed):
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
	case errors.Is(err, sender.ErrUnreachable):
		return "check the host and port in --smtp, the network, and --tls-ca for a private CA"
	case errors.Is(err, sender.ErrJournal):
		return "the journal's disk may be full or read-only; the journal up to here is intact"
	}
	return ""
}
