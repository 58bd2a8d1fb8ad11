package journal

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// golden compares got with testdata/name, or rewrites it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// twoRuns writes a journal as two runs would: a first one that ended with
// failures, a deferral and a crash, and a second one that resumed.
func twoRuns(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	appendAll(t, j,
		&Record{Row: 3, Key: "k3", Recipients: []string{"c@example.com"}, Status: Intent, Attempts: 1},
		&Record{Row: 3, Key: "k3", Recipients: []string{"c@example.com"}, Status: Sent, Code: 250, Enhanced: "2.0.0", Reply: "Ok: queued as 1", Attempts: 1},
		&Record{Row: 2, Key: "k2", Recipients: []string{"a@example.com", "b@example.com", "boss@example.org"}, Status: Intent, Attempts: 1},
		&Record{Row: 2, Key: "k2", Recipients: []string{"a@example.com"}, Status: Sent, Code: 250, Enhanced: "2.0.0", Reply: "Ok", Attempts: 1},
		&Record{Row: 2, Key: "k2", Recipients: []string{"b@example.com"}, Status: Failed, Code: 550, Enhanced: "5.1.1", Reply: "<b@example.com>: Recipient address rejected: User unknown", Attempts: 1},
		&Record{Row: 2, Key: "k2", Recipients: []string{"boss@example.org"}, Status: Deferred, Code: 451, Enhanced: "4.3.0", Reply: "try again later", Attempts: 6},
		&Record{Row: 4, Key: "k4", Recipients: []string{"d@example.com"}, Status: Intent, Attempts: 1},
		&Record{Row: 5, Key: "k5", Recipients: []string{"e@example.com"}, Status: Unknown, Reply: "connection lost after the final dot", Attempts: 1},
		// Second run: the deferred recipient goes through.
		&Record{Row: 2, Key: "k2", Recipients: []string{"boss@example.org"}, Status: Intent, Attempts: 1},
		&Record{Row: 2, Key: "k2", Recipients: []string{"Boss@example.org"}, Status: Sent, Code: 250, Reply: "Ok", Attempts: 1},
	)
	return path
}

func TestReadReport(t *testing.T) {
	rep, err := ReadReport(twoRuns(t))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Totals{Sent: 3, Failed: 1, Unknown: 2}); rep.Totals != want {
		t.Errorf("Totals = %+v, want %+v", rep.Totals, want)
	}
	if want := []CodeCount{{0, 2}, {250, 3}, {550, 1}}; !slices.Equal(rep.Codes, want) {
		t.Errorf("Codes = %v, want %v", rep.Codes, want)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	golden(t, "report.json", got)

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", text.Bytes())

	// The shape is exactly the documented one, read by a generic decoder.
	var shape struct {
		Totals     map[string]int   `json:"totals"`
		Recipients []map[string]any `json:"recipients"`
	}
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&shape); err != nil {
		t.Fatal(err)
	}
	if len(shape.Totals) != 4 || len(shape.Recipients) != 6 {
		t.Errorf("totals %v, %d recipients", shape.Totals, len(shape.Recipients))
	}
	for _, r := range shape.Recipients {
		if len(r) != 5 {
			t.Errorf("recipient with fields %v, want row, to, status, code, reply", r)
		}
	}
}

func TestReadReportEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep)
	if want := `{"totals":{"sent":0,"failed":0,"deferred":0,"unknown":0},"recipients":[]}`; string(got) != want {
		t.Errorf("empty report %s, want %s", got, want)
	}
	if _, err := ReadReport(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("ReadReport of a missing file succeeded")
	}
}

