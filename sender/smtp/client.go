// Package smtp is an SMTP client (RFC 5321) written on raw sockets for
// mailshot's sender: ESMTP with STARTTLS (RFC 3207) or implicit TLS
// (RFC 8314), AUTH (RFC 4954), PIPELINING (RFC 2920), SIZE (RFC 1870),
// 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531) and enhanced status codes
// (RFC 2034, RFC 3463).
//
// A Client holds one connection and runs one transaction at a time; it is
// not safe for concurrent use. Every blocking call takes a context.Context
// and is also bounded by the timeouts of Config. Server replies that are not
// the expected ones come back as *Error; everything else that goes wrong on
// the connection is a *ConnError, after which the Client is unusable.
//
// Classifying an error from Dial, DialTLS and the setup calls (all inside
// a *ConnError unless the server replied):
//   - ErrImplicitTLS: Dial to a port that expects TLS at once; use DialTLS.
//   - ErrPlainSMTP: DialTLS to a port that speaks plain SMTP first; use Dial
//     and StartTLS.
//   - *net.DNSError: the host name does not resolve; *net.OpError with Op
//     "dial" (syscall.ECONNREFUSED): nothing listens on the port.
//   - *tls.CertificateVerificationError, and the x509 error inside it: the
//     certificate is not trusted or not for the host. Never a network
//     failure: another attempt meets it again.
//   - *HelloNameError: Config.LocalName is not a valid EHLO name.
//   - ErrSetupTimeout, or any *ConnError whose Timeout is true: the server
//     is too slow.
//
// Classifying an error from Send:
//   - *AuthError (IsAuthFailure), from Authenticate: the credentials are
//     wrong; fatal.
//   - *Error: Temporary (4xx) to try again later, Permanent (5xx) to give up.
//   - *ConnError: connect again; if Result.Committed and Result.Reply is
//     nil, whether the message was delivered is unknown.
//     ErrTransactionTimeout inside it: the transaction ran out of time.
//   - ErrLineTooLong, ErrMessageTooLarge, ErrSMTPUTF8Required,
//     ErrInvalidAddress, errors.ErrUnsupported (8-bit data without 8BITMIME):
//     this message cannot go through this server; nothing of it was sent
//     and the connection stays usable.
//
// Usable says whether the Client can be reused after any of them.
//
// Server replies are kept out of harm's way: the password and token of
// Authenticate (as sent, and as base64) are redacted from every reply in
// errors and in the transcript, control characters in reply text become
// '?', and the transcript escapes whatever is not printable.
package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Default timeouts, from RFC 5321 §4.5.3.2 where it gives one. The two
// bounds on a whole phase (setup, transaction) are mailshot's own: a
// server that answers each step just before its timeout could otherwise
// hold a connection for the sum of them.
const (
	DefaultDialTimeout      = 30 * time.Second
	DefaultGreetingTimeout  = 5 * time.Minute  // §4.5.3.2.1
	DefaultCommandTimeout   = 5 * time.Minute  // §4.5.3.2.2, §4.5.3.2.3
	DefaultDataInitTimeout  = 2 * time.Minute  // §4.5.3.2.4
	DefaultDataBlockTimeout = 3 * time.Minute  // §4.5.3.2.5
	DefaultDataTermTimeout  = 10 * time.Minute // §4.5.3.2.6

	// DefaultSetupTimeout bounds everything from the start of Dial to the
	// end of the login: connect, TLS, greeting, EHLO, STARTTLS, AUTH.
	DefaultSetupTimeout = 5 * time.Minute
	// DefaultTransactionTimeout bounds one Send, from MAIL FROM to the
	// reply after the final dot.
	DefaultTransactionTimeout = 20 * time.Minute
	// DefaultTLSProbeAfter is how long Dial waits for the greeting before
	// it checks, on a second connection, whether the port expects TLS at
	// once (see ErrImplicitTLS). Servers greet at once; a deliberate
	// greeting delay is a few seconds.
	DefaultTLSProbeAfter = 10 * time.Second
)

