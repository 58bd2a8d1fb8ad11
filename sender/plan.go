package sender

import "github.com/mailshot/mailshot/sender/journal"

// Plan counts what a run takes of a batch, message by message: what the
// journal already settles, and what is left to send. [Pool.Run] keeps one;
// a caller that wants the counts before a run (a preflight, a dry run)
// fills its own with the pool's Journal, Resume and Limit and gives Add
// each message in order.
type Plan struct {
	Journal *journal.File        // nil: nothing is settled
	Resume  journal.ResumePolicy // what the journal settles beyond the sent
	Limit   int                  // messages to take at most; 0: all

	// Skipped counts the recipients left out because the journal settles
	// them: sent, and failed or unknown under Resume.
	Skipped journal.Totals
	// Changed counts the messages some of whose recipients were sent a
	// version with another Fingerprint; they are not sent again.
	Changed int
	// Messages and Recipients count what is left to send, up to Limit.
	Messages, Recipients int
}

// Add counts m and returns the recipients of m to send: none when the
// journal settles them all, or when Limit messages were taken already
// (the recipients the journal settles are counted all the same).
// changed reports that some recipients were sent another version of m.
func (p *Plan) Add(m *Message) (send []string, changed bool) {
	res := Pending(p.Journal, m, p.Resume)
	p.Skipped.Add(journal.Sent, res.Sent)
	p.Skipped.Add(journal.Failed, res.Failed)
	p.Skipped.Add(journal.Unknown, res.Unknown)
	if res.Changed {
		p.Changed++
	}
	if len(res.Send) == 0 || p.Full() {
		return nil, res.Changed
	}
	p.Messages++
	p.Recipients += len(res.Send)
	return res.Send, res.Changed
}

// Full reports whether Limit messages have been taken.
func (p *Plan) Full() bool { return p.Limit > 0 && p.Messages >= p.Limit }

// Pending returns which recipients of m a run with journal j (nil for
// none) and policy p sends: all of them without a journal; otherwise those
// the journal does not settle (see journal.File.Pending).
func Pending(j *journal.File, m *Message, p journal.ResumePolicy) journal.Resume {
	if j == nil {
		return journal.Resume{Send: m.To}
	}
	return j.Pending(m.Key, m.To, m.Fingerprint, p)
}
