package merge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Stats counts what a pass over a batch found.
type Stats struct {
	Rows       int // rows selected
	Invalid    int // rows that cannot be sent (Item.Err)
	Duplicates int // valid rows whose recipients repeat an earlier row's
	// NoUnsubscribe counts the valid messages without a List-Unsubscribe
	// header, which Gmail and Yahoo require of bulk senders (RFC 8058).
	NoUnsubscribe int
	// Warnings counts the rows read with a Record.Warning.
	Warnings int
}

// Valid is the number of rows that can be sent.
func (s Stats) Valid() int { return s.Rows - s.Invalid }

// Validate renders every row and, when compose is set, composes it, and
// counts what it found. It calls fn (if not nil) for every row, valid or
// not: a valid one with its composed message (nil without compose), which
// is only valid during the call; an invalid one (Item.Err set) with nil.
// Render alone finds every problem the data can cause (it reads the files
// and encodes the header); Compose only writes what Render checked. It
// stops at the first error fn returns.
func (b *Batch) Validate(ctx context.Context, compose bool, fn func(it *Item, eml []byte) error) (Stats, error) {
	composer := b.composer()
	var buf bytes.Buffer
	var eml []byte
	return b.walk(ctx, func(it *Item) {
		eml = nil
		if it.Err == nil && compose {
			buf.Reset()
			if err := composer.Compose(&buf, it.Message); err != nil {
				b.invalidate(it, err)
			} else {
				eml = buf.Bytes()
			}
		}
	}, func(it *Item) error {
		if fn != nil {
			return fn(it, eml)
		}
		return nil
	})
}

// composer returns b.Composer, or a zero Composer.
func (b *Batch) composer() *Composer {
	if b.Composer == nil {
		return &Composer{}
	}
	return b.Composer
}

// walk calls prepare and then fn with every row, as Each gives them, and
// counts what prepare left in them.
func (b *Batch) walk(ctx context.Context, prepare func(it *Item), fn func(it *Item) error) (Stats, error) {
	var s Stats
	err := b.Each(ctx, func(it *Item) error {
		s.Rows++
		prepare(it)
		if it.Record != nil && it.Record.Warning != nil {
			s.Warnings++
		}
		switch {
		case it.Err != nil:
			s.Invalid++
		case it.DuplicateOf != 0:
			s.Duplicates++
		}
		if it.Err == nil {
			if _, ok := it.Message.Header("List-Unsubscribe"); !ok {
				s.NoUnsubscribe++
			}
		}
		return fn(it)
	})
	return s, err
}

// ErrDataChanged is the cause of the error Checked returns when the data
// file is no longer the one the preflight read: saved, replaced or edited
// since.
var ErrDataChanged = errors.New("changed since it was checked")

// Checked is a batch that passed its preflight: what a send's second pass
// needs to send exactly what was checked, row by row, without holding
// every row in memory.
type Checked struct {
	batch      Batch
	duplicates map[int]Duplicate // rows that repeat an earlier row
	invalid    map[int]bool      // rows the preflight found invalid
	digest     *dataDigest       // what the preflight read of the data file
}

// Preflight is the first of a send's two passes: it validates and renders
// every row (ahead, on every CPU; see Renderers) without composing, calls
// fn (if not nil) with each as Validate does, and returns what the second
// pass needs, with the counts. It records a digest of the bytes it read of
// the data file, and fails with ErrDataChanged when the file no longer
// holds them once it is done.
func (b *Batch) Preflight(ctx context.Context, fn func(it *Item) error) (*Checked, Stats, error) {
	digest := &dataDigest{}
	c := &Checked{batch: *b, duplicates: make(map[int]Duplicate), invalid: make(map[int]bool), digest: digest}
	first := *b
	first.Options.record, first.Options.verify = digest, nil
	s, err := first.Validate(ctx, false, func(it *Item, _ []byte) error {
		if it.DuplicateOf != 0 {
			c.duplicates[it.Row] = Duplicate{Of: it.DuplicateOf, KeyHash: it.KeyHash, Conflict: it.Err != nil}
		}
		if it.Err != nil {
			c.invalid[it.Row] = true
		}
		if fn != nil {
			return fn(it)
		}
		return nil
	})
	if err != nil {
		return nil, s, err
	}
	if err := c.Unchanged(); err != nil {
		return nil, s, err
	}
	// The second pass renders each row just before it is sent, so that
	// what is sent is what its files hold then, and trusts the duplicates
	// found here instead of remembering every key.
	c.batch.Renderers = 1
	c.batch.Duplicates = c.duplicates
	c.batch.Options.record, c.batch.Options.verify = nil, digest
	return c, s, nil
}

// Each is a send's second pass: it renders and composes every row again,
// in order, and calls fn with each, as Validate does, except that the
// message comes in pieces (see Composer.ComposePieces), fn's to keep; rows found invalid
// by the preflight come with Item.Err set again. A row that was valid in
// the preflight and is invalid now stops the pass with its error: a file
// changed under the run, and the row would otherwise be lost. Every byte
// it reads of the data file is checked against the preflight's digest
// before any row made of it reaches fn: at the first difference the pass
// stops with an error wrapping ErrDataChanged.
func (c *Checked) Each(ctx context.Context, fn func(it *Item, msg []Piece) error) error {
	composer := c.batch.composer()
	var msg []Piece
	_, err := c.batch.walk(ctx, func(it *Item) {
		msg = nil
		if it.Err == nil {
			var err error
			if msg, err = composer.ComposePieces(it.Message); err != nil {
				c.batch.invalidate(it, err)
			}
		}
	}, func(it *Item) error {
		if it.Err != nil && !c.invalid[it.Row] {
			return fmt.Errorf("%w (it was valid when checked: did a file change during the run?)", it.Err)
		}
		return fn(it, msg)
	})
	return err
}

// Unchanged returns an error wrapping ErrDataChanged unless the data file
// still holds the bytes the preflight read: it reads them again and
// compares their SHA-256, so an edit that keeps the size and restores the
// modification time is caught, and a save that changes nothing is not.
func (c *Checked) Unchanged() error {
	if err := c.digest.matches(c.batch.Data); err != nil {
		if errors.Is(err, ErrDataChanged) {
			return fmt.Errorf("merge: %s: %w", c.batch.Data, ErrDataChanged)
		}
		return fmt.Errorf("merge: %s: %w: %w", c.batch.Data, ErrDataChanged, err)
	}
	return nil
}
