package smtp

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// okEnvelope is the replies to an accepted MAIL, RCPT and DATA.
var okEnvelope = []string{"250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 go ahead\r\n"}

// thenCase is a client whose scripted server (with PIPELINING) accepted a
// first message's envelope, answered its final dot with dotReply and then
// the replies after; first is that message's Send, whose Then was next.
type thenCase struct {
	c     *Client
	f     *fakeConn
	next  *Envelope
	first *Result
	err   error // first Send's
}

func sendWithThen(t *testing.T, dotReply string, after ...string) thenCase {
	t.Helper()
	replies := append(append([]string{ehloPipelining}, okEnvelope...), dotReply)
	c, f, err := scripted(t, nil, append(replies, after...)...)
	if err != nil {
		t.Fatal(err)
	}
	next := &Envelope{From: "a@example.com", To: []string{"c@example.org"}, Size: int64(len(testBody))}
	res, err := c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"b@example.org"}, Then: next}, strings.NewReader(testBody))
	return thenCase{c: c, f: f, next: next, first: res, err: err}
}

// TestSendThen scripts transactions chained with Envelope.Then and checks
// the client's writes one by one: the next MAIL, RCPT and DATA ride with
// the final dot, and the next Send writes only the body.
func TestSendThen(t *testing.T) {
	ctx := context.Background()
	mailC := "MAIL FROM:<a@example.com> " + sizeParam + "\r\n"

	t.Run("chained", func(t *testing.T) {
		tc := sendWithThen(t, "250 2.0.0 queued 1\r\n", append(okEnvelope, "250 2.0.0 queued 2\r\n")...)
		if tc.err != nil || tc.first.Reply.Text != "queued 1" {
			t.Fatalf("first: %v %+v", tc.err, tc.first)
		}
		if err := tc.c.Noop(ctx); err == nil {
			t.Fatal("NOOP in the middle of the next transaction was sent")
		}
		res, err := tc.c.Send(ctx, tc.next, strings.NewReader(testBody))
		if err != nil || res.Reply.Text != "queued 2" {
			t.Fatalf("second: %v %+v", err, res)
		}
		rcpts(t, res, "ok")
		want := []string{ehloLine, mailLine + rcptB + "DATA\r\n", testWire + mailC + rcptC + "DATA\r\n", testWire}
		if fmt.Sprintf("%q", tc.f.writes) != fmt.Sprintf("%q", want) {
			t.Fatalf("writes\n%q\nwant\n%q", tc.f.writes, want)
		}
	})

	t.Run("message rejected, next goes on without RSET", func(t *testing.T) {
		tc := sendWithThen(t, "554 5.7.1 spam\r\n", append(okEnvelope, "250 2.0.0 queued\r\n")...)
		wantReplyError(t, tc.err, "message", 554)
		if !tc.first.Committed {
			t.Error("a rejected message not committed")
		}
		if _, err := tc.c.Send(ctx, tc.next, strings.NewReader(testBody)); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(tc.f.wrote(), "RSET") {
			t.Errorf("RSET sent into the next transaction:\n%s", tc.f.wrote())
		}
	})

	t.Run("next refused at RCPT", func(t *testing.T) {
		tc := sendWithThen(t, "250 2.0.0 queued\r\n", "250 2.1.0 Ok\r\n", "550 5.1.1 no such user\r\n", "554 5.5.1 no valid recipients\r\n", "250 2.0.0 reset\r\n")
		if tc.err != nil {
			t.Fatal(tc.err)
		}
		res, err := tc.c.Send(ctx, tc.next, strings.NewReader(testBody))
		wantReplyError(t, err, "RCPT", 550)
		rcpts(t, res, "550")
		if got := string(tc.f.writes[len(tc.f.writes)-1]); got != "RSET\r\n" || !tc.c.Usable() {
			t.Errorf("last write %q, usable %v; want RSET on a usable connection", got, tc.c.Usable())
		}
	})

	t.Run("next refused with 421", func(t *testing.T) {
		tc := sendWithThen(t, "250 2.0.0 queued\r\n", "421 4.7.0 too many messages, closing\r\n")
		if tc.err != nil {
			t.Fatal(tc.err)
		}
		_, err := tc.c.Send(ctx, tc.next, strings.NewReader(testBody))
		wantReplyError(t, err, "MAIL", 421) // the reply, for its throttling meaning
		if tc.c.Usable() {
			t.Error("usable after a 421")
		}
	})

	t.Run("421 to the dot", func(t *testing.T) {
		tc := sendWithThen(t, "421 4.3.2 shutting down\r\n")
		wantReplyError(t, tc.err, "message", 421)
		if tc.c.Usable() || !tc.f.closed {
			t.Error("connection kept after a 421")
		}
		// Nothing was waited for after the 421: the next Send meets the
		// closed connection.
		_, err := tc.c.Send(ctx, tc.next, strings.NewReader(testBody))
		wantConnError(t, err, nil)
	})

	t.Run("quit while the server waits for the next body", func(t *testing.T) {
		tc := sendWithThen(t, "250 2.0.0 queued\r\n", okEnvelope...)
		if tc.err != nil {
			t.Fatal(tc.err)
		}
		tc.c.Quit(ctx)
		if strings.Contains(tc.f.wrote(), "QUIT") || !tc.f.closed {
			t.Errorf("QUIT written as message data, or connection left open:\n%s", tc.f.wrote())
		}
	})

	t.Run("another envelope than Then", func(t *testing.T) {
		tc := sendWithThen(t, "250 2.0.0 queued\r\n", okEnvelope...)
		if tc.err != nil {
			t.Fatal(tc.err)
		}
		stranger := *tc.next
		if _, err := tc.c.Send(ctx, &stranger, strings.NewReader(testBody)); err == nil || tc.c.Usable() || !tc.f.closed {
			t.Fatalf("Send with a stranger: %v, usable %v", err, tc.c.Usable())
		}
	})

	t.Run("no PIPELINING: Then is ignored", func(t *testing.T) {
		replies := []string{ehloLockstep, "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 go\r\n", "250 2.0.0 one\r\n",
			"250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n", "354 go\r\n", "250 2.0.0 two\r\n"}
		c, f, err := scripted(t, nil, replies...)
		if err != nil {
			t.Fatal(err)
		}
		next := &Envelope{From: "a@example.com", To: []string{"c@example.org"}, Size: int64(len(testBody))}
		if _, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.org"}, Then: next}, strings.NewReader(testBody)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Send(ctx, next, strings.NewReader(testBody)); err != nil {
			t.Fatal(err)
		}
		want := []string{ehloLine, mailLine, rcptB, "DATA\r\n", testWire, mailC, rcptC, "DATA\r\n", testWire}
		if fmt.Sprintf("%q", f.writes) != fmt.Sprintf("%q", want) {
			t.Fatalf("writes\n%q\nwant\n%q", f.writes, want)
		}
	})
}