// tlsProbeTimeout bounds the TLS handshake of the probe for ErrImplicitTLS.
const tlsProbeTimeout = 5 * time.Second

// Config holds a Client's settings. The zero value is usable: verified TLS
// and the default timeouts.
type Config struct {
	// LocalName is the name sent in EHLO and HELO: a domain or an address
	// literal (see CheckHelloName). "" means the host's name (os.Hostname),
	// or "localhost" when that is unusable.
	LocalName string
	// TLSConfig is used for STARTTLS and implicit TLS. nil means verified
	// defaults; an empty ServerName is set to the dialled host. A lab relay
	// with a self-signed certificate needs InsecureSkipVerify set here
	// (the caller should warn whoever runs it), or better RootCAs from
	// TrustCA.
	TLSConfig *tls.Config
	// Resolver, if not nil, looks up the host names Dial and DialTLS are
	// given; nil means the system's.
	Resolver *net.Resolver

	// Timeouts; a zero value means the default above. Each step's own
	// timeout is further cut by the bound of its phase (SetupTimeout or
	// TransactionTimeout) and by the context's deadline.
	DialTimeout      time.Duration // TCP connect, and the TLS handshake of DialTLS
	GreetingTimeout  time.Duration // waiting for the 220 greeting
	CommandTimeout   time.Duration // each command, its reply and the STARTTLS handshake
	DataInitTimeout  time.Duration // waiting for the 354 reply to DATA
	DataBlockTimeout time.Duration // each write of the body; moves with progress
	DataTermTimeout  time.Duration // waiting for the reply after the final dot

	// SetupTimeout bounds the whole setup of a connection: Dial or NewClient
	// and the Hello, StartTLS, Authenticate and Auth calls that follow,
	// counted from the start of Dial. Running out is a *ConnError wrapping
	// ErrSetupTimeout.
	SetupTimeout time.Duration
	// TransactionTimeout bounds one call of Send, from its first command to
	// the reply after the final dot, however the server spreads its
	// replies. Running out is a *ConnError wrapping ErrTransactionTimeout.
	// The step-by-step calls (Mail, Rcpt, Data) have only their own
	// timeouts.
	TransactionTimeout time.Duration
	// TLSProbeAfter is how long Dial waits for the greeting before it tries
	// a TLS handshake on a second connection to the same address; if that
	// succeeds, Dial fails with ErrImplicitTLS instead of waiting out
	// GreetingTimeout. Negative turns the probe off. NewClient never probes.
	TLSProbeAfter time.Duration

	// Trace, if not nil, receives a timestamped transcript of both
	// directions, with AUTH payloads and credentials redacted, the body
	// summarised, and anything that is not printable escaped (\xNN, \u....).
	Trace io.Writer
}

// ErrImplicitTLS is wrapped (inside a *ConnError for "greeting") when Dial's
// plain connection got no greeting within Config.TLSProbeAfter and a TLS
// handshake on a second connection to the same address succeeded: the port
// expects TLS from the first octet (RFC 8314 §3.3), so DialTLS is needed.
var ErrImplicitTLS = errors.New("the server sends nothing on a plain connection and answers a TLS handshake: the port expects TLS at once (implicit TLS)")

// ErrPlainSMTP is wrapped (inside a *ConnError for "TLS", beside the
// tls.RecordHeaderError) when DialTLS's handshake got an SMTP greeting
// instead: the port speaks plain SMTP first and upgrades with STARTTLS, so
// Dial is needed.
var ErrPlainSMTP = errors.New("the server speaks plain SMTP first, not TLS: the port expects STARTTLS")

// ErrSetupTimeout is wrapped (inside a *ConnError whose Timeout is true)
// when Config.SetupTimeout ran out.
var ErrSetupTimeout = errors.New("connection setup took longer than its limit")

