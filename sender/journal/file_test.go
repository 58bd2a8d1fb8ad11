package journal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailshot/mailshot/internal/keyindex"
)

func openTestJournal(t testing.TB, path string) *File {
	t.Helper()
	j, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// addWait adds r and waits until it is durable.
func addWait(j *File, r *Record) error {
	c, err := j.Add(r)
	if err != nil {
		return err
	}
	return c.Wait(context.Background())
}

func appendAll(t testing.TB, j *File, recs ...*Record) {
	t.Helper()
	for _, r := range recs {
		if err := addWait(j, r); err != nil {
			t.Fatal(err)
		}
	}
}

// readLines decodes a journal file independently of the package: one JSON
// object per line, each line ending in a newline.
func readLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("%s does not end with a newline", path)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %q: %v", path, sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestJournalRecordsAreJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	when := time.Date(2025, 3, 1, 12, 0, 0, 0, time.FixedZone("x", 3600))
	appendAll(t, j,
		&Record{Time: when, Row: 2, Key: "a@example.com", Recipients: []string{"a@example.com"}, Status: Intent, Attempts: 1, MessageID: "<1@example.com>", Fingerprint: "f1"},
		&Record{Time: when, Row: 2, Key: "a@example.com", Recipients: []string{"a@example.com"}, Status: Failed, Code: 550, Enhanced: "5.1.1", Reply: "no such user\nreally", Attempts: 1, MessageID: "<1@example.com>", Fingerprint: "f1"},
	)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	want := map[string]any{
		"time": "2025-03-01T11:00:00Z", "row": 2.0, "key": "a@example.com", "recipients": []any{"a@example.com"},
		"status": "failed", "code": 550.0, "enhanced": "5.1.1", "reply": "no such user\nreally", "attempts": 1.0,
		"message_id": "<1@example.com>", "fingerprint": "f1",
	}
	if got := fmt.Sprint(lines[1]); got != fmt.Sprint(want) {
		t.Errorf("record = %s\nwant     %s", got, fmt.Sprint(want))
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("journal mode %v, want 0600", perm)
	}
}

func TestJournalRejectsInvalidRecords(t *testing.T) {
	j := openTestJournal(t, filepath.Join(t.TempDir(), "j"))
	for _, r := range []*Record{
		{Key: "k", Recipients: []string{"a@example.com"}, Status: "done"},
		{Key: "k", Status: Sent},
	} {
		if err := addWait(j, r); err == nil {
			t.Errorf("Append(%+v) succeeded", r)
		}
	}
}

func rec(key string, st Status, to ...string) *Record {
	return &Record{Key: key, Recipients: to, Status: st, Fingerprint: "fp-" + key}
}

func TestJournalPending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	appendAll(t, j,
		rec("k1", Intent, "sent@example.com", "failed@example.com", "deferred@example.com", "unknown@example.com", "crashed@example.com"),
		rec("k1", Sent, "Sent@Example.com"),
		rec("k1", Failed, "failed@example.com"),
		rec("k1", Deferred, "deferred@example.com"),
		rec("k1", Unknown, "unknown@example.com"),
		// crashed@example.com keeps its intent: unknown.
		rec("k2", Failed, "later-sent@example.com"),
		rec("k2", Sent, "later-sent@example.com"),
	)
	// Reopen: the index must come from the file, not from memory.
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openTestJournal(t, path)

	all := []string{"sent@example.com", "failed@example.com", "deferred@example.com", "unknown@example.com", "crashed@example.com", "new@example.com"}
	tests := []struct {
		policy ResumePolicy
		want   Resume
	}{
		{ResumePolicy{}, Resume{Send: []string{"deferred@example.com", "new@example.com"}, Sent: 1, Failed: 1, Unknown: 2}},
		{ResumePolicy{RetryFailed: true}, Resume{Send: []string{"failed@example.com", "deferred@example.com", "new@example.com"}, Sent: 1, Unknown: 2}},
		{ResumePolicy{ResendUnknown: true}, Resume{Send: []string{"deferred@example.com", "unknown@example.com", "crashed@example.com", "new@example.com"}, Sent: 1, Failed: 1}},
		{ResumePolicy{true, true}, Resume{Send: []string{"failed@example.com", "deferred@example.com", "unknown@example.com", "crashed@example.com", "new@example.com"}, Sent: 1}},
	}
	for _, tt := range tests {
		got := j.Pending("k1", all, "fp-k1", tt.policy)
		if !slices.Equal(got.Send, tt.want.Send) || got.Sent != tt.want.Sent || got.Failed != tt.want.Failed || got.Unknown != tt.want.Unknown || got.Changed {
			t.Errorf("Pending(%+v) = %+v\nwant %+v", tt.policy, got, tt.want)
		}
	}
	// The same address under another key is another recipient.
	if got := j.Pending("k3", []string{"sent@example.com"}, "", ResumePolicy{}); !slices.Equal(got.Send, []string{"sent@example.com"}) {
		t.Errorf("Pending under another key = %+v, want it sent", got)
	}
	// The latest record wins.
	if got := j.Pending("k2", []string{"later-sent@example.com"}, "fp-k2", ResumePolicy{RetryFailed: true}); len(got.Send) != 0 || got.Sent != 1 {
		t.Errorf("Pending(k2) = %+v, want it sent already", got)
	}
	// A changed row is noticed, and still not sent.
	if got := j.Pending("k1", []string{"sent@example.com"}, "edited", ResumePolicy{true, true}); len(got.Send) != 0 || !got.Changed {
		t.Errorf("Pending(changed) = %+v, want Changed and nothing to send", got)
	}
	want := Totals{Sent: 2, Failed: 1, Deferred: 1, Unknown: 2}
	if got := j.Totals(); got != want {
		t.Errorf("Totals() = %+v, want %+v", got, want)
	}
}

