package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mailshot/mailshot/sender/smtp"
)

// worker runs one connection to its relay, from its goroutine: the
// connection, the job in hand and what lookahead prepared for that job are
// its own.
type worker struct {
	r         *run
	rl        *relay
	id        int
	c         *smtp.Client
	born      time.Time
	lastUsed  time.Time
	used      int    // transactions on c
	failures  int    // consecutive failures to connect
	ahead     *ahead // what lookahead prepared for the job in hand, or nil
	holdsGate bool   // w probed and failed: it holds the gate through its backoff
	busy      busy   // the transaction in hand, for Pool.Busy
}

// loop takes jobs and sends them on w's connection, connecting when it
// needs to, until the work is done or the run stops.
func (w *worker) loop() {
	defer w.quit()
	var j *job // the job in hand
	for {
		if !w.r.inRotation(w.rl) {
			// Its relay left the rotation: the job in hand goes to
			// another, and w waits until its relay is due back.
			if j != nil {
				w.handBack(j)
				j = nil
			}
			w.quit()
			if !w.r.awaitRelay(w.rl) {
				return
			}
			continue
		}
		if j == nil {
			if j = w.r.sched.next(); j == nil {
				return
			}
			continue // its relay may have left the rotation meanwhile
		}
		if w.c == nil && !w.connect() {
			// Not charged: give it back for another connection, or for
			// this one once the backoff is over.
			w.handBack(j)
			j = nil
			if !w.connectBackoff() {
				return
			}
			continue
		}
		if w.ahead != nil && w.ahead.conn != w.c {
			w.dropAhead(j) // taken for a connection that is gone
		}
		if w.ahead == nil && !w.dayRoom(j) {
			w.handBack(j)
			if w.r.stopCtx.Err() != nil {
				return // it was the last relay in the rotation
			}
			j = nil
			continue
		}
		if !w.mayStart() {
			w.handBack(j)
			return
		}
		if w.ahead == nil && !w.probeIfIdle() {
			continue // reconnect; j is not charged
		}
		if j = w.send(j); j == nil && w.c != nil && w.wornAfter(0) {
			w.quit()
		}
	}
}

// mayStart waits until the relay's throttle lets the job in hand start on
// w's connection; it reports false when the run stops first.
func (w *worker) mayStart() bool {
	r, th := w.r, w.rl.throttle
	if w.ahead == nil {
		return th.wait(r.stopCtx) == nil
	}
	// Its rate token was taken by lookahead on this connection, its
	// commands perhaps sent with the previous final dot; a throttling
	// reply since still pauses it.
	return th.waitPause(r.stopCtx) == nil && r.stopCtx.Err() == nil
}

// dayRoom counts the recipients of j, about to start on w's relay,
// against the relay's daily limit, and reports true; or, at the limit,
// takes the relay out of the rotation until room opens (or stops the run
// when it was the last) and reports false.
func (w *worker) dayRoom(j *job) bool {
	now := w.r.cfg.Now()
	ok, next := w.rl.reserveDay(len(j.to), now)
	if !ok {
		w.r.relayOut(w.rl, &StopError{Reason: ErrDailyLimit, Err: w.rl.dayError(now, next)}, next)
	}
	return ok
}

// probeIfIdle checks with NOOP a connection idle longer than
// Config.IdleProbe; it reports false when the connection was lost, and
// dropped.
func (w *worker) probeIfIdle() bool {
	r := w.r
	if w.used == 0 || time.Since(w.lastUsed) <= r.cfg.IdleProbe {
		return true
	}
	if err := w.c.Noop(r.sendCtx); err != nil {
		w.drop()
		return false
	}
	return true
}

// wornAfter reports whether w's connection is to be replaced once it has
// carried n more transactions: Config.MaxPerConn reached, or
// Config.MaxConnAge.
func (w *worker) wornAfter(n int) bool {
	cfg := w.r.cfg
	return cfg.MaxPerConn > 0 && w.used+n >= cfg.MaxPerConn || time.Since(w.born) >= cfg.MaxConnAge
}

// handBack gives the job in hand back untried, ready now for any worker,
// and the rate token lookahead took for it.
func (w *worker) handBack(j *job) {
	w.dropAhead(j)
	w.r.sched.putBack(j)
}

// connect establishes w's connection: one attempt, through the gate, so
// that while no connection is up only one worker tries at a time. It
// reports success; a fatal error stops the run.
func (w *worker) connect() bool {
	r := w.r
	prober, ok := w.rl.gate.enter(r.workCtx)
	if !ok {
		return false
	}
	if !r.inRotation(w.rl) {
		// It left the rotation while w waited at the gate.
		if prober {
			w.rl.gate.release()
		}
		return false
	}
	c, err := w.dial(r.workCtx)
	switch {
	case err == nil:
		w.connected(c, prober)
		return true
	case r.workCtx.Err() != nil:
		if prober {
			w.rl.gate.release()
		}
	default:
		w.connectFailed(err, prober)
	}
	return false
}

// connected takes c as w's connection, and opens the gate to the others.
func (w *worker) connected(c *smtp.Client, prober bool) {
	w.rl.gate.opened(prober)
	w.r.connectedTo(w.rl)
	w.r.count(func(s *Summary) { s.Connections++ })
	w.failures = 0
	w.c, w.born, w.lastUsed, w.used = c, time.Now(), time.Now(), 0
}