// ErrTransactionTimeout is wrapped (inside a *ConnError whose Timeout is
// true) when Config.TransactionTimeout ran out during Send.
var ErrTransactionTimeout = errors.New("transaction took longer than its limit")

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Client is one SMTP connection.
type Client struct {
	raw   net.Conn // the connection as dialled; deadlines are set here
	conn  net.Conn // raw, or the TLS connection over it
	br    *bufio.Reader
	host  string // server name for TLS verification
	cfg   Config
	local string // EHLO name
	trace tracer

	ext      map[string]string // EHLO keywords (upper case) and parameters
	greeted  bool              // EHLO or HELO succeeded since connecting or STARTTLS
	enhanced bool              // ENHANCEDSTATUSCODES advertised
	isTLS    bool
	loopback bool // the peer is on this host, so credentials may go in clear
	broken   bool
	closed   bool

	cmd  []byte // command lines being built
	data dataWriter
	rbuf []byte // read buffer for bodies that are not io.WriterTo
	// prepared holds the shared pieces of Pieces bodies met last, encoded
	// for the wire, the most recent first (see prepare).
	prepared []*prepared

	// opened is the transaction whose commands went out with the last final
	// dot (Envelope.Then), until Send finishes it.
	opened *opened

	// Cancellation of the context of the call in progress (see watch).
	cancelMu  sync.Mutex
	cancelErr error

	// The bound on the phase in progress (see setDeadline): its end, zero
	// for none, the error to wrap when it runs out and its length.
	bound      time.Time
	boundErr   error
	boundLimit time.Duration
	setupEnd   time.Time // the end of SetupTimeout
}

// Dial connects to addr ("host:port") over TCP and reads the greeting.
// Call Hello, then StartTLS and Authenticate as the server requires.
//
// A refused port is a *ConnError for "dial" wrapping the *net.OpError (and
// syscall.ECONNREFUSED); a host name that does not resolve wraps the
// *net.DNSError. A port that expects TLS at once gives ErrImplicitTLS
// after Config.TLSProbeAfter (see there).
func Dial(ctx context.Context, addr string, cfg *Config) (*Client, error) {
	start := time.Now()
	c := cfgOrZero(cfg)
	host, conn, err := dialTCP(ctx, addr, c, start)
	if err != nil {
		return nil, err
	}
	var probe func(context.Context) bool
	if c.TLSProbeAfter >= 0 {
		remote := conn.RemoteAddr().String()
		probe = func(ctx context.Context) bool { return speaksTLS(ctx, remote, host) }
	}
	return newClient(ctx, conn, host, c, start, probe)
}

// DialTLS connects to addr over TLS from the first octet (implicit TLS,
// RFC 8314 §3.3, usually port 465) and reads the greeting.
//
// Connection failures are as for Dial. A failed handshake is a *ConnError
// for "TLS": it wraps the *tls.CertificateVerificationError (and the
// x509.UnknownAuthorityError, x509.HostnameError or other x509 error in it)
// for a certificate that is not trusted or not for host, and ErrPlainSMTP
// (with the tls.RecordHeaderError) for a port that speaks plain SMTP first.
func DialTLS(ctx context.Context, addr string, cfg *Config) (*Client, error) {
	start := time.Now()
	c := cfgOrZero(cfg)
	host, conn, err := dialTCP(ctx, addr, c, start)
	if err != nil {
		return nil, err
	}
	tlsConn := tls.Client(conn, tlsConfigFor(c.TLSConfig, host))
	deadline := start.Add(orDefault(c.DialTimeout, DefaultDialTimeout))
	if end := start.Add(orDefault(c.SetupTimeout, DefaultSetupTimeout)); end.Before(deadline) {
		deadline = end
	}
	conn.SetDeadline(deadline) //nolint:errcheck // a failure shows in the handshake
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, &ConnError{Op: "TLS", Err: tlsHandshakeError(ctx, err)}
	}
	conn.SetDeadline(time.Time{}) //nolint:errcheck // every read and write sets its own
	return newClient(ctx, tlsConn, host, c, start, nil)
}

