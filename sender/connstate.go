package sender

import (
	"sort"
	"sync/atomic"
	"time"
)

// Busy is what one connection of a running pool is doing, for a display
// that wants to say what a stalled run waits on: the row of the message
// in its transaction and since when.
type Busy struct {
	Conn  int    // the connection's number, from 1
	Relay string // the relay it is connected to
	Row   int    // the data row of the message in its transaction
	Since time.Time
}

// busy is a worker's transaction in hand, written by the worker and read
// by Pool.Busy from any goroutine: two atomics, no allocation.
type busy struct {
	row   atomic.Int64 // 0 when idle
	since atomic.Int64 // unix nanoseconds
}

func (b *busy) start(row int) {
	b.since.Store(time.Now().UnixNano())
	b.row.Store(int64(max(row, 1)))
}

func (b *busy) end() { b.row.Store(0) }

// Busy returns the connections of the running batch that are in a
// transaction, the longest waiting first; nil when no Run is going on.
// It is safe to call from any goroutine, for example a progress display's.
func (p *Pool) Busy() []Busy {
	r := p.current.Load()
	if r == nil {
		return nil
	}
	r.workersMu.Lock()
	workers := r.workers
	r.workersMu.Unlock()
	var out []Busy
	for _, w := range workers {
		if row := w.busy.row.Load(); row != 0 {
			out = append(out, Busy{Conn: w.id, Relay: w.rl.Name, Row: int(row), Since: time.Unix(0, w.busy.since.Load())})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}
