package merge

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dupIndexData writes a CSV of rows rows whose To repeats now and then an
// earlier row's, with the same Cc (a duplicate) or another (a conflict),
// and returns a Batch over it.
func dupIndexData(t *testing.T, rows int) *Batch {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("email,cc\n")
	for i := range rows {
		to, cc := i, i%3
		if i%5 == 4 {
			to = i * 7 % (i - 1) // an earlier row's To
			if i%10 == 9 {
				cc = (cc + 1) % 3
			}
		}
		fmt.Fprintf(&b, "r%d@example.org,cc%d@example.org\n", to, cc)
	}
	data := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl, err := LoadTemplate(writeTemplate(t, map[string]string{"message.txt": "From: x@example.org\nTo: {{.email}}\nCc: {{.cc}}\nSubject: s\n\nHi\n"}), TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &Batch{Template: tmpl, Data: data}
}

// dupIndexOutcomes lists, row by row, what Each said of the duplicates.
func dupIndexOutcomes(t *testing.T, b *Batch) []string {
	t.Helper()
	var got []string
	err := b.Each(context.Background(), func(it *Item) error {
		s := fmt.Sprintf("%d: duplicate of %d", it.Row, it.DuplicateOf)
		if it.Err != nil {
			s += ", invalid: " + it.Err.Error()
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestBatchDuplicatesOnDisk: the duplicate check finds the same
// duplicates and conflicts when it keeps the rows' keys on disk, and
// leaves no file behind.
func TestBatchDuplicatesOnDisk(t *testing.T) {
	const rows = 2000
	b := dupIndexData(t, rows)
	want := dupIndexOutcomes(t, b)
	dups := 0
	for _, s := range want {
		if !strings.HasSuffix(s, "duplicate of 0") {
			dups++
		}
	}
	if len(want) != rows || dups < rows/10 {
		t.Fatalf("%d rows, %d duplicates; want %d rows, %d or more duplicates", len(want), dups, rows, rows/10)
	}

	for _, renderers := range []int{1, 4} {
		b.IndexDir, b.dupIndexMemory, b.Renderers = t.TempDir(), 16, renderers
		if got := dupIndexOutcomes(t, b); !slices.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("renderers %d, keys on disk: %s\nwant %s", renderers, got[i], want[i])
				}
			}
		}
		if entries, _ := os.ReadDir(b.IndexDir); len(entries) != 0 {
			t.Errorf("Each left %d files in %s", len(entries), b.IndexDir)
		}
	}
}

// TestBatchDuplicateIndexFails: when the keys cannot go to disk, Each
// stops with the error at the row that needed it, which fn never sees.
func TestBatchDuplicateIndexFails(t *testing.T) {
	b := dupIndexData(t, 100)
	b.IndexDir, b.dupIndexMemory = filepath.Join(t.TempDir(), "gone"), 16
	last := 0
	err := b.Each(context.Background(), func(it *Item) error {
		last = it.Row
		return nil
	})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), fmt.Sprintf(": row %d: ", last+1)) {
		t.Errorf("Each = %v; want an error at row %d wrapping ErrNotExist", err, last+1)
	}
	if last < 17 || last > 40 {
		t.Errorf("fn saw rows up to %d, want those before the 17th key", last)
	}
}