// TestJournalIndexOnDisk resumes from a journal whose index moved to disk
// (past 16 entries) exactly as from one whose index is in memory: the
// same Pending for every message under every policy, and the same Totals,
// both for the records loaded and for those added during the run. No file
// is left beside the journal.
func TestJournalIndexOnDisk(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	const keys = 300
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []*Record
	for i := range 2000 {
		key := fmt.Sprintf("k%d", rng.IntN(keys))
		to := []string{key + "@example.com"}
		if i%3 == 0 {
			to = append(to, fmt.Sprintf("CC%d@Example.com", rng.IntN(5)))
		}
		r := rec(key, []Status{Intent, Sent, Failed, Deferred, Unknown}[rng.IntN(5)], to...)
		if i%11 == 0 {
			r.Fingerprint = "an earlier version"
		}
		recs = append(recs, r)
	}
	// state is what a resumed run asks of j.
	state := func(j *File) string {
		var b strings.Builder
		for k := range keys {
			key := fmt.Sprintf("k%d", k)
			to := []string{key + "@example.com", "cc0@example.com", "cc1@example.com", "cc2@example.com", "cc3@example.com", "cc4@example.com"}
			for _, p := range []ResumePolicy{{}, {RetryFailed: true}, {ResendUnknown: true}, {true, true}} {
				fmt.Fprintf(&b, "%s %+v: %+v\n", key, p, j.Pending(key, to, "fp-"+key, p))
			}
		}
		fmt.Fprintf(&b, "%+v\n", j.Totals())
		return b.String()
	}
	openOnDisk := func() *File {
		j, err := indexOpen(path, keyindex.Options{Dir: dir, MemoryEntries: 16})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	j := openTestJournal(t, path)
	appendAll(t, j, recs[:1000]...)
	j.Close()
	j = openTestJournal(t, path)
	want := state(j)
	j.Close()

	j = openOnDisk()
	if !j.index.OnDisk() {
		t.Fatal("the index did not move to disk")
	}
	if got := state(j); got != want {
		t.Errorf("loaded into an index on disk, the journal says\n%s\nwant\n%s", got, want)
	}
	appendAll(t, j, recs[1000:]...)
	atRun := state(j)
	if names := indexDirNames(t, dir); !slices.Equal(names, []string{"j"}) {
		t.Errorf("while open, the directory holds %v; want only the journal", names)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if names := indexDirNames(t, dir); !slices.Equal(names, []string{"j"}) {
		t.Errorf("after Close, the directory holds %v; want only the journal", names)
	}
	j = openTestJournal(t, path)
	if want := state(j); atRun != want {
		t.Errorf("after records added to an index on disk, the journal says\n%s\nwant, as read from the file,\n%s", atRun, want)
	}
}

func indexDirNames(t *testing.T, dir string) []string {
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

// TestJournalIndexFails checks what an index that cannot be written does
// (here: its directory is gone when it moves to disk): Open fails; during
// a run, the Add that meets it and every later one fail, Pending sends
// nobody, and Sync and Close return the error.
func TestJournalIndexFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j")
	broken := keyindex.Options{Dir: filepath.Join(dir, "gone"), MemoryEntries: 2}

	j, err := indexOpen(path, broken)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, j, rec("k1", Sent, "a@example.com"), rec("k2", Failed, "b@example.com"))
	if _, err := j.Add(rec("k3", Intent, "c@example.com")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Add moving the index to a missing directory: %v; want an error wrapping ErrNotExist", err)
	}
	if _, err := j.Add(rec("k1", Sent, "a@example.com")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Add after the index failed: %v; want the index's error", err)
	}
	got := j.Pending("k3", []string{"c@example.com", "d@example.com"}, "", ResumePolicy{true, true})
	if want := (Resume{Unknown: 2}); !reflect.DeepEqual(got, want) {
		t.Errorf("Pending with a failed index = %+v, want %+v", got, want)
	}
	if err := j.Sync(context.Background()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Sync: %v; want the index's error", err)
	}
	if err := j.Close(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close: %v; want the index's error", err)
	}
	if lines := readLines(t, path); len(lines) != 2 {
		t.Errorf("the journal holds %d records, want the 2 added before the index failed", len(lines))
	}

	j = openTestJournal(t, path)
	appendAll(t, j, rec("k3", Sent, "c@example.com"))
	j.Close()
	if j, err := indexOpen(path, broken); !errors.Is(err, fs.ErrNotExist) {
		if err == nil {
			j.Close()
		}
		t.Fatalf("Open with an index that cannot move to disk: %v; want an error wrapping ErrNotExist", err)
	}
	openTestJournal(t, path) // not left locked
}

// journalBytes returns the bytes of a journal holding recs, and the offset
// at which each record's line ends.
func journalBytes(t *testing.T, recs ...*Record) ([]byte, []int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	appendAll(t, j, recs...)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i+1)
		}
	}
	return data, ends
}

