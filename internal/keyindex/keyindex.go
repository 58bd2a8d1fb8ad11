// Package keyindex maps 64-bit keys to 64-bit values in memory that does
// not grow with the number of keys, for the indexes that hold one entry per
// row or recipient of a batch (the journal's, the duplicate check's).
//
// An [Index] keeps the entries stored last in a Go map of a bounded size.
// While the index is small, that is all of it. When the map is full, its
// entries are merged into a hash table in a temporary file, and the map
// starts again empty. The file is read a bucket at a time with pread(2)
// (os.File ReadAt) to look up a key the map does not hold (the last few
// thousand answers are kept until the next merge), and read and
// written a chunk of buckets at a time, in order, to merge. It is not
// mapped: the kernel keeps the pages read in its page cache, which the
// system can reclaim, and which is not the process's resident memory. The
// file is removed from its directory as soon as it is created, so nothing
// is left behind, even after a crash.
//
// The table is open addressing with buckets of 256 slots of 16 octets (a
// mixed key, its value). A key's bucket is the top bits of its mix, so
// the merge visits the buckets in order, and doubling the table splits
// bucket i into 2i and 2i+1, in place, in one sequential pass. Within a
// bucket, slots are filled in order, and 0 marks an empty slot. Key 0,
// and the rare entry whose bucket is full, live in a small map beside the
// file.
package keyindex

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
)

// DefaultMemoryEntries is the most entries an Index keeps in its map
// (about 2 MB) when Options.MemoryEntries is 0. A larger map merges into
// the file less often, but the heap grows by a multiple of it (GOGC): at
// 1<<18, mailshot send peaked at 82 MB instead of 55 to 63.
const DefaultMemoryEntries = 1 << 16

const (
	slotSize    = 16  // octets of one slot: mixed key, value, little-endian
	bucketSlots = 256 // slots of one bucket: 4 KiB, a page
	// recentReads is the most lookups of the file kept, so that storing a
	// key just looked up (the journal: Pending, then Add) reads it once.
	recentReads = 4096
	// chunkSize is about the most octets of the file read or written at
	// once when merging or growing.
	chunkSize = 256 << 10
)

// Options configure an Index.
type Options struct {
	// Dir is the directory of the temporary file; "" means os.TempDir().
	Dir string
	// MemoryEntries is the most entries kept in memory, and so the
	// entries of an index that never needs its file; 0 means
	// DefaultMemoryEntries.
	MemoryEntries int
}

// Index maps uint64 keys to uint64 values. It holds the entries stored
// last in memory and the others in a temporary file (see the package
// documentation).
//
// An I/O error of the file is returned by the call that met it, and by
// every call after it: the table may then be half written, so the index is
// not used again. An Index is not safe for concurrent use. Close it to
// remove its file.
type Index struct {
	dir   string
	limit int               // most entries in mem
	mem   map[uint64]uint64 // mixed key -> value: the entries stored since the last merge
	n     int               // keys in all

	f       *os.File
	name    string            // the file's name if it could not be removed at once, else ""
	buckets int64             // a power of 2; 0 before the first merge
	shift   uint              // 64 - log2(buckets): a mixed key's top bits pick its bucket
	slots   int               // slots per bucket: bucketSlots, but for tests
	spill   map[uint64]uint64 // merged entries that are not in the table: key 0, and those of full buckets
	buf     []byte            // one bucket
	recent  map[uint64]found  // what the file said of the keys read since the last merge
	err     error             // the first I/O error, or errClosed
}

// found is what the file says of a key: its value, if it holds one.
type found struct {
	v  uint64
	ok bool
}

var errClosed = errors.New("keyindex: closed")

// New returns an empty index with the options o. It creates its file only
// when it first needs it.
func New(o Options) *Index {
	x := &Index{dir: o.Dir, limit: o.MemoryEntries, slots: bucketSlots}
	if x.dir == "" {
		x.dir = os.TempDir()
	}
	if x.limit <= 0 {
		x.limit = DefaultMemoryEntries
	}
	return x
}

// Len returns the number of keys stored.
func (x *Index) Len() int { return x.n }

// OnDisk reports whether the index has created its file.
func (x *Index) OnDisk() bool { return x.f != nil }

// Get returns the value stored for k, and whether there is one.
func (x *Index) Get(k uint64) (v uint64, ok bool, err error) {
	if x.err != nil {
		return 0, false, x.err
	}
	h := mix(k)
	if v, ok = x.mem[h]; ok {
		return v, true, nil
	}
	return x.merged(h)
}

