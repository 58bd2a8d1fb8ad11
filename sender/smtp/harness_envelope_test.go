package smtp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHarnessWrongScheme: the real Postfix on its implicit-TLS port (2465)
// reached with Dial, and on its submission port (2587) reached with
// DialTLS, gives the typed error for the mistake.
func TestHarnessWrongScheme(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("Dial to 2465", func(t *testing.T) {
		requireHarness(t, postfixSMTPS)
		// A short probe delay keeps the test quick; the default is
		// DefaultTLSProbeAfter.
		_, err := Dial(ctx, postfixSMTPS, &Config{TLSProbeAfter: time.Second})
		wantConnError(t, err, ErrImplicitTLS)
	})
	t.Run("DialTLS to 2587", func(t *testing.T) {
		requireHarness(t, postfixSubmit)
		_, err := DialTLS(ctx, postfixSubmit, &Config{TLSConfig: harnessTLS(t)})
		wantConnError(t, err, ErrPlainSMTP)
	})
}

// TestHarnessQuotedLocalPart: the recipient "@evil.test:c5"@example.test
// never reaches c5@example.test. Postfix delivers it there even quoted (it
// resolves addresses looking inside the quotes), so the client refuses it;
// the other quoted local parts go as given and reach their own mailbox.
func TestHarnessQuotedLocalPart(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, addr, maildir string }{
		{"postfix", postfixSMTP, postfixMaildir},
		{"aiosmtpd", aiosmtpdAddr, aiosmtpdMaildir},
	} {
		t.Run(srv.name, func(t *testing.T) {
			requireHarness(t, srv.addr)
			ctx := context.Background()
			token := newToken(t)
			route := `"@evil.test:c5` + token + `"@example.test`
			quote := `"e4\"c5` + token + `"@example.test`
			space := `"john c5` + token + `"@example.test`
			c, err := Dial(ctx, srv.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var trace strings.Builder
			c.trace.w = &trace
			res, err := c.Send(ctx, &Envelope{From: "sender@example.test", To: []string{route, quote, space}}, strings.NewReader(harnessMessage(token)))
			if err != nil {
				t.Fatalf("Send: %v\n%s", err, trace.String())
			}
			if !errors.Is(res.Rcpts[0].Err, ErrInvalidAddress) || res.Rcpts[1].Err != nil || res.Rcpts[2].Err != nil {
				t.Fatalf("results %+v", res.Rcpts)
			}
			if strings.Contains(trace.String(), "evil.test") {
				t.Errorf("the route went out:\n%s", trace.String())
			}
			var got []string
			for _, f := range waitDelivered(t, srv.maildir, token, 2) {
				got = append(got, envelopeRecipients(f)...)
			}
			if srv.name == "aiosmtpd" {
				got = append(got, aiosmtpdRcpts(t, token)...)
			}
			for _, to := range got {
				if to != quote && to != space {
					t.Errorf("delivered to %q, want only %s and %s", to, quote, space)
				}
			}
			c.Quit(ctx)
		})
	}
}

var envelopeHeader = regexp.MustCompile(`(?mi)^(?:Delivered-To|X-Original-To|Envelope-to):\s*(.*?)\s*$`)

// envelopeRecipients returns the addresses of a delivered file's
// Delivered-To, X-Original-To and Envelope-to fields.
func envelopeRecipients(file string) []string {
	head, _, _ := strings.Cut(strings.ReplaceAll(file, "\r\n", "\n"), "\n\n")
	var to []string
	for _, m := range envelopeHeader.FindAllStringSubmatch(head, -1) {
		to = append(to, m[1])
	}
	return to
}

// aiosmtpdRcpts returns the rcpt_tos aiosmtpd recorded for messages whose
// recipients hold token.
func aiosmtpdRcpts(t *testing.T, token string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(filepath.Dir(aiosmtpdMaildir), "messages.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), token) {
			continue
		}
		var rec struct {
			RcptTos []string `json:"rcpt_tos"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, rec.RcptTos...)
	}
	return out
}

// TestHarnessSMTPUTF8: a recipient with a non-ASCII local part goes to a
// server offering SMTPUTF8 (Postfix, with MAIL FROM ... SMTPUTF8); to one
// that does not (smtp-sink) it is that message's permanent failure, with
// nothing sent and the connection still usable for the next message.
func TestHarnessSMTPUTF8(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("postfix", func(t *testing.T) {
		requireHarness(t, postfixSMTP)
		c, err := Dial(ctx, postfixSMTP, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		token := newToken(t)
		var trace strings.Builder
		c.trace.w = &trace
		res, err := c.Send(ctx, &Envelope{From: "sender@example.test", To: []string{"josé+" + token + "@example.test"}}, strings.NewReader(harnessMessage(token)))
		if err != nil || res.Rcpts[0].Err != nil {
			t.Fatalf("%v %+v\n%s", err, res, trace.String())
		}
		if !strings.Contains(trace.String(), " SMTPUTF8\n") {
			t.Errorf("MAIL without SMTPUTF8:\n%s", trace.String())
		}
		f := waitDelivered(t, postfixMaildir, token, 1)[0]
		if to := envelopeRecipients(f); len(to) == 0 || to[0] != "josé+"+token+"@example.test" {
			t.Errorf("delivered to %q", to)
		}
		c.Quit(ctx)
	})
	t.Run("smtp-sink", func(t *testing.T) {
		requireHarness(t, sinkAddr)
		c, err := Dial(ctx, sinkAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello(ctx); err != nil {
			t.Fatal(err)
		}
		if ok, _ := c.Extension("SMTPUTF8"); ok {
			t.Skip("smtp-sink offers SMTPUTF8 here")
		}
		res, err := c.Send(ctx, &Envelope{From: "sender@example.test", To: []string{"josé@example.test"}}, strings.NewReader(testBody))
		var ce *ConnError
		var se *Error
		if !errors.Is(err, ErrSMTPUTF8Required) || errors.As(err, &ce) || errors.As(err, &se) || !errors.Is(res.Rcpts[0].Err, ErrSMTPUTF8Required) {
			t.Fatalf("error %v (%T), recipient %v: want ErrSMTPUTF8Required alone", err, err, res.Rcpts[0].Err)
		}
		if !c.Usable() {
			t.Fatal("connection unusable after a message refused here")
		}
		res, err = c.Send(ctx, &Envelope{From: "sender@example.test", To: []string{"ascii@example.test"}}, strings.NewReader(testBody))
		if err != nil || res.Reply.Code != 250 {
			t.Fatalf("next message: %v %+v", err, res)
		}
		c.Quit(ctx)
	})
}