// TestJournalTornTail cuts a journal at every byte, as a crash in the
// middle of a write could, and checks that it opens with exactly the
// complete lines, cuts off the rest, and appends cleanly after it.
func TestJournalTornTail(t *testing.T) {
	data, ends := journalBytes(t,
		rec("k1", Intent, "a@example.com", "b@example.com"),
		rec("k1", Sent, "a@example.com"),
		rec("k1", Failed, "b@example.com"),
		rec("k2", Intent, "c@example.com"),
	)
	dir := t.TempDir()
	for n := 0; n <= len(data); n++ {
		path := filepath.Join(dir, strconv.Itoa(n))
		if err := os.WriteFile(path, data[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path)
		if err != nil {
			t.Fatalf("cut at %d: %v", n, err)
		}
		complete := 0
		for _, e := range ends {
			if e <= n {
				complete = e
			}
		}
		if info, err := os.Stat(path); err != nil || info.Size() != int64(complete) {
			t.Fatalf("cut at %d: size after open %v, %v; want %d", n, info.Size(), err, complete)
		}
		// Expected state from the complete lines only.
		want := Totals{}
		switch {
		case complete >= ends[3]:
			want = Totals{Sent: 1, Failed: 1, Unknown: 1}
		case complete >= ends[2]:
			want = Totals{Sent: 1, Failed: 1}
		case complete >= ends[1]:
			want = Totals{Sent: 1, Unknown: 1}
		case complete >= ends[0]:
			want = Totals{Unknown: 2}
		}
		if got := j.Totals(); got != want {
			t.Fatalf("cut at %d: Totals() = %+v, want %+v", n, got, want)
		}
		appendAll(t, j, rec("k9", Sent, "z@example.com"))
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		lines := readLines(t, path)
		if last := lines[len(lines)-1]; last["key"] != "k9" {
			t.Fatalf("cut at %d: last line %v", n, last)
		}
	}
}

func TestJournalTornTailVariants(t *testing.T) {
	good, _ := journalBytes(t, rec("k1", Sent, "a@example.com"))
	for name, tail := range map[string]string{
		"no newline":             `{"time":"2025-01-01T00:00:00Z","key":"k2","recipients":["b@example.com"],"status":"sent"}`,
		"zeros":                  "\x00\x00\x00\x00",
		"half a record, zeros":   `{"time":"2025-01-01T00:00:00Z","key":"k2","recip` + "\x00\x00\x00\x00",
		"zeros, a record, zeros": "\x00\x00\n" + `{"time":"2025-01-01T00:00:00Z","key":"k2","recipients":["b@example.com"],"status":"sent"}` + "\n\x00\x00",
		"half a record, newline": `{"time":"2025-01-01T00:00:00Z","key":"k2","recip` + "\n",
	} {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, append(slices.Clone(good), tail...), 0o600); err != nil {
			t.Fatal(err)
		}
		j := openTestJournal(t, path)
		if got := j.Totals(); got != (Totals{Sent: 1}) {
			t.Errorf("%s: Totals() = %+v, want one sent", name, got)
		}
	}
}

