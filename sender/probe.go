package sender

import (
	"context"
	"errors"
	"strconv"
)

// Probe is what one connection found out about the server, for a dry run:
// everything a run does before its first MAIL FROM.
type Probe struct {
	TLS      bool  // the connection is encrypted (implicit TLS or STARTTLS)
	LoggedIn bool  // AUTH succeeded (the endpoint names a user)
	MaxSize  int64 // the server's SIZE limit in octets (RFC 1870), 0 if none
}

// ProbeServer opens one connection to each relay as a run's workers do
// (connect, EHLO, STARTTLS when offered, AUTH when the endpoint names a
// user), notes what it found, and ends it with QUIT. Nothing is sent.
// With several relays, TLS and LoggedIn hold only when they hold for
// every relay, and MaxSize is the smallest SIZE offered. A failure is a
// *StopError with the reason a run would have stopped for (ErrAuthFailed,
// ErrUnreachable); with several relays its cause is a *RelayError naming
// the relay.
func ProbeServer(ctx context.Context, cfg Config) (*Probe, error) {
	rs, err := relays(&cfg)
	if err != nil {
		return nil, err
	}
	var all *Probe
	for _, rl := range rs {
		p, err := probeRelay(ctx, &cfg, rl)
		if err != nil {
			if len(rs) > 1 {
				var se *StopError
				errors.As(err, &se)
				err = &StopError{Reason: se.Reason, Err: &RelayError{Relay: rl.Name, Err: se.Err}}
			}
			return nil, err
		}
		if all == nil {
			all = p
			continue
		}
		all.TLS = all.TLS && p.TLS
		all.LoggedIn = all.LoggedIn && p.LoggedIn
		if p.MaxSize > 0 && (all.MaxSize == 0 || p.MaxSize < all.MaxSize) {
			all.MaxSize = p.MaxSize
		}
	}
	return all, nil
}

// probeRelay is ProbeServer for one relay.
func probeRelay(ctx context.Context, cfg *Config, rl Relay) (*Probe, error) {
	w := &worker{r: &run{cfg: cfg}, rl: &relay{Relay: rl}, id: 1}
	c, err := w.dial(ctx)
	if err != nil {
		reason := fatalConnectError(err)
		if reason == nil {
			reason = ErrUnreachable
		}
		return nil, &StopError{Reason: reason, Err: &ConnectError{Attempts: 1, Err: err}}
	}
	p := &Probe{TLS: c.TLS(), LoggedIn: rl.Endpoint.Username != ""}
	if ok, size := c.Extension("SIZE"); ok {
		p.MaxSize, _ = strconv.ParseInt(size, 10, 64)
	}
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), quitTimeout)
	defer cancel()
	c.Quit(qctx) //nolint:errcheck // what mattered is done
	return p, nil
}
