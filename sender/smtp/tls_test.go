package smtp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI is a CA made for one test and a server certificate it signed for
// localhost and 127.0.0.1.
type testPKI struct {
	server *tls.Config    // for the server
	roots  *x509.CertPool // for the client
	caPEM  []byte         // the CA certificate, PEM-encoded
}

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mailshot test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return testPKI{
		server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}},
		roots:  roots,
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
}

// rawServer accepts one connection on loopback and runs script on it.
func rawServer(t *testing.T, script func(conn net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		script(conn)
	}()
	return l.Addr().String()
}

// TestStartTLSDiscardsInjectedReplies is the STARTTLS command injection
// (CVE-2011-0411 and kin): replies the server sends in clear after its 220
// must never be read as replies inside TLS.
func TestStartTLSDiscardsInjectedReplies(t *testing.T) {
	pki := newTestPKI(t)
	addr := rawServer(t, func(conn net.Conn) {
		br := bufio.NewReader(conn)
		conn.Write([]byte("220 mx.test ESMTP\r\n"))
		br.ReadString('\n') // EHLO
		conn.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
		br.ReadString('\n') // STARTTLS
		conn.Write([]byte("220 2.0.0 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n"))
		tc := tls.Server(conn, pki.server)
		if tc.Handshake() != nil {
			return
		}
		br = bufio.NewReader(tc)
		br.ReadString('\n') // EHLO
		tc.Write([]byte("250-mx.test\r\n250 SIZE 1000\r\n"))
		br.ReadString('\n') // QUIT
		tc.Write([]byte("221 bye\r\n"))
	})
	var trace bytes.Buffer
	ctx := context.Background()
	c, err := Dial(ctx, addr, &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}, Trace: &trace})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(ctx); err != nil {
		t.Fatal(err)
	}
	if !c.TLS() {
		t.Error("TLS() false after STARTTLS")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("an injected reply was read after STARTTLS")
	}
	if ok, size := c.Extension("SIZE"); !ok || size != "1000" {
		t.Errorf("SIZE after STARTTLS = %v %q: the second EHLO's reply was not used", ok, size)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("extensions from before STARTTLS were kept")
	}
	if !strings.Contains(trace.String(), "discarding 30 octets") {
		t.Errorf("transcript does not show the discarded octets:\n%s", trace.String())
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestTLSVerification checks that certificates are verified by default:
// refused when signed by an unknown CA or for another name, accepted with
// the CA given.
func TestTLSVerification(t *testing.T) {
	pki := newTestPKI(t)
	implicit := func(t *testing.T) string {
		return rawServer(t, func(conn net.Conn) {
			tc := tls.Server(conn, pki.server)
			if tc.Handshake() != nil {
				return
			}
			tc.Write([]byte("220 mx.test ESMTP\r\n"))
			bufio.NewReader(tc).ReadString('\n')
		})
	}
	ctx := context.Background()
	tests := []struct {
		name string
		cfg  *Config
		ok   bool
	}{
		{"system roots only", nil, false},
		{"CA given", &Config{TLSConfig: &tls.Config{RootCAs: pki.roots}}, true},
		{"CA given, wrong name", &Config{TLSConfig: &tls.Config{RootCAs: pki.roots, ServerName: "mx.example.com"}}, false},
	}
	for _, tt := range tests {
		t.Run("implicit "+tt.name, func(t *testing.T) {
			c, err := DialTLS(ctx, implicit(t), tt.cfg)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				if !c.TLS() {
					t.Error("TLS() false")
				}
				c.Close()
				return
			}
			if e := wantConnError(t, err, nil); e.Op != "TLS" {
				t.Errorf("op %q", e.Op)
			}
		})
	}
	t.Run("STARTTLS untrusted", func(t *testing.T) {
		addr := rawServer(t, func(conn net.Conn) {
			br := bufio.NewReader(conn)
			conn.Write([]byte("220 mx.test ESMTP\r\n"))
			br.ReadString('\n')
			conn.Write([]byte("250-mx.test\r\n250 STARTTLS\r\n"))
			br.ReadString('\n')
			conn.Write([]byte("220 go ahead\r\n"))
			tls.Server(conn, pki.server).Handshake()
		})
		c, err := Dial(ctx, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = c.StartTLS(ctx)
		var uae x509.UnknownAuthorityError
		if e := wantConnError(t, err, nil); e.Op != "STARTTLS" || !errors.As(err, &uae) {
			t.Errorf("error %v", err)
		}
		if c.Usable() {
			t.Error("usable after a failed handshake")
		}
	})
}

func TestStartTLSRefused(t *testing.T) {
	ctx := context.Background()
	c, f, err := scripted(t, nil, ehloLockstep)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(ctx); !errors.Is(err, errors.ErrUnsupported) || f.wrote() != ehloLine {
		t.Errorf("StartTLS without the extension: %v, wrote %q", err, f.wrote())
	}
	c, _, err = scripted(t, nil, ehloPipelining+"454 4.7.0 TLS not available due to local problem\r\n")
	if err != nil {
		t.Fatal(err)
	}
	err = c.StartTLS(ctx)
	if e := wantReplyError(t, err, "STARTTLS", 454); !e.Temporary() || !c.Usable() || c.TLS() {
		t.Errorf("after a 454: usable %v, TLS %v", c.Usable(), c.TLS())
	}
}

func TestTrustCA(t *testing.T) {
	pki := newTestPKI(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pki.caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := TrustCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	addr := rawServer(t, func(conn net.Conn) {
		tc := tls.Server(conn, pki.server)
		if tc.Handshake() == nil {
			tc.Write([]byte("220 mx.test ESMTP\r\n"))
			bufio.NewReader(tc).ReadString('\n')
		}
	})
	c, err := DialTLS(context.Background(), addr, &Config{TLSConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	for _, bad := range []string{notPEM, filepath.Join(dir, "missing.pem")} {
		if _, err := TrustCA(bad); err == nil {
			t.Errorf("TrustCA(%s) succeeded", bad)
		}
	}
}