// dialTCP opens the TCP connection of Dial and DialTLS within DialTimeout
// and what is left of SetupTimeout.
func dialTCP(ctx context.Context, addr string, c *Config, start time.Time) (host string, conn net.Conn, err error) {
	host, _, err = net.SplitHostPort(addr)
	if err != nil {
		return "", nil, &ConnError{Op: "dial", Err: err}
	}
	d := net.Dialer{
		Timeout:  orDefault(c.DialTimeout, DefaultDialTimeout),
		Deadline: start.Add(orDefault(c.SetupTimeout, DefaultSetupTimeout)),
		Resolver: c.Resolver,
	}
	conn, err = d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", nil, &ConnError{Op: "dial", Err: err}
	}
	return host, conn, nil
}

// tlsHandshakeError names the cause of a failed TLS handshake of DialTLS:
// the context's error when it ended, ErrPlainSMTP beside the record error
// when the server's first octets were an SMTP reply code.
func tlsHandshakeError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	var rh tls.RecordHeaderError
	if errors.As(err, &rh) && looksLikeReply(rh.RecordHeader[:]) {
		return fmt.Errorf("%w: %w", ErrPlainSMTP, err)
	}
	return err
}

// looksLikeReply reports whether b starts like an SMTP reply line: three
// digits, then SP or "-".
func looksLikeReply(b []byte) bool {
	return len(b) >= 4 && b[0] >= '2' && b[0] <= '5' && b[1] >= '0' && b[1] <= '9' &&
		b[2] >= '0' && b[2] <= '9' && (b[3] == ' ' || b[3] == '-')
}

// speaksTLS reports whether a TLS handshake with addr gets as far as the
// server's answer: a completed handshake or a TLS alert from the server.
// Nothing is sent over the connection and the certificate is not checked:
// the answer only names the cause of a missing greeting.
func speaksTLS(ctx context.Context, addr, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, tlsProbeTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{ServerName: host, InsecureSkipVerify: true}} //nolint:gosec // a probe: nothing goes over this connection
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		conn.Close()
		return true
	}
	var alert tls.AlertError
	return errors.As(err, &alert)
}

// NewClient runs SMTP over an existing connection (for example one from a
// proxy, or a net.Pipe in tests) and reads the greeting. host is the server
// name used to verify its certificate. A *tls.Conn counts as encrypted. If
// the greeting is not 220, NewClient closes conn and returns the *Error.
// Config.SetupTimeout counts from this call.
func NewClient(ctx context.Context, conn net.Conn, host string, cfg *Config) (*Client, error) {
	return newClient(ctx, conn, host, cfgOrZero(cfg), time.Now(), nil)
}

// newClient is NewClient with the time the setup began and, for Dial, the
// probe that tells a port expecting TLS from a silent server.
func newClient(ctx context.Context, conn net.Conn, host string, cfg *Config, start time.Time, probe func(context.Context) bool) (*Client, error) {
	c := &Client{
		raw:  conn,
		conn: conn,
		br:   bufio.NewReaderSize(conn, maxReplyLine),
		host: host,
		cfg:  *cfg,
	}
	c.setupEnd = start.Add(orDefault(c.cfg.SetupTimeout, DefaultSetupTimeout))
	c.trace.w = c.cfg.Trace
	c.local = c.cfg.LocalName
	if c.local == "" {
		c.local = defaultLocalName()
	}
	_, c.isTLS = conn.(*tls.Conn)
	c.loopback = isLoopback(conn.RemoteAddr())
	if c.trace.on() {
		c.trace.note("connected to " + conn.RemoteAddr().String() + " (" + host + ")")
	}

	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, &ConnError{Op: "greeting", Err: err}
	}
	defer c.setupPhase()()
	stop := c.watch(ctx)
	defer stop()
	r, err := c.greeting(ctx, probe)
	if err != nil {
		return nil, err
	}
	if r.Code != 220 {
		c.breakConn()
		return nil, &Error{Command: "greeting", Reply: r}
	}
	return c, nil
}

