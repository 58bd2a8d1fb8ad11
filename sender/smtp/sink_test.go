package smtp

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sink is a minimal in-process SMTP server for tests and benchmarks: it
// accepts every transaction and throws the message away. It flushes its
// replies only when it has no more input to read, as real servers do under
// PIPELINING, and counts those flushes: the client's round trips.
type sink struct {
	pipelining bool
	// silentAt makes the server stop replying at a point: "greeting",
	// "EHLO", "MAIL", "DATA" (no 354), "body" (354, then no more reading)
	// or "." (the body is read, the final reply never comes).
	silentAt string
	// bodyDelay is a pause after each read of the body: a slow link.
	bodyDelay time.Duration
	// keep saves each message's wire bytes in bodies.
	keep bool

	roundTrips atomic.Int64
	messages   atomic.Int64

	mu     sync.Mutex
	bodies [][]byte

	stop     chan struct{}
	stopOnce sync.Once
}

func newSink(t testing.TB, pipelining bool) *sink {
	s := &sink{pipelining: pipelining, stop: make(chan struct{})}
	t.Cleanup(func() { s.stopOnce.Do(func() { close(s.stop) }) })
	return s
}

// pipe returns a client connected to a new session of s over net.Pipe.
func (s *sink) pipe(t testing.TB, cfg *Config) (*Client, error) {
	t.Helper()
	client, server := pipePair(t)
	go s.serve(server)
	if cfg == nil {
		cfg = &Config{}
	}
	if cfg.LocalName == "" {
		cfg.LocalName = localName
	}
	return NewClient(context.Background(), client, "sink.test", cfg)
}

// pipePair is a net.Pipe closed when the test ends.
func pipePair(t testing.TB) (client, server net.Conn) {
	client, server = net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// listen serves s on a loopback TCP port and returns its address.
func (s *sink) listen(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return l.Addr().String()
}

// stall waits until the test is over, reading nothing.
func (s *sink) stall() { <-s.stop }

func (s *sink) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReaderSize(conn, 64<<10)
	bw := bufio.NewWriterSize(conn, 4096)
	flush := func() bool {
		if bw.Buffered() == 0 {
			return true
		}
		s.roundTrips.Add(1)
		return bw.Flush() == nil
	}
	if s.silentAt == "greeting" {
		s.stall()
		return
	}
	bw.WriteString("220 sink.test ESMTP\r\n")
	for {
		if br.Buffered() == 0 && !flush() {
			return
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		verb := strings.ToUpper(string(bytes.TrimRight(line[:min(4, len(line))], "\r\n")))
		if verb == s.silentAt {
			s.stall()
			return
		}
		switch verb {
		case "EHLO":
			bw.WriteString("250-sink.test\r\n")
			if s.pipelining {
				bw.WriteString("250-PIPELINING\r\n")
			}
			bw.WriteString("250-SIZE 52428800\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n")
		case "MAIL":
			bw.WriteString("250 2.1.0 Ok\r\n")
		case "RCPT":
			bw.WriteString("250 2.1.5 Ok\r\n")
		case "DATA":
			bw.WriteString("354 End data with <CR><LF>.<CR><LF>\r\n")
			if !flush() {
				return
			}
			if s.silentAt == "body" {
				s.stall()
				return
			}
			body, err := s.readBody(br)
			if err != nil {
				return
			}
			if s.silentAt == "." {
				s.stall()
				return
			}
			if s.keep {
				s.mu.Lock()
				s.bodies = append(s.bodies, body)
				s.mu.Unlock()
			}
			s.messages.Add(1)
			bw.WriteString("250 2.0.0 Ok: queued\r\n")
		case "RSET", "NOOP":
			bw.WriteString("250 2.0.0 Ok\r\n")
		case "QUIT":
			bw.WriteString("221 2.0.0 Bye\r\n")
			flush()
			return
		default:
			bw.WriteString("502 5.5.2 Error: command not recognized\r\n")
		}
	}
}

// readBody consumes the body up to and including CRLF.CRLF, searching whole
// buffers; it returns the body's wire bytes if s.keep.
func (s *sink) readBody(br *bufio.Reader) ([]byte, error) {
	var (
		kept      []byte
		tailBuf   [4]byte
		probe     [8]byte
		endOfData = []byte("\r\n.\r\n")
	)
	tail := append(tailBuf[:0], "\r\n"...) // the DATA line's CRLF
	for {
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
		chunk, _ := br.Peek(br.Buffered())
		// A terminator across the previous read and this one, or in this one.
		n := copy(probe[:], tail)
		n += copy(probe[n:], chunk[:min(len(chunk), 4)])
		end := -1
		if i := bytes.Index(probe[:n], endOfData); i >= 0 {
			end = i + len(endOfData) - len(tail)
		} else if i := bytes.Index(chunk, endOfData); i >= 0 {
			end = i + len(endOfData)
		}
		if end >= 0 {
			if s.keep {
				kept = append(kept, chunk[:end]...)
			}
			br.Discard(end)
			return kept, nil
		}
		if s.keep {
			kept = append(kept, chunk...)
		}
		if len(chunk) >= 4 {
			tail = append(tailBuf[:0], chunk[len(chunk)-4:]...)
		} else {
			tail = append(tailBuf[:0], probe[max(0, n-4):n]...)
		}
		br.Discard(len(chunk))
		if s.bodyDelay > 0 {
			time.Sleep(s.bodyDelay)
		}
	}
}
