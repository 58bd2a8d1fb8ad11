package smtp

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// multiServer accepts connections on loopback and runs script on each,
// with the connection's number (0 for the first).
func multiServer(t *testing.T, script func(n int, conn net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for n := 0; ; n++ {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				script(n, conn)
			}()
		}
	}()
	return l.Addr().String()
}

// implicitTLSServer is a port that expects TLS at once, as Postfix's 465:
// it waits for a ClientHello and greets only inside TLS.
func implicitTLSServer(t *testing.T, pki testPKI) string {
	return multiServer(t, func(_ int, conn net.Conn) {
		tc := tls.Server(conn, pki.server)
		if tc.Handshake() != nil {
			return
		}
		tc.Write([]byte("220 mx.test ESMTP\r\n"))
		bufio.NewReader(tc).ReadString('\n')
	})
}

// plainServer greets in clear, then answers EHLO and QUIT.
func plainServer(t *testing.T) string {
	return multiServer(t, func(_ int, conn net.Conn) {
		conn.Write([]byte("220 mx.test ESMTP\r\n"))
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			verb := strings.ToUpper(strings.TrimSpace(line)) + "    " // a TLS probe's bytes may make short lines
			switch verb[:4] {
			case "EHLO":
				conn.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
			case "QUIT":
				conn.Write([]byte("221 bye\r\n"))
				return
			default:
				conn.Write([]byte("502 no\r\n"))
			}
		}
	})
}

