package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file that is not a journal is refused and left exactly as it was,
// whatever it holds: one line without a newline at the end used to be read
// as a torn record, cut off, and written over.
func TestOpenRefusesOtherFiles(t *testing.T) {
	for name, content := range map[string]string{
		"ssh public key":          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@example.test\n",
		"ssh key without newline": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx alice@example.test",
		"csv":                     "email,name\na@example.com,Ann\n",
		"json of another kind":    `{"name":"x"}` + "\n",
		"binary with zeros":       "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00",
		"one letter":              "x",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			j, err := Open(path)
			if err == nil {
				j.Close()
				t.Fatal("Open accepted a file that is not a journal")
			}
			if !errors.Is(err, ErrNotJournal) {
				t.Errorf("Open: %v, want ErrNotJournal", err)
			}
			if _, err := ReadReport(path); !errors.Is(err, ErrNotJournal) {
				t.Errorf("ReadReport: %v, want ErrNotJournal", err)
			}
			if after, _ := os.ReadFile(path); string(after) != content {
				t.Errorf("the file changed: %q", after)
			}
		})
	}
}

// What a crash can leave of a journal's first write is still a journal:
// the beginning of a header or of a record, or the zeros of a
// preallocation.
func TestOpenTornFirstLine(t *testing.T) {
	for _, content := range []string{`{"camp`, `{"campaign":{"template":"/t`, `{"time":"2025-`, "\x00\x00\x00\x00", `{`} {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		j, err := Open(path)
		if err != nil {
			t.Errorf("Open(%q): %v", content, err)
			continue
		}
		if c := j.Campaign(); c != nil {
			t.Errorf("Open(%q): campaign %s from a torn line", content, c)
		}
		j.Close()
		if after, _ := os.ReadFile(path); len(after) != 0 {
			t.Errorf("Open(%q) left %q, want the torn line cut", content, after)
		}
	}
}

func TestCampaignHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	if j.Campaign() != nil {
		t.Fatal("a new journal has a campaign")
	}
	type campaign struct {
		Template string `json:"template"`
	}
	c, err := j.SetCampaign(campaign{Template: "/srv/jan"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Add(rec("k1", Sent, "a@example.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := j.SetCampaign(campaign{Template: "/srv/mar"}); err == nil {
		t.Error("SetCampaign on a journal with records succeeded")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if first, _, _ := bytes.Cut(data, []byte("\n")); string(first) != `{"campaign":{"template":"/srv/jan"}}` {
		t.Errorf("first line %s", first)
	}
	j = openTestJournal(t, path)
	var got campaign
	if err := json.Unmarshal(j.Campaign(), &got); err != nil || got.Template != "/srv/jan" {
		t.Errorf("Campaign() after reopen = %s (%v)", j.Campaign(), err)
	}
	if tot := j.Totals(); tot != (Totals{Sent: 1}) {
		t.Errorf("Totals = %+v", tot)
	}
	rep, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(rep.Campaign) != `{"template":"/srv/jan"}` || rep.Totals != (Totals{Sent: 1}) {
		t.Errorf("report: campaign %s, totals %+v", rep.Campaign, rep.Totals)
	}
}

// SentSince sees the recipients sent in the last 24 hours, by earlier runs
// too, and nothing older.
func TestSentSince(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	now := time.Now().UTC()
	add := func(at time.Time, st Status, to ...string) {
		r := rec("k"+at.String()+to[0], st, to...)
		r.Time = at
		if _, err := j.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	add(now.Add(-30*time.Hour), Sent, "old@example.com")
	add(now.Add(-2*time.Hour), Sent, "a@example.com", "b@example.com")
	add(now.Add(-time.Hour), Failed, "c@example.com")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openTestJournal(t, path)
	add(now, Sent, "d@example.com")
	got := j.SentSince(now.Add(-24 * time.Hour))
	n := 0
	for _, s := range got {
		n += s.Recipients
	}
	if n != 3 || len(got) != 2 {
		t.Errorf("SentSince(24 h ago) = %+v, want 2 then 1 recipients", got)
	}
	if got := j.SentSince(now.Add(-time.Minute)); len(got) != 1 || got[0].Recipients != 1 {
		t.Errorf("SentSince(a minute ago) = %+v", got)
	}
}

// SentSince keeps the relays apart: records of one second through two
// relays, interleaved, give one stamp per relay, each with its own count,
// in a reopened journal too.
func TestSentSinceByRelay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	now := time.Now().UTC().Truncate(time.Second).Add(100 * time.Millisecond)
	for i, relay := range []string{"a", "b", "a", "a", "b", ""} {
		r := rec(fmt.Sprint("k", i), Sent, fmt.Sprintf("r%d@example.com", i))
		r.Time, r.Relay = now.Add(time.Duration(i)*time.Millisecond), relay
		if _, err := j.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = openTestJournal(t, path)
	got := make(map[string]int)
	for _, s := range j.SentSince(now.Add(-time.Hour)) {
		if _, dup := got[s.Relay]; dup {
			t.Errorf("two stamps for relay %q in one second", s.Relay)
		}
		got[s.Relay] += s.Recipients
	}
	if want := map[string]int{"a": 3, "b": 2, "": 1}; !maps.Equal(got, want) {
		t.Errorf("recipients by relay %v, want %v", got, want)
	}
}
