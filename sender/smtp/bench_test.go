package smtp

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchMessage is a message of about size octets shaped like a mail merge's
// output: header fields, then 76-column lines, a few starting with a dot.
func benchMessage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("From: Mailshot <news@example.com>\r\nTo: <rcpt@example.org>\r\nSubject: Your monthly letter\r\n" +
		"Message-ID: <bench@mailshot.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	line := strings.Repeat("abcdefghijklmnopqrstuvwxyz0123456789", 3)[:76] + "\r\n"
	for i := 0; b.Len() < size; i++ {
		if i%50 == 0 {
			b.WriteString("." + line[1:])
		} else {
			b.WriteString(line)
		}
	}
	return b.Bytes()
}

// benchSend sends b.N messages over one connection and reports messages
// per second, the client's CPU time per message and, when the server is
// the in-process sink, round trips per message.
func benchSend(b *testing.B, c *Client, s *sink, msg []byte, cpu func() time.Duration) {
	benchSendPieces(b, c, s, []Piece{{Octets: msg}}, cpu)
}

// benchSendPieces is benchSend for a body in pieces (a bytes.Reader when
// there is one piece).
func benchSendPieces(b *testing.B, c *Client, s *sink, pieces []Piece, cpu func() time.Duration) {
	var msg []byte
	for _, p := range pieces {
		msg = append(msg, p.Octets...)
	}
	ctx := context.Background()
	if err := c.Hello(ctx); err != nil {
		b.Fatal(err)
	}
	env := &Envelope{From: "news@example.com", To: []string{"rcpt@example.org"}}
	r := bytes.NewReader(msg)
	var trips int64
	if s != nil {
		trips = s.roundTrips.Load()
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, start := cpu(), time.Now()
	for i := 0; i < b.N; i++ {
		var body io.Reader = r
		if len(pieces) > 1 {
			body = NewPieces(pieces)
		} else {
			r.Reset(msg)
		}
		if _, err := c.Send(ctx, env, body); err != nil {
			b.Fatal(err)
		}
	}
	elapsed, cpuUsed := time.Since(start), cpu()-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	if cpu0 >= 0 {
		b.ReportMetric(float64(cpuUsed.Microseconds())/float64(b.N), "cpu-µs/msg")
	}
	if s != nil {
		b.ReportMetric(float64(s.roundTrips.Load()-trips)/float64(b.N), "round-trips/msg")
	}
}

// BenchmarkSend sends over one reused loopback TCP connection to the
// in-process sink, with and without PIPELINING, for several sizes. CPU is
// the client goroutine's own thread time (the sink runs on other threads).
func BenchmarkSend(b *testing.B) {
	for _, pipelining := range []bool{true, false} {
		for _, size := range []int{1 << 10, 45 << 10, 1 << 20} {
			name := "pipelining=" + strconv.FormatBool(pipelining) + "/size=" + strconv.Itoa(size>>10) + "KB"
			b.Run(name, func(b *testing.B) {
				s := newSink(b, pipelining)
				c, err := Dial(context.Background(), s.listen(b), &Config{LocalName: localName})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				benchSend(b, c, s, benchMessage(size), threadCPU)
			})
		}
	}
}

// BenchmarkSendSMTPSink sends 45 KB messages over one connection to the
// harness's Postfix smtp-sink (PIPELINING), the workload on which
// smtp-source takes about 70 µs of CPU per message. CPU is the whole
// process's: the server is another process. The message goes whole, or in
// pieces, its last 38 KB shared, as a template's image goes.
func BenchmarkSendSMTPSink(b *testing.B) {
	requireHarness(b, sinkAddr)
	msg := benchMessage(45 << 10)
	cut := bytes.IndexByte(msg[len(msg)-38<<10:], '\n') + len(msg) - 38<<10 + 1
	for _, pieces := range [][]Piece{
		{{Octets: msg}},
		{{Octets: msg[:cut]}, {Octets: msg[cut:], Shared: true}},
	} {
		name := "whole"
		if len(pieces) > 1 {
			name = "pieces"
		}
		b.Run(name, func(b *testing.B) {
			c, err := Dial(context.Background(), sinkAddr, &Config{LocalName: localName})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			benchSendPieces(b, c, nil, pieces, processCPU)
		})
	}
}

// BenchmarkDataWriter is the body encoding alone, without a connection.
func BenchmarkDataWriter(b *testing.B) {
	msg := benchMessage(45 << 10)
	f := &fakeConn{server: strings.NewReader(""), remote: loopbackAddr}
	c := &Client{raw: f, conn: f}
	f.writes = nil
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		w := c.startData(context.Background())
		w.Write(msg)
		w.buf = append(w.buf, ".\r\n"...)
		w.buf = w.buf[:0]
	}
}
