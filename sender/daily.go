package sender

import (
	"time"

	"github.com/mailshot/mailshot/sender/journal"
)

// daily keeps a rolling 24-hour count of recipients: those the journal
// recorded as sent before the run, and those the run has taken since, each
// counted when taken, whatever becomes of it.
type daily struct {
	limit  int
	stamps []journal.Stamp // in time order
}

// newDaily starts the count from the journal's sent records (none without
// a journal).
func newDaily(limit int, j *journal.File, now time.Time) *daily {
	d := &daily{limit: limit}
	if j != nil {
		d.stamps = j.SentSince(now.Add(-24 * time.Hour))
	}
	return d
}

// used returns the recipients counted in the 24 hours before now.
func (d *daily) used(now time.Time) int {
	n := 0
	for _, s := range d.stamps {
		if s.Time.After(now.Add(-24 * time.Hour)) {
			n += s.Recipients
		}
	}
	return n
}

// fits reports whether k more recipients fit at now.
func (d *daily) fits(k int, now time.Time) bool { return d.used(now)+k <= d.limit }

// next returns when k more recipients fit: once enough of the oldest have
// been counted for 24 hours. A message with more recipients than the limit
// never fits; next then returns the zero time.
func (d *daily) next(k int, now time.Time) time.Time {
	if k > d.limit {
		return time.Time{}
	}
	used := d.used(now)
	for _, s := range d.stamps {
		if !s.Time.After(now.Add(-24 * time.Hour)) {
			continue
		}
		used -= s.Recipients
		if used+k <= d.limit {
			return s.Time.Add(24 * time.Hour)
		}
	}
	return now
}

// take counts k recipients at now.
func (d *daily) take(k int, now time.Time) {
	d.stamps = append(d.stamps, journal.Stamp{Time: now, Recipients: k})
}
