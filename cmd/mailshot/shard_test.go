package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mailshot/mailshot/sender/smtptest"
)

// Shards 1/3, 2/3 and 3/3, each with its own journal, cover every
// recipient exactly once, and report over the three journals adds them up.
func TestShardsCoverEveryRecipientOnce(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := t.TempDir()
	data := peopleCSV(t, dir, 60)
	var journals []string
	for k := 1; k <= 3; k++ {
		j := filepath.Join(dir, fmt.Sprintf("shard%d.jsonl", k))
		journals = append(journals, "--journal", j)
		_, errOut, status := runCLI(t, context.Background(), "send", "-t", "testdata/plain", "-d", data, "--journal", j,
			"--shard", fmt.Sprintf("%d/3", k), "--smtp", "smtp://"+srv.Addr)
		if status != exitOK {
			t.Fatalf("shard %d/3: %d\n%s", k, status, errOut)
		}
		if n := readReport(t, j).Totals["sent"]; n == 0 || n == 60 {
			t.Errorf("shard %d/3 sent %d of 60: not a partition", k, n)
		}
	}
	got := deliveries(srv.Messages())
	if len(got) != 60 {
		t.Errorf("%d recipients reached, want 60", len(got))
	}
	for to, n := range got {
		if n != 1 {
			t.Errorf("%s got %d messages", to, n)
		}
	}
	out, errOut, status := runCLI(t, context.Background(), append([]string{"report", "--json"}, journals...)...)
	if status != exitOK {
		t.Fatalf("report over three journals: %d\n%s", status, errOut)
	}
	var r jsonReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Totals["sent"] != 60 || len(r.Recipients) != 60 {
		t.Errorf("merged report: %v, %d recipients", r.Totals, len(r.Recipients))
	}
}

func TestShardFlag(t *testing.T) {
	for _, bad := range []string{"0/3", "4/3", "1", "a/b", "1/0"} {
		var s shard
		if s.Set(bad) == nil {
			t.Errorf("--shard %s accepted", bad)
		}
	}
}
