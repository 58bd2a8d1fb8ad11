package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailshot/mailshot/sender/smtptest"
)

// countingScript writes a shell script that appends a line to a counter file
// each time it runs and prints secret.
func countingScript(t *testing.T, dir, secret string) (script, counter string) {
	t.Helper()
	counter = filepath.Join(dir, "calls")
	script = writeFile(t, dir, "secret.sh", "echo call >> '"+counter+"'\necho '"+secret+"'\n")
	return script, counter
}

func calls(t *testing.T, counter string) int {
	t.Helper()
	b, err := os.ReadFile(counter)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "call\n")
}

func TestXOAuth2TokenCommandRunsOncePerConnection(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Token: "ya29.token-1"})
	dir := t.TempDir()
	script, counter := countingScript(t, dir, "ya29.token-1")
	data := peopleCSV(t, dir, 12)
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data,
		"--smtp", "smtp://alice@example.test@"+srv.Addr, "--auth", "xoauth2", "--token-cmd", "sh "+script,
		"--connections", "2", "--max-per-conn", "3", "--journal", filepath.Join(dir, "j.jsonl"))
	if status != exitOK {
		t.Fatalf("status %d\n%s", status, errOut)
	}
	if n := len(srv.Messages()); n != 12 {
		t.Fatalf("%d messages delivered", n)
	}
	// 12 messages, 3 per connection: at least 4 connections, each with a
	// fresh token from the command.
	payloads := srv.XOAuth2Payloads()
	if got := calls(t, counter); got != len(payloads) || got < 4 {
		t.Errorf("token command ran %d times for %d XOAUTH2 exchanges", got, len(payloads))
	}
	want := "user=alice@example.test\x01auth=Bearer ya29.token-1\x01\x01"
	for _, p := range payloads {
		if string(p) != want {
			t.Errorf("XOAUTH2 payload %q, want %q", p, want)
		}
	}
	if strings.Contains(errOut, "ya29") {
		t.Errorf("the token appears in the output:\n%s", errOut)
	}
}

func TestPasswordCommandRunsOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Password: "s3cret"})
	dir := t.TempDir()
	script, counter := countingScript(t, dir, "s3cret")
	data := peopleCSV(t, dir, 9)
	_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data,
		"--smtp", "smtp://alice@example.test@"+srv.Addr, "--password-cmd", "sh "+script,
		"--connections", "3", "--max-per-conn", "1", "--journal", filepath.Join(dir, "j.jsonl"))
	if status != exitOK || len(srv.Messages()) != 9 {
		t.Fatalf("status %d, %d messages\n%s", status, len(srv.Messages()), errOut)
	}
	if got := calls(t, counter); got != 1 {
		t.Errorf("password command ran %d times, want once", got)
	}
	if srv.Auths() != 9 {
		t.Errorf("%d AUTHs for 9 single-message connections", srv.Auths())
	}
}

func TestAuthRefusalsGetProviderHints(t *testing.T) {
	tests := []struct {
		name  string
		reply *gosmtp.SMTPError
		hint  string
	}{
		{"gmail", &gosmtp.SMTPError{Code: 534, EnhancedCode: gosmtp.EnhancedCode{5, 7, 9}, Message: "Application-specific password required. For more information, go to https://support.google.com/mail/?p=InvalidSecondFactor"}, "app password"},
		{"microsoft", &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 139}, Message: "Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant."}, "Authenticated SMTP"},
		{"microsoft basic", &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful, basic authentication is disabled."}, "Authenticated SMTP"},
		{"other", &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}, "check the user name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Username: "alice@example.test", Password: "s3cret", AuthFailure: tt.reply})
			t.Setenv(passwordEnv, "s3cret")
			dir := t.TempDir()
			_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", peopleCSV(t, dir, 3),
				"--smtp", "smtp://alice@example.test@"+srv.Addr, "--journal", filepath.Join(dir, "j.jsonl"))
			if status != exitStopped {
				t.Fatalf("status %d\n%s", status, errOut)
			}
			var hint string
			for _, l := range strings.Split(errOut, "\n") {
				if strings.HasPrefix(l, "hint: ") {
					hint = l
				}
			}
			if !strings.Contains(hint, tt.hint) {
				t.Errorf("hint %q does not mention %q\n%s", hint, tt.hint, errOut)
			}
		})
	}
}

// An endless password file or command is an error at once, exit 1, not an
// out-of-memory crash.
func TestEndlessSecretsAreBounded(t *testing.T) {
	dir := t.TempDir()
	data := peopleCSV(t, dir, 1)
	for name, flags := range map[string][]string{
		"file":    {"--password-file", "/dev/zero"},
		"command": {"--password-cmd", "yes"},
	} {
		args := append([]string{"send", "-t", "testdata/plain", "-d", data, "--journal", filepath.Join(dir, name+".jsonl"),
			"--smtp", "smtp://alice@127.0.0.1:1"}, flags...)
		_, errOut, status := runCLI(t, context.Background(), args...)
		if status != exitInvalid || !strings.Contains(errOut, "not a password or token") {
			t.Errorf("%s: status %d\n%s", name, status, errOut)
		}
	}
}
