package sender

import (
	"bytes"
	"testing"

	"github.com/mailshot/mailshot/sender/smtp"
)

// TestHeaderHas8bitInPieces compares headerHas8bit on every split of
// some messages into three pieces with the obvious answer on the whole
// message.
func TestHeaderHas8bitInPieces(t *testing.T) {
	for _, msg := range []string{
		"Subject: hi\r\n\r\ncafé\r\n",
		"Subject: café\r\n\r\nok\r\n",
		"Subject: hi\r\n\r\n",
		"Subject: hi\r\nX: y\r\n",
		"Subject: hé\r\n",
		"\r\n\r\ncafé",
		"a\r\n\r\r\n\r\né",
		"é",
		"",
	} {
		b := []byte(msg)
		header := b
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			header = b[:i]
		}
		want := has8bit(header)
		for i := 0; i <= len(b); i++ {
			for j := i; j <= len(b); j++ {
				pieces := []smtp.Piece{{Octets: b[:i]}, {Octets: b[i:j]}, {Octets: b[j:]}}
				if got := headerHas8bit(pieces); got != want {
					t.Errorf("%q cut at %d and %d: %v, want %v", msg, i, j, got, want)
				}
			}
		}
	}
}

// TestSharedScan: a shared piece is scanned once and remembered, apart
// from another of the same length.
func TestSharedScan(t *testing.T) {
	var s sharedScan
	plain, accented := []byte("plain"), []byte("plaín")[:5]
	for range 3 {
		if s.has8bit(plain) || !s.has8bit(accented) {
			t.Fatal("wrong answer")
		}
	}
	for i := range 40 { // more pieces than it remembers
		s.has8bit(bytes.Repeat([]byte{'x'}, i))
	}
	if s.has8bit(plain) || !s.has8bit(accented) {
		t.Fatal("wrong answer after forgetting")
	}
	if s.has8bit(nil) || s.has8bit([]byte{}) {
		t.Fatal("empty pieces have no 8-bit octet")
	}
}