// greeting reads the server's greeting. With a probe, silence for
// TLSProbeAfter runs it, and a port that answers TLS ends the wait with
// ErrImplicitTLS; otherwise the wait goes on to GreetingTimeout.
func (c *Client) greeting(ctx context.Context, probe func(context.Context) bool) (Reply, error) {
	timeout := orDefault(c.cfg.GreetingTimeout, DefaultGreetingTimeout)
	if after := orDefault(c.cfg.TLSProbeAfter, DefaultTLSProbeAfter); probe != nil && after < timeout {
		c.setDeadline(ctx, false, after)
		if _, err := c.br.Peek(1); err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil || c.boundPassed() {
				return Reply{}, c.fail(ctx, "greeting", err)
			}
			if c.trace.on() {
				c.trace.note("no greeting after " + after.String() + "; trying a TLS handshake on a second connection")
			}
			if probe(ctx) {
				c.breakConn()
				return Reply{}, &ConnError{Op: "greeting", Err: fmt.Errorf("%w (no greeting in %v)", ErrImplicitTLS, after)}
			}
			timeout -= after
		}
	}
	return c.readReply(ctx, "greeting", timeout)
}

func cfgOrZero(cfg *Config) *Config {
	if cfg == nil {
		return &Config{}
	}
	return cfg
}

// tlsConfigFor returns a copy of cfg (or a new one) that verifies host.
func tlsConfigFor(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// isLoopback reports whether addr is on this host: a loopback IP, a Unix
// socket or an in-memory pipe.
func isLoopback(addr net.Addr) bool {
	switch a := addr.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	case nil:
		return false
	}
	return addr.Network() == "pipe"
}

// defaultLocalName is the host's name as EHLO wants it: os.Hostname, an
// address literal (RFC 5321 §4.1.3) for an IP, or "localhost".
func defaultLocalName() string {
	name, err := os.Hostname()
	if err != nil || CheckHelloName(name) != nil {
		return "localhost"
	}
	if ip := net.ParseIP(name); ip != nil {
		if ip.To4() != nil {
			return "[" + ip.String() + "]"
		}
		return "[IPv6:" + ip.String() + "]"
	}
	return name
}

// watch arranges for the connection to give up at once when ctx is done,
// until stop is called. The deadlines set by setDeadline respect it.
func (c *Client) watch(ctx context.Context) (stop func() bool) {
	if ctx.Done() == nil {
		return noStop
	}
	c.cancelMu.Lock()
	c.cancelErr = nil
	c.cancelMu.Unlock()
	return context.AfterFunc(ctx, func() {
		c.cancelMu.Lock()
		defer c.cancelMu.Unlock()
		c.cancelErr = ctx.Err()
		c.raw.SetDeadline(aLongTimeAgo()) //nolint:errcheck // best effort on a dying connection
	})
}

func noStop() bool { return true }

// aLongTimeAgo is a deadline that has passed: I/O fails at once.
func aLongTimeAgo() time.Time { return time.Unix(1, 0) }

// setDeadline sets the read or write deadline to timeout from now or ctx's
// deadline, whichever is sooner, unless the context was already cancelled.
func (c *Client) setDeadline(ctx context.Context, write bool, timeout time.Duration) {
	t := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(t) {
		t = d
	}
	if !c.bound.IsZero() && c.bound.Before(t) {
		t = c.bound
	}
	c.cancelMu.Lock()
	if c.cancelErr != nil {
		t = aLongTimeAgo()
	}
	if write {
		c.raw.SetWriteDeadline(t) //nolint:errcheck // a failure shows in the I/O
	} else {
		c.raw.SetReadDeadline(t) //nolint:errcheck
	}
	c.cancelMu.Unlock()
}

// begin checks that the client can run op: usable and ctx not done.
// beginGreeted is begin for a command that needs EHLO first: it also
// starts watching ctx and says EHLO if that has not been done. The caller
// defers the returned stop.
func (c *Client) beginGreeted(ctx context.Context, op string) (stop func() bool, err error) {
	if err := c.begin(ctx, op); err != nil {
		return noStop, err
	}
	stop = c.watch(ctx)
	if !c.greeted {
		if err := c.hello(ctx); err != nil {
			stop()
			return noStop, err
		}
	}
	return stop, nil
}

