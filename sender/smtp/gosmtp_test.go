package smtp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Interoperability with an independent server implementation, go-smtp's,
// in process: STARTTLS with a generated certificate, AUTH PLAIN and LOGIN,
// PIPELINING, 8BITMIME and SMTPUTF8.

type gsMessage struct {
	user string
	from string
	opts gosmtp.MailOptions
	to   []string
	data []byte
}

type gsBackend struct {
	mu   sync.Mutex
	msgs []gsMessage
}

func (be *gsBackend) NewSession(*gosmtp.Conn) (gosmtp.Session, error) { return &gsSession{be: be}, nil }

func (be *gsBackend) messages() []gsMessage {
	be.mu.Lock()
	defer be.mu.Unlock()
	return append([]gsMessage(nil), be.msgs...)
}

type gsSession struct {
	be   *gsBackend
	user string
	msg  gsMessage
}

func (s *gsSession) AuthMechanisms() []string { return []string{sasl.Plain, sasl.Login} }

func (s *gsSession) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if username != user || password != pass {
			return gosmtp.ErrAuthFailed
		}
		s.user = username
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *gsSession) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.user == "" {
		return gosmtp.ErrAuthRequired
	}
	s.msg = gsMessage{user: s.user, from: from}
	if opts != nil {
		s.msg.opts = *opts
	}
	return nil
}

func (s *gsSession) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if strings.HasPrefix(to, "unknown") {
		return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	s.msg.to = append(s.msg.to, to)
	return nil
}

func (s *gsSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.data = data
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, s.msg)
	s.be.mu.Unlock()
	return nil
}

func (s *gsSession) Reset()        { s.msg = gsMessage{} }
func (s *gsSession) Logout() error { return nil }

// loginServer is the server side of LOGIN, which go-sasl lacks.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if response != nil { // initial response
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.username = string(response)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.username, string(response))
	}
	return nil, false, errors.New("unexpected response")
}

// goSMTPServer starts a go-smtp server on loopback with STARTTLS.
func goSMTPServer(t *testing.T, options ...func(*gosmtp.Server)) (addr string, be *gsBackend, pki testPKI) {
	t.Helper()
	pki = newTestPKI(t)
	be = &gsBackend{}
	srv := gosmtp.NewServer(be)
	srv.Domain = "localhost"
	srv.TLSConfig = pki.server
	srv.EnableSMTPUTF8 = true
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	for _, o := range options {
		o(srv)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), be, pki
}