func TestJournalCorruptMiddleLine(t *testing.T) {
	good, _ := journalBytes(t, rec("k1", Sent, "a@example.com"))
	data := slices.Concat(good, []byte("{not json}\n"), good)
	path := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Fatalf("Open of a journal with a corrupt second line: %v, want an error at line 2", err)
	}
	// Nothing was cut.
	if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
		t.Error("Open modified a corrupt journal")
	}
}

func TestJournalLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	if j2, err := Open(path); err == nil {
		j2.Close()
		t.Fatal("a second Open of the same file succeeded")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j2 := openTestJournal(t, path)
	if err := addWait(j2, rec("k", Sent, "a@example.com")); err != nil {
		t.Fatal(err)
	}
	if err := addWait(j, rec("k", Sent, "a@example.com")); err == nil {
		t.Error("Append after Close succeeded")
	}
}

// TestJournalGroupCommit appends from many goroutines at once and checks
// that fewer fsyncs than records made them all durable, in whole lines.
func TestJournalGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	const writers, each = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := rec(fmt.Sprintf("k%d-%d", w, i), Sent, fmt.Sprintf("r%d-%d@example.com", w, i))
				if err := addWait(j, r); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	syncs := j.syncs.Load()
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(readLines(t, path)); n != writers*each {
		t.Fatalf("%d lines, want %d", n, writers*each)
	}
	if syncs >= writers*each {
		t.Errorf("%d fsyncs for %d records: no group commit", syncs, writers*each)
	}
	t.Logf("%d records, %d fsyncs", writers*each, syncs)
}

// TestJournalCommitsInOrder checks that a Commit is done only once its
// record is in the file, and only after every earlier Commit.
func TestJournalCommitsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	var commits []*Commit
	for i := range 100 {
		c, err := j.Add(rec(strconv.Itoa(i), Sent, "a@example.com"))
		if err != nil {
			t.Fatal(err)
		}
		commits = append(commits, c)
	}
	for i, c := range commits {
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(path)
		if !bytes.Contains(data, []byte(`"key":"`+strconv.Itoa(i)+`"`)) {
			t.Errorf("commit of record %d done before it was written", i)
		}
		for k, earlier := range commits[:i] {
			select {
			case <-earlier.Done():
			default:
				t.Fatalf("commit %d done before commit %d", i, k)
			}
		}
	}
}