func (c *Client) begin(ctx context.Context, op string) error {
	if c.closed || c.broken {
		return &ConnError{Op: op, Err: net.ErrClosed}
	}
	if c.opened != nil {
		return fmt.Errorf("smtp: %s in the middle of the transaction begun with the last final dot (Envelope.Then): Send it first", op)
	}
	if err := ctx.Err(); err != nil {
		return c.fail(ctx, op, err)
	}
	return nil
}

// fail makes the client unusable and returns a ConnError for err, or for the
// context's error if the context is the reason, or wrapping the phase's
// bound (ErrSetupTimeout, ErrTransactionTimeout) if that ran out.
func (c *Client) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = ctxErr
	} else if errors.Is(err, os.ErrDeadlineExceeded) {
		now := time.Now()
		d, ok := ctx.Deadline()
		switch {
		case ok && !now.Before(d) && (c.bound.IsZero() || !d.After(c.bound)):
			err = context.DeadlineExceeded // the I/O deadline was the context's, a moment before it fired
		case c.boundPassed():
			err = fmt.Errorf("%w (%v): %w", c.boundErr, c.boundLimit, err)
		}
	}
	c.breakConn()
	return &ConnError{Op: op, Err: err}
}

// boundPassed reports whether the bound of the phase in progress has run
// out.
func (c *Client) boundPassed() bool {
	return !c.bound.IsZero() && !time.Now().Before(c.bound)
}

// setupPhase bounds the calls until it returns by Config.SetupTimeout,
// counted from the start of the connection, and returns the function that
// restores the bound before it.
func (c *Client) setupPhase() (restore func()) {
	return c.within(c.setupEnd, ErrSetupTimeout, orDefault(c.cfg.SetupTimeout, DefaultSetupTimeout))
}

// transactionPhase bounds the calls until it returns by
// Config.TransactionTimeout from now.
func (c *Client) transactionPhase() (restore func()) {
	limit := orDefault(c.cfg.TransactionTimeout, DefaultTransactionTimeout)
	return c.within(time.Now().Add(limit), ErrTransactionTimeout, limit)
}

func (c *Client) within(end time.Time, err error, limit time.Duration) (restore func()) {
	bound, boundErr, boundLimit := c.bound, c.boundErr, c.boundLimit
	c.bound, c.boundErr, c.boundLimit = end, err, limit
	return func() { c.bound, c.boundErr, c.boundLimit = bound, boundErr, boundLimit }
}

// breakConn closes the connection and marks the client unusable.
func (c *Client) breakConn() {
	c.broken = true
	c.Close() //nolint:errcheck // already failing
}

// writeCmd sends the command lines in c.cmd in one write.
func (c *Client) writeCmd(ctx context.Context, op string) error {
	if c.trace.on() {
		for rest := c.cmd; len(rest) > 0; {
			line := rest
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				line, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			c.trace.client(op, bytes.TrimSuffix(line, []byte{'\r'}))
		}
	}
	c.setDeadline(ctx, true, orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout))
	if _, err := c.conn.Write(c.cmd); err != nil {
		return c.fail(ctx, op, err)
	}
	return nil
}

// readReply reads one reply within timeout.
func (c *Client) readReply(ctx context.Context, op string, timeout time.Duration) (Reply, error) {
	c.setDeadline(ctx, false, timeout)
	var trace func([]byte)
	if c.trace.on() {
		trace = c.trace.server
	}
	r, err := readReply(c.br, c.enhanced, trace)
	if err != nil {
		return Reply{}, c.fail(ctx, op, err)
	}
	r.Text = c.trace.redactString(r.Text)
	return r, nil
}

// roundTrip sends c.cmd and reads one reply.
func (c *Client) roundTrip(ctx context.Context, op string, timeout time.Duration) (Reply, error) {
	if err := c.writeCmd(ctx, op); err != nil {
		return Reply{}, err
	}
	return c.readReply(ctx, op, timeout)
}

// simple sends a command without arguments and reads its reply.
func (c *Client) simple(ctx context.Context, op string) (Reply, error) {
	c.cmd = append(append(c.cmd[:0], op...), "\r\n"...)
	return c.roundTrip(ctx, op, orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout))
}

