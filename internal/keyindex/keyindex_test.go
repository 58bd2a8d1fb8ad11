package keyindex

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// newTest returns an index in a test directory that moves to disk past
// limit entries, with slots slots a bucket (0: bucketSlots), closed at the
// end of the test.
func newTest(t testing.TB, limit, slots int) *Index {
	x := New(Options{Dir: t.TempDir(), MemoryEntries: limit})
	if slots > 0 {
		x.slots = slots
	}
	t.Cleanup(func() { x.Close() })
	return x
}

type op struct {
	kind       string // "get", "swap", "load-or-store"
	k, v       uint64
	want       uint64
	wantLoaded bool
}

func (o op) run(x *Index) (uint64, bool, error) {
	switch o.kind {
	case "get":
		return x.Get(o.k)
	case "swap":
		return x.Swap(o.k, o.v)
	case "load-or-store":
		return x.LoadOrStore(o.k, o.v)
	}
	panic("unknown op " + o.kind)
}

func TestIndexOps(t *testing.T) {
	ops := []op{
		{kind: "get", k: 1},
		{kind: "swap", k: 1, v: 10},
		{kind: "get", k: 1, want: 10, wantLoaded: true},
		{kind: "swap", k: 1, v: 11, want: 10, wantLoaded: true},
		{kind: "load-or-store", k: 1, v: 12, want: 11, wantLoaded: true},
		{kind: "get", k: 1, want: 11, wantLoaded: true},
		{kind: "load-or-store", k: 2, v: 20, want: 20},
		{kind: "get", k: 2, want: 20, wantLoaded: true},
		{kind: "get", k: 0},
		{kind: "swap", k: 0, v: 5},
		{kind: "get", k: 0, want: 5, wantLoaded: true},
		{kind: "load-or-store", k: 0, v: 6, want: 5, wantLoaded: true},
		{kind: "swap", k: 3, v: 0},
		{kind: "get", k: 3, want: 0, wantLoaded: true},
		{kind: "swap", k: ^uint64(0), v: ^uint64(0)},
		{kind: "swap", k: 4, v: 40},
		{kind: "swap", k: 5, v: 50},
		{kind: "get", k: ^uint64(0), want: ^uint64(0), wantLoaded: true},
		{kind: "get", k: 4, want: 40, wantLoaded: true},
		{kind: "get", k: 6},
	}
	for _, tt := range []struct {
		name         string
		limit, slots int
	}{
		{"memory", 0, 0},
		{"disk from the start", 1, 0},
		{"disk midway", 3, 0},
		{"tiny buckets", 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := newTest(t, tt.limit, tt.slots)
			for i, o := range ops {
				got, loaded, err := o.run(x)
				if err != nil || got != o.want || loaded != o.wantLoaded {
					t.Fatalf("op %d: %s(%d, %d) = %d, %v, %v; want %d, %v, nil", i, o.kind, o.k, o.v, got, loaded, err, o.want, o.wantLoaded)
				}
			}
			if x.Len() != 7 {
				t.Errorf("Len = %d, want 7", x.Len())
			}
			if disk := tt.limit != 0; x.OnDisk() != disk {
				t.Errorf("OnDisk = %v, want %v", x.OnDisk(), disk)
			}
		})
	}
}

