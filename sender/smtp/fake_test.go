package smtp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// fakeConn is a connection to a scripted server: reads return the server's
// canned replies, then io.EOF (the server hung up); every Write is recorded
// separately so tests see the client's exact bytes and how it grouped them.
type fakeConn struct {
	server *strings.Reader
	writes [][]byte
	remote net.Addr
	closed bool
}

func (f *fakeConn) Read(b []byte) (int, error) { return f.server.Read(b) }

func (f *fakeConn) Write(b []byte) (int, error) {
	if f.closed {
		return 0, net.ErrClosed
	}
	f.writes = append(f.writes, bytes.Clone(b))
	return len(b), nil
}

func (f *fakeConn) Close() error                     { f.closed = true; return nil }
func (f *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (f *fakeConn) RemoteAddr() net.Addr             { return f.remote }
func (f *fakeConn) SetDeadline(time.Time) error      { return nil }
func (f *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// wrote is everything the client sent.
func (f *fakeConn) wrote() string { return string(bytes.Join(f.writes, nil)) }

// lines joins reply or command lines, each ended by CRLF.
func lines(l ...string) string { return strings.Join(l, "\r\n") + "\r\n" }

var loopbackAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25}

// Scripted EHLO replies.
var (
	ehloPipelining = lines("250-mx.example.com greets you", "250-PIPELINING", "250-SIZE 100000",
		"250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250-SMTPUTF8", "250-STARTTLS", "250 AUTH PLAIN LOGIN CRAM-MD5")
	ehloLockstep = lines("250-mx.example.com greets you", "250-SIZE 100000", "250-8BITMIME",
		"250 ENHANCEDSTATUSCODES")
	ehloBare = lines("250 mx.example.com")
)

const localName = "client.example.org"

// scripted returns a client whose server sends the greeting and then the
// given replies, whatever the client says.
func scripted(t *testing.T, cfg *Config, replies ...string) (*Client, *fakeConn, error) {
	t.Helper()
	return scriptedFrom(t, loopbackAddr, cfg, replies...)
}

func scriptedFrom(t *testing.T, remote net.Addr, cfg *Config, replies ...string) (*Client, *fakeConn, error) {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.LocalName == "" {
		cfg.LocalName = localName
	}
	f := &fakeConn{server: strings.NewReader("220 mx.example.com ESMTP ready\r\n" + strings.Join(replies, "")), remote: remote}
	c, err := NewClient(context.Background(), f, "mx.example.com", cfg)
	return c, f, err
}

// wantReplyError checks that err is an *Error for command with code.
func wantReplyError(t *testing.T, err error, command string, code int) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *Error %s %d", err, err, command, code)
	}
	if e.Command != command || e.Code != code {
		t.Fatalf("error = %s %d (%v), want %s %d", e.Command, e.Code, err, command, code)
	}
	return e
}

// wantConnError checks that err is a *ConnError wrapping target (if set).
func wantConnError(t *testing.T, err error, target error) *ConnError {
	t.Helper()
	var e *ConnError
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *ConnError", err, err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Fatalf("error = %v, want one wrapping %v", err, target)
	}
	return e
}
