package sender

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/big"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// testServer is an in-process SMTP server (emersion/go-smtp) that records
// what it receives and injects the faults a test scripts. Its hooks are set
// before start and called from the server's goroutines.
type testServer struct {
	t    testing.TB
	addr string

	// Configuration, set before start.
	sink           bool          // count messages and throw them away
	sinkDelay      time.Duration // a sink waits this long before its reply to the final dot, as a server writing its queue does
	maxConns       int           // more at once get "421 4.7.0 too many connections" and are closed
	user, password string        // AUTH PLAIN required when user is set
	tlsConfig      *tls.Config   // STARTTLS offered when set
	configure      func(*gosmtp.Server)
	onMail         func(c *serverConn, from string) error
	onRcpt         func(c *serverConn, to string) error
	onData         func(c *serverConn, body []byte) error // after the whole body; errors below act on the connection
	readData       func(c *serverConn, r io.Reader) error // replaces reading the body

	mu        sync.Mutex
	srv       *gosmtp.Server
	nextID    int
	conns     []*serverConn
	mails     []time.Time // arrival of each MAIL FROM
	mailOpts  []gosmtp.MailOptions
	delivered []delivery
	sunk      int // messages thrown away by a sink
	open      int // connections open now
	refused   int // connections refused for maxConns
}

// Errors a data hook returns to act on the connection instead of replying.
var (
	errDropAfterAccept = errors.New("test: take the message, then close without a reply")
	errDropBeforeReply = errors.New("test: refuse the message by closing without a reply")
)

// serverConn is one client connection as the server sees it.
type serverConn struct {
	id    int
	fc    *faultConn
	auths int // AUTH attempts
	mails int // MAIL commands
	noops int
}

// delivery is one message the server accepted.
type delivery struct {
	conn      int
	from      string
	to        []string
	messageID string
	data      []byte
}

// faultConn is the server's side of a connection, which can close itself
// right after the server's next reply, optionally sending more first.
type faultConn struct {
	net.Conn
	ts         *testServer
	closed     sync.Once
	mu         sync.Mutex
	closeAfter bool
	extra      []byte
}

func (c *faultConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.mu.Lock()
	closeAfter, extra := c.closeAfter, c.extra
	c.mu.Unlock()
	if closeAfter {
		if extra != nil {
			c.Conn.Write(extra)
		}
		c.Conn.Close()
	}
	return n, err
}

// Close closes the connection and counts it closed.
func (c *faultConn) Close() error {
	c.closed.Do(func() {
		c.ts.mu.Lock()
		c.ts.open--
		c.ts.mu.Unlock()
	})
	return c.Conn.Close()
}

// closeAfterReply closes the connection after the next reply, sending
// extra after it first (for example an unsolicited 421).
func (c *faultConn) closeAfterReply(extra string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeAfter = true
	if extra != "" {
		c.extra = []byte(extra)
	}
}

// listener wraps accepted connections in faultConns.
type listener struct {
	net.Listener
	ts *testServer
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ts := l.ts
		ts.mu.Lock()
		if ts.maxConns > 0 && ts.open >= ts.maxConns {
			ts.refused++
			ts.mu.Unlock()
			c.Write([]byte("421 4.7.0 test.example.com Error: too many connections from 127.0.0.1\r\n"))
			c.Close()
			continue
		}
		ts.open++
		ts.mu.Unlock()
		return l.wrap(c), nil
	}
}

func (l *listener) wrap(c net.Conn) net.Conn {
	fc := &faultConn{Conn: c, ts: l.ts}
	l.ts.mu.Lock()
	l.ts.nextID++
	l.ts.conns = append(l.ts.conns, &serverConn{id: l.ts.nextID, fc: fc})
	l.ts.mu.Unlock()
	return fc
}

