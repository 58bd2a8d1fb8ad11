package smtp

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestPhaseBounds: a server that greets and then goes silent, or goes
// silent after the final dot, or answers every step just in time, is
// bounded by SetupTimeout and TransactionTimeout even when each step's own
// timeout is an hour. Only the kind of error is checked, not the time.
func TestPhaseBounds(t *testing.T) {
	const short = 100 * time.Millisecond
	ctx := context.Background()
	env := &Envelope{From: "a@example.com", To: []string{"b@example.org"}}

	t.Run("silent after the greeting", func(t *testing.T) {
		s := newSink(t, true)
		s.silentAt = "EHLO"
		c, err := s.pipe(t, &Config{CommandTimeout: time.Hour, SetupTimeout: short})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Hello(ctx)
		if e := wantConnError(t, err, ErrSetupTimeout); !e.Timeout() || e.Op != "EHLO" {
			t.Errorf("op %q, timeout %v: %v", e.Op, e.Timeout(), err)
		}
	})
	t.Run("silent after the final dot", func(t *testing.T) {
		s := newSink(t, true)
		s.silentAt = "."
		c, err := s.pipe(t, &Config{DataTermTimeout: time.Hour, TransactionTimeout: short})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Send(ctx, env, strings.NewReader(testBody))
		if e := wantConnError(t, err, ErrTransactionTimeout); !e.Timeout() || e.Op != "message" {
			t.Errorf("op %q, timeout %v: %v", e.Op, e.Timeout(), err)
		}
		if !res.Committed || res.Reply != nil {
			t.Errorf("result %+v: want committed, no reply (outcome unknown)", res)
		}
	})
	t.Run("every step just in time", func(t *testing.T) {
		// 40 recipients, each RCPT answered after a pause, one at a time:
		// no step is late, the whole transaction is.
		addr := multiServer(t, func(_ int, conn net.Conn) {
			br := bufio.NewReader(conn)
			conn.Write([]byte("220 slow.test\r\n"))
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "EHLO") {
					conn.Write([]byte("250 slow.test\r\n"))
					continue
				}
				time.Sleep(10 * time.Millisecond)
				conn.Write([]byte("250 ok\r\n"))
			}
		})
		c, err := Dial(ctx, addr, &Config{CommandTimeout: time.Hour, TransactionTimeout: short, LocalName: localName})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		many := &Envelope{From: "a@example.com"}
		for i := 0; i < 40; i++ {
			many.To = append(many.To, "b@example.org")
		}
		_, err = c.Send(ctx, many, strings.NewReader(testBody))
		if e := wantConnError(t, err, ErrTransactionTimeout); !e.Timeout() {
			t.Errorf("not a timeout: %v", err)
		}
	})
	t.Run("the bound is per transaction", func(t *testing.T) {
		s := newSink(t, true)
		c, err := s.pipe(t, &Config{TransactionTimeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			if _, err := c.Send(ctx, env, strings.NewReader(testBody)); err != nil {
				t.Fatal(err)
			}
		}
		// No bound is left behind for the calls between transactions.
		if c.bound != (time.Time{}) {
			t.Errorf("bound %v left after Send", c.bound)
		}
	})
	t.Run("TLS handshake of DialTLS", func(t *testing.T) {
		addr := multiServer(t, func(_ int, conn net.Conn) { conn.Read(make([]byte, 4096)); time.Sleep(time.Second) })
		_, err := DialTLS(ctx, addr, &Config{DialTimeout: short})
		if e := wantConnError(t, err, nil); !e.Timeout() || e.Op != "TLS" {
			t.Errorf("op %q, timeout %v: %v", e.Op, e.Timeout(), err)
		}
	})
	t.Run("TLS handshake of STARTTLS", func(t *testing.T) {
		addr := multiServer(t, func(_ int, conn net.Conn) {
			br := bufio.NewReader(conn)
			conn.Write([]byte("220 mx.test\r\n"))
			br.ReadString('\n')
			conn.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
			br.ReadString('\n')
			conn.Write([]byte("220 go ahead\r\n"))
			time.Sleep(time.Second)
		})
		c, err := Dial(ctx, addr, &Config{CommandTimeout: short})
		if err != nil {
			t.Fatal(err)
		}
		err = c.StartTLS(ctx)
		if e := wantConnError(t, err, nil); !e.Timeout() || e.Op != "STARTTLS" || errors.Is(err, ErrSetupTimeout) {
			t.Errorf("op %q, timeout %v: %v", e.Op, e.Timeout(), err)
		}
	})
}