// TestJournalKilled runs a child process that appends records and reports
// each one durable on stdout, kills it with SIGKILL in the middle, and
// checks that the journal opens with every acknowledged record.
func TestJournalKilled(t *testing.T) {
	if os.Getenv("SENDER_JOURNAL_CHILD") != "" {
		journalChild()
		return
	}
	path := filepath.Join(t.TempDir(), "j")
	cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKilled$")
	cmd.Env = append(os.Environ(), "SENDER_JOURNAL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, err := strconv.Atoi(sc.Text()); err == nil {
			acked = max(acked, n+1)
		}
		if acked >= 500 {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if acked < 500 {
		t.Fatalf("child acknowledged only %d records", acked)
	}
	j := openTestJournal(t, path)
	for i := range acked {
		if got := j.Pending("k"+strconv.Itoa(i), []string{"a@example.com"}, "", ResumePolicy{}); got.Sent != 1 {
			t.Fatalf("record %d was acknowledged durable but is not in the journal: %+v", i, got)
		}
	}
	t.Logf("%d acknowledged, %d in the journal", acked, j.Totals().Sent)
}

// journalChild appends records from 4 goroutines forever, printing the
// number of each one once durable.
func journalChild() {
	j, err := Open(os.Getenv("SENDER_JOURNAL_CHILD"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if err := addWait(j, rec("k"+strconv.Itoa(i), Sent, "a@example.com")); err != nil {
					os.Exit(1)
				}
				mu.Lock()
				fmt.Println(i)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func FuzzReadRecords(f *testing.F) {
	f.Add([]byte(`{"time":"2025-01-01T00:00:00Z","row":2,"key":"k","recipients":["a@example.com"],"status":"sent","code":250}` + "\n"))
	f.Add([]byte(`{"key":"k","recipients":["a@example.com"],"status":"intent"}` + "\n" + `{"key":"k","recip`))
	f.Add([]byte("\n\n{}\n"))
	f.Add([]byte{0, 0, '\n', '{'})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		good, err := readRecords(bytes.NewReader(data), "fuzz", func(r *Record) error {
			if r.check() != nil {
				t.Fatalf("readRecords passed on an invalid record %+v", r)
			}
			n++
			return nil
		})
		if err != nil {
			return
		}
		if good < 0 || good > int64(len(data)) || good > 0 && data[good-1] != '\n' {
			t.Fatalf("good offset %d of %d bytes", good, len(data))
		}
		// The good prefix reads back whole, with the same records.
		m := 0
		again, err := readRecords(bytes.NewReader(data[:good]), "fuzz", func(*Record) error { m++; return nil })
		if err != nil || again != good || m != n {
			t.Fatalf("prefix re-read: good %d→%d, records %d→%d, %v", good, again, n, m, err)
		}
	})
}

// BenchmarkJournalIndex measures the memory the journal's index takes per
// journalled recipient, loading a journal of one million recipients.
func BenchmarkJournalIndex(b *testing.B) {
	const n = 1_000_000
	path := filepath.Join(b.TempDir(), "j")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	for i := range n {
		fmt.Fprintf(w, `{"time":"2025-01-01T00:00:00Z","row":%d,"key":"r%d@example.com","recipients":["r%d@example.com"],"status":"sent","code":250,"enhanced":"2.0.0","reply":"Ok","attempts":1,"message_id":"<%d@example.com>","fingerprint":"%016x"}`+"\n", i+2, i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	b.ResetTimer()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		j, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MB/1M-recipients")
		runtime.KeepAlive(j)
		j.Close()
	}
}

// TestJournalDamagedInTheMiddle zeroes octets inside a journal, as a bad
// sector or a file system repair can: opening it, or reporting on it, is
// an error that leaves the file as it is, rather than losing the records
// after the damage (and sending those recipients again). With zeros at the
// end too, as an open journal has, damage further back than one write can
// tear is still an error. (Found in review.)
func TestJournalDamagedInTheMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	for i := range 300 {
		r := rec("k"+strconv.Itoa(i), Sent, "a@example.com")
		r.Reply = strings.Repeat("a long reply ", 700)
		appendAll(t, j, r)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, damage := range map[string]func([]byte) []byte{
		"closed journal": func(b []byte) []byte { clear(b[100:140]); return b },
		// Zeros then data to the end: not a tail the appenders leave,
		// whose writes are always followed by zeros.
		"zeros, then a newline": func(b []byte) []byte { return append(b, 0, 0, 0, 0, '\n') },
		"open journal, far back": func(b []byte) []byte {
			clear(b[100:140])
			return append(b, make([]byte, 3*directAlign)...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			data := damage(bytes.Clone(clean))
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if j, err := Open(path); err == nil {
				j.Close()
				t.Fatal("a damaged journal opened")
			} else if !strings.Contains(err.Error(), "damaged") {
				t.Errorf("error %q does not say the journal is damaged", err)
			}
			if _, err := ReadReport(path); err == nil {
				t.Error("a damaged journal was reported on")
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Error("the damaged journal was changed")
			}
		})
	}
	if len(clean) < 2*maxTornSpan {
		t.Fatalf("%d octets: too few for the far-back case", len(clean))
	}
}
