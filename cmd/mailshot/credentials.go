package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/smtp"
)

// Environment variables that may hold the SMTP secret.
const (
	passwordEnv = "MAILSHOT_SMTP_PASSWORD"
	tokenEnv    = "MAILSHOT_SMTP_TOKEN"
)

// credentialFlags say how to authenticate and where the secret comes from.
// There is deliberately no flag that takes a secret itself: command lines
// are visible to every user of the machine.
type credentialFlags struct {
	auth         string
	passwordFile string
	passwordCmd  string
	tokenFile    string
	tokenCmd     string
}

func (f *credentialFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.auth, "auth", "", "AUTH `MECHANISM`: plain, login, cram-md5 or xoauth2 (default: the best the server offers)")
	fs.StringVar(&f.passwordFile, "password-file", "", "read the SMTP password from `FILE`")
	fs.StringVar(&f.passwordCmd, "password-cmd", "", "run `COMMAND` (with sh -c) once and use its output as the password, e.g. 'pass show mail'")
	fs.StringVar(&f.tokenFile, "token-file", "", "--auth xoauth2: read the OAuth2 access token from `FILE`")
	fs.StringVar(&f.tokenCmd, "token-cmd", "", "--auth xoauth2: run `COMMAND` (with sh -c) for each new connection; its output is a fresh access token")
}

// credentials returns the function the pool calls for each new connection,
// or nil when the endpoint has no user (no AUTH). A password is read once,
// now: from MAILSHOT_SMTP_PASSWORD, --password-file, --password-cmd, or a
// prompt when stdin is a terminal. An XOAUTH2 token comes from
// MAILSHOT_SMTP_TOKEN or --token-file (read once) or --token-cmd (run for
// every connection, so a helper that refreshes tokens can).
func (f *credentialFlags) credentials(ctx context.Context, ep *sender.Endpoint, stdin io.Reader, stderr io.Writer) (func(context.Context) (smtp.Credentials, error), error) {
	mech := strings.ToUpper(f.auth)
	switch mech {
	case "", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2":
	default:
		return nil, usageError{fmt.Errorf("--auth %q: choose plain, login, cram-md5 or xoauth2", f.auth)}
	}
	if ep.Username == "" {
		if mech != "" {
			return nil, usageError{errors.New("--auth needs a user in the --smtp URL: smtp://user@host:587")}
		}
		return nil, nil
	}
	base := smtp.Credentials{Username: ep.Username, Mechanism: mech}
	if mech == "XOAUTH2" {
		return f.tokenSource(base, stderr)
	}
	if f.tokenFile != "" || f.tokenCmd != "" {
		return nil, usageError{errors.New("--token-file and --token-cmd go with --auth xoauth2")}
	}
	pw, err := f.password(ctx, ep, stdin, stderr)
	if err != nil {
		return nil, err
	}
	base.Password = pw
	return func(context.Context) (smtp.Credentials, error) { return base, nil }, nil
}

func (f *credentialFlags) tokenSource(base smtp.Credentials, stderr io.Writer) (func(context.Context) (smtp.Credentials, error), error) {
	if tok := os.Getenv(tokenEnv); tok != "" {
		base.Token = tok
		return func(context.Context) (smtp.Credentials, error) { return base, nil }, nil
	}
	if f.tokenFile != "" {
		tok, err := readSecretFile("--token-file", f.tokenFile)
		if err != nil {
			return nil, err
		}
		base.Token = tok
		return func(context.Context) (smtp.Credentials, error) { return base, nil }, nil
	}
	if f.tokenCmd != "" {
		return func(ctx context.Context) (smtp.Credentials, error) {
			tok, err := runSecretCommand(ctx, "--token-cmd", f.tokenCmd, stderr)
			c := base
			c.Token = tok
			return c, err
		}, nil
	}
	return nil, withHint(errors.New("--auth xoauth2 needs an access token"),
		"set %s, or pass --token-file FILE or --token-cmd COMMAND", tokenEnv)
}

func (f *credentialFlags) password(ctx context.Context, ep *sender.Endpoint, stdin io.Reader, stderr io.Writer) (string, error) {
	if pw := os.Getenv(passwordEnv); pw != "" {
		return pw, nil
	}
	if f.passwordFile != "" {
		return readSecretFile("--password-file", f.passwordFile)
	}
	if f.passwordCmd != "" {
		return runSecretCommand(ctx, "--password-cmd", f.passwordCmd, stderr)
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
		"set %s, or pass --password-file FILE or --password-cmd COMMAND, or run on a terminal to be prompted", passwordEnv)
}

// maxSecret bounds what is read of a password or token file or command:
// an OAuth2 access token is a few kilobytes at most.
const maxSecret = 64 << 10

// errSecretTooLong is the cause of reading more than maxSecret octets.
var errSecretTooLong = fmt.Errorf("longer than %d KB: not a password or token", maxSecret>>10)

// readSecretFile reads a password or token from a file, without its final
// line end, and at most maxSecret octets of it.
func readSecretFile(flagName, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecret+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("%s: %w", flagName, err)
	case len(b) > maxSecret:
		return "", usageError{fmt.Errorf("%s %s: %w", flagName, path, errSecretTooLong)}
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s %s is empty", flagName, path)
	}
	return s, nil
}

// runSecretCommand runs command with sh -c and returns the first line of
// its output. Its stderr goes to ours; its output is never shown.
func runSecretCommand(ctx context.Context, flagName, command string, stderr io.Writer) (string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.WaitDelay = 5 * time.Second // a child left holding the pipes must not hang us
	ownProcessGroup(cmd)
	out := &capWriter{limit: maxSecret, full: cancel}
	errOut := &capWriter{limit: maxSecret}
	cmd.Stdout = out
	cmd.Stderr = errOut
	err := cmd.Run()
	stderr.Write(errOut.buf.Bytes()) // in one write, as commands may run at once
	switch {
	case out.over:
		return "", usageError{fmt.Errorf("%s printed %w", flagName, errSecretTooLong)}
	case err != nil:
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	line, _, _ := strings.Cut(out.buf.String(), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s printed nothing", flagName)
	}
	return line, nil
}

// capWriter keeps the first limit octets written to it and drops the rest;
// once over the limit it calls full (when set), to stop the writer.
type capWriter struct {
	buf   bytes.Buffer
	limit int
	over  bool
	full  func()
}

func (w *capWriter) Write(p []byte) (int, error) {
	if room := w.limit - w.buf.Len(); len(p) > room {
		w.buf.Write(p[:max(room, 0)])
		if !w.over && w.full != nil {
			w.full()
		}
		w.over = true
		return len(p), nil
	}
	return w.buf.Write(p)
}

// lockedWriter serialises writes to w from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

// Unwrap returns the writer l writes to, so that the progress view can
// tell whether it is a terminal.
func (l *lockedWriter) Unwrap() io.Writer { return l.w }

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
