package merge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mailshot/mailshot/internal/keyindex"
)

// Batch renders every row of one data file with one template, in file order,
// and notices rows that address the same recipients as an earlier row. check,
// preview and send all walk their data through a Batch, so they agree on what
// is valid.
type Batch struct {
	Template *Template   // the message template
	Data     string      // path of the CSV or XLSX file
	Options  DataOptions // how to read it
	Select   Selection   // which rows to take; the zero value takes all
	// Renderers is how many rows are rendered at once, ahead of Each's fn
	// (a bounded number, so memory does not grow with the file): 0 means
	// one per CPU; 1 renders each row just before fn sees it, so the files
	// a row names are read at that moment.
	Renderers int
	// Duplicates, when not nil, holds the rows a previous pass over the
	// same data found to repeat an earlier row (Item.DuplicateOf), by row
	// number; Each then trusts it instead of remembering every Key, which
	// keeps a second pass over a large file small. A row whose Key no
	// longer matches is reported invalid: the data changed between passes.
	Duplicates map[int]Duplicate
	// Composer composes the messages of Validate and Checked.Each; nil
	// means a zero Composer (no DKIM signature).
	Composer *Composer
	// IndexDir is the directory of the temporary file in which Each, past
	// some 65,000 rows, keeps what it remembers of every row to notice
	// duplicates, so that memory does not grow with the file (see
	// keyindex); "" means os.TempDir(). The file is removed as soon as it
	// is created.
	IndexDir string

	// dupIndexMemory is the duplicate check's keyindex.Options.MemoryEntries:
	// 0, except for tests.
	dupIndexMemory int
}

// Duplicate is a row found to repeat an earlier row's Key.
type Duplicate struct {
	Of       int    // the earlier row
	KeyHash  uint64 // Item.KeyHash of both
	Conflict bool   // the rows' other recipients differ: the row is invalid
}

// Item is one row of a Batch: its rendered Message, or why it is invalid.
type Item struct {
	Row     int      // spreadsheet row number
	Record  *Record  // the row's cells; nil when the row could not be read
	Message *Message // the rendered message; nil when Err is set
	Err     error    // why the row is invalid (a *RowError), or nil
	// DuplicateOf is the row number of an earlier row with the same Key, or 0.
	// A row whose Key repeats an earlier row's but whose other recipients
	// (Cc, Bcc) differ is invalid too (Err is set): outcomes are journalled
	// by Key, so the two could not be told apart.
	DuplicateOf int
	// KeyHash is a 64-bit hash of the row's MessageKey, for a later pass's
	// Duplicates.
	KeyHash uint64
	// Key identifies the row's recipients (see MessageKey); for an invalid
	// row, which may have none, the row itself ("invalid row N of FILE").
	Key string

	rendered chan struct{} // closed once Message and Err are set; nil if not rendered
}

// MessageKey returns the identity of a message's recipients: its To
// addresses (or, when it has none, all its envelope recipients), lower-cased
// and joined with commas. A journal records outcomes under this key, so a
// resumed run recognises a recipient even when the rows were re-ordered.
func MessageKey(m *Message) string {
	var addrs []string
	for _, a := range m.To {
		addrs = append(addrs, strings.ToLower(a.Address))
	}
	if len(addrs) == 0 {
		for _, a := range m.Recipients() {
			addrs = append(addrs, strings.ToLower(a))
		}
	}
	return strings.Join(addrs, ",")
}

