package journal

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

// encodingJSON is the reference: what encoding/json writes for r.
func encodingJSON(t *testing.T, r *Record) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestAppendRecordMatchesEncodingJSON(t *testing.T) {
	for _, r := range []*Record{
		{},
		{Time: time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC), Row: 12, Key: "a@example.com", Recipients: []string{"a@example.com", "B@example.org"},
			Status: Failed, Code: 550, Enhanced: "5.1.1", Reply: "<a@example.com>: \"no\" such\tuser\nline 2 \\ \x01 \x7f é \u2028 \xff", Attempts: 3,
			MessageID: "<1.2@mailshot.test>", Fingerprint: "sha256:00ff", Relay: "smtp.example.org:587"},
		{Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("", -3600)), Recipients: []string{}, Status: Intent},
		{Recipients: []string{"c@example.net"}, Status: Sent, Relay: "relay-2 <\"quoted\">"},
	} {
		if got, want := appendRecord(nil, r), encodingJSON(t, r); !bytes.Equal(got, want) {
			t.Errorf("appendRecord\n%s\nencoding/json\n%s", got, want)
		}
	}
}

func FuzzAppendRecord(f *testing.F) {
	f.Add("a@example.com", "b@example.org", "no such user\n\"x\"", "<1@x>", 550, int64(0))
	f.Add("\xff\x00", "\u2029", "\\", "", -1, int64(1e18))
	f.Fuzz(func(t *testing.T, key, to, reply, id string, code int, nanos int64) {
		r := &Record{Time: time.Unix(0, nanos).UTC(), Row: code * 7, Key: key, Recipients: []string{to, key}, Status: Status(reply),
			Code: code, Enhanced: to, Reply: reply, Attempts: code, MessageID: id, Fingerprint: key + id, Relay: reply + to}
		if r.Time.Year() > 9999 || r.Time.Year() < 0 {
			return // outside RFC 3339; encoding/json refuses it too
		}
		if got, want := appendRecord(nil, r), encodingJSON(t, r); !bytes.Equal(got, want) {
			t.Fatalf("appendRecord\n%q\nencoding/json\n%q", got, want)
		}
	})
}