// Swap stores v for k and returns the value it replaces, if any.
func (x *Index) Swap(k, v uint64) (old uint64, loaded bool, err error) {
	return x.store(mix(k), v, true)
}

// LoadOrStore returns the value stored for k if there is one; otherwise it
// stores v and returns it. loaded reports which.
func (x *Index) LoadOrStore(k, v uint64) (actual uint64, loaded bool, err error) {
	actual, loaded, err = x.store(mix(k), v, false)
	if err == nil && !loaded {
		actual = v
	}
	return actual, loaded, err
}

// Close removes the index's file and forgets every entry. Later calls
// fail.
func (x *Index) Close() error {
	if x.err == errClosed {
		return nil
	}
	x.err, x.mem, x.spill, x.recent, x.buf, x.n = errClosed, nil, nil, nil, nil, 0
	if x.f == nil {
		return nil
	}
	err := x.f.Close()
	if x.name != "" {
		if rerr := os.Remove(x.name); err == nil {
			err = rerr
		}
	}
	x.f = nil
	if err != nil {
		return fmt.Errorf("keyindex: close temporary file in %s: %w", x.dir, err)
	}
	return nil
}

// store looks h up and, if it is absent or replace is set, stores v in
// mem, merging mem into the file first if it is full.
func (x *Index) store(h, v uint64, replace bool) (old uint64, loaded bool, err error) {
	if x.err != nil {
		return 0, false, x.err
	}
	if old, loaded = x.mem[h]; !loaded {
		if old, loaded, err = x.merged(h); err != nil {
			return 0, false, err
		}
		if !loaded {
			x.n++
		}
	}
	if loaded && (!replace || old == v) {
		return old, true, nil
	}
	if _, ok := x.mem[h]; !ok && len(x.mem) >= x.limit {
		if err := x.merge(); err != nil {
			return 0, false, err
		}
	}
	if x.mem == nil {
		x.mem = make(map[uint64]uint64)
	}
	x.mem[h] = v
	return old, loaded, nil
}

// merged returns the value of h in the file or spill, if any.
func (x *Index) merged(h uint64) (v uint64, ok bool, err error) {
	if x.buckets == 0 {
		return 0, false, nil
	}
	if r, seen := x.recent[h]; seen {
		return r.v, r.ok, nil
	}
	r, err := x.lookup(h)
	if err != nil {
		return 0, false, err
	}
	if len(x.recent) >= recentReads {
		clear(x.recent)
	}
	x.recent[h] = r
	return r.v, r.ok, nil
}

// lookup reads the bucket of h, and the spill if the bucket is full.
func (x *Index) lookup(h uint64) (found, error) {
	if h != 0 {
		if err := x.read(bucket(h, x.shift)*int64(len(x.buf)), x.buf); err != nil {
			return found{}, err
		}
		for i := 0; i < len(x.buf); i += slotSize {
			switch binary.LittleEndian.Uint64(x.buf[i:]) {
			case h:
				return found{binary.LittleEndian.Uint64(x.buf[i+8:]), true}, nil
			case 0:
				return found{}, nil
			}
		}
	}
	v, ok := x.spill[h]
	return found{v, ok}, nil
}

// bucket returns the bucket of the mixed key h in a table whose buckets
// are picked by its top 64-shift bits.
func bucket(h uint64, shift uint) int64 {
	return int64(h >> shift) // a shift of 64 gives bucket 0
}

