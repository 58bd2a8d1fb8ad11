package smtp

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Interoperability with the real servers of the loopback harness
// (../shared/harness): Postfix, aiosmtpd and Exim. Each test reads the
// delivered message back from the server's Maildir and compares it with
// what was sent.

const (
	postfixSMTP   = "127.0.0.1:2525"
	postfixSubmit = "127.0.0.1:2587"
	postfixSMTPS  = "127.0.0.1:2465"
	sinkAddr      = "127.0.0.1:2526"
	aiosmtpdAddr  = "127.0.0.1:2527"
	eximAddr      = "127.0.0.1:2528"

	harnessCA       = "/var/tmp/mailshot-tls/ca.pem"
	postfixMaildir  = "/var/tmp/mailshot-postfix/Maildir"
	aiosmtpdMaildir = "/var/tmp/mailshot-aiosmtpd/Maildir"
	eximMaildir     = "/var/tmp/mailshot-exim/Maildir"
)

// requireHarness skips the test when the harness server at addr is down,
// or fails it when MAILSHOT_HARNESS=1 says the harness must be up.
func requireHarness(t testing.TB, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatalf("harness server %s is not up: %v", addr, err)
		}
		t.Skipf("harness server %s is not up: %v", addr, err)
	}
	conn.Close()
}

// harnessTLS trusts the harness's CA.
func harnessTLS(t testing.TB) *tls.Config {
	t.Helper()
	caPEM, err := os.ReadFile(harnessCA)
	if err != nil {
		if os.Getenv("MAILSHOT_HARNESS") == "1" {
			t.Fatal(err)
		}
		t.Skip("harness CA missing:", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no certificate", harnessCA)
	}
	return &tls.Config{RootCAs: roots}
}

func harnessCredentials(mech string) Credentials {
	c := Credentials{Username: os.Getenv("MAILSHOT_USER"), Password: os.Getenv("MAILSHOT_PASS"), Mechanism: mech}
	if c.Username == "" {
		c.Username = user
	}
	if c.Password == "" {
		c.Password = pass
	}
	return c
}

func newToken(t testing.TB) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "ms" + hex.EncodeToString(b)
}

// harnessMessage is a message with line ends of every kind and lines that
// need dot-stuffing, marked with token.
func harnessMessage(token string) string {
	return "From: Mailshot Test <sender@example.test>\n" +
		"To: <rcpt@example.org>\n" +
		"Subject: mailshot interop " + token + "\n" +
		"Message-ID: <" + token + "@mailshot.test>\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=us-ascii\n" +
		"\n" +
		"Hello,\r\n" +
		".this line starts with a dot\n" +
		"..and this one with two\n" +
		".\n" +
		"the line above is a single dot; bare LF line ends here\n" +
		"last line without a line end"
}

// waitDelivered waits until n files in maildir hold token and returns them.
func waitDelivered(t *testing.T, maildir, token string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var found []string
		for _, sub := range []string{"new", "cur"} {
			entries, err := os.ReadDir(filepath.Join(maildir, sub))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(maildir, sub, e.Name()))
				if err == nil && strings.Contains(string(b), token) {
					found = append(found, string(b))
				}
			}
		}
		if len(found) >= n {
			return found
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages with %s delivered to %s", len(found), n, token, maildir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var traceField = regexp.MustCompile(`(?i)^(Return-Path|X-Original-To|Delivered-To|Received|Envelope-to|Delivery-date|Return-path):`)

// checkDelivered compares a delivered file with the message sent: line ends
// normalised, trailing newlines ignored, and only trace header fields
// before it. It returns those trace fields.
func checkDelivered(t *testing.T, delivered, sent string) string {
	t.Helper()
	lf := func(s string) string {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		return strings.TrimRight(strings.ReplaceAll(s, "\r", "\n"), "\n")
	}
	got, want := lf(delivered), lf(sent)
	if !strings.HasSuffix(got, want) {
		t.Fatalf("delivered message differs from what was sent:\n--- delivered\n%s\n--- sent\n%s", got, want)
	}
	trace := strings.TrimSuffix(got, want)
	for _, l := range strings.Split(strings.TrimSuffix(trace, "\n"), "\n") {
		if !traceField.MatchString(l) && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "\t") {
			t.Errorf("unexpected line before the message: %q", l)
		}
	}
	return trace
}

