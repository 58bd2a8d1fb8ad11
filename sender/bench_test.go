package sender

import (
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"testing"
	"time"

	"github.com/mailshot/mailshot/sender/smtp"
)

// benchMessages feeds n messages sharing one body of about size octets,
// each with its own key and recipient, as a merge would.
func benchMessages(b *testing.B, n, size int) iter.Seq2[*Message, error] {
	tmpl := namedMessages("bench", 1, 1, size)[0]
	return func(yield func(*Message, error) bool) {
		for i := range n {
			to := fmt.Sprintf("rcpt%d@example.org", i)
			m := &Message{Key: to, Row: i + 2, MessageID: fmt.Sprintf("<%d@bench.test>", i),
				From: tmpl.From, To: []string{to}, Body: tmpl.Body, Fingerprint: "fp"}
			if !yield(m, nil) {
				return
			}
		}
	}
}

// benchPool sends b.N messages through a pool and reports messages/s.
func benchPool(b *testing.B, ep *Endpoint, conns, size int, journaled bool) {
	cfg := Config{
		Endpoint:    ep,
		Client:      smtp.Config{LocalName: "bench.example.com"},
		Connections: conns,
		Retries:     1,
	}
	if journaled {
		cfg.Journal = openTestJournal(b, filepath.Join(b.TempDir(), "journal"))
	}
	p, err := NewPool(cfg)
	if err != nil {
		b.Fatal(err)
	}
	msgs := benchMessages(b, b.N, size)
	b.ResetTimer()
	start := time.Now()
	sum, err := p.Run(context.Background(), msgs)
	elapsed := time.Since(start)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if sum.Sent != b.N {
		b.Fatalf("sent %d of %d: %+v", sum.Sent, b.N, sum)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if journaled {
		b.ReportMetric(float64(cfg.Journal.Syncs())/float64(b.N), "fsyncs/msg")
	}
}

// BenchmarkPoolJournal compares a pool with and without its journal,
// against an in-process sink, 16 connections, 5 KB messages. Target: the
// journal costs under 10%. With an instant server on loopback every
// transaction waits one fsync (the price of at most one unknown message per
// connection after a crash); a server that takes a few milliseconds to
// accept a message, as real ones do while they write their queue, hides it.
func BenchmarkPoolJournal(b *testing.B) {
	for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
		ts := (&testServer{t: b, sink: true, sinkDelay: delay}).start()
		for _, journaled := range []bool{false, true} {
			b.Run(fmt.Sprintf("server=%v/journal=%v", delay, journaled), func(b *testing.B) {
				benchPool(b, ts.endpoint(), 16, 5<<10, journaled)
			})
		}
	}
}

// BenchmarkPoolSink sends through the harness's smtp-sink (127.0.0.1:2526)
// with 16 connections, no rate limit, 5 KB messages. Compare with
// smtp-source -d -s 16 -l 5120 in the same session.
func BenchmarkPoolSink(b *testing.B) {
	ep := &Endpoint{Host: "127.0.0.1", Port: "2526"}
	requireHarness(b, ep.Addr())
	for _, journaled := range []bool{false, true} {
		b.Run(fmt.Sprintf("journal=%v", journaled), func(b *testing.B) {
			benchPool(b, ep, 16, 5<<10, journaled)
		})
	}
}

// BenchmarkTwoRelays compares one process sending through one relay with
// the same process sending through two, in one run each, against
// in-process sinks that take 2 ms to accept each message (as a relay
// writing its queue does, or one that paces its clients), 4 connections
// per relay, 5 KB messages, with the journal. The relay, not the CPU, is
// the limit: two relays carry about twice as much.
func BenchmarkTwoRelays(b *testing.B) {
	const conns, delay = 4, 2 * time.Millisecond
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("relays=%d", n), func(b *testing.B) {
			var rs []Relay
			for i := range n {
				ts := (&testServer{t: b, sink: true, sinkDelay: delay}).start()
				rs = append(rs, Relay{Name: fmt.Sprint("r", i), Endpoint: ts.endpoint(),
					Client: smtp.Config{LocalName: "bench.example.com"}, Connections: conns})
			}
			p, err := NewPool(Config{Relays: rs, Retries: 1,
				Journal: openTestJournal(b, filepath.Join(b.TempDir(), "journal"))})
			if err != nil {
				b.Fatal(err)
			}
			msgs := benchMessages(b, b.N, 5<<10)
			b.ResetTimer()
			start := time.Now()
			sum, err := p.Run(context.Background(), msgs)
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil || sum.Sent != b.N {
				b.Fatalf("sent %d of %d: %v", sum.Sent, b.N, err)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}
