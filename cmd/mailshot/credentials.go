package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/smtp"
)

// passwordEnv names the environment variable that may hold the SMTP password.
const passwordEnv = "MAILSHOT_SMTP_PASSWORD"

// credentialFlags say where the SMTP secret comes from. There is deliberately
// no flag that takes the secret itself: command lines are visible to every
// user of the machine.
type credentialFlags struct {
	passwordFile string
}

// credentials returns the function the pool calls for each new connection,
// or nil when the endpoint has no user (no AUTH). The password is read once,
// now, from MAILSHOT_SMTP_PASSWORD, --password-file, or a prompt when stdin
// is a terminal.
func (f *credentialFlags) credentials(ep *sender.Endpoint, stdin io.Reader, stderr io.Writer) (func(context.Context) (smtp.Credentials, error), error) {
	if ep.Username == "" {
		return nil, nil
	}
	pw, err := f.password(ep, stdin, stderr)
	if err != nil {
		return nil, err
	}
	cred := smtp.Credentials{Username: ep.Username, Password: pw}
	return func(context.Context) (smtp.Credentials, error) { return cred, nil }, nil
}

func (f *credentialFlags) password(ep *sender.Endpoint, stdin io.Reader, stderr io.Writer) (string, error) {
	if pw, ok := os.LookupEnv(passwordEnv); ok && pw != "" {
		return pw, nil
	}
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return "", fmt.Errorf("--password-file %s is empty", f.passwordFile)
		}
		return pw, nil
	}
	if in, ok := stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		fmt.Fprintf(stderr, "Password for %s at %s: ", ep.Username, ep.Host)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("empty password")
		}
		return string(b), nil
	}
	return "", withHint(fmt.Errorf("no password for %s", ep.Username),
		"set %s, or pass --password-file FILE, or run on a terminal to be prompted", passwordEnv)
}
