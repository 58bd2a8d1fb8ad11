package merge

import (
	"context"
	"errors"
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
	// Duplicates, when not nil, maps each row known to repeat an earlier
	// row's Key to that earlier row, as a previous pass over the same data
	// found them (Item.DuplicateOf); Each then trusts it instead of
	// remembering every Key, which keeps a second pass over a large file
	// small.
	Duplicates map[int]int
}

// Item is one row of a Batch: its rendered Message, or why it is invalid.
type Item struct {
	Row     int      // spreadsheet row number
	Record  *Record  // the row's cells; nil when the row could not be read
	Message *Message // the rendered message; nil when Err is set
	Err     error    // why the row is invalid (a *RowError), or nil
	// DuplicateOf is the row number of an earlier row with the same Key, or 0.
	DuplicateOf int
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
	// firstRow maps a 64-bit hash of each key to the first row that had it,
	// so memory stays small however many rows there are.
	firstRow := make(map[uint64]int)
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
		if item.Message != nil && b.Duplicates != nil {
			item.Key = MessageKey(item.Message)
			item.DuplicateOf = b.Duplicates[item.Row]
		} else if item.Message != nil {
			item.Key = MessageKey(item.Message)
			h := fnv.New64a()
			io.WriteString(h, item.Key)
			sum := h.Sum64()
			if first, ok := firstRow[sum]; ok {
				item.DuplicateOf = first
			} else {
				firstRow[sum] = item.Row
			}
		}
		if err := fn(item); err != nil {
			return err
		}
	}
}