// start listens on a free loopback port (or the previous one after a
// restart) and serves.
func (ts *testServer) start() *testServer {
	ts.t.Helper()
	addr := ts.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 100 {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.addr = ln.Addr().String()
	srv := gosmtp.NewServer(gosmtp.BackendFunc(ts.newSession))
	srv.Domain = "test.example.com"
	srv.AllowInsecureAuth = true
	srv.EnableSMTPUTF8 = true
	srv.TLSConfig = ts.tlsConfig
	srv.ErrorLog = discardLog{}
	if ts.configure != nil {
		ts.configure(srv)
	}
	ts.mu.Lock()
	ts.srv = srv
	ts.mu.Unlock()
	go srv.Serve(&listener{Listener: ln, ts: ts})
	ts.t.Cleanup(func() { srv.Close() })
	return ts
}

// restart closes the listener and every connection, waits down, and
// listens again on the same port.
func (ts *testServer) restart(down time.Duration) {
	ts.mu.Lock()
	srv := ts.srv
	ts.mu.Unlock()
	srv.Close()
	time.Sleep(down)
	ts.start()
}

type discardLog struct{}

func (discardLog) Printf(string, ...any) {}
func (discardLog) Println(...any)        {}

// endpoint returns the server's address as an Endpoint.
func (ts *testServer) endpoint() *Endpoint {
	host, port, _ := net.SplitHostPort(ts.addr)
	return &Endpoint{Host: host, Port: port, Username: ts.user}
}

func (ts *testServer) conn(c *gosmtp.Conn) *serverConn {
	nc := c.Conn()
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for _, sc := range ts.conns {
		if sc.fc == nc {
			return sc
		}
	}
	panic("test server: unknown connection")
}

func (ts *testServer) newSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	return &session{ts: ts, c: ts.conn(c)}, nil
}

// session is one go-smtp session.
type session struct {
	ts     *testServer
	c      *serverConn
	authed bool
	from   string
	to     []string
}

func (s *session) AuthMechanisms() []string {
	if s.ts.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.ts.mu.Lock()
		s.c.auths++
		s.ts.mu.Unlock()
		if username != s.ts.user || password != s.ts.password {
			return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, opts *gosmtp.MailOptions) error {
	if s.ts.sink {
		return nil
	}
	s.ts.mu.Lock()
	s.c.mails++
	s.ts.mails = append(s.ts.mails, time.Now())
	if opts != nil {
		s.ts.mailOpts = append(s.ts.mailOpts, *opts)
	}
	s.ts.mu.Unlock()
	if s.ts.user != "" && !s.authed {
		return &gosmtp.SMTPError{Code: 530, EnhancedCode: gosmtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if s.ts.onMail != nil {
		if err := s.ts.onMail(s.c, from); err != nil {
			return err
		}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, opts *gosmtp.RcptOptions) error {
	if s.ts.sink {
		return nil
	}
	if s.ts.onRcpt != nil {
		if err := s.ts.onRcpt(s.c, to); err != nil {
			return err
		}
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	if s.ts.sink {
		_, err := io.Copy(io.Discard, r)
		time.Sleep(s.ts.sinkDelay)
		s.ts.mu.Lock()
		s.ts.sunk++
		s.ts.mu.Unlock()
		return err
	}
	if s.ts.readData != nil {
		if err := s.ts.readData(s.c, r); err != nil {
			return err
		}
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.ts.onData != nil {
		err = s.ts.onData(s.c, body)
	}
	switch err {
	case nil, errDropAfterAccept:
		s.ts.deliver(s, body)
	}
	switch err {
	case errDropAfterAccept, errDropBeforeReply:
		s.c.fc.Conn.Close()
	}
	return err
}

func (ts *testServer) deliver(s *session, body []byte) {
	id := ""
	if m, err := mail.ReadMessage(bytes.NewReader(body)); err == nil {
		id = m.Header.Get("Message-Id")
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.delivered = append(ts.delivered, delivery{conn: s.c.id, from: s.from, to: append([]string(nil), s.to...), messageID: id, data: body})
}

func (s *session) Reset() { s.from, s.to = "", nil }

func (s *session) Logout() error { return nil }

// deliveries counts the copies each recipient of each message received,
// by Message-ID and lower-case address.
func (ts *testServer) deliveries() map[string]int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n := make(map[string]int)
	for _, d := range ts.delivered {
		for _, to := range d.to {
			n[d.messageID+" "+strings.ToLower(to)]++
		}
	}
	return n
}

// messages returns the messages the server accepted, and the MAIL FROM
// parameters it saw.
func (ts *testServer) messages() ([]delivery, []gosmtp.MailOptions) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]delivery(nil), ts.delivered...), append([]gosmtp.MailOptions(nil), ts.mailOpts...)
}

// accepted returns the messages the server accepted.
func (ts *testServer) accepted() []delivery {
	d, _ := ts.messages()
	return d
}

func (ts *testServer) connections() []serverConn {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]serverConn, len(ts.conns))
	for i, c := range ts.conns {
		out[i] = *c
	}
	return out
}

func (ts *testServer) mailTimes() []time.Time {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]time.Time(nil), ts.mails...)
}

