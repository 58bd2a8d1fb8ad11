package sender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Journal is the durable, append-only record of what happened to every
// recipient: a JSON Lines file with one [Record] per line, written ahead of
// each transaction and after each outcome.
//
// Records are appended by many connections at once and made durable in
// groups: one synchronous write (see appender) covers every record appended
// while the previous one ran (group commit). A transaction's body waits for
// its intent to be durable, which also makes its connection's previous
// outcome durable: so at most one transaction per connection can be left
// unknown by a crash, at the price of one write's latency per transaction.
//
// On open the whole file is read into a compact index (16 bytes per
// recipient), which [Journal.Pending] consults to resume a run. A torn last
// line, left by a crash in the middle of a write, is cut off.
//
// A Journal is safe for concurrent use. Only one process may have a journal
// file open at a time.
type Journal struct {
	path string
	f    *os.File
	out  appender // makes groups durable; only the flusher uses it
	seed maphash.Seed

	mu      sync.Mutex
	cond    *sync.Cond // signals the flusher: a batch to write, or closing
	index   map[uint64]uint64
	totals  [statusCount]int
	buf     []byte // encoded records of cur, not yet written
	cur     *batch // batch being filled, nil when buf is empty
	last    *batch // most recent batch, to wait for everything appended
	err     error  // first write or sync error; later appends fail with it
	closing bool
	stopped chan struct{} // closed when the flusher returns

	// syncs counts fsync calls, so that tests see group commit at work.
	syncs atomic.Int64
}

// batch is the group of records one write and fsync make durable.
type batch struct {
	done  chan struct{} // closed when durable or failed
	err   error         // set before done is closed
	after []func(error) // called in append order once durable, before done is closed
}

// Status codes in the index (the top byte of an entry).
const (
	stNone = iota
	stIntent
	stSent
	stFailed
	stDeferred
	stUnknown
	statusCount
)

const fingerprintMask = 1<<56 - 1

var statusCodes = map[Status]uint64{
	StatusIntent: stIntent, StatusSent: stSent, StatusFailed: stFailed,
	StatusDeferred: stDeferred, StatusUnknown: stUnknown,
}

// OpenJournal opens the journal file at path, creating it (mode 0600: it
// holds addresses) if it does not exist, loads its records and prepares to
// append. The journal is locked against other processes until Close.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sender: open journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("sender: journal %s: %w", path, err)
	}
	j := &Journal{
		path:    path,
		f:       f,
		seed:    maphash.MakeSeed(),
		index:   make(map[uint64]uint64),
		stopped: make(chan struct{}),
	}
	j.cond = sync.NewCond(&j.mu)
	end, err := j.load()
	if err == nil {
		j.out, err = newAppender(f, end)
		if err != nil {
			err = fmt.Errorf("sender: journal %s: %w", path, err)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	go j.flusher()
	return j, nil
}

// load reads the file into the index, cuts off a torn last line (or the
// zeros preallocated past the last record by a run that crashed), makes a
// newly created file's directory entry durable, and returns the offset just
// after the last record.
func (j *Journal) load() (end int64, err error) {
	info, err := j.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("sender: journal: %w", err)
	}
	if info.Size() == 0 {
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return 0, fmt.Errorf("sender: journal %s: %w", j.path, err)
		}
		return 0, nil
	}
	good, err := readRecords(j.f, j.path, func(r *Record) error {
		j.remember(r)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := trimTo(j.f, good); err != nil {
		return 0, fmt.Errorf("sender: journal %s: cut torn last line: %w", j.path, err)
	}
	return good, nil
}

// readRecords calls fn for each record in r and returns the offset just
// after the last complete record. Only the end may be incomplete or
// unreadable: a write torn by a crash, or the zeros preallocated past the
// last record (no record holds a NUL octet). Anything else is an error;
// see tornTail for how NUL octets are told apart from damage.
func readRecords(r io.Reader, name string, fn func(*Record) error) (good int64, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if bytes.IndexByte(line, 0) >= 0 {
			return good, tornTail(br, name, good, off, line)
		}
		if err == io.EOF {
			return good, nil // "" or a line without its newline: torn
		}
		if err != nil {
			return good, fmt.Errorf("sender: read journal %s: %w", name, err)
		}
		off += int64(len(line))
		if len(bytes.TrimSpace(line)) == 0 {
			good = off
			continue
		}
		var rec Record
		err = json.Unmarshal(line, &rec)
		if err == nil {
			err = rec.check()
		}
		if err != nil {
			if _, peek := br.Peek(1); peek == io.EOF {
				return good, nil // torn last line
			}
			return good, fmt.Errorf("sender: journal %s:%d: %w", name, n, err)
		}
		if err := fn(&rec); err != nil {
			return good, err
		}
		good = off
	}
}