// dialStartTLS connects to a harness server with cfg and upgrades with
// STARTTLS, failing the test otherwise; the connection closes when the test
// ends.
func dialStartTLS(t *testing.T, addr string, cfg *Config) *Client {
	t.Helper()
	ctx := context.Background()
	c, err := Dial(ctx, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.StartTLS(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// sendHarness sends one message marked with a new token to rcpts.
func sendHarness(t *testing.T, c *Client, rcpts ...string) (token, msg string) {
	t.Helper()
	token = newToken(t)
	msg = harnessMessage(token)
	var to []string
	for _, r := range rcpts {
		to = append(to, strings.Replace(r, "@", "+"+token+"@", 1))
	}
	res, err := c.Send(context.Background(), &Envelope{From: "sender@example.test", To: to}, strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Send: %v (result %+v)", err, res)
	}
	for _, r := range res.Rcpts {
		if r.Err != nil {
			t.Errorf("recipient %s: %v", r.To, r.Err)
		}
	}
	return token, msg
}

func TestHarnessPostfixPlain(t *testing.T) {
	t.Parallel()
	requireHarness(t, postfixSMTP)
	ctx := context.Background()
	c, err := Dial(ctx, postfixSMTP, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("PIPELINING"); !ok {
		t.Error("Postfix does not offer PIPELINING")
	}
	// Three recipients, three domains: one file each.
	token, msg := sendHarness(t, c, "one@example.org", "two@example.net", "three@sub.example.com")
	for _, f := range waitDelivered(t, postfixMaildir, token, 3) {
		if trace := checkDelivered(t, f, msg); !strings.Contains(trace, "with ESMTP id") {
			t.Errorf("not plain ESMTP:\n%s", trace)
		}
	}
	// The connection stays usable for the next message.
	token, msg = sendHarness(t, c, "four@example.org")
	checkDelivered(t, waitDelivered(t, postfixMaildir, token, 1)[0], msg)
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestHarnessPostfixStartTLS(t *testing.T) {
	t.Parallel()
	requireHarness(t, postfixSMTP)
	ctx := context.Background()
	c := dialStartTLS(t, postfixSMTP, &Config{TLSConfig: harnessTLS(t)})
	token, msg := sendHarness(t, c, "rcpt@example.org")
	if trace := checkDelivered(t, waitDelivered(t, postfixMaildir, token, 1)[0], msg); !strings.Contains(trace, "with ESMTPS id") {
		t.Errorf("not ESMTPS:\n%s", trace)
	}
	c.Quit(ctx)
}

func TestHarnessPostfixSubmission(t *testing.T) {
	t.Parallel()
	requireHarness(t, postfixSubmit)
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			c, err := Dial(ctx, postfixSubmit, &Config{TLSConfig: harnessTLS(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Authenticate(ctx, harnessCredentials(mech)); !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("AUTH before STARTTLS: %v, want not offered", err)
			}
			if err := c.StartTLS(ctx); err != nil {
				t.Fatal(err)
			}
			if err := c.Authenticate(ctx, harnessCredentials(mech)); err != nil {
				t.Fatal(err)
			}
			token, msg := sendHarness(t, c, "rcpt@example.org")
			trace := checkDelivered(t, waitDelivered(t, postfixMaildir, token, 1)[0], msg)
			if !strings.Contains(trace, "with ESMTPSA id") || !strings.Contains(trace, "(Authenticated sender: "+harnessCredentials("").Username+")") {
				t.Errorf("not ESMTPSA with the user:\n%s", trace)
			}
			if err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHarnessPostfixSubmissionNeedsTLS: MAIL before STARTTLS gets 530, and
// so does the RSET after it, which drops the connection.
func TestHarnessPostfixSubmissionNeedsTLS(t *testing.T) {
	t.Parallel()
	requireHarness(t, postfixSubmit)
	ctx := context.Background()
	c, err := Dial(ctx, postfixSubmit, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Send(ctx, &Envelope{From: "sender@example.test", To: []string{"rcpt@example.org"}}, strings.NewReader("x"))
	if e := wantReplyError(t, err, "MAIL", 530); e.Enhanced != "5.7.0" || !e.Permanent() {
		t.Errorf("MAIL before STARTTLS: %v", err)
	}
	if !errors.Is(res.Rcpts[0].Err, ErrNotTried) || c.Usable() {
		t.Errorf("recipient %v, usable %v", res.Rcpts[0].Err, c.Usable())
	}
}

func TestHarnessPostfixWrongPassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct{ addr, mech string }{{postfixSubmit, "PLAIN"}, {postfixSubmit, "LOGIN"}, {postfixSMTPS, "PLAIN"}} {
		t.Run(tt.addr+" "+tt.mech, func(t *testing.T) {
			requireHarness(t, tt.addr)
			dial := Dial
			if tt.addr == postfixSMTPS {
				dial = DialTLS
			}
			c, err := dial(ctx, tt.addr, &Config{TLSConfig: harnessTLS(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !c.TLS() {
				if err := c.StartTLS(ctx); err != nil {
					t.Fatal(err)
				}
			}
			cred := harnessCredentials(tt.mech)
			cred.Password = "not-the-password"
			err = c.Authenticate(ctx, cred)
			if !IsAuthFailure(err) {
				t.Fatalf("error %v, want an auth failure", err)
			}
			if e := wantReplyError(t, err, "AUTH", 535); e.Enhanced != "5.7.8" || strings.Contains(err.Error(), cred.Password) {
				t.Errorf("error %v", err)
			}
		})
	}
}

func TestHarnessPostfixImplicitTLS(t *testing.T) {
	t.Parallel()
	requireHarness(t, postfixSMTPS)
	ctx := context.Background()
	if c, err := DialTLS(ctx, postfixSMTPS, nil); err == nil {
		c.Close()
		t.Fatal("the harness's certificate was trusted without its CA")
	} else {
		var uae x509.UnknownAuthorityError
		if e := wantConnError(t, err, nil); e.Op != "TLS" || !errors.As(err, &uae) {
			t.Errorf("error %v", err)
		}
	}
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			c, err := DialTLS(ctx, postfixSMTPS, &Config{TLSConfig: harnessTLS(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Authenticate(ctx, harnessCredentials(mech)); err != nil {
				t.Fatal(err)
			}
			token, msg := sendHarness(t, c, "rcpt@example.org")
			if trace := checkDelivered(t, waitDelivered(t, postfixMaildir, token, 1)[0], msg); !strings.Contains(trace, "with ESMTPSA id") {
				t.Errorf("not ESMTPSA:\n%s", trace)
			}
			c.Quit(ctx)
		})
	}
}

func TestHarnessAiosmtpd(t *testing.T) {
	t.Parallel()
	requireHarness(t, aiosmtpdAddr)
	ctx := context.Background()
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			c := dialStartTLS(t, aiosmtpdAddr, &Config{TLSConfig: harnessTLS(t)})
			if ok, _ := c.Extension("PIPELINING"); ok {
				t.Error("aiosmtpd offers PIPELINING; this test wants the path without it")
			}
			if err := c.Authenticate(ctx, harnessCredentials(mech)); err != nil {
				t.Fatal(err)
			}
			token, msg := sendHarness(t, c, "rcpt@example.org", "other@example.net")
			for _, f := range waitDelivered(t, aiosmtpdMaildir, token, 2) {
				checkDelivered(t, f, msg)
				// aiosmtpd stores the bytes as received: every line ends in CRLF.
				body := f[strings.Index(f, "From: Mailshot"):]
				if strings.Count(body, "\n") != strings.Count(body, "\r\n") || strings.Count(body, "\r") != strings.Count(body, "\r\n") {
					t.Errorf("bare CR or LF reached aiosmtpd: %q", body)
				}
			}
			c.Quit(ctx)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		c := dialStartTLS(t, aiosmtpdAddr, &Config{TLSConfig: harnessTLS(t)})
		cred := harnessCredentials("PLAIN")
		cred.Password = "not-the-password"
		if err := c.Authenticate(ctx, cred); !IsAuthFailure(err) {
			t.Fatalf("error %v, want an auth failure", err)
		}
	})
}

func TestHarnessExim(t *testing.T) {
	t.Parallel()
	requireHarness(t, eximAddr)
	ctx := context.Background()
	// "" lets Authenticate choose: CRAM-MD5 comes first when offered.
	for _, mech := range []string{"", "PLAIN", "LOGIN"} {
		t.Run("auth "+mech, func(t *testing.T) {
			var trace strings.Builder
			c := dialStartTLS(t, eximAddr, &Config{TLSConfig: harnessTLS(t), Trace: &trace})
			if err := c.Authenticate(ctx, harnessCredentials(mech)); err != nil {
				t.Fatal(err)
			}
			if mech == "" && !strings.Contains(trace.String(), "C: AUTH CRAM-MD5\n") {
				t.Errorf("CRAM-MD5 not chosen:\n%s", trace.String())
			}
			token, msg := sendHarness(t, c, "rcpt@example.org")
			if trace := checkDelivered(t, waitDelivered(t, eximMaildir, token, 1)[0], msg); !strings.Contains(trace, "with esmtpsa") {
				t.Errorf("not esmtpsa:\n%s", trace)
			}
			c.Quit(ctx)
		})
	}
	for _, mech := range []string{"CRAM-MD5", "PLAIN", "LOGIN"} {
		t.Run("wrong password "+mech, func(t *testing.T) {
			c := dialStartTLS(t, eximAddr, &Config{TLSConfig: harnessTLS(t)})
			cred := harnessCredentials(mech)
			cred.Password = "not-the-password"
			err := c.Authenticate(ctx, cred)
			if !IsAuthFailure(err) {
				t.Fatalf("error %v, want an auth failure", err)
			}
			wantReplyError(t, err, "AUTH", 535)
		})
	}
}

func TestHarnessSink(t *testing.T) {
	t.Parallel()
	requireHarness(t, sinkAddr)
	ctx := context.Background()
	c, err := Dial(ctx, sinkAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello(ctx); err != nil { // smtp-sink ends EHLO with an empty "250 "
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		res, err := c.Send(ctx, &Envelope{From: "sender@example.test", To: []string{"rcpt@example.org"}}, strings.NewReader(testBody))
		if err != nil || res.Reply.Code != 250 {
			t.Fatalf("message %d: %v %+v", i, err, res)
		}
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}
