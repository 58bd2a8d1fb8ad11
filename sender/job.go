package sender

import (
	"bytes"
	"encoding/binary"
	"time"

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

func newJob(m *Message) *job {
	j := &job{m: m, to: dedupe(m.To)}
	if j.eightBit = has8bit(m.Body); j.eightBit {
		header := m.Body
		if i := bytes.Index(m.Body, []byte("\r\n\r\n")); i >= 0 {
			header = m.Body[:i]
		}
		j.utf8Header = has8bit(header)
	}
	return j
}

// newEnvelope returns a fresh envelope for j's next transaction. Each
// transaction needs its own: the client recognises a transaction it
// pipelined by its envelope (see smtp.Envelope.Then).
func (j *job) newEnvelope() *smtp.Envelope {
	return &smtp.Envelope{
		From:        j.m.From,
		To:          j.to,
		Size:        int64(len(j.m.Body)),
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
