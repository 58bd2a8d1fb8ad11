package sender

import (
	"bytes"
	"encoding/binary"
	"sync"
	"time"
	"unsafe"

	"github.com/mailshot/mailshot/sender/journal"
	"github.com/mailshot/mailshot/sender/smtp"
)

// job is some recipients of one message on their way.
type job struct {
	m          *Message
	to         []string // recipients still to send
	attempts   int      // transactions tried for them
	failures   int      // temporary failures so far, against Config.Retries
	ready      time.Time
	intentOpen bool     // an intent for them is the latest journal record
	last       *outcome // the latest temporary failure
	relay      string   // the relay of its latest transaction, for the journal
	eightBit   bool     // the body has octets over 127
	utf8Header bool     // the header has raw UTF-8 (RFC 6532)
}

func newJob(m *Message, shared *sharedScan) *job {
	j := &job{m: m, to: dedupe(m.To)}
	body := m.body()
	for _, p := range body {
		if p.Shared && shared.has8bit(p.Octets) || !p.Shared && has8bit(p.Octets) {
			j.eightBit = true
			j.utf8Header = headerHas8bit(body)
			break
		}
	}
	return j
}

// sharedScan remembers, for the shared pieces met first (see
// smtp.Piece), whether they have an octet over 127, so that each is
// scanned once rather than once a message: the first len(known)-1 pieces
// stay, the last place goes to each later one in turn. It is safe for
// concurrent use.
type sharedScan struct {
	mu    sync.Mutex
	known [32]scanned
	n     int // places used
}

// scanned is what sharedScan remembers of one piece.
type scanned struct {
	key      *byte // the piece's first octet, with n its identity
	n        int
	eightBit bool
}

// has8bit is has8bit for the shared piece p.
func (s *sharedScan) has8bit(p []byte) bool {
	key := unsafe.SliceData(p)
	if key == nil {
		return false
	}
	s.mu.Lock()
	for _, e := range s.known[:s.n] {
		if e.key == key && e.n == len(p) {
			s.mu.Unlock()
			return e.eightBit
		}
	}
	s.mu.Unlock()
	e := scanned{key: key, n: len(p), eightBit: has8bit(p)}
	s.mu.Lock()
	if s.n < len(s.known) {
		s.n++
	}
	s.known[s.n-1] = e
	s.mu.Unlock()
	return e.eightBit
}

// headerHas8bit reports whether the header of the message made of body,
// up to its first empty line, has an octet over 127.
func headerHas8bit(body []smtp.Piece) bool {
	end := []byte("\r\n\r\n")
	var tail []byte // the last octets, up to 3, of the pieces before
	var joint [6]byte
	for _, p := range body {
		o := p.Octets
		// An end that begins in the pieces before.
		if bytes.Contains(append(append(joint[:0], tail...), o[:min(len(o), 3)]...), end) {
			return false
		}
		if i := bytes.Index(o, end); i >= 0 {
			return has8bit(o[:i])
		}
		if has8bit(o) {
			return true
		}
		if len(o) >= 3 {
			tail = o[len(o)-3:]
		} else {
			tail = append(append([]byte(nil), tail...), o...)
			tail = tail[max(0, len(tail)-3):]
		}
	}
	return false
}

// newEnvelope returns a fresh envelope for j's next transaction. Each
// transaction needs its own: the client recognises a transaction it
// pipelined by its envelope (see smtp.Envelope.Then).
func (j *job) newEnvelope() *smtp.Envelope {
	return &smtp.Envelope{
		From:        j.m.From,
		To:          j.to,
		Size:        j.m.size(),
		EightBit:    j.eightBit,
		UTF8Headers: j.utf8Header,
	}
}

// split returns a job for some of j's recipients.
func (j *job) split(to []string) *job {
	k := *j
	k.to = to
	return &k
}

// has8bit reports whether b has an octet over 127.
func has8bit(b []byte) bool {
	// Eight octets at a time: this runs over every message body.
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// dedupe returns to without repeated addresses, compared as the journal
// tells recipients apart.
func dedupe(to []string) []string {
	out := make([]string, 0, len(to))
	for i, a := range to {
		dup := false
		for _, b := range to[:i] {
			if journal.SameRecipient(a, b) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	return out
}
