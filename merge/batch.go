package merge

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
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
	// Duplicates, when not nil, holds the rows a previous pass over the
	// same data found to repeat an earlier row (Item.DuplicateOf), by row
	// number; Each then trusts it instead of remembering every Key, which
	// keeps a second pass over a large file small. A row whose Key no
	// longer matches is reported invalid: the data changed between passes.
	Duplicates map[int]Duplicate
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
	// KeyHash is a 64-bit hash of Key, for a later pass's Duplicates.
	KeyHash uint64
	// Key identifies the row's recipients: see MessageKey.
	Key string
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
// be read at all.
func (b *Batch) Each(ctx context.Context, fn func(*Item) error) error {
	data, err := OpenData(b.Data, b.Options)
	if err != nil {
		return err
	}
	defer data.Close()
	if err := b.Select.check(b.Data, data.Columns()); err != nil {
		return err
	}
	// first maps a 64-bit hash of each key to the first row that had it and
	// a 32-bit hash of that row's envelope recipients, so memory stays small
	// however many rows there are.
	first := make(map[uint64]uint64)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec, err := data.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		item := &Item{Record: rec}
		var rowErr *RowError
		switch {
		case errors.As(err, &rowErr):
			// An unreadable row is reported if its number is selected,
			// whatever --where says: its cells cannot be trusted.
			if !b.Select.pickRow(rowErr.Row) {
				continue
			}
			item.Row, item.Err, item.Record = rowErr.Row, err, nil
		case err != nil:
			return err
		default:
			if b.Select.past(rec.Row) {
				return nil
			}
			if !b.Select.pickRow(rec.Row) || !b.Select.pick(rec) {
				continue
			}
			item.Row = rec.Row
			item.Message, item.Err = b.Template.Render(rec)
		}
		if item.Message != nil {
			b.checkDuplicate(item, first)
		}
		if err := fn(item); err != nil {
			return err
		}
	}
}

// checkDuplicate sets item's Key and KeyHash and notices a row that repeats
// an earlier row's Key, from first or from b.Duplicates.
func (b *Batch) checkDuplicate(item *Item, first map[uint64]uint64) {
	item.Key = MessageKey(item.Message)
	item.KeyHash = hash64(item.Key)
	rowError := func(err error) {
		item.Err = &RowError{File: b.Data, Row: item.Row, Err: err}
		item.Message = nil
	}
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
		return
	}
	rcpts := uint32(hash64(strings.ToLower(strings.Join(item.Message.Recipients(), ","))))
	prev, seen := first[item.KeyHash]
	switch {
	case !seen:
		first[item.KeyHash] = uint64(item.Row)<<32 | uint64(rcpts)
	case uint32(prev) != rcpts:
		conflict(int(prev >> 32))
	default:
		item.DuplicateOf = int(prev >> 32)
	}
}

// hash64 is FNV-1a of s.
func hash64(s string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	return h.Sum64()
}