// mix is a bijection of uint64 that spreads any set of keys (consecutive
// numbers, say) evenly over the buckets, and keeps 0 at 0: the finalizer
// of MurmurHash3.
func mix(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// merge writes the entries of mem into the file, creating it or doubling
// its table first when the table would be more than three-quarters full,
// and empties mem. It visits the buckets in order, a chunk at a time.
func (x *Index) merge() error {
	if x.f == nil {
		if err := x.create(); err != nil {
			return err
		}
	}
	entries := make([][2]uint64, 0, len(x.mem)+len(x.spill))
	if int64(x.n) > x.buckets*int64(x.slots)/4*3 {
		for int64(x.n) > x.buckets*int64(x.slots)/4*3 {
			if err := x.grow(); err != nil {
				return err
			}
		}
		// The spilled entries may fit in the table now (those in mem
		// have a newer value there).
		for h, v := range x.spill {
			if h == 0 {
				continue
			}
			delete(x.spill, h)
			if _, newer := x.mem[h]; !newer {
				entries = append(entries, [2]uint64{h, v})
			}
		}
	}
	for h, v := range x.mem {
		entries = append(entries, [2]uint64{h, v})
	}
	slices.SortFunc(entries, func(a, b [2]uint64) int { return cmp.Compare(a[0], b[0]) })

	size := int64(len(x.buf))
	per := max(1, chunkSize/size) // buckets in a chunk
	chunk := make([]byte, min(per, x.buckets)*size)
	for i := 0; i < len(entries); {
		first := bucket(entries[i][0], x.shift) / per * per
		end := min(first+per, x.buckets)
		c := chunk[:(end-first)*size]
		if err := x.read(first*size, c); err != nil {
			return err
		}
		for ; i < len(entries) && bucket(entries[i][0], x.shift) < end; i++ {
			h, v := entries[i][0], entries[i][1]
			if h == 0 || !put(c[(bucket(h, x.shift)-first)*size:][:size], h, v) {
				x.spill[h] = v
			}
		}
		if err := x.write(first*size, c); err != nil {
			return err
		}
	}
	clear(x.mem)
	clear(x.recent)
	return nil
}

// put stores h and v in b, a bucket: in the slot of h, or in the first
// empty slot. It reports false if b is full.
func put(b []byte, h, v uint64) bool {
	for i := 0; i < len(b); i += slotSize {
		switch binary.LittleEndian.Uint64(b[i:]) {
		case 0:
			binary.LittleEndian.PutUint64(b[i:], h)
			fallthrough
		case h:
			binary.LittleEndian.PutUint64(b[i+8:], v)
			return true
		}
	}
	return false
}

// create creates the file, and removes its name at once, with a table of
// one bucket.
func (x *Index) create() error {
	f, err := os.CreateTemp(x.dir, ".mailshot-index-*")
	if err != nil {
		return x.fail("create", err)
	}
	x.f = f
	if err := os.Remove(f.Name()); err != nil {
		x.name = f.Name() // Windows: removed by Close
	}
	x.buf = make([]byte, x.slots*slotSize)
	x.spill = make(map[uint64]uint64)
	x.recent = make(map[uint64]found)
	x.buckets, x.shift = 1, 64
	if err := x.f.Truncate(int64(len(x.buf))); err != nil {
		return x.fail("grow", err)
	}
	return nil
}

// grow doubles the table in place: from the last chunk of buckets to the
// first, old bucket i becomes new buckets 2i and 2i+1, written at or past
// where it was read, so every old bucket is read before it is written
// over. New bucket 2i or 2i+1 gets entries of old bucket i only, so it
// never overflows.
func (x *Index) grow() error {
	size := int64(len(x.buf))
	if err := x.f.Truncate(2 * x.buckets * size); err != nil {
		return x.fail("grow", err)
	}
	per := max(1, chunkSize/size)
	in := make([]byte, min(x.buckets, per)*size)
	out := make([]byte, 2*len(in))
	for end := x.buckets; end > 0; {
		first := max(0, end-per)
		c, o := in[:(end-first)*size], out[:2*(end-first)*size]
		if err := x.read(first*size, c); err != nil {
			return err
		}
		clear(o)
		for i := int64(0); i < int64(len(c)); i += slotSize {
			if h := binary.LittleEndian.Uint64(c[i:]); h != 0 {
				put(o[(bucket(h, x.shift-1)-2*first)*size:][:size], h, binary.LittleEndian.Uint64(c[i+8:]))
			}
		}
		if err := x.write(2*first*size, o); err != nil {
			return err
		}
		end = first
	}
	x.buckets *= 2
	x.shift--
	return nil
}

func (x *Index) read(off int64, b []byte) error {
	if _, err := x.f.ReadAt(b, off); err != nil {
		return x.fail("read", err)
	}
	return nil
}

func (x *Index) write(off int64, b []byte) error {
	if _, err := x.f.WriteAt(b, off); err != nil {
		return x.fail("write", err)
	}
	return nil
}

// fail makes err, met doing op on the file, the index's error from now on.
func (x *Index) fail(op string, err error) error {
	x.err = fmt.Errorf("keyindex: %s temporary file in %s: %w", op, x.dir, err)
	return x.err
}
