// Package smtptest runs an SMTP server in the test process, on loopback,
// in the manner of net/http/httptest: tests of code that sends mail start
// one, point the code at its Addr, and then look at what it received. The
// server is github.com/emersion/go-smtp's, an independent implementation of
// RFC 5321, so a test checks our client against someone else's reading of
// the protocol.
package smtptest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From string   // MAIL FROM address
	To   []string // RCPT TO addresses accepted
	Data []byte   // the message as received, CRLF line ends, dot-stuffing removed
	User string   // the authenticated user, "" without AUTH
}

// Options configures a Server. The zero value is a plain server without
// AUTH that accepts everything.
type Options struct {
	// Username and Password, when Username is set, make AUTH PLAIN
	// available and required before MAIL.
	Username, Password string
	// Token, when set with Username, also offers XOAUTH2 (Google's and
	// Microsoft's OAuth2 SASL mechanism) and accepts this access token.
	Token string
	// AuthFailure, if not nil, is the reply to every AUTH attempt (a
	// *gosmtp.SMTPError chooses its code and text), as when a provider
	// refuses password logins altogether.
	AuthFailure error
	// DataDelay is how long the server waits after the final dot before it
	// replies, having already accepted the message: a process killed in
	// that window leaves a message delivered but unconfirmed.
	DataDelay time.Duration
	// Rcpt, if not nil, is called for each RCPT TO; a non-nil error (a
	// *gosmtp.SMTPError for a chosen reply) refuses that recipient.
	Rcpt func(to string) error
}

// Server is a running SMTP server on 127.0.0.1.
type Server struct {
	// Addr is the host:port the server listens on.
	Addr string

	opts Options
	srv  *gosmtp.Server

	mu       sync.Mutex
	messages []Message
	auths    int
	payloads [][]byte
}

// Start starts a server on a free loopback port and stops it when the test
// ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := NewServer(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// NewServer starts a server on a free loopback port, for code outside a
// test (an Example); the caller stops it with Close.
func NewServer(opts Options) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	s := &Server{Addr: l.Addr().String(), opts: opts}
	s.srv = gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &session{s: s}, nil
	}))
	s.srv.Domain = "smtptest.test"
	s.srv.AllowInsecureAuth = true // loopback only
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	s.srv.MaxRecipients = 100
	s.srv.ErrorLog = discardLogger{}
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the server and closes every connection.
func (s *Server) Close() { s.srv.Close() }

// Messages returns a copy of the list of messages accepted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// XOAuth2Payloads returns the decoded XOAUTH2 initial responses received.
func (s *Server) XOAuth2Payloads() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.payloads...)
}

// Auths counts the AUTH exchanges that succeeded.
func (s *Server) Auths() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auths
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
func (discardLogger) Println(...any)        {}

var errAuthRequired = &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}

var errBadCredentials = &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

// session is one connection's state.
type session struct {
	s    *Server
	user string
	from string
	to   []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	if ss.s.opts.Token != "" {
		return []string{sasl.Plain, "XOAUTH2"}
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if f := ss.s.opts.AuthFailure; f != nil {
			return f
		}
		if user != ss.s.opts.Username || pass != ss.s.opts.Password {
			return errBadCredentials
		}
		ss.user = user
		ss.s.mu.Lock()
		ss.s.auths++
		ss.s.mu.Unlock()
		return nil
	}
	switch {
	case mech == sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case mech == "XOAUTH2" && ss.s.opts.Token != "":
		return xoauth2Server(func(payload []byte) error {
			ss.s.mu.Lock()
			ss.s.payloads = append(ss.s.payloads, payload)
			ss.s.mu.Unlock()
			user, token, ok := parseXOAuth2(payload)
			if !ok || token != ss.s.opts.Token {
				return errBadCredentials
			}
			return check(user, ss.s.opts.Password)
		}), nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if ss.s.opts.Username != "" && ss.user == "" {
		return errAuthRequired
	}
	ss.from, ss.to = from, nil
	return nil
}

func (ss *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if f := ss.s.opts.Rcpt; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	if len(ss.to) == 0 {
		return errors.New("smtptest: no recipients")
	}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, Message{From: ss.from, To: ss.to, Data: buf.Bytes(), User: ss.user})
	ss.s.mu.Unlock()
	if d := ss.s.opts.DataDelay; d > 0 {
		time.Sleep(d)
	}
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// xoauth2Server is a sasl.Server for XOAUTH2: one initial response,
// "user=" USER ^A "auth=Bearer " TOKEN ^A ^A.
type xoauth2Server func(payload []byte) error

func (f xoauth2Server) Next(response []byte) ([]byte, bool, error) {
	if response == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	return nil, true, f(response)
}

func parseXOAuth2(p []byte) (user, token string, ok bool) {
	s, found := strings.CutSuffix(string(p), "\x01\x01")
	if !found {
		return "", "", false
	}
	u, a, found := strings.Cut(s, "\x01")
	if !found || !strings.HasPrefix(u, "user=") || !strings.HasPrefix(a, "auth=Bearer ") {
		return "", "", false
	}
	return strings.TrimPrefix(u, "user="), strings.TrimPrefix(a, "auth=Bearer "), true
}