// compare runs n random operations on x and on a map, over keys drawn from
// space (with key 0 now and then), and fails at the first difference. With
// widen > 0, keys are drawn from the first 8+i/widen of space at operation
// i: growths come later, with most keys in memory.
func compare(t *testing.T, x *Index, rng *rand.Rand, n int, space uint64, widen int) map[uint64]uint64 {
	t.Helper()
	m := make(map[uint64]uint64)
	for i := range n {
		draw := space
		if widen > 0 {
			draw = min(space, 8+uint64(i/widen))
		}
		k := rng.Uint64N(draw) * 0x9e3779b97f4a7c15 // spread, but keep 0
		v := rng.Uint64()
		switch rng.IntN(3) {
		case 0:
			got, ok, err := x.Get(k)
			want, wantOK := m[k]
			if err != nil || got != want || ok != wantOK {
				t.Fatalf("op %d: Get(%#x) = %d, %v, %v; want %d, %v", i, k, got, ok, err, want, wantOK)
			}
		case 1:
			got, ok, err := x.Swap(k, v)
			want, wantOK := m[k]
			m[k] = v
			if err != nil || got != want || ok != wantOK {
				t.Fatalf("op %d: Swap(%#x) = %d, %v, %v; want %d, %v", i, k, got, ok, err, want, wantOK)
			}
		case 2:
			got, ok, err := x.LoadOrStore(k, v)
			want, wantOK := m[k]
			if !wantOK {
				want, m[k] = v, v
			}
			if err != nil || got != want || ok != wantOK {
				t.Fatalf("op %d: LoadOrStore(%#x) = %d, %v, %v; want %d, %v", i, k, got, ok, err, want, wantOK)
			}
		}
		if x.Len() != len(m) {
			t.Fatalf("op %d: Len = %d, want %d", i, x.Len(), len(m))
		}
	}
	for k, want := range m {
		if got, ok, err := x.Get(k); err != nil || !ok || got != want {
			t.Fatalf("Get(%#x) = %d, %v, %v; want %d, true", k, got, ok, err, want)
		}
	}
	return m
}

func TestIndexLikeMap(t *testing.T) {
	for _, tt := range []struct {
		name         string
		limit, slots int
		n            int
		space        uint64
		widen        int
		wantBuckets  int64
	}{
		{"memory", 0, 0, 20000, 10000, 0, 0},
		{"disk, grows", 16, 0, 200000, 100000, 0, 512},
		{"disk, moved when large", 5000, 0, 200000, 100000, 0, 512},
		{"small buckets spill", 16, 4, 100000, 20000, 0, 8192},
		{"one slot a bucket", 16, 1, 50000, 5000, 0, 8192},
		{"spilled keys in memory as it grows", 32, 1, 50000, 1000, 64, 1024},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := newTest(t, tt.limit, tt.slots)
			compare(t, x, rand.New(rand.NewPCG(1, uint64(tt.limit))), tt.n, tt.space, tt.widen)
			if x.buckets != tt.wantBuckets {
				t.Errorf("%d buckets, want %d", x.buckets, tt.wantBuckets)
			}
			if tt.slots > 0 && len(x.spill) == 0 {
				t.Errorf("nothing spilled from full buckets")
			}
		})
	}
}

func TestIndexKeyZero(t *testing.T) {
	x := newTest(t, 2, 0)
	if _, ok, _ := x.Get(0); ok {
		t.Fatal("Get(0) found a value in an empty index")
	}
	x.Swap(0, 7)
	for k := uint64(1); k < 1000; k++ { // to disk, and through two growths
		x.Swap(k, k)
	}
	if v, ok, err := x.Get(0); v != 7 || !ok || err != nil {
		t.Fatalf("Get(0) = %d, %v, %v; want 7, true, nil", v, ok, err)
	}
	if v, ok, err := x.Swap(0, 8); v != 7 || !ok || err != nil {
		t.Fatalf("Swap(0, 8) = %d, %v, %v; want 7, true, nil", v, ok, err)
	}
	if x.Len() != 1000 || !x.OnDisk() || x.buckets != 8 {
		t.Fatalf("Len %d, OnDisk %v, %d buckets; want 1000, true, 8", x.Len(), x.OnDisk(), x.buckets)
	}
}

