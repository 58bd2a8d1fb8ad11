package sender

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// Harness: the project's loopback servers (../shared/harness).
const (
	harnessCA      = "/var/tmp/mailshot-tls/ca.pem"
	harnessMaildir = "/var/tmp/mailshot-postfix/Maildir"
	harnessUser    = "alice@example.test"
	harnessPass    = "s3cret"
)

// requireHarness skips the test when nothing listens at addr, unless
// MAILSHOT_HARNESS=1, which makes it fail instead.
func requireHarness(t testing.TB, addr string) {
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

// harnessTLS trusts the harness's CA.
func harnessTLS(t testing.TB) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(harnessCA)
	if err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatal(err)
		}
		t.Skip("harness CA:", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{RootCAs: pool}
}

// maildirFiles waits until want files in the Maildir's new/ contain token,
// and returns them.
func maildirFiles(t *testing.T, dir, token string, want int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found [][]byte
		entries, _ := os.ReadDir(filepath.Join(dir, "new"))
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, "new", e.Name()))
			if err == nil && bytes.Contains(b, []byte(token)) {
				found = append(found, b)
			}
		}
		if len(found) >= want || time.Now().After(deadline) {
			return found
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestHarnessPostfix(t *testing.T) {
	for _, tt := range []struct {
		name, url string
	}{
		{"submission STARTTLS", "smtp://" + harnessUser + "@127.0.0.1:2587"},
		{"submissions implicit TLS", "smtps://" + harnessUser + "@127.0.0.1:2465"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ep, err := ParseURL(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			requireHarness(t, ep.Addr())
			j := journalFor(t)
			token := fmt.Sprintf("h%d", time.Now().UnixNano())
			msgs := namedMessages(token, 12, 2, 3000)
			var trace syncBuffer
			sum, err := runPool(t, Config{
				Endpoint: ep,
				Client:   smtp.Config{LocalName: "client.mailshot.test", TLSConfig: harnessTLS(t), Trace: &trace},
				Credentials: func(context.Context) (smtp.Credentials, error) {
					return smtp.Credentials{Password: harnessPass}, nil
				},
				Connections: 3,
				Journal:     j,
				Retries:     1,
			}, msgs)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent != 24 || sum.Connections != 3 {
				t.Fatalf("summary %+v, want 24 sent over 3 connections", sum)
			}
			if n := strings.Count(trace.String(), "C: AUTH"); n != 3 {
				t.Errorf("%d AUTH commands, want one per connection", n)
			}
			if strings.Contains(trace.String(), harnessPass) {
				t.Error("the transcript shows the password")
			}
			files := maildirFiles(t, harnessMaildir, token, 24)
			if len(files) != 24 {
				t.Fatalf("%d files in the Maildir, want 24 (one per recipient)", len(files))
			}
			byID := make(map[string]*Message)
			for _, m := range msgs {
				byID[m.MessageID] = m
			}
			got := make(map[string]int)
			for _, f := range files {
				m, err := mail.ReadMessage(bytes.NewReader(f))
				if err != nil {
					t.Fatal(err)
				}
				to := m.Header.Get("Delivered-To")
				sent := byID[m.Header.Get("Message-Id")]
				if sent == nil {
					t.Fatalf("delivered message with unknown Message-ID %q", m.Header.Get("Message-Id"))
				}
				got[sent.MessageID+" "+to]++
				if !strings.Contains(m.Header.Get("Received"), "ESMTPSA") {
					t.Errorf("Received: %q, want ESMTPSA (TLS and AUTH)", m.Header.Get("Received"))
				}
				// The delivered file is the message sent with four trace
				// headers before it, and LF line ends.
				want := bytes.ReplaceAll(sent.Body, []byte("\r\n"), []byte("\n"))
				if !bytes.HasSuffix(bytes.TrimRight(f, "\n"), bytes.TrimRight(want, "\n")) {
					t.Errorf("message %s arrived changed", sent.MessageID)
				}
			}
			for _, m := range msgs {
				for _, to := range m.To {
					if got[m.MessageID+" "+to] != 1 {
						t.Errorf("%s to %s delivered %d times", m.MessageID, to, got[m.MessageID+" "+to])
					}
				}
			}
			rep, err := journal.ReadReport(j.Path())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Totals != (journal.Totals{Sent: 24}) || len(rep.Codes) != 1 || rep.Codes[0].Code != 250 {
				t.Errorf("report %+v %v", rep.Totals, rep.Codes)
			}
		})
	}
}

func TestHarnessPostfixWrongPassword(t *testing.T) {
	ep, _ := ParseURL("smtp://" + harnessUser + "@127.0.0.1:2587")
	requireHarness(t, ep.Addr())
	j := journalFor(t)
	_, err := runPool(t, Config{
		Endpoint: ep,
		Client:   smtp.Config{TLSConfig: harnessTLS(t)},
		Credentials: func(context.Context) (smtp.Credentials, error) {
			return smtp.Credentials{Password: "not-" + harnessPass}, nil
		},
		Journal: j,
	}, testMessages(5, 1, 200))
	var ae *smtp.AuthError
	if !errors.Is(err, ErrAuthFailed) || !errors.As(err, &ae) || ae.Err.Code != 535 {
		t.Fatalf("Run: %v, want ErrAuthFailed with Postfix's 535", err)
	}
	if strings.Contains(err.Error(), harnessPass) {
		t.Errorf("error shows the password: %v", err)
	}
	if j.Totals() != (journal.Totals{}) {
		t.Errorf("journal %+v after an authentication failure", j.Totals())
	}
}

func TestHarnessNoTLSNoAuth(t *testing.T) {
	// Port 2525 offers STARTTLS but does not require it, and no AUTH: a URL
	// without a user sends without authenticating, over TLS since offered.
	ep, _ := ParseURL("smtp://127.0.0.1:2525")
	requireHarness(t, ep.Addr())
	token := fmt.Sprintf("n%d", time.Now().UnixNano())
	var trace syncBuffer
	sum, err := runPool(t, Config{
		Endpoint: ep,
		Client:   smtp.Config{TLSConfig: harnessTLS(t), Trace: &trace},
	}, namedMessages(token, 2, 1, 200))
	if err != nil || sum.Sent != 2 {
		t.Fatalf("Run: %+v, %v", sum, err)
	}
	if !strings.Contains(trace.String(), "C: STARTTLS") || strings.Contains(trace.String(), "C: AUTH") {
		t.Errorf("want STARTTLS and no AUTH:\n%s", trace.String())
	}
	if files := maildirFiles(t, harnessMaildir, token, 2); len(files) != 2 {
		t.Errorf("%d files delivered, want 2", len(files))
	}
}
