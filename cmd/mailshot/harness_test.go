package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireHarness skips the test when nothing listens at addr (the loopback
// servers of ../shared/harness), unless MAILSHOT_HARNESS=1, which makes it
// fail instead.
func requireHarness(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return
	}
	if os.Getenv("MAILSHOT_HARNESS") == "1" {
		t.Fatalf("harness server %s: %v", addr, err)
	}
	t.Skipf("harness server %s not up: %v", addr, err)
}

// Server mistakes against the real Postfix fail fast, each with its cause
// and its fix, exit 3, and leave nobody failed in the journal.
func TestSendServerMistakesOnPostfix(t *testing.T) {
	requireHarness(t, "127.0.0.1:2587")
	requireHarness(t, "127.0.0.1:2465")
	t.Setenv(passwordEnv, "s3cret")
	for _, tt := range []struct {
		name, url string
		tlsCA     bool
		want      []string // in stderr
	}{
		{"smtp:// to the implicit-TLS port", "smtp://alice@example.test@127.0.0.1:2465", true, []string{"smtps://"}},
		{"smtps:// to the STARTTLS port", "smtps://alice@example.test@127.0.0.1:2587", true, []string{"does not speak TLS on this port", "use smtp://"}},
		{"a refused port", "smtp://alice@example.test@127.0.0.1:1", true, []string{"connection refused"}},
		{"an untrusted certificate", "smtp://alice@example.test@127.0.0.1:2587", false, []string{"certificate is not trusted", "--tls-ca FILE"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := peopleCSV(t, dir, 3)
			journal := filepath.Join(dir, "j.jsonl")
			args := []string{"send", "-t", "testdata/plain", "-d", data, "--journal", journal, "--smtp", tt.url}
			if tt.tlsCA {
				args = append(args, "--tls-ca", "/var/tmp/mailshot-tls/ca.pem")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			_, errOut, status := runCLI(t, ctx, args...)
			took := time.Since(start)
			if status != exitStopped || took > 30*time.Second {
				t.Errorf("status %d after %v, want 3 within 30 s\n%s", status, took.Round(time.Millisecond), errOut)
			}
			if strings.Contains(errOut, "unreachable") {
				t.Errorf("said unreachable:\n%s", errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if fileExists(journal) {
				if r := readReport(t, journal); r.Totals["failed"] != 0 {
					t.Errorf("journal: %v", r.Totals)
				}
			}
		})
	}
}