// connectFailed counts a failed attempt to connect, and takes the relay
// out of the rotation (with one relay: stops the run) when another cannot
// succeed: for the rest of the run when trying again cannot help, for a
// while when the relay is unreachable.
func (w *worker) connectFailed(err error, prober bool) {
	r, rl := w.r, w.rl
	w.failures++
	attempts, live, ever := rl.gate.failed()
	// A prober keeps the gate through its backoff: the others wait for it.
	w.holdsGate = prober
	var se *smtp.Error
	switch reason := fatalConnectError(err); {
	case reason != nil:
		r.relayOut(rl, &StopError{Reason: reason, Err: err}, time.Time{})
	case !ever && isConfigurationError(err):
		// The relay's first connection: a refused port or a name that
		// does not resolve is a mistake in the server's address, not an
		// outage that retries would outlast.
		r.relayOut(rl, &StopError{Reason: ErrUnreachable, Err: &ConnectError{Attempts: attempts, Err: err}}, r.restUntil(rl))
	case live == 0 && attempts > r.cfg.Retries:
		r.relayOut(rl, &StopError{Reason: ErrUnreachable, Err: &ConnectError{Attempts: attempts, Err: err}}, r.restUntil(rl))
	case live == 0 && errors.As(err, &se) && se.Temporary() && isThrottleReply(se.Code, se.Enhanced, se.Text):
		// "421 4.7.0 too many connections" with none up: the server wants
		// us to slow down. With some up, it only limits their number.
		rl.throttle.signal(time.Now())
	}
}

// connectBackoff waits before the next attempt to connect, then lets the
// other workers try. It reports false when the run stops, before or
// meanwhile.
func (w *worker) connectBackoff() bool {
	r := w.r
	if r.stopCtx.Err() != nil {
		return false
	}
	ok := true
	if r.inRotation(w.rl) { // else the relay's absence is the wait
		ok = sleep(r.workCtx, r.backoff(max(w.rl.gate.consecutiveFailures(), w.failures, 1)))
	}
	if w.holdsGate {
		w.holdsGate = false
		w.rl.gate.release()
	}
	return ok
}

// errCredentials marks a failure of Config.Credentials.
type errCredentials struct{ err error }

func (e *errCredentials) Error() string { return "credentials: " + e.err.Error() }
func (e *errCredentials) Unwrap() error { return e.err }

// dial connects, secures and authenticates one connection.
func (w *worker) dial(ctx context.Context) (*smtp.Client, error) {
	c, err := w.open(ctx)
	if err != nil {
		return nil, err
	}
	if err := w.secureAndLogIn(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// open connects to the endpoint, with TLS from the first octet for smtps,
// and a transcript whose lines carry w's number.
func (w *worker) open(ctx context.Context) (*smtp.Client, error) {
	r := w.r
	ep, cfg := w.rl.Endpoint, w.rl.Client
	if cfg.Trace != nil {
		cfg.Trace = &prefixWriter{w: cfg.Trace, mu: &r.traceMu, prefix: "[" + strconv.Itoa(w.id) + "] "}
	}
	if ep.ImplicitTLS {
		return smtp.DialTLS(ctx, ep.Addr(), &cfg)
	}
	return smtp.Dial(ctx, ep.Addr(), &cfg)
}

// secureAndLogIn greets the server on c, upgrades it with STARTTLS when
// offered, and authenticates when the endpoint names a user.
func (w *worker) secureAndLogIn(ctx context.Context, c *smtp.Client) error {
	if err := c.Hello(ctx); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !c.TLS() {
		if err := c.StartTLS(ctx); err != nil {
			return err
		}
	}
	ep := w.rl.Endpoint
	if ep.Username == "" {
		return nil
	}
	cred, err := w.rl.Credentials(ctx)
	if err != nil {
		return &errCredentials{err}
	}
	if cred.Username == "" {
		cred.Username = ep.Username
	}
	return c.Authenticate(ctx, cred)
}

// fatalConnectError returns the reason to stop the run for an error that
// trying again cannot fix, or nil.
func fatalConnectError(err error) error {
	var ce *errCredentials
	switch {
	case smtp.IsAuthFailure(err), errors.As(err, &ce),
		errors.Is(err, smtp.ErrEncryptionRequired), errors.Is(err, errors.ErrUnsupported):
		return ErrAuthFailed
	case errors.Is(err, smtp.ErrImplicitTLS), errors.Is(err, smtp.ErrPlainSMTP), isTLSSetupError(err):
		// The wrong scheme for the port, or a certificate this machine does
		// not trust: another attempt meets the same.
		return ErrUnreachable
	}
	var se *smtp.Error
	if errors.As(err, &se) && se.Permanent() {
		if se.Command == "AUTH" {
			return ErrAuthFailed
		}
		return ErrUnreachable
	}
	return nil
}

// isConfigurationError reports a failure to connect that, met by the first
// connection of a run, says the server's address is wrong: the port
// refuses connections, the host name does not resolve, or nothing answers
// at all within the dial timeout.
func isConfigurationError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.Temporary()
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && op.Timeout()
}

// isTLSSetupError reports a TLS failure that another attempt would meet
// again: an untrusted or mismatched certificate, or a server that does not
// speak TLS.
func isTLSSetupError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
	)
	return errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record)
}

// drop closes w's connection without QUIT.
func (w *worker) drop() {
	if w.c == nil {
		return
	}
	w.c.Close()
	w.c = nil
	w.lost()
}

// quit ends w's connection with QUIT.
func (w *worker) quit() {
	if w.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.r.sendCtx), quitTimeout)
	defer cancel()
	w.c.Quit(ctx) //nolint:errcheck // the connection is done either way
	w.c = nil
	w.lost()
}

// lost tells the gate that w's connection is closed.
func (w *worker) lost() {
	w.rl.gate.closed()
}

// prefixWriter prefixes each write (one transcript line) with a
// connection's number; the connections share mu and the writer.
type prefixWriter struct {
	w      io.Writer
	mu     *sync.Mutex
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
