package journal

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report summarises a journal: the latest status of every recipient of
// every message, however many runs wrote it. Marshalled with encoding/json
// it is exactly
//
//	{"totals": {"sent": N, "failed": N, "deferred": N, "unknown": N},
//	 "relays": [{"name": "...", "sent": N, "failed": N, "deferred": N, "unknown": N}],
//	 "recipients": [{"row": N, "to": "...", "status": "...", "code": N, "reply": "...", "relay": "..."}]}
//
// where "relays" is left out when no record names a relay, and "relay"
// when the recipient's latest record names none.
type Report struct {
	Totals Totals `json:"totals"`
	// Relays counts recipients by the relay of their latest record, in
	// order of name; recipients whose latest record names no relay (an
	// invalid row, a journal written before relays) are not counted here.
	Relays []RelayTotals `json:"relays,omitempty"`
	// Codes counts recipients by the reply code of their latest outcome,
	// in increasing order of code; code 0 means no reply (a lost
	// connection, an interrupted transaction).
	Codes []CodeCount `json:"-"`
	// Recipients lists every recipient, ordered by row, then as first
	// journalled.
	Recipients []RecipientReport `json:"recipients"`
	// Campaign is the journal's header (see File.SetCampaign), or nil.
	Campaign json.RawMessage `json:"-"`
}

// CodeCount is the number of recipients whose latest outcome had one reply
// code.
type CodeCount struct {
	Code  int
	Count int
}

// RelayTotals is the number of recipients, by status, whose latest
// record names one relay.
type RelayTotals struct {
	Name string `json:"name"`
	Totals
}

// RecipientReport is the latest state of one recipient of one message.
type RecipientReport struct {
	Row    int    `json:"row"`
	To     string `json:"to"`
	Status Status `json:"status"` // never Intent: an intent without outcome is unknown
	Code   int    `json:"code"`
	// Reply is the enhanced status code (RFC 3463) and text of the reply
	// that decided the outcome, e.g. "5.1.1 no such user".
	Reply string `json:"reply"`
	// Relay is the relay of the latest record, "" when it names none.
	Relay     string `json:"relay,omitempty"`
	Key       string `json:"-"`
	MessageID string `json:"-"`
	Attempts  int    `json:"-"`
}

// WriteJSON writes the report as one JSON object and a newline, without
// escaping "<", ">" and "&" in addresses and replies.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("journal: report: %w", err)
	}
	return nil
}

// WriteText writes the report for people: the totals, the counts per
// reply code and, when more than one relay carried the batch, per relay,
// then one line per recipient not sent, with row, address,
// status and reply.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	t := r.Totals
	fmt.Fprintf(bw, "sent %d, failed %d, deferred %d, unknown %d\n", t.Sent, t.Failed, t.Deferred, t.Unknown)
	if len(r.Codes) > 0 {
		var parts []string
		none := 0
		for _, c := range r.Codes {
			if c.Code == 0 {
				none = c.Count
				continue
			}
			parts = append(parts, fmt.Sprintf("%d: %d", c.Code, c.Count))
		}
		if none > 0 {
			parts = append(parts, fmt.Sprintf("no reply: %d", none))
		}
		fmt.Fprintf(bw, "by reply code: %s\n", strings.Join(parts, ", "))
	}
	if len(r.Relays) > 1 {
		var parts []string
		for _, rt := range r.Relays {
			parts = append(parts, rt.Name+": "+countsText(rt.Totals))
		}
		fmt.Fprintf(bw, "by relay: %s\n", strings.Join(parts, "; "))
	}
	tw := tabwriter.NewWriter(bw, 0, 8, 2, ' ', 0)
	header := false
	for _, rr := range r.Recipients {
		if rr.Status == Sent {
			continue
		}
		if !header {
			fmt.Fprintln(bw, "not sent:")
			fmt.Fprintln(tw, "  ROW\tTO\tSTATUS\tREPLY")
			header = true
		}
		reply := strings.ReplaceAll(rr.Reply, "\n", " ")
		if rr.Code != 0 {
			reply = strconv.Itoa(rr.Code) + " " + reply
		}
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", rr.Row, rr.To, rr.Status, reply)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("journal: report: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("journal: report: %w", err)
	}
	return nil
}

