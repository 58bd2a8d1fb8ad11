package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestJournalLazyOutcomes checks when a group is written: an intent at
// once, other records with the next intent, on Wait, Sync or Close, or
// after the lazy delay; and that every record is durable before its
// Commit is done.
func TestJournalLazyOutcomes(t *testing.T) {
	const never = time.Hour
	tests := []struct {
		name  string
		lazy  time.Duration
		in    []Status
		wait  string // "done": the last Commit's channel; "wait": Commit.Wait; "sync": File.Sync; "close": File.Close
		syncs int64
	}{
		{"an intent is written at once", never, []Status{Intent}, "done", 1},
		{"an outcome shares the next intent's write", never, []Status{Sent, Failed, Intent}, "done", 1},
		{"an outcome alone is written after the delay", time.Millisecond, []Status{Sent}, "done", 1},
		{"Wait writes an outcome at once", never, []Status{Sent, Deferred}, "wait", 1},
		{"Sync writes outcomes at once", never, []Status{Unknown, Sent}, "sync", 1},
		{"Close writes outcomes", never, []Status{Sent}, "close", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "j")
			j := openTestJournal(t, path)
			j.lazyDelay = tt.lazy
			var c *Commit
			for i, st := range tt.in {
				var err error
				if c, err = j.Add(rec("k"+string(rune('a'+i)), st, "a@example.com")); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			switch tt.wait {
			case "done":
				select {
				case <-c.Done():
					err = c.Err()
				case <-ctx.Done():
					t.Fatal("the group was not written")
				}
			case "wait":
				err = c.Wait(ctx)
			case "sync":
				err = j.Sync(ctx)
			case "close":
				err = j.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := j.Syncs(); got != tt.syncs {
				t.Errorf("%d writes, want %d", got, tt.syncs)
			}
			if n := countRecords(t, path); n != len(tt.in) {
				t.Errorf("%d records in the file once durable, want %d", n, len(tt.in))
			}
		})
	}
}

// countRecords counts the records in the journal file at path, as a
// reader after a crash would find them (the file may end in zeros).
func countRecords(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	if _, err := readRecords(f, path, func(*Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// failingAppender fails every write, as a full or failing disk would.
type failingAppender struct{ err error }

func (a failingAppender) append([]byte) error { return a.err }
func (a failingAppender) close() error        { return nil }

// TestJournalWriteErrorStops checks that a failed write fails its Commit
// and every Commit after it, lazy or not, without waiting for the lazy
// delay, and that nothing is added after.
func TestJournalWriteErrorStops(t *testing.T) {
	errDisk := errors.New("disk on fire")
	tests := []struct {
		name string
		in   []Status
	}{
		{"intent", []Status{Intent}},
		{"outcomes then an intent", []Status{Sent, Deferred, Intent}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := openTestJournal(t, filepath.Join(t.TempDir(), "j"))
			j.lazyDelay = time.Hour
			real := j.out
			j.out = failingAppender{errDisk}
			defer real.close()
			var commits []*Commit
			for i, st := range tt.in {
				c, err := j.Add(rec("k"+string(rune('a'+i)), st, "a@example.com"))
				if err != nil {
					t.Fatal(err)
				}
				commits = append(commits, c)
			}
			if err := commits[len(commits)-1].Wait(context.Background()); !errors.Is(err, errDisk) {
				t.Fatalf("Wait: %v, want %v", err, errDisk)
			}
			// A record added after the failure, had it been taken, would
			// have waited an hour; Add refuses it instead.
			if _, err := j.Add(rec("later", Sent, "a@example.com")); !errors.Is(err, errDisk) {
				t.Errorf("Add after a failed write: %v, want %v", err, errDisk)
			}
			for i, c := range commits {
				select {
				case <-c.Done():
					if !errors.Is(c.Err(), errDisk) {
						t.Errorf("commit %d: %v, want %v", i, c.Err(), errDisk)
					}
				default:
					t.Errorf("commit %d not done after a later one failed", i)
				}
			}
			if err := j.Sync(context.Background()); !errors.Is(err, errDisk) {
				t.Errorf("Sync: %v, want %v", err, errDisk)
			}
			if err := j.Close(); err == nil || !strings.Contains(err.Error(), errDisk.Error()) {
				t.Errorf("Close: %v, want %v", err, errDisk)
			}
		})
	}
}
