package journal

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailshot/mailshot/internal/keyindex"
)

// File is an open journal: the durable, append-only record of what
// happened to every recipient, a JSON Lines file with one [Record] per line.
//
// Records are added by many goroutines at once and made durable in groups:
// one synchronous write (see appender) covers every record added while the
// previous one ran (group commit). [File.Add] returns at once with a
// [Commit] to wait on; a caller that must not go on before its record is on
// disk (a sender before a message's body) waits for it.
//
// An intent is written at once, since a message's body waits for it. Any
// other record (an outcome) waits up to defaultLazyDelay for an intent or a
// [Commit.Wait] to share its write: at one connection, the outcome of
// one message and the intent of the one after next then take one write
// instead of two.
//
// On open the whole file is read into a compact index, which
// [File.Pending] consults to resume a run: a hash of every recipient and
// of its latest status and fingerprint, in memory for a small journal,
// and for a large one in a temporary file in the journal's directory (see
// package keyindex), so the memory a run holds does not grow with the
// journal. A torn last line, left by a crash in the middle of a write, is
// cut off.
//
// A File is safe for concurrent use. Only one process may have a journal
// file open at a time.
type File struct {
	path string
	f    *os.File
	out  appender // makes groups durable; only the flusher uses it
	seed seed

	mu       sync.Mutex
	kick     chan struct{}   // a token for the flusher: cur became urgent, closing, or an error
	lazy     *time.Timer     // fires lazyDelay after a group of outcomes alone began
	index    *keyindex.Index // recipient hash -> status<<56 | fingerprint hash
	totals   [statusCount]int
	opened   time.Time       // when Open was called
	recent   []Stamp         // recipients sent since 24 h before opened
	used     bool            // the file holds a header or a record
	campaign json.RawMessage // the header, or nil
	buf      []byte          // encoded records of cur, not yet written
	cur      *Commit         // group being filled, nil when buf is empty
	urgent   bool            // cur is to be written at once (see enqueue)
	last     *Commit         // most recent group, to wait for everything added
	err      error           // first write, sync or index error; later appends fail with it
	closing  bool
	stopped  chan struct{} // closed when the flusher returns

	// lazyDelay is defaultLazyDelay, except for tests, which may set it
	// before the first record.
	lazyDelay time.Duration
	// syncs counts fsync calls, so that tests see group commit at work.
	syncs atomic.Int64
}

// defaultLazyDelay is how long a group holding no intent waits at most for one
// (or for Commit.Wait, Sync or Close) before it is written anyway: how much
// later than at once an outcome, alone, is durable and told. Intents come
// every transaction while a run sends, so the delay is met only when
// sending pauses.
const defaultLazyDelay = 2 * time.Millisecond

// Commit is the group of records that one synchronous write makes durable:
// a handle, returned by [File.Add], to wait on. Groups are written one after
// another, so a Commit is done only after every earlier one.
type Commit struct {
	done chan struct{} // closed when durable or failed
	err  error         // set before done is closed
	j    *File
}

// Done returns a channel closed once the records are durable, or could not
// be made so (see Err). Waiting on it does not hurry the write: a group
// with an intent is written at once, others within defaultLazyDelay (see
// Wait).
func (c *Commit) Done() <-chan struct{} { return c.done }

// Err returns, once Done is closed, nil if the records are durable, or why
// they are not.
func (c *Commit) Err() error { return c.err }

// Wait has the records written at once, if they are still waiting for
// company, and waits until they are durable; it returns Err, or ctx's error
// first.
func (c *Commit) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	c.j.hurry(c)
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return fmt.Errorf("journal: waiting for a write: %w", ctx.Err())
	}
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
	Intent: stIntent, Sent: stSent, Failed: stFailed,
	Deferred: stDeferred, Unknown: stUnknown,
}

// Open opens the journal file at path, creating it (mode 0600: it
// holds addresses) if it does not exist, loads its records and prepares to
// append. The journal is locked against other processes until Close.
func Open(path string) (*File, error) {
	return indexOpen(path, keyindex.Options{Dir: filepath.Dir(path)})
}