// testMessages returns n messages of about size octets with rcpts
// recipients each, addressed to rcpt<i>-<k>@example.org, with Message-IDs
// unique to the call.
func testMessages(n, rcpts, size int) []*Message {
	return namedMessages(strconv.FormatInt(time.Now().UnixNano(), 36), n, rcpts, size)
}

// namedMessages is testMessages with Message-IDs made from name.
func namedMessages(name string, n, rcpts, size int) []*Message {
	msgs := make([]*Message, n)
	for i := range msgs {
		var to []string
		for k := range rcpts {
			to = append(to, fmt.Sprintf("rcpt%d-%d@example.org", i, k))
		}
		id := fmt.Sprintf("<m%d.%s@mailshot.test>", i, name)
		var b bytes.Buffer
		fmt.Fprintf(&b, "From: sender@example.com\r\nTo: %s\r\nSubject: test %d\r\nMessage-ID: %s\r\n\r\n", strings.Join(to, ", "), i, id)
		for b.Len() < size {
			fmt.Fprintf(&b, "line %d of message %d, filler filler filler filler filler filler.\r\n", b.Len(), i)
		}
		msgs[i] = &Message{
			Key: strings.Join(to, ","), Row: i + 2, MessageID: id, From: "sender@example.com",
			To: to, Body: b.Bytes(), Fingerprint: fmt.Sprintf("fp%d", i),
		}
	}
	return msgs
}

// feed returns a sequence of msgs.
func feed(msgs []*Message) iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		for _, m := range msgs {
			if !yield(m, nil) {
				return
			}
		}
	}
}

// testConfig returns a pool configuration for ts with quick retries.
func (ts *testServer) config(j *journal.File, p Progress) Config {
	cfg := Config{
		Endpoint:  ts.endpoint(),
		Client:    smtp.Config{LocalName: "client.example.com", CommandTimeout: 10 * time.Second},
		Journal:   j,
		Progress:  p,
		Retries:   3,
		RetryBase: 10 * time.Millisecond,
		RetryMax:  100 * time.Millisecond,
		Grace:     5 * time.Second,
	}
	if ts.user != "" {
		cfg.Credentials = func(context.Context) (smtp.Credentials, error) {
			return smtp.Credentials{Password: ts.password}, nil
		}
	}
	return cfg
}

// selfSignedTLS returns a server configuration with a fresh certificate
// for 127.0.0.1 and a pool that trusts it.
func selfSignedTLS(t testing.TB) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test.example.com"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"test.example.com"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// openTestJournal opens a journal at path, closed when the test ends.
func openTestJournal(t testing.TB, path string) *journal.File {
	t.Helper()
	j, err := journal.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// pending asks j which recipients of m are still to send.
func pending(j *journal.File, m *Message, p journal.ResumePolicy) journal.Resume {
	return j.Pending(m.Key, m.To, m.Fingerprint, p)
}
