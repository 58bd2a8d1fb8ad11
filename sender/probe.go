package sender

import (
	"context"
	"strconv"
)

// Probe is what one connection found out about the server, for a dry run:
// everything a run does before its first MAIL FROM.
type Probe struct {
	TLS      bool  // the connection is encrypted (implicit TLS or STARTTLS)
	LoggedIn bool  // AUTH succeeded (the endpoint names a user)
	MaxSize  int64 // the server's SIZE limit in octets (RFC 1870), 0 if none
}

// ProbeServer opens one connection as a run's workers do (connect, EHLO,
// STARTTLS when offered, AUTH when the endpoint names a user), notes what
// it found, and ends it with QUIT. Nothing is sent. A failure is a
// *StopError with the reason a run would have stopped for (ErrAuthFailed,
// ErrUnreachable).
func ProbeServer(ctx context.Context, cfg Config) (*Probe, error) {
	if cfg.Connections == 0 {
		cfg.Connections = 1
	}
	w := &worker{r: &run{cfg: &cfg}, id: 1}
	c, err := w.dial(ctx)
	if err != nil {
		reason := fatalConnectError(err)
		if reason == nil {
			reason = ErrUnreachable
		}
		return nil, &StopError{Reason: reason, Err: &ConnectError{Attempts: 1, Err: err}}
	}
	p := &Probe{TLS: c.TLS(), LoggedIn: cfg.Endpoint.Username != ""}
	if ok, size := c.Extension("SIZE"); ok {
		p.MaxSize, _ = strconv.ParseInt(size, 10, 64)
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), quitTimeout)
	defer cancel()
	c.Quit(qctx) //nolint:errcheck // what mattered is done
	return p, nil
}