// sendChain sends n messages on c, each Send naming the next envelope as
// Then, and returns the bodies in order.
func sendChain(t *testing.T, c *Client, n int, to func(i int) string) []string {
	t.Helper()
	ctx := context.Background()
	var bodies []string
	envs := make([]*Envelope, n)
	for i := range envs {
		envs[i] = &Envelope{From: "a@example.com", To: []string{to(i)}}
	}
	for i, env := range envs {
		if i+1 < n {
			env.Then = envs[i+1]
		}
		body := fmt.Sprintf("Subject: chained %d\n\n.line %d\nend\n", i, i)
		bodies = append(bodies, body)
		res, err := c.Send(ctx, env, strings.NewReader(body))
		if err != nil {
			t.Fatalf("message %d: %v (%+v)", i, err, res)
		}
	}
	return bodies
}

func TestGoSMTPThen(t *testing.T) {
	addr, be, pki := goSMTPServer(t)
	c := goSMTPLogin(t, addr, pki)
	before := len(be.messages())
	bodies := sendChain(t, c, 30, func(i int) string { return fmt.Sprintf("r%d@example.org", i) })
	if err := c.Quit(context.Background()); err != nil {
		t.Fatal(err)
	}
	msgs := be.messages()[before:]
	if len(msgs) != len(bodies) {
		t.Fatalf("server got %d messages, want %d", len(msgs), len(bodies))
	}
	for i, m := range msgs {
		if m.to[0] != fmt.Sprintf("r%d@example.org", i) || string(m.data) != normaliseBody([]byte(bodies[i])) {
			t.Errorf("message %d: to %v, body %q", i, m.to, m.data)
		}
	}
}

// TestHarnessThen chains messages with Then into Postfix and Exim, which
// offer PIPELINING, and reads each back from the Maildir.
func TestHarnessThen(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, addr, maildir string }{
		{"postfix", postfixSMTP, postfixMaildir},
		{"exim", eximAddr, eximMaildir},
	} {
		t.Run(srv.name, func(t *testing.T) {
			requireHarness(t, srv.addr)
			ctx := context.Background()
			c, err := Dial(ctx, srv.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Hello(ctx); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension("PIPELINING"); !ok {
				t.Fatalf("%s does not offer PIPELINING", srv.name)
			}
			token := newToken(t)
			var msgs []string
			envs := make([]*Envelope, 4)
			for i := range envs {
				envs[i] = &Envelope{From: "sender@example.test", To: []string{fmt.Sprintf("rcpt%d+%s@example.org", i, token)}}
				msgs = append(msgs, harnessMessage(fmt.Sprintf("%s-%d", token, i)))
			}
			for i, env := range envs {
				if i+1 < len(envs) {
					env.Then = envs[i+1]
				}
				if _, err := c.Send(ctx, env, strings.NewReader(msgs[i])); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
			if err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range envs {
				checkDelivered(t, waitDelivered(t, srv.maildir, fmt.Sprintf("%s-%d", token, i), 1)[0], msgs[i])
			}
		})
	}
}