// tornTail checks the rest of a journal from line, which starts at offset
// start and holds a NUL octet: it must be what a crash leaves, the zeros
// written ahead of the records (the file ends with them) and perhaps the
// octets of one torn write, which cannot reach further than maxTornSpan
// past the block of good, the end of the last complete record. A NUL
// anywhere else is damage: reading on would lose the records after it, so
// it is an error, and nothing is cut.
func tornTail(br *bufio.Reader, name string, good, start int64, line []byte) error {
	last := int64(-1) // offset of the last octet that is not NUL
	scan := func(at int64, b []byte) {
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != 0 {
				last = at + int64(i)
				return
			}
		}
	}
	scan(start, line)
	size := start + int64(len(line))
	buf := make([]byte, 64<<10)
	for {
		n, err := br.Read(buf)
		scan(size, buf[:n])
		size += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("sender: read journal %s: %w", name, err)
		}
	}
	if data := last + 1; data == size || data-good&^(directAlign-1) > maxTornSpan {
		first := start + int64(bytes.IndexByte(line, 0))
		return fmt.Errorf("sender: journal %s is damaged: NUL octets at offset %d, then records up to offset %d; "+
			"it was left as it is: keep a copy, and cut it at the damage by hand or start a new journal", name, first, data)
	}
	return nil
}

// check reports whether a record read back is one the journal can use.
func (r *Record) check() error {
	if _, ok := statusCodes[r.Status]; !ok {
		return fmt.Errorf("unknown status %q", r.Status)
	}
	if len(r.Recipients) == 0 {
		return errors.New("record without recipients")
	}
	return nil
}

// remember updates the index with r. Called with mu held, or before the
// flusher starts.
func (j *Journal) remember(r *Record) {
	st := statusCodes[r.Status]
	fp := j.hashFingerprint(r.Fingerprint)
	for _, to := range r.Recipients {
		k := j.hashRecipient(r.Key, to)
		if old, ok := j.index[k]; ok {
			j.totals[old>>56]--
		}
		j.index[k] = st<<56 | fp
		j.totals[st]++
	}
}

func (j *Journal) hashRecipient(key, to string) uint64 {
	var h maphash.Hash
	h.SetSeed(j.seed)
	h.WriteString(key)
	h.WriteByte(0)
	h.WriteString(strings.ToLower(to))
	return h.Sum64()
}

func (j *Journal) hashFingerprint(fp string) uint64 {
	if fp == "" {
		return 0
	}
	return maphash.String(j.seed, fp)&fingerprintMask | 1
}

// Path returns the journal's file name.
func (j *Journal) Path() string { return j.path }

// Append adds r to the journal and waits until it is durable. Its Time is
// set to now if zero. Callers use it for outcomes decided before sending,
// such as invalid rows recorded as failed.
func (j *Journal) Append(ctx context.Context, r *Record) error {
	b, err := j.add(r, nil)
	if err != nil {
		return err
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("sender: journal append: %w", ctx.Err())
	}
}

// add appends r to the current batch without waiting. after, if not nil,
// is called with the batch's outcome once the record is durable (or could
// not be made so), in append order, from the journal's goroutine, before
// the batch's waiters return.
func (j *Journal) add(r *Record, after func(error)) (*batch, error) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("sender: journal append: %w", err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.err != nil:
		return nil, j.err
	case j.closing:
		return nil, fmt.Errorf("sender: journal %s: append after close", j.path)
	}
	j.buf = appendRecord(j.buf, r)
	if j.cur == nil {
		j.cur = &batch{done: make(chan struct{})}
		j.last = j.cur
		j.cond.Signal()
	}
	if after != nil {
		j.cur.after = append(j.cur.after, after)
	}
	j.remember(r)
	return j.cur, nil
}