// indexOpen is Open with the index's options: where its file goes, how
// much of it stays in memory.
func indexOpen(path string, o keyindex.Options) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &File{
		path:    path,
		f:       f,
		seed:    newSeed(),
		index:   keyindex.New(o),
		kick:    make(chan struct{}, 1),
		lazy:    time.NewTimer(defaultLazyDelay),
		stopped: make(chan struct{}),
		opened:  time.Now(),

		lazyDelay: defaultLazyDelay,
	}
	j.lazy.Stop()
	end, err := j.load()
	if err == nil {
		j.out, err = newAppender(f, end)
		if err != nil {
			err = fmt.Errorf("journal %s: %w", path, err)
		}
	}
	if err != nil {
		j.index.Close()
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
func (j *File) load() (end int64, err error) {
	info, err := j.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	if info.Size() == 0 {
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return 0, fmt.Errorf("journal %s: %w", j.path, err)
		}
		return 0, nil
	}
	good, err := readJournal(j.f, j.path, func(h []byte) { j.campaign = h }, func(r *Record) error {
		if err := j.remember(r); err != nil {
			return fmt.Errorf("journal %s: %w", j.path, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	j.used = good > 0
	if err := trimTo(j.f, good); err != nil {
		return 0, fmt.Errorf("journal %s: cut torn last line: %w", j.path, err)
	}
	return good, nil
}

// readRecords calls fn for each record in r and returns the offset just
// after the last complete record. Only the end may be incomplete or
// unreadable: a write torn by a crash, or the zeros preallocated past the
// last record (no record holds a NUL octet). Anything else is an error;
// see tornTail for how NUL octets are told apart from damage.
func readRecords(r io.Reader, name string, fn func(*Record) error) (good int64, err error) {
	return readJournal(r, name, nil, fn)
}

// readJournal is readRecords that also hands the journal's campaign
// header, if its first line is one, to header (nil: ignore it). A file
// whose first line is neither a header nor a record, nor the beginning of
// one torn by a crash, is not a journal: ErrNotJournal, and nothing is cut.
func readJournal(r io.Reader, name string, header func([]byte), fn func(*Record) error) (good int64, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if n == 1 && len(line) > 0 {
			if !looksLikeJournal(line) {
				return 0, fmt.Errorf("%s: %w", name, ErrNotJournal)
			}
			if h, ok := campaignLine(line); ok && err == nil {
				if header != nil {
					header(h)
				}
				off += int64(len(line))
				good = off
				continue
			}
		}
		if bytes.IndexByte(line, 0) >= 0 {
			return good, tornTail(br, name, good, off, line)
		}
		if err == io.EOF {
			return good, nil // "" or a line without its newline: torn
		}
		if err != nil {
			return good, fmt.Errorf("journal %s: read: %w", name, err)
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
			return good, fmt.Errorf("journal %s:%d: %w", name, n, err)
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
			return fmt.Errorf("journal %s: read: %w", name, err)
		}
	}
	if data := last + 1; data == size || data-good&^(directAlign-1) > maxTornSpan {
		first := start + int64(bytes.IndexByte(line, 0))
		return fmt.Errorf("journal %s is damaged: NUL octets at offset %d, then records up to offset %d; "+
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
// flusher starts. An error of the index's file leaves the index, and the
// totals, unfit for use.
func (j *File) remember(r *Record) error {
	st := statusCodes[r.Status]
	fp := j.seed.fingerprint(r.Fingerprint)
	for _, to := range r.Recipients {
		old, ok, err := j.index.Swap(j.seed.recipient(r.Key, to), st<<56|fp)
		if err != nil {
			return err
		}
		if ok {
			j.totals[old>>56]--
		}
		j.totals[st]++
	}
	j.rememberSent(r)
	return nil
}

// seed is the key of the hashes that stand for recipients and fingerprints
// in memory.
type seed struct{ s maphash.Seed }

func newSeed() seed { return seed{maphash.MakeSeed()} }

// recipient returns the hash that stands for one recipient of the message
// keyed key: the journal's one notion of "the same recipient".
func (s seed) recipient(key, to string) uint64 {
	var h maphash.Hash
	h.SetSeed(s.s)
	h.WriteString(key)
	h.WriteByte(0)
	h.WriteString(foldAddress(to))
	return h.Sum64()
}

// fingerprint returns the hash of a fingerprint in the index's low 56 bits,
// never 0, or 0 for none.
func (s seed) fingerprint(fp string) uint64 {
	if fp == "" {
		return 0
	}
	return maphash.String(s.s, fp)&fingerprintMask | 1
}

// Syncs returns how many synchronous writes have made records durable so
// far: fewer than the records added when group commit is at work.
func (j *File) Syncs() int64 { return j.syncs.Load() }

// Path returns the journal's file name.
func (j *File) Path() string { return j.path }

// writable reports why nothing more may be added: a write failed, or
// Close has begun. Called with mu held.
func (j *File) writable() error {
	switch {
	case j.err != nil:
		return j.err
	case j.closing:
		return fmt.Errorf("journal %s: add after close", j.path)
	}
	return nil
}

// Add appends r to the journal without waiting for the disk, and returns
// the Commit to wait on for it to be durable. Its Time is set to now if
// zero. After a write has failed, or the index (see Pending), or once Close
// has begun, Add fails; records added but not yet written when the index
// fails are not written, and their Commits fail.
func (j *File) Add(r *Record) (*Commit, error) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("journal %s: add: %w", j.path, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writable(); err != nil {
		return nil, err
	}
	if err := j.remember(r); err != nil {
		j.err = fmt.Errorf("journal %s: %w", j.path, err)
		j.wake() // the group waiting fails now
		return nil, j.err
	}
	j.buf = appendRecord(j.buf, r)
	j.used = true
	return j.enqueue(r.Status == Intent), nil
}

// enqueue returns the group that the records just put in buf belong to,
// and sees that the flusher writes it: at once if urgent (an intent, which
// a message's body waits for), else when a later record is urgent or
// j.lazyDelay after the group began, whichever comes first. Called with mu
// held.
func (j *File) enqueue(urgent bool) *Commit {
	if j.cur == nil {
		j.cur = &Commit{done: make(chan struct{}), j: j}
		j.last = j.cur
		if !urgent {
			j.lazy.Reset(j.lazyDelay)
		}
	}
	if urgent && !j.urgent {
		j.urgent = true
		j.wake()
	}
	return j.cur
}

// wake gives the flusher a token, unless it has one already.
func (j *File) wake() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

// hurry makes c due at once if it is still being filled.
func (j *File) hurry(c *Commit) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.cur == c && !j.urgent {
		j.urgent = true
		j.wake()
	}
}

// due reports whether the flusher has work: a group to write now, or, when
// closing with nothing left, to return. late says that the lazy timer
// fired. Called with mu held.
func (j *File) due(late bool) bool {
	if j.cur == nil {
		return j.closing
	}
	return j.urgent || late || j.closing || j.err != nil
}

// flusher writes and syncs groups, one at a time, until Close.
func (j *File) flusher() {
	defer close(j.stopped)
	var spare []byte
	for {
		j.mu.Lock()
		for late := false; !j.due(late); {
			j.mu.Unlock()
			select {
			case <-j.kick:
			case <-j.lazy.C:
				late = true
			}
			j.mu.Lock()
		}
		b, data := j.cur, j.buf
		if b == nil {
			j.mu.Unlock()
			return
		}
		j.cur, j.buf, j.urgent = nil, spare[:0], false
		j.lazy.Stop()
		failed := j.err
		j.mu.Unlock()

		err := failed
		if err == nil {
			err = j.out.append(data)
			j.syncs.Add(1)
			if err != nil {
				err = fmt.Errorf("journal %s: write: %w", j.path, err)
				j.mu.Lock()
				j.err = err
				j.mu.Unlock()
			}
		}
		b.err = err
		close(b.done)
		spare = data
	}
}

// Sync has every record added so far written at once and waits until it
// is durable. It fails if one is not, or if the journal takes no more
// records (see Err).
func (j *File) Sync(ctx context.Context) error {
	j.mu.Lock()
	c := j.last
	j.mu.Unlock()
	if c != nil {
		if err := c.Wait(ctx); err != nil {
			return err
		}
	}
	return j.Err()
}

// Close makes every appended record durable and closes the file. It
// returns the first error that kept a record from being written.
func (j *File) Close() error {
	j.mu.Lock()
	if j.closing {
		j.mu.Unlock()
		return nil
	}
	j.closing = true
	j.wake()
	j.mu.Unlock()
	<-j.stopped
	j.lazy.Stop()
	err := j.err
	if cerr := j.out.close(); cerr != nil && err == nil {
		err = fmt.Errorf("journal %s: close: %w", j.path, cerr)
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("journal %s: close: %w", j.path, cerr)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if cerr := j.index.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("journal %s: %w", j.path, cerr)
	}
	return err
}

// Err returns why the journal takes no more records: the first write,
// sync or index error, or nil.
func (j *File) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
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

// Pending returns which recipients to of the message keyed key still need
// sending according to the journal and the policy: a recipient already sent
// is never sent again; failed ones only with RetryFailed; unknown ones
// (including a transaction interrupted by a crash) only with ResendUnknown;
// deferred and new ones always. fingerprint, if not "", is compared with
// that of the message each recipient was sent (Resume.Changed).
//
// When the index cannot be read (an I/O error of its temporary file), no
// recipient is sent: Pending counts them all as Unknown, whatever the
// policy, and the error stops the journal (see Err): Add, Sync and Close
// return it.
func (j *File) Pending(key string, to []string, fingerprint string, p ResumePolicy) Resume {
	var res Resume
	fp := j.seed.fingerprint(fingerprint)
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, addr := range to {
		e, _, err := j.index.Get(j.seed.recipient(key, addr))
		if err != nil {
			if j.err == nil {
				j.err = fmt.Errorf("journal %s: %w", j.path, err)
				j.wake() // the group waiting fails now
			}
			return Resume{Unknown: len(to)}
		}
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
		res.Send = append(res.Send, addr)
	}
	return res
}

// Totals counts the recipients in the journal by their latest status; a
// recipient whose latest record is an intent counts as unknown.
func (j *File) Totals() Totals {
	j.mu.Lock()
	defer j.mu.Unlock()
	var t Totals
	for st, code := range statusCodes {
		t.Add(st, j.totals[code])
	}
	return t
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
