package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotJournal is the cause of the error Open and ReadReport return for a
// file that is not a journal: its first line is neither a journal's header
// nor a record. Such a file is left exactly as it was.
var ErrNotJournal = errors.New("not a mailshot journal")

// The first octets of a journal's first line: a campaign header, or a
// record (journals written before headers existed).
var (
	headerStart = []byte(`{"campaign":`)
	recordStart = []byte(`{"time":"`)
)

// looksLikeJournal reports whether line, the first line of a file (perhaps
// torn by a crash, perhaps followed by the zeros of a preallocation), begins
// the way a journal begins.
func looksLikeJournal(line []byte) bool {
	if i := bytes.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	compatible := func(start []byte) bool {
		return bytes.HasPrefix(line, start) || bytes.HasPrefix(start, line)
	}
	return compatible(headerStart) || compatible(recordStart)
}

// campaignLine returns the campaign object of a header line.
func campaignLine(line []byte) (json.RawMessage, bool) {
	if !bytes.HasPrefix(line, headerStart) {
		return nil, false
	}
	var h struct {
		Campaign json.RawMessage `json:"campaign"`
	}
	if err := json.Unmarshal(line, &h); err != nil || len(h.Campaign) == 0 || h.Campaign[0] != '{' {
		return nil, false
	}
	return h.Campaign, true
}

// Campaign returns the journal's header, the JSON object its first run
// wrote with SetCampaign to say what the journal is about, or nil when it
// has none (a new journal, or one written before headers existed).
func (j *File) Campaign() json.RawMessage {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.campaign
}

// SetCampaign writes campaign, a JSON object, as the journal's first line,
// and returns the Commit to wait on. The journal does not interpret it; its
// writer states there what the journal is about, so that a later run can
// tell whether it belongs to the same batch. Only a journal with nothing in
// it yet takes a header.
func (j *File) SetCampaign(campaign any) (*Commit, error) {
	b, err := json.Marshal(campaign)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("journal %s: campaign header is not a JSON object (%v)", j.path, err)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writable(); err != nil {
		return nil, err
	}
	if j.used {
		return nil, fmt.Errorf("journal %s: a header goes only into an empty journal", j.path)
	}
	j.used = true
	j.campaign = b
	j.buf = append(append(append(j.buf, headerStart...), b...), "}\n"...)
	return j.enqueue(true), nil
}

// A Stamp is a number of recipients sent through one relay within one
// second, at the latest of their times.
type Stamp struct {
	Time       time.Time
	Recipients int
	// Relay is the relay that carried them (Record.Relay), "" for records
	// that name none.
	Relay string
}

// window is how far back the journal keeps the times of sent recipients,
// for rolling daily limits.
const window = 24 * time.Hour

// rememberSent keeps the time of a sent record recent enough for
// SentSince. Called with mu held, or before the flusher starts.
func (j *File) rememberSent(r *Record) {
	if r.Status != Sent || r.Time.Before(j.opened.Add(-window)) {
		return
	}
	// Records of one second and one relay share a stamp, at the latest of
	// their times: a recipient is counted a little longer, never less.
	sec := r.Time.Truncate(time.Second)
	for i := len(j.recent) - 1; i >= 0 && j.recent[i].Time.Truncate(time.Second).Equal(sec); i-- {
		if s := &j.recent[i]; s.Relay == r.Relay {
			s.Recipients += len(r.Recipients)
			if r.Time.After(s.Time) {
				s.Time = r.Time
			}
			return
		}
	}
	j.recent = append(j.recent, Stamp{Time: r.Time, Recipients: len(r.Recipients), Relay: r.Relay})
}

// SentSince returns when recipients were recorded as sent after since, in
// the order recorded, grouped by second and relay. The journal keeps these times for
// 24 hours before it was opened, whatever the run that sent them, so a
// rolling daily limit holds across runs.
func (j *File) SentSince(since time.Time) []Stamp {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []Stamp
	for _, s := range j.recent {
		if s.Time.After(since) {
			out = append(out, s)
		}
	}
	return out
}