// TestWrongScheme: smtp:// to a port that expects TLS at once, and smtps://
// to one that speaks plain SMTP first, each give a typed error naming the
// mistake. The first used to wait out the greeting timeout (5 minutes).
func TestWrongScheme(t *testing.T) {
	pki := newTestPKI(t)
	ctx := context.Background()

	t.Run("plain to implicit TLS", func(t *testing.T) {
		var trace strings.Builder
		addr := implicitTLSServer(t, pki)
		// The greeting timeout is long: only the probe can end the wait.
		_, err := Dial(ctx, addr, &Config{TLSProbeAfter: 50 * time.Millisecond, GreetingTimeout: time.Hour, Trace: &trace})
		e := wantConnError(t, err, ErrImplicitTLS)
		if e.Op != "greeting" || e.Timeout() {
			t.Errorf("op %q, timeout %v: %v", e.Op, e.Timeout(), err)
		}
		if !strings.Contains(trace.String(), "trying a TLS handshake on a second connection") {
			t.Errorf("transcript does not say why:\n%s", trace.String())
		}
	})
	t.Run("implicit TLS to plain", func(t *testing.T) {
		_, err := DialTLS(ctx, plainServer(t), &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}})
		e := wantConnError(t, err, ErrPlainSMTP)
		var rh tls.RecordHeaderError
		if e.Op != "TLS" || !errors.As(err, &rh) {
			t.Errorf("op %q, record error %v: %v", e.Op, errors.As(err, &rh), err)
		}
	})
	t.Run("a silent server that is not TLS either", func(t *testing.T) {
		addr := multiServer(t, func(_ int, conn net.Conn) { conn.Read(make([]byte, 512)) })
		_, err := Dial(ctx, addr, &Config{TLSProbeAfter: 10 * time.Millisecond, GreetingTimeout: 200 * time.Millisecond})
		if e := wantConnError(t, err, nil); !e.Timeout() || errors.Is(err, ErrImplicitTLS) {
			t.Errorf("timeout %v: %v", e.Timeout(), err)
		}
	})
	t.Run("a late greeting is still read", func(t *testing.T) {
		// The server greets on the first connection only once the probe
		// (the second) has come and found no TLS: the greeting arrives
		// after TLSProbeAfter, and Dial must take it.
		probed := make(chan struct{})
		addr := multiServer(t, func(n int, conn net.Conn) {
			if n == 1 {
				close(probed)
				return // not TLS: the handshake fails on EOF
			}
			<-probed
			conn.Write([]byte("220 mx.test slow but fine\r\n"))
			bufio.NewReader(conn).ReadString('\n')
		})
		c, err := Dial(ctx, addr, &Config{TLSProbeAfter: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	})
	t.Run("probe off", func(t *testing.T) {
		addr := implicitTLSServer(t, pki)
		_, err := Dial(ctx, addr, &Config{TLSProbeAfter: -1, GreetingTimeout: 100 * time.Millisecond})
		if e := wantConnError(t, err, nil); !e.Timeout() || errors.Is(err, ErrImplicitTLS) {
			t.Errorf("timeout %v: %v", e.Timeout(), err)
		}
	})
}

// TestDialErrors: each way of not reaching a server can be told apart with
// errors.As and errors.Is, and a certificate problem never looks like an
// unreachable server.
func TestDialErrors(t *testing.T) {
	ctx := context.Background()
	pki := newTestPKI(t)

	t.Run("refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		for name, dial := range map[string]func(context.Context, string, *Config) (*Client, error){"Dial": Dial, "DialTLS": DialTLS} {
			_, err := dial(ctx, addr, nil)
			var op *net.OpError
			if e := wantConnError(t, err, syscall.ECONNREFUSED); e.Op != "dial" || !errors.As(err, &op) || op.Op != "dial" {
				t.Errorf("%s: op %q: %v", name, e.Op, err)
			}
		}
	})
	t.Run("no such host", func(t *testing.T) {
		r := nxdomainResolver(t)
		for name, dial := range map[string]func(context.Context, string, *Config) (*Client, error){"Dial": Dial, "DialTLS": DialTLS} {
			_, err := dial(ctx, "mx.nonexistent.test:25", &Config{Resolver: r})
			var dns *net.DNSError
			if e := wantConnError(t, err, nil); e.Op != "dial" || !errors.As(err, &dns) || !dns.IsNotFound {
				t.Errorf("%s: op %q, %v", name, e.Op, err)
			}
		}
	})

	// Certificates: untrusted, or for another name, by implicit TLS and by
	// STARTTLS.
	startTLSServer := func(t *testing.T) string {
		return multiServer(t, func(_ int, conn net.Conn) {
			br := bufio.NewReader(conn)
			conn.Write([]byte("220 mx.test ESMTP\r\n"))
			br.ReadString('\n')
			conn.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
			br.ReadString('\n')
			conn.Write([]byte("220 go ahead\r\n"))
			tc := tls.Server(conn, pki.server)
			if tc.Handshake() != nil {
				return
			}
			br = bufio.NewReader(tc)
			br.ReadString('\n')
			tc.Write([]byte("250 mx.test\r\n"))
			br.ReadString('\n')
		})
	}
	dialBoth := map[string]func(t *testing.T, cfg *Config) error{
		"implicit": func(t *testing.T, cfg *Config) error {
			c, err := DialTLS(ctx, implicitTLSServer(t, pki), cfg)
			if err == nil {
				c.Close()
			}
			return err
		},
		"STARTTLS": func(t *testing.T, cfg *Config) error {
			c, err := Dial(ctx, startTLSServer(t), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			return c.StartTLS(ctx)
		},
	}
	certCases := []struct {
		name  string
		cfg   *Config
		check func(error) bool
	}{
		{"untrusted", &Config{}, func(err error) bool {
			var uae x509.UnknownAuthorityError
			return errors.As(err, &uae)
		}},
		{"another name", &Config{TLSConfig: &tls.Config{RootCAs: pki.roots, ServerName: "mx.example.com"}}, func(err error) bool {
			var he x509.HostnameError
			return errors.As(err, &he)
		}},
		{"insecure, for a lab relay", &Config{TLSConfig: &tls.Config{InsecureSkipVerify: true}}, nil},
	}
	for how, dial := range dialBoth {
		for _, tt := range certCases {
			t.Run(how+" "+tt.name, func(t *testing.T) {
				err := dial(t, tt.cfg)
				if tt.check == nil {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				var ve *tls.CertificateVerificationError
				var op *net.OpError
				if !errors.As(err, &ve) || !tt.check(err) {
					t.Errorf("error %v (%T) is not the certificate's", err, err)
				}
				if errors.As(err, &op) && op.Op == "dial" || errors.Is(err, ErrPlainSMTP) || errors.Is(err, ErrImplicitTLS) {
					t.Errorf("certificate error %v looks like another failure", err)
				}
			})
		}
	}
}

// nxdomainResolver is a resolver whose DNS server, on loopback, answers
// every query "no such name" (RCODE 3).
func nxdomainResolver(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 12 {
				continue
			}
			resp := append([]byte(nil), buf[:n]...)
			flags := binary.BigEndian.Uint16(resp[2:])
			flags |= 0x8000 | 0x0080 // QR, RA
			flags = flags&^0x000f | 3
			binary.BigEndian.PutUint16(resp[2:], flags)
			binary.BigEndian.PutUint16(resp[6:], 0) // no answers
			binary.BigEndian.PutUint16(resp[8:], 0)
			binary.BigEndian.PutUint16(resp[10:], 0)
			pc.WriteTo(resp, from)
		}
	}()
	addr := pc.LocalAddr().String()
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}
