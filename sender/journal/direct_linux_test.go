package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// directJournal opens a journal at path and skips the test when its file
// system does not take O_DIRECT (then the portable appender is in use).
func directJournal(t *testing.T, path string) *File {
	t.Helper()
	j := openTestJournal(t, path)
	if _, ok := j.out.(*directAppender); !ok {
		t.Skipf("%s: no O_DIRECT on this file system", filepath.Dir(path))
	}
	return j
}

// TestJournalDirectCrashCopy copies a journal file while it is open, as a
// crash would leave it (records, then preallocated zeros), and checks that
// the copy reads back every durable record and no more, opens with the
// zeros cut off, and takes new records after its unaligned end.
func TestJournalDirectCrashCopy(t *testing.T) {
	dir := t.TempDir()
	j := directJournal(t, filepath.Join(dir, "j"))
	var want []string
	for i := range 50 {
		r := rec("k"+strconv.Itoa(i), Sent, "a@example.com")
		if i == 7 { // a group larger than the appender's buffer
			r.Reply = strings.Repeat("long reply ", 2000)
		}
		appendAll(t, j, r)
		want = append(want, "k"+strconv.Itoa(i))
	}
	crashed, err := os.ReadFile(j.path)
	if err != nil {
		t.Fatal(err)
	}
	end := bytes.LastIndexByte(crashed, '\n') + 1
	if len(crashed) < directChunk || len(bytes.Trim(crashed[end:], "\x00")) > 0 {
		t.Fatalf("open journal: %d octets, %d after the last record, not all zeros", len(crashed), len(crashed)-end)
	}
	copyPath := filepath.Join(dir, "copy")
	if err := os.WriteFile(copyPath, crashed, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := keysIn(t, copyPath); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("crashed journal reads back %d records, want %d", len(got), len(want))
	}

	c := directJournal(t, copyPath)
	if info, err := os.Stat(copyPath); err != nil || info.Size() != int64(end) {
		t.Fatalf("reopened: size %v, want %d (zeros cut off): %v", info.Size(), end, err)
	}
	for i := 50; i < 60; i++ {
		appendAll(t, c, rec("k"+strconv.Itoa(i), Sent, "a@example.com"))
		want = append(want, "k"+strconv.Itoa(i))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.IndexByte(data, 0) >= 0 {
		t.Fatal("a closed journal holds NUL octets")
	}
	if got := readLines(t, copyPath); len(got) != len(want) {
		t.Fatalf("closed journal has %d lines, want %d", len(got), len(want))
	}
	if got := keysIn(t, copyPath); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("records after reopening: %v, want %v", got, want)
	}
}

// TestJournalDirectTornWrite reads a journal whose last write was torn
// with a hole: some of its blocks reached the disk, an earlier one did
// not. The journal ends at the hole; what follows was never acknowledged.
func TestJournalDirectTornWrite(t *testing.T) {
	data, _ := journalBytes(t, rec("k1", Sent, "a@example.com"), rec("k2", Sent, "a@example.com"))
	later, _ := journalBytes(t, rec("k3", Sent, "a@example.com"))
	torn := append(append(append(bytes.Clone(data), make([]byte, directAlign)...), later...), make([]byte, directAlign)...)
	path := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := keysIn(t, path); strings.Join(got, " ") != "k1 k2" {
		t.Fatalf("torn journal reads back %v, want k1 k2", got)
	}
	j := openTestJournal(t, path)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Fatalf("after open and close: %q, want %q", after, data)
	}
}

// TestJournalDirectRefused gives the O_DIRECT appender a buffer out of
// alignment, so the kernel refuses its writes as it does on a file system
// with other alignment rules: the journal cuts its zeros and goes on with
// write and fdatasync, losing nothing.
func TestJournalDirectRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := directJournal(t, path)
	a := j.out.(*directAppender)
	j.mu.Lock()
	a.buf = alignedBuffer(4 * directAlign)[1 : 3*directAlign+1]
	j.mu.Unlock()
	appendAll(t, j, rec("k1", Sent, "a@example.com"), rec("k2", Failed, "b@example.com"))
	if a.fallback == nil {
		t.Fatal("a misaligned O_DIRECT write was taken: the test proves nothing")
	}
	appendAll(t, j, rec("k3", Sent, "c@example.com"))
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := keysIn(t, path); strings.Join(got, " ") != "k1 k2 k3" {
		t.Fatalf("records: %v", got)
	}
	if lines := readLines(t, path); len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
	}
}

// keysIn returns the keys of the records readRecords finds in the file.
func keysIn(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var keys []string
	if _, err := readRecords(f, path, func(r *Record) error { keys = append(keys, r.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}