// replyError turns an unexpected reply into an *Error. A 421 means the
// server is closing the connection (RFC 5321 §3.8), so the client becomes
// unusable.
func (c *Client) replyError(op string, r Reply) *Error {
	if r.Code == 421 {
		c.breakConn()
	}
	return &Error{Command: op, Reply: r}
}

// Hello sends EHLO and learns the server's extensions, falling back to HELO
// only when EHLO gets 500 or 502 (RFC 5321 §4.1.4). Any other reply is an
// *Error. Mail, Send, StartTLS and Authenticate call Hello when it has not
// been done.
func (c *Client) Hello(ctx context.Context) error {
	if err := c.begin(ctx, "EHLO"); err != nil {
		return err
	}
	defer c.setupPhase()()
	stop := c.watch(ctx)
	defer stop()
	return c.hello(ctx)
}

func (c *Client) hello(ctx context.Context) error {
	if err := CheckHelloName(c.local); err != nil {
		return err
	}
	c.greeted, c.enhanced, c.ext = false, false, nil
	c.cmd = append(append(append(c.cmd[:0], "EHLO "...), c.local...), "\r\n"...)
	timeout := orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout)
	r, err := c.roundTrip(ctx, "EHLO", timeout)
	if err != nil {
		return err
	}
	switch r.Code {
	case 250:
		c.ext = parseExtensions(r.Text)
		_, c.enhanced = c.ext["ENHANCEDSTATUSCODES"]
		c.greeted = true
		return nil
	case 500, 502:
		c.cmd = append(append(append(c.cmd[:0], "HELO "...), c.local...), "\r\n"...)
		r, err := c.roundTrip(ctx, "HELO", timeout)
		if err != nil {
			return err
		}
		if r.Code != 250 {
			return c.replyError("HELO", r)
		}
		c.ext = map[string]string{}
		c.greeted = true
		return nil
	}
	return c.replyError("EHLO", r)
}

// parseExtensions reads the EHLO keywords (RFC 5321 §4.1.1.1) after the
// first line: keyword, then parameters. Empty lines are skipped. The old
// form "AUTH=PLAIN LOGIN" counts as AUTH when no plain AUTH line is given.
func parseExtensions(text string) map[string]string {
	ext := map[string]string{}
	lines := strings.Split(text, "\n")
	var oldAuth string
	for _, line := range lines[1:] {
		kw, param, _ := strings.Cut(strings.TrimSpace(line), " ")
		if kw == "" {
			continue
		}
		kw = strings.ToUpper(kw)
		if v, ok := strings.CutPrefix(kw, "AUTH="); ok {
			oldAuth = strings.TrimSpace(v + " " + param)
			continue
		}
		ext[kw] = strings.TrimSpace(param)
	}
	if _, ok := ext["AUTH"]; !ok && oldAuth != "" {
		ext["AUTH"] = oldAuth
	}
	return ext
}

// Extension reports whether the server advertised the EHLO keyword name
// (case-insensitive) and its parameters. It knows nothing before Hello.
func (c *Client) Extension(name string) (ok bool, param string) {
	param, ok = c.ext[strings.ToUpper(name)]
	return ok, param
}

// maxSize is the server's SIZE limit (RFC 1870), or 0 if none.
func (c *Client) maxSize() int64 {
	n, _ := strconv.ParseInt(c.ext["SIZE"], 10, 64)
	return max(n, 0)
}