// TestReportMatchesJournal appends random records and checks that the
// journal's index (Totals, Pending) and ReadReport agree on every
// recipient, before and after reopening.
func TestReportMatchesJournal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	path := filepath.Join(t.TempDir(), "j")
	j := openTestJournal(t, path)
	statuses := []Status{Intent, Sent, Failed, Deferred, Unknown}
	for range 2000 {
		key := fmt.Sprintf("k%d", rng.IntN(50))
		var to []string
		for range 1 + rng.IntN(3) {
			to = append(to, fmt.Sprintf("R%d@example.com", rng.IntN(4)))
		}
		appendAll(t, j, &Record{Key: key, Row: rng.IntN(100), Recipients: to, Status: statuses[rng.IntN(len(statuses))]})
	}
	for reopen := range 2 {
		rep, err := ReadReport(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := j.Totals(); got != rep.Totals {
			t.Errorf("reopen %d: journal totals %+v, report %+v", reopen, got, rep.Totals)
		}
		for _, r := range rep.Recipients {
			res := j.Pending(r.Key, []string{strings.ToLower(r.To)}, "", ResumePolicy{})
			send := len(res.Send) == 1
			if want := r.Status == Deferred; send != want {
				t.Fatalf("reopen %d: %s %s is %s in the report, Pending says send=%v", reopen, r.Key, r.To, r.Status, send)
			}
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		j = openTestJournal(t, path)
	}
}

// Merged reports of disjoint journals are the sum of their parts; a
// recipient in two journals counts once, as sent if either sent it.
func TestMergeReports(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, recs ...*Record) *Report {
		t.Helper()
		path := filepath.Join(dir, name)
		j := openTestJournal(t, path)
		for _, r := range recs {
			if _, err := j.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		rep, err := ReadReport(path)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	a := write("a", rec("k1", Sent, "a@example.com"), rec("k2", Failed, "b@example.com"), rec("k9", Deferred, "z@example.com"))
	b := write("b", rec("k3", Sent, "c@example.com"), rec("k4", Unknown, "d@example.com"), rec("k9", Sent, "Z@example.com"))
	m := MergeReports(a, b)
	if want := (Totals{Sent: 3, Failed: 1, Unknown: 1}); m.Totals != want {
		t.Errorf("merged totals %+v, want %+v", m.Totals, want)
	}
	sum := 0
	for _, c := range m.Codes {
		sum += c.Count
	}
	if sum != m.Totals.All() || len(m.Recipients) != 5 {
		t.Errorf("codes count %d, recipients %d, want 5", sum, len(m.Recipients))
	}
	// Disjoint journals: exactly the sum.
	c := write("c", rec("k5", Sent, "e@example.com"))
	if got, want := MergeReports(a, c).Totals, (Totals{Sent: a.Totals.Sent + 1, Failed: a.Totals.Failed, Deferred: a.Totals.Deferred}); got != want {
		t.Errorf("merge of disjoint journals %+v, want %+v", got, want)
	}
}

// Reports count recipients by the relay of their latest record, in order
// of name; the JSON has them, the text says them when more than one relay
// carried the batch, and a merged report keeps them: the sum of its parts.
func TestReportByRelay(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, recs ...*Record) *Report {
		t.Helper()
		path := filepath.Join(dir, name)
		j := openTestJournal(t, path)
		appendAll(t, j, recs...)
		rep, err := ReadReport(path)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	via := func(r *Record, relay string) *Record { r.Relay = relay; return r }
	a := write("a",
		via(rec("k1", Intent, "a@example.com"), "b.example.org:587"),
		via(rec("k1", Sent, "a@example.com"), "b.example.org:587"),
		via(rec("k2", Deferred, "b@example.com"), "b.example.org:587"),
		via(rec("k2", Sent, "b@example.com"), "a.example.org:587"), // resent through the other relay
		via(rec("k3", Intent, "c@example.com"), "a.example.org:587"),
		rec("k4", Failed, "d@example.com"), // an invalid row: no relay
	)
	want := []RelayTotals{{"a.example.org:587", Totals{Sent: 1, Unknown: 1}}, {"b.example.org:587", Totals{Sent: 1}}}
	if !slices.Equal(a.Relays, want) {
		t.Errorf("Relays = %+v, want %+v", a.Relays, want)
	}
	var text, js bytes.Buffer
	if err := a.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if line := "by relay: a.example.org:587: 1 sent, 1 unknown; b.example.org:587: 1 sent\n"; !strings.Contains(text.String(), line) {
		t.Errorf("text report lacks %q:\n%s", line, text.String())
	}
	if err := a.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Relays     []map[string]any `json:"relays"`
		Recipients []struct {
			To    string `json:"to"`
			Relay string `json:"relay"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(js.Bytes(), &shape); err != nil {
		t.Fatal(err)
	}
	if len(shape.Relays) != 2 || shape.Relays[0]["name"] != "a.example.org:587" || shape.Relays[0]["unknown"] != 1.0 {
		t.Errorf("JSON relays %v", shape.Relays)
	}
	for _, r := range shape.Recipients {
		if wantRelay := map[string]string{"a@example.com": "b.example.org:587", "b@example.com": "a.example.org:587",
			"c@example.com": "a.example.org:587", "d@example.com": ""}[r.To]; r.Relay != wantRelay {
			t.Errorf("%s: relay %q, want %q", r.To, r.Relay, wantRelay)
		}
	}

	// One relay: no "by relay" line.
	one := write("one", via(rec("k5", Sent, "e@example.com"), "a.example.org:587"))
	text.Reset()
	one.WriteText(&text)
	if strings.Contains(text.String(), "by relay") {
		t.Errorf("one relay, yet:\n%s", text.String())
	}

	// Merged: per relay, the sum of the parts.
	m := MergeReports(a, one)
	wantMerged := []RelayTotals{{"a.example.org:587", Totals{Sent: 2, Unknown: 1}}, {"b.example.org:587", Totals{Sent: 1}}}
	if !slices.Equal(m.Relays, wantMerged) {
		t.Errorf("merged Relays = %+v, want %+v", m.Relays, wantMerged)
	}
}
