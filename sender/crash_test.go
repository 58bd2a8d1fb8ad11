package sender

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// TestPoolKilledAndResumed runs a pool in a child process against this
// process's server, kills it with SIGKILL in the middle of the batch, and
// resumes from its journal: every recipient is delivered exactly once,
// except those the journal marks unknown, at most two messages per connection,
// which are delivered at most once.
func TestPoolKilledAndResumed(t *testing.T) {
	if spec := os.Getenv("SENDER_POOL_CHILD"); spec != "" {
		poolChild(spec)
		return
	}
	const n, conns = 300, 3
	ts := &testServer{t: t}
	var slow atomic.Bool
	slow.Store(true)
	ts.onData = func(c *serverConn, body []byte) error {
		if slow.Load() {
			time.Sleep(2 * time.Millisecond) // keep transactions in flight
		}
		return nil
	}
	ts.start()
	path := filepath.Join(t.TempDir(), "journal")
	name := fmt.Sprint(time.Now().UnixNano())
	msgs := namedMessages(name, n, 2, 1000)

	cmd := exec.Command(os.Args[0], "-test.run=^TestPoolKilledAndResumed$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SENDER_POOL_CHILD=%s|%s|%s|%d|%d", ts.addr, path, name, n, conns))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for len(ts.deliveries()) < n/2 { // recipients, so about a third of the messages
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	before := len(ts.deliveries())

	// Resume: the whole batch again, as a person reruns the command; Run
	// leaves out what the journal settles.
	j := openTestJournal(t, path)
	slow.Store(false)
	cfg := ts.config(j, nil)
	cfg.Connections = conns
	sum, err := runPool(t, cfg, msgs)
	if err != nil {
		t.Fatal(err)
	}
	unknown := sum.Skipped.Unknown
	if unknown > conns*2*2 { // two open intents per connection, two recipients per message
		t.Errorf("%d recipients unknown after the kill, more than two messages per connection (%d connections)", unknown, conns)
	}
	if sum.Messages == 0 || sum.Messages == n {
		t.Fatalf("%d of %d messages sent on resuming: not killed mid-batch", sum.Messages, n)
	}
	got := checkDelivery(t, ts, j, msgs)
	if got.Sent+got.Unknown != 2*n || got.Unknown != unknown {
		t.Errorf("journal %+v after resuming, want %d sent or unknown, %d unknown", got, 2*n, unknown)
	}
	t.Logf("killed after %d deliveries; %d messages resumed; %d recipients unknown", before, sum.Messages, unknown)
}

// poolChild sends namedMessages through a pool with a journal, until
// killed.
func poolChild(spec string) {
	var addr, path, name string
	var n, conns int
	parts := strings.Split(spec, "|")
	addr, path, name = parts[0], parts[1], parts[2]
	fmt.Sscan(parts[3], &n)
	fmt.Sscan(parts[4], &conns)
	j, err := journal.Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ts := &testServer{addr: addr}
	p, err := NewPool(Config{
		Endpoint:    ts.endpoint(),
		Client:      smtp.Config{LocalName: "child.example.com"},
		Connections: conns,
		Journal:     j,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p.Run(context.Background(), feed(namedMessages(name, n, 2, 1000)))
	os.Exit(0)
}