// ReadReport reads the journal file at path (without locking it, so a run
// may be writing it) and summarises it. A torn last line is ignored.
func ReadReport(path string) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("journal: report: %w", err)
	}
	defer f.Close()
	seed := newSeed()
	where := make(map[uint64]int)
	rep := &Report{Recipients: []RecipientReport{}}
	_, err = readJournal(f, path, func(h []byte) { rep.Campaign = h }, func(r *Record) error {
		reply := r.Reply
		if r.Enhanced != "" {
			reply = r.Enhanced + " " + r.Reply
		}
		st := r.Status
		if st == Intent {
			st, reply = Unknown, "interrupted during the transaction: no outcome recorded"
		}
		for _, to := range r.Recipients {
			k := seed.recipient(r.Key, to)
			i, ok := where[k]
			if !ok {
				i = len(rep.Recipients)
				where[k] = i
				rep.Recipients = append(rep.Recipients, RecipientReport{})
			}
			rep.Recipients[i] = RecipientReport{
				Row: r.Row, To: to, Status: st, Code: r.Code, Reply: reply,
				Key: r.Key, MessageID: r.MessageID, Attempts: r.Attempts, Relay: r.Relay,
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.count()
	return rep, nil
}

// count sorts the recipients by row and fills in Totals, Codes and
// Relays.
func (rep *Report) count() {
	slices.SortStableFunc(rep.Recipients, func(a, b RecipientReport) int { return cmp.Compare(a.Row, b.Row) })
	rep.Totals = Totals{}
	rep.Codes = nil
	rep.Relays = nil
	codes := make(map[int]int)
	relays := make(map[string]*Totals)
	for _, r := range rep.Recipients {
		rep.Totals.Add(r.Status, 1)
		codes[r.Code]++
		if r.Relay != "" {
			t := relays[r.Relay]
			if t == nil {
				t = new(Totals)
				relays[r.Relay] = t
			}
			t.Add(r.Status, 1)
		}
	}
	for name, t := range relays {
		rep.Relays = append(rep.Relays, RelayTotals{Name: name, Totals: *t})
	}
	slices.SortFunc(rep.Relays, func(a, b RelayTotals) int { return cmp.Compare(a.Name, b.Name) })
	for code, n := range codes {
		rep.Codes = append(rep.Codes, CodeCount{Code: code, Count: n})
	}
	slices.SortFunc(rep.Codes, func(a, b CodeCount) int { return cmp.Compare(a.Code, b.Code) })
}

// MergeReports summarises several journals of one batch as one: those of
// its shards, sent from several machines, or of runs kept apart. A
// recipient of a message (the same key and address) that more than one
// journal holds counts once, as sent if any journal has it sent, else as
// the last journal given says. Campaign is the first journal's that has
// one.
func MergeReports(reps ...*Report) *Report {
	out := &Report{Recipients: []RecipientReport{}}
	where := make(map[[2]string]int)
	for _, rep := range reps {
		if out.Campaign == nil {
			out.Campaign = rep.Campaign
		}
		for _, r := range rep.Recipients {
			k := [2]string{r.Key, foldAddress(r.To)}
			i, ok := where[k]
			switch {
			case !ok:
				where[k] = len(out.Recipients)
				out.Recipients = append(out.Recipients, r)
			case out.Recipients[i].Status != Sent:
				out.Recipients[i] = r
			}
		}
	}
	out.count()
	return out
}

// countsText lists the non-zero counts of t for people: "4 sent, 1
// failed", or "none".
func countsText(t Totals) string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{t.Sent, "sent"}, {t.Failed, "failed"}, {t.Deferred, "deferred"}, {t.Unknown, "unknown"}} {
		if c.n > 0 {
			parts = append(parts, strconv.Itoa(c.n)+" "+c.what)
		}
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, ", ")
}
