package smtp

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

func TestGreeting(t *testing.T) {
	tests := []struct {
		name    string
		server  string
		check   func(t *testing.T, err error)
		closed  bool
		wantErr bool
	}{
		{name: "220", server: "220 mx.example.com ESMTP\r\n"},
		{name: "multi-line 220", server: "220-mx.example.com ESMTP\r\n220 welcome\r\n"},
		{name: "554", server: "554 5.7.1 no service for you\r\n", check: func(t *testing.T, err error) {
			e := wantReplyError(t, err, "greeting", 554)
			if !e.Permanent() || e.Enhanced != "" || e.Text != "5.7.1 no service for you" {
				t.Errorf("greeting error = %+v", e)
			}
		}},
		{name: "421", server: "421 4.7.0 too many connections\r\n", check: func(t *testing.T, err error) {
			if e := wantReplyError(t, err, "greeting", 421); !e.Temporary() {
				t.Errorf("421 is not temporary")
			}
		}},
		{name: "250 instead of 220", server: "250 hello\r\n", check: func(t *testing.T, err error) {
			wantReplyError(t, err, "greeting", 250)
		}},
		{name: "garbage", server: "SSH-2.0-OpenSSH_9.2\r\n", check: func(t *testing.T, err error) {
			wantConnError(t, err, ErrMalformedReply)
		}},
		{name: "code changes", server: "220-hello\r\n554 no\r\n", check: func(t *testing.T, err error) {
			wantConnError(t, err, ErrMalformedReply)
		}},
		{name: "closed at once", server: "", check: func(t *testing.T, err error) {
			wantConnError(t, err, io.EOF)
		}},
		{name: "closed mid-line", server: "220 mx", check: func(t *testing.T, err error) {
			wantConnError(t, err, io.ErrUnexpectedEOF)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeConn{server: strings.NewReader(tt.server), remote: loopbackAddr}
			c, err := NewClient(context.Background(), f, "mx.example.com", nil)
			if tt.check == nil {
				if err != nil || !c.Usable() {
					t.Fatalf("NewClient: %v", err)
				}
				return
			}
			tt.check(t, err)
			if c != nil || !f.closed {
				t.Errorf("after a failed greeting: client %v, connection closed %v", c, f.closed)
			}
			if f.wrote() != "" {
				t.Errorf("client wrote %q after a failed greeting", f.wrote())
			}
		})
	}
}

func TestHello(t *testing.T) {
	ehlo := "EHLO " + localName + "\r\n"
	helo := "HELO " + localName + "\r\n"
	tests := []struct {
		name    string
		replies string
		wrote   string
		check   func(t *testing.T, c *Client, err error)
	}{
		{name: "extensions", replies: ehloPipelining, wrote: ehlo, check: func(t *testing.T, c *Client, err error) {
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]string{"pipelining": "", "Size": "100000", "AUTH": "PLAIN LOGIN CRAM-MD5", "starttls": ""} {
				if ok, got := c.Extension(name); !ok || got != want {
					t.Errorf("Extension(%q) = %v, %q; want %q", name, ok, got, want)
				}
			}
			if ok, _ := c.Extension("CHUNKING"); ok {
				t.Error("CHUNKING reported but not advertised")
			}
			if !c.enhanced {
				t.Error("ENHANCEDSTATUSCODES not recognised")
			}
		}},
		{name: "smtp-sink's empty last line", replies: lines("250-mailshot-sink", "250-PIPELINING", "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250 "),
			wrote: ehlo, check: func(t *testing.T, c *Client, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if len(c.ext) != 3 {
					t.Errorf("extensions = %v, want 3", c.ext)
				}
			}},
		{name: "lower case and old AUTH=", replies: lines("250-mx", "250-pipelining", "250-AUTH=LOGIN PLAIN", "250 size"),
			wrote: ehlo, check: func(t *testing.T, c *Client, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if ok, p := c.Extension("auth"); !ok || p != "LOGIN PLAIN" {
					t.Errorf("AUTH = %v %q", ok, p)
				}
				if ok, _ := c.Extension("PIPELINING"); !ok {
					t.Error("lower-case pipelining not recognised")
				}
				if c.maxSize() != 0 {
					t.Errorf("SIZE without a number gives limit %d", c.maxSize())
				}
			}},
		{name: "502 falls back to HELO", replies: lines("502 5.5.1 command not implemented", "250 mx.example.com"),
			wrote: ehlo + helo, check: func(t *testing.T, c *Client, err error) {
				if err != nil {
					t.Fatal(err)
				}
				if ok, _ := c.Extension("PIPELINING"); ok || !c.greeted {
					t.Error("HELO session has extensions or is not greeted")
				}
			}},
		{name: "500 falls back to HELO", replies: lines("500 what?", "250 mx.example.com"), wrote: ehlo + helo,
			check: func(t *testing.T, c *Client, err error) {
				if err != nil {
					t.Fatal(err)
				}
			}},
		{name: "HELO refused", replies: lines("502 no", "550 go away"), wrote: ehlo + helo,
			check: func(t *testing.T, c *Client, err error) { wantReplyError(t, err, "HELO", 550) }},
		{name: "421 is not a reason for HELO", replies: lines("421 4.3.2 shutting down"), wrote: ehlo,
			check: func(t *testing.T, c *Client, err error) {
				wantReplyError(t, err, "EHLO", 421)
				if c.Usable() {
					t.Error("usable after 421")
				}
			}},
		{name: "554 is not a reason for HELO", replies: lines("554 5.7.1 no"), wrote: ehlo,
			check: func(t *testing.T, c *Client, err error) {
				wantReplyError(t, err, "EHLO", 554)
				if !c.Usable() {
					t.Error("unusable after 554")
				}
			}},
		{name: "501 is not a reason for HELO", replies: lines("501 bad name"), wrote: ehlo,
			check: func(t *testing.T, c *Client, err error) { wantReplyError(t, err, "EHLO", 501) }},
		{name: "malformed", replies: lines("250-mx", "251 x"), wrote: ehlo,
			check: func(t *testing.T, c *Client, err error) {
				wantConnError(t, err, ErrMalformedReply)
				if c.Usable() {
					t.Error("usable after a malformed reply")
				}
			}},
		{name: "closed", replies: "", wrote: ehlo,
			check: func(t *testing.T, c *Client, err error) { wantConnError(t, err, io.EOF) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, err := scripted(t, nil, tt.replies)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Hello(context.Background())
			if got := f.wrote(); got != tt.wrote {
				t.Errorf("client wrote %q, want %q", got, tt.wrote)
			}
			tt.check(t, c, err)
		})
	}
}