func TestGoSMTPServer(t *testing.T) {
	addr, be, pki := goSMTPServer(t)
	ctx := context.Background()
	body := "From: <a@example.com>\nTo: <b@example.org>\nSubject: interop\n\n.starts with a dot\n..two dots\nend\n"

	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			var trace bytes.Buffer
			c, err := Dial(ctx, addr, &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}, Trace: &trace})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Hello(ctx); err != nil {
				t.Fatal(err)
			}
			if ok, _ := c.Extension("AUTH"); ok {
				t.Error("go-smtp offers AUTH before TLS")
			}
			if err := c.StartTLS(ctx); err != nil {
				t.Fatal(err)
			}
			for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "AUTH"} {
				if ok, _ := c.Extension(ext); !ok {
					t.Errorf("%s not offered after STARTTLS", ext)
				}
			}
			if err := c.Authenticate(ctx, Credentials{Username: user, Password: pass, Mechanism: mech}); err != nil {
				t.Fatal(err)
			}
			env := Envelope{From: "a@example.com", To: []string{"b@example.org", "unknown@example.org", "c@example.org"}}
			res, err := c.Send(ctx, &env, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			rcpts(t, res, "ok", "550", "ok")
			if err := c.Quit(ctx); err != nil {
				t.Fatal(err)
			}
			msgs := be.messages()
			got := msgs[len(msgs)-1]
			if got.user != user || got.from != "a@example.com" || strings.Join(got.to, " ") != "b@example.org c@example.org" {
				t.Errorf("server got %+v", got)
			}
			if string(got.data) != normaliseBody([]byte(body)) {
				t.Errorf("server got body %q, want %q", got.data, normaliseBody([]byte(body)))
			}
			if got.opts.UTF8 || got.opts.Body != "" {
				t.Errorf("SMTPUTF8 %v, BODY=%q for an ASCII 7-bit message", got.opts.UTF8, got.opts.Body)
			}
			if strings.Contains(trace.String(), pass) || strings.Contains(trace.String(), b64(pass)) {
				t.Error("transcript holds the password")
			}
		})
	}

	t.Run("SMTPUTF8 and 8BITMIME", func(t *testing.T) {
		c := goSMTPLogin(t, addr, pki)
		utf8Body := "Subject: grüße\n\nGrüße aus Köln\n"
		env := Envelope{From: "a@example.com", To: []string{"δοκιμή@παράδειγμα.δοκιμή"}, EightBit: true, UTF8Headers: true}
		if _, err := c.Send(ctx, &env, strings.NewReader(utf8Body)); err != nil {
			t.Fatal(err)
		}
		msgs := be.messages()
		got := msgs[len(msgs)-1]
		if !got.opts.UTF8 || got.opts.Body != gosmtp.Body8BitMIME || got.to[0] != "δοκιμή@παράδειγμα.δοκιμή" {
			t.Errorf("server got %+v", got)
		}
		if string(got.data) != normaliseBody([]byte(utf8Body)) {
			t.Errorf("server got body %q", got.data)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		for _, mech := range []string{"PLAIN", "LOGIN"} {
			c, err := Dial(ctx, addr, &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.StartTLS(ctx); err != nil {
				t.Fatal(err)
			}
			err = c.Authenticate(ctx, Credentials{Username: user, Password: "wrong", Mechanism: mech})
			if !IsAuthFailure(err) || strings.Contains(err.Error(), "wrong") {
				t.Errorf("%s: %v", mech, err)
			}
			wantReplyError(t, err, "AUTH", 535)
			c.Close()
		}
	})

	t.Run("untrusted certificate", func(t *testing.T) {
		c, err := Dial(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.StartTLS(ctx); err == nil {
			t.Fatal("STARTTLS to a server with an unknown CA succeeded")
		}
	})

	t.Run("many messages on one connection", func(t *testing.T) {
		c := goSMTPLogin(t, addr, pki)
		before := len(be.messages())
		for i := 0; i < 20; i++ {
			if _, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(body)); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		if got := len(be.messages()) - before; got != 20 {
			t.Errorf("server got %d messages", got)
		}
		if err := c.Noop(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func goSMTPLogin(t *testing.T, addr string, pki testPKI) *Client {
	t.Helper()
	ctx := context.Background()
	c, err := Dial(ctx, addr, &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.StartTLS(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Authenticate(ctx, Credentials{Username: user, Password: pass}); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestGoSMTPPieces sends bodies in pieces, with a shared image of several
// write blocks and small shared pieces, over plain TCP (where the client
// writes pieces and buffer with writev) and over TLS, several messages on
// one connection: go-smtp receives each message as if it had been sent
// whole.
func TestGoSMTPPieces(t *testing.T) {
	addr, be, pki := goSMTPServer(t, func(s *gosmtp.Server) { s.AllowInsecureAuth = true })
	ctx := context.Background()
	image := []byte(strings.Repeat(strings.Repeat("iVBO", 19)+"\r\n", 2500)) // 195 KB of base64 lines
	dots := []byte(".one\r\n..two\r\n")
	for _, secure := range []bool{false, true} {
		c, err := Dial(ctx, addr, &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}})
		if err != nil {
			t.Fatal(err)
		}
		if secure {
			if err := c.StartTLS(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Authenticate(ctx, Credentials{Username: user, Password: pass}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			own := fmt.Sprintf("Subject: pieces %d\r\n\r\n.dot %d\r\n", i, i)
			pieces := []Piece{
				{Octets: []byte(own)}, {Octets: image, Shared: true}, {Octets: []byte("between\n")},
				{Octets: dots, Shared: true}, {Octets: image[:5000], Shared: true}, {Octets: []byte("end")},
			}
			var whole []byte
			for _, p := range pieces {
				whole = append(whole, p.Octets...)
			}
			env := Envelope{From: "a@example.com", To: []string{"b@example.org"}}
			if _, err := c.Send(ctx, &env, NewPieces(pieces)); err != nil {
				t.Fatalf("TLS %v, message %d: %v", secure, i, err)
			}
			msgs := be.messages()
			if got := msgs[len(msgs)-1]; string(got.data) != normaliseBody(whole) {
				t.Errorf("TLS %v, message %d: server got %d octets that differ from the %d sent", secure, i, len(got.data), len(whole))
			}
		}
		c.Quit(ctx)
	}
}