func TestIndexCloseRemovesFile(t *testing.T) {
	dir := t.TempDir()
	x := New(Options{Dir: dir, MemoryEntries: 16})
	for k := range uint64(10000) {
		if _, _, err := x.Swap(k, k); err != nil {
			t.Fatal(err)
		}
	}
	if !x.OnDisk() {
		t.Fatal("not on disk")
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("while open, %s holds %v; want nothing", dir, names)
	}
	info, err := x.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", info.Mode().Perm())
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Errorf("after Close, %s holds %v; want nothing", dir, names)
	}
	if _, _, err := x.Get(1); err == nil {
		t.Error("Get after Close did not fail")
	}
	if err := x.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestIndexErrors(t *testing.T) {
	t.Run("no directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "gone")
		x := New(Options{Dir: dir, MemoryEntries: 1})
		defer x.Close()
		if _, _, err := x.Swap(1, 1); err != nil {
			t.Fatalf("in memory: %v", err)
		}
		_, _, err := x.Swap(2, 2)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Swap moving to %s: %v; want an error wrapping ErrNotExist", dir, err)
		}
		if _, _, err2 := x.Get(1); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("Get after the error: %v; want %v", err2, err)
		}
	})
	t.Run("read fails", func(t *testing.T) {
		x := newTest(t, 1, 0)
		x.Swap(1, 1)
		x.Swap(2, 2)
		x.f.Close() // the next read fails
		for _, o := range []op{{kind: "get", k: 1}, {kind: "swap", k: 3}, {kind: "load-or-store", k: 1}} {
			if _, _, err := o.run(x); !errors.Is(err, os.ErrClosed) {
				t.Errorf("%s: %v; want an error wrapping os.ErrClosed", o.kind, err)
			}
		}
	})
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0xff, 0})
	f.Add([]byte("\x01\x00\x07\x01\x01\x07\x00\x00\x00\x02\x00\x09"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		// Small buckets, and a move to disk after 4 entries: every path in a
		// few operations.
		x := New(Options{Dir: t.TempDir(), MemoryEntries: 4})
		x.slots = 2
		defer x.Close()
		m := make(map[uint64]uint64)
		for i := 0; i+2 < len(ops); i += 3 {
			k := uint64(ops[i+1]) * 0x0101010101010101 // 0 included
			v := uint64(ops[i+2])
			want, wantOK := m[k]
			var got uint64
			var ok bool
			var err error
			switch ops[i] % 3 {
			case 0:
				got, ok, err = x.Get(k)
			case 1:
				got, ok, err = x.Swap(k, v)
				m[k] = v
			case 2:
				got, ok, err = x.LoadOrStore(k, v)
				if !wantOK {
					want, m[k] = v, v
				}
			}
			if err != nil || got != want || ok != wantOK {
				t.Fatalf("op %d (%d on %#x): %d, %v, %v; want %d, %v", i/3, ops[i]%3, k, got, ok, err, want, wantOK)
			}
			if x.Len() != len(m) {
				t.Fatalf("op %d: Len %d, want %d", i/3, x.Len(), len(m))
			}
		}
	})
}

var benchBig = flag.Bool("big", false, "BenchmarkIndex also at 10M entries (about a minute to fill)")

// BenchmarkIndex measures Get and Swap of keys present in an index of 1M
// (and, with -big, 10M) entries, all in memory, or with the default bound
// (Get then reads the file; Swap reads it too, and merges its map into the
// file every DefaultMemoryEntries new values).
func BenchmarkIndex(b *testing.B) {
	sizes := []int{1_000_000}
	if *benchBig {
		sizes = append(sizes, 10_000_000)
	}
	for _, where := range []string{"memory", "disk"} {
		for _, n := range sizes {
			limit := 0 // the default
			if where == "memory" {
				limit = n + 1
			}
			x := New(Options{Dir: b.TempDir(), MemoryEntries: limit})
			rng := rand.New(rand.NewPCG(1, 2))
			keys := make([]uint64, n)
			for i := range keys {
				keys[i] = rng.Uint64()
				x.Swap(keys[i], uint64(i))
			}
			if where == "disk" {
				if err := x.merge(); err != nil { // mem empty: every Get reads the file
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("%s/%dM/Get", where, n/1_000_000), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, ok, err := x.Get(keys[uint(i*7919)%uint(n)]); !ok || err != nil {
						b.Fatal(ok, err)
					}
				}
			})
			b.Run(fmt.Sprintf("%s/%dM/Swap", where, n/1_000_000), func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if _, ok, err := x.Swap(keys[uint(i*7919)%uint(n)], uint64(i)); !ok || err != nil {
						b.Fatal(ok, err)
					}
				}
			})
			x.Close()
		}
	}
}
