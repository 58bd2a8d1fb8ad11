package sender

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"

	"github.com/mailshot/mailshot/sender/journal"
)

// heldCommit is a journal commit the test completes when it chooses.
type heldCommit struct {
	done chan struct{}
	err  error
}

func newHeldCommit() *heldCommit            { return &heldCommit{done: make(chan struct{})} }
func (c *heldCommit) Done() <-chan struct{} { return c.done }
func (c *heldCommit) Err() error            { return c.err }
func (c *heldCommit) complete(err error)    { c.err = err; close(c.done) }
func (p *progressLog) toldRows() (rows []int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.records {
		rows = append(rows, r.Row)
	}
	return rows
}

// TestReporterInOrderOnceDurable: the reporter tells Progress of an
// outcome only once its commit is done, never one whose write failed, and
// in the order the outcomes were queued, whatever order the commits end in.
func TestReporterInOrderOnceDurable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &progressLog{}
		var counted []int // what the Summary counts: the same, and first
		rp := newReporter(p, func(r *journal.Record) {
			if slices.Contains(p.toldRows(), r.Row) {
				t.Errorf("row %d counted after it was told", r.Row)
			}
			counted = append(counted, r.Row)
		})
		var commits []*heldCommit
		for i := range 4 {
			c := newHeldCommit()
			commits = append(commits, c)
			rp.tell(c, &journal.Record{Row: i, Key: fmt.Sprint(i), Recipients: []string{"a@example.org"}, Status: journal.Sent})
		}
		rp.tell(nil, &journal.Record{Row: 4, Key: "4", Recipients: []string{"a@example.org"}, Status: journal.Sent}) // no journal
		steps := []struct {
			complete int
			err      error
			want     []int
		}{
			{1, nil, nil},         // the second is durable, the first not yet: nothing told
			{0, nil, []int{0, 1}}, // now both, in order
			{3, nil, []int{0, 1}}, // the fourth waits for the third
			{2, errors.New("disk full"), []int{0, 1, 3, 4}}, // the third failed: never told
		}
		for _, s := range steps {
			commits[s.complete].complete(s.err)
			synctest.Wait()
			if got := p.toldRows(); !slices.Equal(got, s.want) {
				t.Fatalf("after commit %d: told rows %v, want %v", s.complete, got, s.want)
			}
			if !slices.Equal(counted, s.want) {
				t.Fatalf("after commit %d: counted rows %v, want %v", s.complete, counted, s.want)
			}
		}
		rp.close()
	})
}
