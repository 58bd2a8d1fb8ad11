package sender

import (
	"fmt"
	"path/filepath"
	"testing"
	"testing/synctest"

	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender/journal"
)

// heldProgress is a Progress whose Outcome waits for release, as a slow
// display does, and notes whether each record's Commit was done by then.
type heldProgress struct {
	NoProgress
	release chan struct{}
	commits map[*journal.Record]*journal.Commit
	told    []*journal.Record
	durable []bool
}

func (p *heldProgress) Outcome(r *journal.Record) {
	<-p.release
	select {
	case <-p.commits[r].Done():
		p.durable = append(p.durable, true)
	default:
		p.durable = append(p.durable, false)
	}
	p.told = append(p.told, r)
}

func (p *heldProgress) Throttle(bool, rate.Limit) {}

// TestReporterInOrderOnceDurable: the reporter tells Progress of each
// outcome once its journal record is durable, in the order recorded, and
// a slow Progress holds back neither tell nor the journal.
func TestReporterInOrderOnceDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		j := openTestJournal(t, filepath.Join(t.TempDir(), "journal"))
		p := &heldProgress{release: make(chan struct{}), commits: make(map[*journal.Record]*journal.Commit)}
		rp := newReporter(p)
		var recs []*journal.Record
		for i := range 5 {
			rec := &journal.Record{Row: i, Key: fmt.Sprint(i), Recipients: []string{"a@example.org"}, Status: journal.Sent}
			c, err := j.Add(rec)
			if err != nil {
				t.Fatal(err)
			}
			p.commits[rec] = c
			recs = append(recs, rec)
			rp.tell(c, rec) // returns at once, the Progress held up or not
		}
		synctest.Wait() // the reporter waits in the first Outcome
		if len(p.told) != 0 {
			t.Fatalf("told %d outcomes before the Progress was released", len(p.told))
		}
		close(p.release)
		rp.close()
		if len(p.told) != len(recs) {
			t.Fatalf("told %d outcomes, want %d", len(p.told), len(recs))
		}
		for i := range recs {
			if p.told[i] != recs[i] || !p.durable[i] {
				t.Errorf("outcome %d: told row %d, durable %v; want row %d, durable", i, p.told[i].Row, p.durable[i], recs[i].Row)
			}
		}
	})
}