// Each reads the data file and calls fn with each row in order, valid or
// not. It stops at the first error fn returns, or when ctx is done, and
// returns that error; otherwise it returns an error only when the file cannot
// be read at all. See Renderers for how far rendering runs ahead of fn.
func (b *Batch) Each(ctx context.Context, fn func(*Item) error) error {
	data, err := OpenDataContext(ctx, b.Data, b.Options)
	if err != nil {
		return err
	}
	defer data.Close()
	if err := b.Select.check(b.Data, data.Columns()); err != nil {
		return err
	}
	// A column the template names and the data lacks is one mistake,
	// said once here rather than once for every row.
	if err := b.Template.CheckColumns(data.Columns()); err != nil {
		return err
	}
	// first maps a 64-bit hash of each key to the first row that had it and
	// a 32-bit hash of that row's envelope recipients: in memory for a
	// small file, on disk past that, so memory stays small however many
	// rows there are.
	first := keyindex.New(keyindex.Options{Dir: b.IndexDir, MemoryEntries: b.dupIndexMemory})
	defer first.Close() // only removes a temporary file: nothing to lose
	deliver := func(item *Item) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if item.Message != nil {
			if err := b.checkDuplicate(item, first); err != nil {
				return err
			}
		}
		if item.Err != nil {
			item.Key = b.invalidKey(item.Row)
		}
		return fn(item)
	}
	renderers := b.Renderers
	if renderers == 0 {
		renderers = min(runtime.GOMAXPROCS(0), maxRenderers)
	}
	if renderers == 1 {
		var fnErr error
		err := b.read(ctx, data, func(item *Item, render bool) bool {
			if render {
				item.Message, item.Err = b.Template.RenderContext(ctx, item.Record)
			}
			fnErr = deliver(item)
			return fnErr == nil
		})
		return cmp.Or(fnErr, ctx.Err(), err)
	}

	var wg sync.WaitGroup
	defer wg.Wait() // after cancel, which unblocks the goroutines
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pending := make(chan *Item, 16*renderers) // in file order
	work := make(chan *Item, 16*renderers)
	var readErr error // set before pending is closed
	// ahead counts the bytes of the rows read and not yet delivered, so
	// that reading ahead holds at most readAhead bytes however large the
	// rows are.
	var ahead atomic.Int64
	freed := make(chan struct{}, 1)
	wg.Go(func() {
		defer close(work)
		defer close(pending)
		send := func(ch chan<- *Item, item *Item) bool {
			select {
			case ch <- item:
				return true
			case <-ctx.Done():
				return false
			}
		}
		readErr = b.read(ctx, data, func(item *Item, render bool) bool {
			for ahead.Load() > readAhead {
				select {
				case <-freed:
				case <-ctx.Done():
					return false
				}
			}
			ahead.Add(item.size())
			if render {
				item.rendered = make(chan struct{})
			}
			return send(pending, item) && (!render || send(work, item))
		})
	})
	for range renderers {
		wg.Go(func() {
			for item := range work {
				if ctx.Err() == nil { // else nobody will look at it
					item.Message, item.Err = b.Template.RenderContext(ctx, item.Record)
				}
				close(item.rendered)
			}
		})
	}
	for item := range pending {
		if item.rendered != nil {
			select {
			case <-item.rendered:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ahead.Add(-item.size())
		select {
		case freed <- struct{}{}:
		default:
		}
		if err := deliver(item); err != nil {
			return err
		}
	}
	return cmp.Or(ctx.Err(), readErr)
}

// readAhead is the most bytes of row values Each reads ahead of fn.
const readAhead = 16 << 20

// size is the bytes of the item's values.
func (it *Item) size() int64 {
	var n int64
	if it.Record != nil {
		for _, v := range it.Record.Values {
			n += int64(len(v))
		}
	}
	return n + 1
}

// maxRenderers bounds the goroutines that render rows at once.
const maxRenderers = 8

// read reads rows in order and calls emit with each one selected, saying
// whether it still needs rendering (a row that cannot be read does not),
// until the end of the file or of the selection, ctx is done, or emit
// returns false. A file without rows is an error wrapping ErrNoRows; a
// selection that picks none of the file's rows is a *SelectionError.
func (b *Batch) read(ctx context.Context, data RecordReader, emit func(item *Item, render bool) bool) error {
	seen := selectionSeen{near: make([]string, len(b.Select.Where))}
	picked := false
	for ctx.Err() == nil {
		rec, err := data.Next()
		if errors.Is(err, io.EOF) {
			seen.atEnd = true
			break
		}
		item := &Item{Record: rec}
		var rowErr *RowError
		switch {
		case errors.As(err, &rowErr):
			seen.row(rowErr.Row)
			// An unreadable row is reported if its number is selected,
			// whatever --where says: its cells cannot be trusted.
			if !b.Select.pickRow(rowErr.Row) {
				continue
			}
			picked = true
			item.Row, item.Err, item.Record = rowErr.Row, err, nil
			if !emit(item, false) {
				return nil
			}
		case err != nil:
			return err
		default:
			seen.row(rec.Row)
			if b.Select.past(rec.Row) {
				if !picked {
					return b.noneSelected(seen)
				}
				return nil
			}
			if !b.Select.pickRow(rec.Row) || !b.Select.pick(rec) {
				if !picked {
					seen.compare(&b.Select, rec)
				}
				continue
			}
			picked = true
			item.Row = rec.Row
			if !emit(item, true) {
				return nil
			}
		}
	}
	switch {
	case ctx.Err() != nil || picked:
		return nil
	case seen.first == 0:
		return fmt.Errorf("merge: %s: %w", b.Data, ErrNoRows)
	}
	return b.noneSelected(seen)
}

// noneSelected returns the *SelectionError for what read saw.
func (b *Batch) noneSelected(seen selectionSeen) error {
	e := &SelectionError{File: b.Data, Select: b.Select, FirstRow: seen.first, LastRow: seen.last, AtEnd: seen.atEnd}
	for i, v := range seen.near {
		if v != "" {
			e.Near = append(e.Near, NearValue{Condition: b.Select.Where[i], Value: v})
		}
	}
	return e
}

// selectionSeen is what read noticed of the rows while its selection had
// picked none: enough to say why, in memory that does not grow.
type selectionSeen struct {
	first, last int      // the first and last data rows read
	atEnd       bool     // last is the file's last row
	near        []string // for each condition, a value equal but for case or spaces
}

func (s *selectionSeen) row(n int) {
	if s.first == 0 {
		s.first = n
	}
	s.last = n
}

// compare notes, for each column=value condition rec does not meet, a
// value of rec's that would meet it but for case or surrounding spaces.
func (s *selectionSeen) compare(sel *Selection, rec *Record) {
	for i, c := range sel.Where {
		if c.Not || s.near[i] != "" {
			continue
		}
		if v, _ := rec.Field(c.Column); v != c.Value && strings.EqualFold(strings.TrimSpace(v), strings.TrimSpace(c.Value)) {
			s.near[i] = v
		}
	}
}

// checkDuplicate sets item's Key and KeyHash and notices a row that repeats
// an earlier row's Key, from first or from b.Duplicates. It fails only when
// first cannot be read or written, and then marks nothing.
func (b *Batch) checkDuplicate(item *Item, first *keyindex.Index) error {
	item.Key = MessageKey(item.Message)
	item.KeyHash = hash64(item.Key)
	rowError := func(err error) { b.invalidate(item, err) }
	conflict := func(of int) {
		item.DuplicateOf = of
		rowError(fmt.Errorf("same To as row %d but other Cc or Bcc recipients; mailshot journals outcomes by the To addresses, so the two rows cannot be told apart: merge them or give this one its own To", of))
	}
	if b.Duplicates != nil {
		d, ok := b.Duplicates[item.Row]
		switch {
		case ok && d.KeyHash != item.KeyHash:
			rowError(errors.New("the row changed since the first pass over the data; check it and run again"))
		case ok && d.Conflict:
			conflict(d.Of)
		case ok:
			item.DuplicateOf = d.Of
		}
		return nil
	}
	rcpts := uint32(hash64(strings.ToLower(strings.Join(item.Message.Recipients(), ","))))
	prev, seen, err := first.LoadOrStore(item.KeyHash, uint64(item.Row)<<32|uint64(rcpts))
	switch {
	case err != nil:
		return fmt.Errorf("merge: %s: row %d: looking for an earlier row with the same recipients: %w", b.Data, item.Row, err)
	case !seen:
	case uint32(prev) != rcpts:
		conflict(int(prev >> 32))
	default:
		item.DuplicateOf = int(prev >> 32)
	}
	return nil
}

// invalidate marks item invalid with err (a *RowError, or made one).
func (b *Batch) invalidate(item *Item, err error) {
	var re *RowError
	if !errors.As(err, &re) {
		err = &RowError{File: b.Data, Row: item.Row, Err: err}
	}
	item.Err, item.Message, item.Key = err, nil, b.invalidKey(item.Row)
}

// invalidKey is the Key of an invalid row.
func (b *Batch) invalidKey(row int) string {
	return fmt.Sprintf("invalid row %d of %s", row, filepath.Base(b.Data)) // the same from any directory
}

// hash64 is FNV-1a of s.
func hash64(s string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	return h.Sum64()
}