// flusher writes and syncs batches, one at a time, until Close.
func (j *Journal) flusher() {
	defer close(j.stopped)
	var spare []byte
	for {
		j.mu.Lock()
		for j.cur == nil && !j.closing {
			j.cond.Wait()
		}
		b, data := j.cur, j.buf
		if b == nil {
			j.mu.Unlock()
			return
		}
		j.cur, j.buf = nil, spare[:0]
		failed := j.err
		j.mu.Unlock()

		err := failed
		if err == nil {
			err = j.out.append(data)
			j.syncs.Add(1)
			if err != nil {
				err = &StopError{Reason: ErrJournal, Err: fmt.Errorf("%s: %w", j.path, err)}
				j.mu.Lock()
				j.err = err
				j.mu.Unlock()
			}
		}
		b.err = err
		for _, f := range b.after {
			f(err)
		}
		close(b.done) // after the callbacks: Sync waits for them too
		spare = data
	}
}

// Sync waits until every record appended so far is durable.
func (j *Journal) Sync(ctx context.Context) error {
	j.mu.Lock()
	b, err := j.last, j.err
	j.mu.Unlock()
	if b == nil {
		return err
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return fmt.Errorf("sender: journal sync: %w", ctx.Err())
	}
}

// Close makes every appended record durable and closes the file. It
// returns the first error that kept a record from being written.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closing {
		j.mu.Unlock()
		return nil
	}
	j.closing = true
	j.cond.Signal()
	j.mu.Unlock()
	<-j.stopped
	err := j.err
	if cerr := j.out.close(); cerr != nil && err == nil {
		err = fmt.Errorf("sender: close journal: %w", cerr)
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("sender: close journal: %w", cerr)
	}
	return err
}

// ResumePolicy says which recipients a resumed run sends again, beyond
// those never tried and those deferred, which are always sent.
type ResumePolicy struct {
	RetryFailed   bool // also recipients that failed permanently
	ResendUnknown bool // also recipients whose outcome is unknown (risking a duplicate)
}

// Resume is what the journal says about one message before a run.
type Resume struct {
	// Send lists the recipients still to send, in the message's order.
	Send []string
	// Sent, Failed and Unknown count the recipients left out because of
	// their journalled status.
	Sent, Failed, Unknown int
	// Changed reports that a recipient already sent got a message with a
	// different fingerprint: the row or template changed since, and the
	// new version is not sent.
	Changed bool
}

// Pending returns which recipients of m still need sending according to
// the journal and the policy: a recipient already sent is never sent again;
// failed ones only with RetryFailed; unknown ones (including a transaction
// interrupted by a crash) only with ResendUnknown; deferred and new ones
// always. A nil Journal sends everything.
func (j *Journal) Pending(m *Message, p ResumePolicy) Resume {
	var res Resume
	if j == nil {
		res.Send = append(res.Send, m.To...)
		return res
	}
	fp := j.hashFingerprint(m.Fingerprint)
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, to := range m.To {
		e := j.index[j.hashRecipient(m.Key, to)]
		switch e >> 56 {
		case stSent:
			res.Sent++
			if old := e & fingerprintMask; old != 0 && fp != 0 && old != fp {
				res.Changed = true
			}
			continue
		case stFailed:
			if !p.RetryFailed {
				res.Failed++
				continue
			}
		case stIntent, stUnknown:
			if !p.ResendUnknown {
				res.Unknown++
				continue
			}
		}
		res.Send = append(res.Send, to)
	}
	return res
}

// Totals counts the recipients in the journal by their latest status; a
// recipient whose latest record is an intent counts as unknown.
func (j *Journal) Totals() Totals {
	j.mu.Lock()
	defer j.mu.Unlock()
	return Totals{
		Sent:     j.totals[stSent],
		Failed:   j.totals[stFailed],
		Deferred: j.totals[stDeferred],
		Unknown:  j.totals[stUnknown] + j.totals[stIntent],
	}
}

// syncDir makes a new directory entry in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