// StartTLS upgrades the connection with STARTTLS (RFC 3207), verifying the
// server's certificate with Config.TLSConfig, then sends EHLO again: every
// extension learned before is forgotten. Anything the server sent after its
// 220 and before the handshake is discarded, never read as a reply. A
// server that does not offer STARTTLS gives an error wrapping
// errors.ErrUnsupported and the connection stays as it was.
func (c *Client) StartTLS(ctx context.Context) error {
	defer c.setupPhase()()
	stop, err := c.beginGreeted(ctx, "STARTTLS")
	if err != nil {
		return err
	}
	defer stop()
	if c.isTLS {
		return errors.New("smtp: STARTTLS: the connection is already encrypted")
	}
	if _, ok := c.ext["STARTTLS"]; !ok {
		return fmt.Errorf("smtp: STARTTLS: not offered by the server: %w", errors.ErrUnsupported)
	}
	r, err := c.simple(ctx, "STARTTLS")
	if err != nil {
		return err
	}
	if r.Code != 220 {
		return c.replyError("STARTTLS", r)
	}
	if n := c.br.Buffered(); n > 0 && c.trace.on() {
		c.trace.note("discarding " + strconv.Itoa(n) + " octets the server sent before the TLS handshake")
	}
	tlsConn := tls.Client(c.raw, tlsConfigFor(c.cfg.TLSConfig, c.host))
	timeout := orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout)
	c.setDeadline(ctx, true, timeout)
	c.setDeadline(ctx, false, timeout)
	if err := tlsConn.HandshakeContext(ctx); err != nil {
		return c.fail(ctx, "STARTTLS", err)
	}
	c.conn = tlsConn
	c.br.Reset(tlsConn) // RFC 3207 §4.2: discard what came before
	c.isTLS = true
	c.greeted, c.enhanced, c.ext = false, false, nil
	if c.trace.on() {
		st := tlsConn.ConnectionState()
		c.trace.note("TLS established: " + tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite))
	}
	return c.hello(ctx)
}

// TLS reports whether the connection is encrypted, by STARTTLS or
// implicit TLS.
func (c *Client) TLS() bool { return c.isTLS }

// Reset sends RSET (RFC 5321 §4.1.1.5) to abandon the current transaction.
// A server that rejects RSET gets the connection closed: the client is then
// unusable.
func (c *Client) Reset(ctx context.Context) error {
	if err := c.begin(ctx, "RSET"); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	return c.reset(ctx)
}

func (c *Client) reset(ctx context.Context) error {
	r, err := c.simple(ctx, "RSET")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		e := c.replyError("RSET", r)
		c.breakConn()
		return e
	}
	return nil
}

// Noop sends NOOP (RFC 5321 §4.1.1.9), to check that a connection left idle
// is still alive.
func (c *Client) Noop(ctx context.Context) error {
	if err := c.begin(ctx, "NOOP"); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	r, err := c.simple(ctx, "NOOP")
	if err != nil {
		return err
	}
	if r.Code != 250 {
		return c.replyError("NOOP", r)
	}
	return nil
}

// Quit sends QUIT (RFC 5321 §4.1.1.10), reads the reply and closes the
// connection. On an unusable client it only closes.
func (c *Client) Quit(ctx context.Context) error {
	if o := c.opened; o != nil {
		c.opened = nil
		if o.err == nil && o.tx.got354 {
			// The server waits for a body: QUIT would be taken as one.
			// Closing without the final dot drops the transaction.
			c.broken = true
			return c.Close()
		}
	}
	if c.closed || c.broken {
		return c.Close()
	}
	if err := c.begin(ctx, "QUIT"); err != nil {
		return err
	}
	stop := c.watch(ctx)
	defer stop()
	r, err := c.simple(ctx, "QUIT")
	if err != nil {
		return err
	}
	c.broken = true
	if err := c.Close(); err != nil {
		return &ConnError{Op: "QUIT", Err: err}
	}
	if r.Code != 221 {
		return &Error{Command: "QUIT", Reply: r}
	}
	return nil
}

// Close closes the connection without QUIT. Closing twice is harmless.
func (c *Client) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	return c.conn.Close()
}

// Usable reports whether the client can run another command: false after
// a ConnError, a 421, a rejected RSET, Quit or Close.
func (c *Client) Usable() bool { return !c.closed && !c.broken }

// TrustCA returns a TLS configuration for Config.TLSConfig that trusts the
// system's roots and the CA certificates in the PEM file caFile, for
// servers whose certificates a private CA signed.
func TrustCA(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("smtp: reading CA file: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("smtp: CA file %s: no PEM certificate in it", caFile)
	}
	return &tls.Config{RootCAs: roots}, nil
}