func TestLocalName(t *testing.T) {
	for _, bad := range []string{"a b", "evil\r\nRCPT TO:<x@example.com>", "grüße.example", strings.Repeat("a", 256)} {
		c, f, err := scripted(t, &Config{LocalName: bad}, ehloPipelining)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello(context.Background()); err == nil || f.wrote() != "" {
			t.Errorf("LocalName %q: Hello = %v, wrote %q", bad, err, f.wrote())
		}
	}
	if name := defaultLocalName(); CheckHelloName(name) != nil {
		t.Errorf("default local name %q is not valid", name)
	}
	c, f, err := scripted(t, &Config{LocalName: "[192.0.2.1]"}, ehloPipelining)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello(context.Background()); err != nil || f.wrote() != "EHLO [192.0.2.1]\r\n" {
		t.Errorf("address literal: %v, wrote %q", err, f.wrote())
	}
}

func TestSimpleCommands(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		replies string
		run     func(c *Client) error
		wrote   string
		usable  bool
		check   func(t *testing.T, err error)
	}{
		{name: "NOOP", replies: "250 2.0.0 ok\r\n", run: func(c *Client) error { return c.Noop(ctx) },
			wrote: "NOOP\r\n", usable: true},
		{name: "NOOP 421", replies: "421 4.4.2 idle too long\r\n", run: func(c *Client) error { return c.Noop(ctx) },
			wrote: "NOOP\r\n", check: func(t *testing.T, err error) { wantReplyError(t, err, "NOOP", 421) }},
		{name: "NOOP on a dead connection", replies: "", run: func(c *Client) error { return c.Noop(ctx) },
			wrote: "NOOP\r\n", check: func(t *testing.T, err error) { wantConnError(t, err, io.EOF) }},
		{name: "RSET", replies: "250 ok\r\n", run: func(c *Client) error { return c.Reset(ctx) },
			wrote: "RSET\r\n", usable: true},
		{name: "RSET refused", replies: "500 no\r\n", run: func(c *Client) error { return c.Reset(ctx) },
			wrote: "RSET\r\n", check: func(t *testing.T, err error) { wantReplyError(t, err, "RSET", 500) }},
		{name: "QUIT", replies: "221 2.0.0 bye\r\n", run: func(c *Client) error { return c.Quit(ctx) },
			wrote: "QUIT\r\n"},
		{name: "QUIT odd reply", replies: "250 whatever\r\n", run: func(c *Client) error { return c.Quit(ctx) },
			wrote: "QUIT\r\n", check: func(t *testing.T, err error) { wantReplyError(t, err, "QUIT", 250) }},
		{name: "after Close", replies: "250 ok\r\n", run: func(c *Client) error { c.Close(); return c.Noop(ctx) },
			wrote: "", check: func(t *testing.T, err error) { wantConnError(t, err, net.ErrClosed) }},
		{name: "Quit after Close", replies: "", run: func(c *Client) error { c.Close(); return c.Quit(ctx) }},
		{name: "cancelled context", replies: "250 ok\r\n", run: func(c *Client) error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return c.Noop(ctx)
		}, check: func(t *testing.T, err error) { wantConnError(t, err, context.Canceled) }},
		{name: "MAIL", replies: ehloPipelining + "250 2.1.0 ok\r\n", run: func(c *Client) error {
			return c.Mail(ctx, "a@example.com", &MailOptions{Size: 1234, EightBit: true})
		}, wrote: "EHLO " + localName + "\r\nMAIL FROM:<a@example.com> SIZE=1234 BODY=8BITMIME\r\n", usable: true},
		{name: "MAIL null sender", replies: ehloPipelining + "250 ok\r\n", run: func(c *Client) error {
			return c.Mail(ctx, "", nil)
		}, wrote: "EHLO " + localName + "\r\nMAIL FROM:<>\r\n", usable: true},
		{name: "MAIL UTF-8 sender implies SMTPUTF8", replies: ehloPipelining + "250 ok\r\n", run: func(c *Client) error {
			return c.Mail(ctx, "grüße@example.com", nil)
		}, wrote: "EHLO " + localName + "\r\nMAIL FROM:<grüße@example.com> SMTPUTF8\r\n", usable: true},
		{name: "MAIL too large", replies: ehloPipelining, run: func(c *Client) error {
			return c.Mail(ctx, "a@example.com", &MailOptions{Size: 100001})
		}, wrote: "EHLO " + localName + "\r\n", usable: true,
			check: func(t *testing.T, err error) {
				if !errors.Is(err, ErrMessageTooLarge) {
					t.Fatal(err)
				}
			}},
		{name: "MAIL refused", replies: ehloPipelining + "530 5.7.0 Must issue a STARTTLS command first\r\n", run: func(c *Client) error {
			return c.Mail(ctx, "a@example.com", nil)
		}, wrote: "EHLO " + localName + "\r\nMAIL FROM:<a@example.com>\r\n", usable: true,
			check: func(t *testing.T, err error) {
				if e := wantReplyError(t, err, "MAIL", 530); e.Enhanced != "5.7.0" || e.Text != "Must issue a STARTTLS command first" {
					t.Errorf("reply = %+v", e.Reply)
				}
			}},
		{name: "RCPT 251", replies: "251 will forward\r\n", run: func(c *Client) error { return c.Rcpt(ctx, "b@example.org") },
			wrote: "RCPT TO:<b@example.org>\r\n", usable: true},
		{name: "RCPT refused", replies: "550 no such user\r\n", run: func(c *Client) error { return c.Rcpt(ctx, "b@example.org") },
			wrote: "RCPT TO:<b@example.org>\r\n", usable: true,
			check: func(t *testing.T, err error) { wantReplyError(t, err, "RCPT", 550) }},
		{name: "RCPT injection", replies: "250 ok\r\n", run: func(c *Client) error {
			return c.Rcpt(ctx, "b@example.org>\r\nDATA")
		}, usable: true, check: func(t *testing.T, err error) {
			if !errors.Is(err, ErrInvalidAddress) {
				t.Fatal(err)
			}
		}},
		{name: "DATA and body", replies: "354 go ahead\r\n250 2.0.0 queued\r\n", run: func(c *Client) error {
			w, err := c.Data(ctx)
			if err != nil {
				return err
			}
			io.WriteString(w, ".hidden\nline")
			return w.Close()
		}, wrote: "DATA\r\n..hidden\r\nline\r\n.\r\n", usable: true},
		{name: "DATA refused", replies: "503 5.5.1 need RCPT\r\n", run: func(c *Client) error {
			_, err := c.Data(ctx)
			return err
		}, wrote: "DATA\r\n", usable: true, check: func(t *testing.T, err error) { wantReplyError(t, err, "DATA", 503) }},
		{name: "message refused", replies: "354 go ahead\r\n554 5.7.1 spam\r\n", run: func(c *Client) error {
			w, err := c.Data(ctx)
			if err != nil {
				return err
			}
			io.WriteString(w, "x\r\n")
			return w.Close()
		}, wrote: "DATA\r\nx\r\n.\r\n", usable: true, check: func(t *testing.T, err error) { wantReplyError(t, err, "message", 554) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f, err := scripted(t, nil, tt.replies)
			if err != nil {
				t.Fatal(err)
			}
			err = tt.run(c)
			if got := f.wrote(); got != tt.wrote {
				t.Errorf("client wrote %q, want %q", got, tt.wrote)
			}
			if tt.check != nil {
				tt.check(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			if c.Usable() != tt.usable {
				t.Errorf("Usable() = %v, want %v", c.Usable(), tt.usable)
			}
		})
	}
}
