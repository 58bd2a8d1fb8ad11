package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/mailshot/mailshot/sender/smtp"
)

// worker runs one connection.
type worker struct {
	r        *run
	id       int
	c        *smtp.Client
	born     time.Time
	lastUsed time.Time
	used     int // transactions on c
	failures int // consecutive failures to connect

	releaseProbe bool // w holds the connection gate through its backoff
}

func (w *worker) loop() {
	r := w.r
	defer w.quit()
	var j *job
	for {
		if j == nil {
			if j = r.next(); j == nil {
				return
			}
		}
		if w.c == nil && !w.connect() {
			// Not charged: give it back for another connection, or for
			// this one once the backoff is over.
			r.requeue(j, time.Now())
			r.done()
			j = nil
			if r.stopCtx.Err() != nil {
				return
			}
			if !w.connectBackoff() {
				return
			}
			continue
		}
		if j.token != nil && j.conn != w.c {
			j.unrate() // taken for a connection that is gone
		}
		switch {
		case j.token != nil:
			// Its rate token was taken by lookahead on this connection,
			// its commands perhaps sent with the previous final dot; a
			// throttling reply since still pauses it.
			if err := r.throttle.waitPause(r.stopCtx); err != nil || r.stopCtx.Err() != nil {
				r.requeue(j, time.Now())
				r.done()
				return
			}
		default:
			if err := r.throttle.wait(r.stopCtx); err != nil {
				r.requeue(j, time.Now())
				r.done()
				return
			}
			if w.used > 0 && time.Since(w.lastUsed) > r.cfg.IdleProbe {
				if err := w.c.Noop(r.sendCtx); err != nil {
					w.drop()
					continue // reconnect; j is not charged
				}
			}
		}
		next := w.lookahead()
		w.transact(j, next)
		j = next
		if j == nil && w.c != nil && (r.cfg.MaxPerConn > 0 && w.used >= r.cfg.MaxPerConn || time.Since(w.born) >= r.cfg.MaxConnAge) {
			w.quit()
		}
	}
}

// lookahead returns the job to pipeline after the one about to go, with
// its rate token taken, or nil: when the server does not offer PIPELINING,
// the connection must end after this transaction, the run is stopping, or
// no job is ready now. See smtp.Envelope.Then.
func (w *worker) lookahead() *job {
	r := w.r
	if ok, _ := w.c.Extension("PIPELINING"); !ok || r.stopCtx.Err() != nil ||
		r.cfg.MaxPerConn > 0 && w.used+2 > r.cfg.MaxPerConn || time.Since(w.born) >= r.cfg.MaxConnAge {
		return nil
	}
	j := r.tryNext()
	if j == nil {
		return nil
	}
	token := r.throttle.reserve()
	if token == nil {
		r.requeue(j, time.Now())
		r.done()
		return nil
	}
	j.token, j.conn = token, w.c
	return j
}

// connect establishes w's connection: one attempt, gated so that while no
// connection is up only one worker tries at a time. It reports success;
// a fatal error stops the run.
func (w *worker) connect() bool {
	r := w.r
	for {
		r.mu.Lock()
		if r.live > 0 || !r.probing {
			break // r.mu held
		}
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-r.workCtx.Done():
			return false
		case <-changed:
		}
	}
	prober := r.live == 0
	r.probing = r.probing || prober
	r.mu.Unlock()

	c, err := w.dial(r.workCtx)

	r.mu.Lock()
	if prober && err == nil {
		r.probing = false
	}
	if err == nil {
		r.live++
		r.failures = 0
		w.failures = 0
		r.summary.Connections++
		r.broadcast()
		r.mu.Unlock()
		w.c, w.born, w.lastUsed, w.used = c, time.Now(), time.Now(), 0
		return true
	}
	if r.workCtx.Err() != nil {
		if prober {
			r.probing = false
			r.broadcast()
		}
		r.mu.Unlock()
		return false
	}
	w.failures++
	if r.live == 0 {
		r.failures++
	}
	down, attempts, live := r.live == 0 && r.failures > r.cfg.Retries, r.failures, r.live
	// A prober keeps the gate through its backoff: the others wait for it.
	w.releaseProbe = prober
	r.mu.Unlock()

	var se *smtp.Error
	switch reason := fatalConnectError(err); {
	case reason != nil:
		r.fail(&StopError{Reason: reason, Err: err})
	case down:
		r.fail(&StopError{Reason: ErrUnreachable, Err: fmt.Errorf("%d attempts to connect: %w", attempts, err)})
	case live == 0 && errors.As(err, &se) && se.Temporary() && isThrottleReply(se.Code, se.Enhanced, se.Text):
		// "421 4.7.0 too many connections" with none up: the server wants
		// us to slow down. With some up, it only limits their number.
		r.throttle.signal(time.Now())
	}
	return false
}

// connectBackoff waits before the next attempt to connect, then lets the
// other workers try. It reports false when the run stops meanwhile.
func (w *worker) connectBackoff() bool {
	r := w.r
	r.mu.Lock()
	d := r.backoff(max(r.failures, w.failures, 1))
	r.mu.Unlock()
	ok := sleep(r.workCtx, d)
	if w.releaseProbe {
		w.releaseProbe = false
		r.mu.Lock()
		r.probing = false
		r.broadcast()
		r.mu.Unlock()
	}
	return ok
}

// errCredentials marks a failure of Config.Credentials.
type errCredentials struct{ err error }

func (e *errCredentials) Error() string { return "credentials: " + e.err.Error() }
func (e *errCredentials) Unwrap() error { return e.err }

// dial connects, secures and authenticates one connection.
func (w *worker) dial(ctx context.Context) (*smtp.Client, error) {
	r := w.r
	ep := r.cfg.Endpoint
	cfg := r.cfg.Client
	if cfg.Trace != nil {
		cfg.Trace = &prefixWriter{w: cfg.Trace, mu: &r.traceMu, prefix: "[" + strconv.Itoa(w.id) + "] "}
	}
	var (
		c   *smtp.Client
		err error
	)
	if ep.ImplicitTLS {
		c, err = smtp.DialTLS(ctx, ep.Addr(), &cfg)
	} else {
		c, err = smtp.Dial(ctx, ep.Addr(), &cfg)
	}
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*smtp.Client, error) {
		c.Close()
		return nil, err
	}
	if err := c.Hello(ctx); err != nil {
		return fail(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !c.TLS() {
		if err := c.StartTLS(ctx); err != nil {
			return fail(err)
		}
	}
	if ep.Username == "" {
		return c, nil
	}
	cred, err := r.cfg.Credentials(ctx)
	if err != nil {
		return fail(&errCredentials{err})
	}
	if cred.Username == "" {
		cred.Username = ep.Username
	}
	if err := c.Authenticate(ctx, cred); err != nil {
		return fail(err)
	}
	return c, nil
}

// fatalConnectError returns the reason to stop the run for an error that
// trying again cannot fix, or nil.
func fatalConnectError(err error) error {
	var ce *errCredentials
	switch {
	case smtp.IsAuthFailure(err), errors.As(err, &ce),
		errors.Is(err, smtp.ErrEncryptionRequired), errors.Is(err, errors.ErrUnsupported):
		return ErrAuthFailed
	case isTLSSetupError(err):
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

func (w *worker) lost() {
	r := w.r
	r.mu.Lock()
	r.live--
	r.broadcast()
	r.mu.Unlock()
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
