package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or writes it there under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot  %q\nwant %q", name, got, want)
	}
}

// encodeBody runs chunks through the data writer and returns the wire bytes.
func encodeBody(chunks ...[]byte) ([]byte, error) { return encodeBodyWith(nil, chunks...) }

// encodeBodyWith is encodeBody with the writer's buffer given: nil for a
// new one of the usual size, or a smaller one to have blocks and flushes
// happen within short inputs.
func encodeBodyWith(buf []byte, chunks ...[]byte) ([]byte, error) {
	f := &fakeConn{server: strings.NewReader("250 2.0.0 ok\r\n"), remote: loopbackAddr}
	c := &Client{raw: f, conn: f, br: bufio.NewReader(f)}
	c.data.buf = buf
	w := c.startData(context.Background())
	for _, ch := range chunks {
		if _, err := w.Write(ch); err != nil {
			return []byte(f.wrote()), err
		}
	}
	err := w.Close()
	return []byte(f.wrote()), err
}

var bodyCases = []struct {
	name string
	in   string
}{
	{"empty", ""},
	{"crlf", "Subject: hi\r\n\r\nbody\r\n"},
	{"bare-lf", "Subject: hi\n\nbody\n"},
	{"bare-cr", "Subject: hi\r\rbody\r"},
	{"mixed", "a\r\nb\nc\rd\n\re"},
	{"no-final-newline", "Subject: hi\n\nlast line"},
	{"dots", ".\n..\n.leading\nmid.dle\n. \n"},
	{"dot-after-cr", "a\r.b\r\n.c"},
	{"only-dot", "."},
	{"only-newline", "\n"},
	{"lf-cr", "a\n\rb"},
	{"crcrlf", "a\r\r\nb"},
	{"max-line", strings.Repeat("x", 998) + "\n." + strings.Repeat("y", 997)},
	{"utf-8", "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n\ngrüße\n"},
}

func TestDataWriterGolden(t *testing.T) {
	for _, tt := range bodyCases {
		t.Run(tt.name, func(t *testing.T) {
			wire, err := encodeBody([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("body", tt.name+".golden"), wire)
			checkWire(t, []byte(tt.in), wire)
		})
	}
}

// TestDataWriterChunking checks that the output does not depend on how the
// input is split into writes: every split point, and one octet at a time.
func TestDataWriterChunking(t *testing.T) {
	for _, tt := range bodyCases {
		in := []byte(tt.in)
		whole, err := encodeBody(in)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(in); i++ {
			got, err := encodeBody(in[:i], in[i:])
			if err != nil || !bytes.Equal(got, whole) {
				t.Fatalf("%s split at %d: %q, %v; want %q", tt.name, i, got, err, whole)
			}
		}
		var octets [][]byte
		for i := range in {
			octets = append(octets, in[i:i+1])
		}
		if got, err := encodeBody(octets...); err != nil || !bytes.Equal(got, whole) {
			t.Fatalf("%s one octet at a time: %q, %v; want %q", tt.name, got, err, whole)
		}
	}
}

func TestDataWriterLargeWrites(t *testing.T) {
	line := strings.Repeat("0123456789", 7) + "\n"
	in := []byte(strings.Repeat(line, 20000)) // 1.4 MB
	f := &fakeConn{server: strings.NewReader("250 ok\r\n"), remote: loopbackAddr}
	c := &Client{raw: f, conn: f, br: bufio.NewReader(f)}
	w := c.startData(context.Background())
	if _, err := w.Write(in); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i, wr := range f.writes[:len(f.writes)-1] {
		if len(wr) < dataBufferSize-2*fastBlock {
			t.Errorf("write %d of %d is %d octets; want blocks of about %d", i, len(f.writes), len(wr), dataBufferSize)
		}
	}
	checkWire(t, in, []byte(f.wrote()))
}

func TestDataWriterRefusesLongLines(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
	}{
		{"one write", []string{strings.Repeat("x", 999) + "\n"}},
		{"no newline", []string{strings.Repeat("x", 999)}},
		{"across writes", []string{"ok\n" + strings.Repeat("x", 500), strings.Repeat("y", 499), "\n"}},
		{"after a CR", []string{"a\r" + strings.Repeat("x", 999)}},
		{"a dot does not count but the rest does", []string{"." + strings.Repeat("x", 998)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chunks [][]byte
			for _, c := range tt.chunks {
				chunks = append(chunks, []byte(c))
			}
			wire, err := encodeBody(chunks...)
			if !errors.Is(err, ErrLineTooLong) {
				t.Fatalf("error = %v, want ErrLineTooLong", err)
			}
			if bytes.Contains(wire, []byte(strings.Repeat("x", 999))) || bytes.HasSuffix(wire, []byte(".\r\n")) {
				t.Errorf("the long line or a final dot reached the wire: %q", wire)
			}
			n, err := checkLines(strings.NewReader(strings.Join(tt.chunks, "")), make([]byte, 7))
			if !errors.Is(err, ErrLineTooLong) {
				t.Errorf("checkLines = %d, %v; want ErrLineTooLong", n, err)
			}
		})
	}
	// 998 octets plus a stuffed dot is fine (RFC 5321 §4.5.3.1.6).
	if _, err := encodeBody([]byte("." + strings.Repeat("x", 997) + "\r\n")); err != nil {
		t.Errorf("a 998-octet line starting with a dot: %v", err)
	}
}

func TestCheckLinesSeesReadErrors(t *testing.T) {
	_, err := checkLines(iotest.ErrReader(errors.New("disk gone")), make([]byte, 64))
	if err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("checkLines = %v, want the read error", err)
	}
}

// checkWire checks the wire form of a body: no bare CR or LF, ends with
// CRLF.CRLF, and decodes back to the input with its line ends normalised.
func checkWire(t *testing.T, in, wire []byte) {
	t.Helper()
	for i, c := range wire {
		if c == '\n' && (i == 0 || wire[i-1] != '\r') || c == '\r' && (i+1 == len(wire) || wire[i+1] != '\n') {
			t.Fatalf("bare CR or LF at %d in %q", i, wire)
		}
	}
	if !bytes.HasSuffix(wire, []byte("\r\n.\r\n")) && string(wire) != ".\r\n" {
		t.Fatalf("wire %q does not end with CRLF.CRLF", wire)
	}
	if got, want := decodeWire(wire), normaliseBody(in); got != want {
		t.Fatalf("decoded %q, want %q (input %q)", got, want, in)
	}
}

// decodeWire undoes the data writer as a server does (RFC 5321 §4.5.2).
func decodeWire(wire []byte) string {
	body := strings.TrimSuffix(string(wire), ".\r\n")
	if body == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(body, "\r\n"), "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, ".")
	}
	return strings.Join(lines, "\r\n") + "\r\n"
}

// normaliseBody is what the writer promises: CRLF, CR and LF all become
// CRLF, and a last line without one gets it.
func normaliseBody(in []byte) string {
	s := strings.ReplaceAll(string(in), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// longestLine is the length of the longest line of in, CR, LF and CRLF all
// ending lines: the obvious way.
func longestLine(in []byte) int {
	longest := 0
	for _, l := range strings.FieldsFunc(string(in), func(r rune) bool { return r == '\r' || r == '\n' }) {
		longest = max(longest, len(l))
	}
	return longest
}

// TestDataWriterMixedLarge sends a large body with every kind of line end,
// dots and lines up to the limit, in writes of random sizes, so that the
// fast path's blocks start and end everywhere.
func TestDataWriterMixedLarge(t *testing.T) {
	// Bare CRs often (every block takes the exact path), rarely (some
	// blocks do), never (none does).
	for _, bareCR := range []int{5, 3000, 0} {
		t.Run(fmt.Sprint("bare CR every ", bareCR), func(t *testing.T) { testMixedLarge(t, bareCR) })
	}
}

func testMixedLarge(t *testing.T, bareCR int) {
	rng := rand.New(rand.NewPCG(1, uint64(bareCR)))
	var in []byte
	for len(in) < 1<<20 {
		n := rng.IntN(100)
		if rng.IntN(50) == 0 {
			n = maxLine - rng.IntN(3)
		}
		line := bytes.Repeat([]byte{'a' + byte(rng.IntN(26))}, n)
		if n > 0 && rng.IntN(10) == 0 {
			line[0] = '.'
		}
		end := "\r\n"
		switch {
		case bareCR > 0 && rng.IntN(bareCR) == 0:
			end = "\r"
		case rng.IntN(4) == 0:
			end = "\n"
		}
		in = append(append(in, line...), end...)
	}
	var chunks [][]byte
	for p := in; len(p) > 0; {
		n := min(len(p), 1+rng.IntN(100<<10))
		chunks, p = append(chunks, p[:n]), p[n:]
	}
	wire, err := encodeBody(chunks...)
	if err != nil {
		t.Fatal(err)
	}
	checkWire(t, in, wire)
	if n, err := checkLines(bytes.NewReader(in), make([]byte, 32<<10)); err != nil || n != int64(len(in)) {
		t.Errorf("checkLines = %d, %v", n, err)
	}
	// A line one octet too long is refused, wherever it is.
	for _, at := range []int{0, 31 << 10, 64 << 10, len(in) / 2, len(in)} {
		long := append(append(append([]byte{}, in[:at]...), "\n"+strings.Repeat("x", maxLine+1)+"\r\n"...), in[at:]...)
		if _, err := encodeBody(long); !errors.Is(err, ErrLineTooLong) {
			t.Errorf("long line at %d: writer says %v", at, err)
		}
		if _, err := checkLines(bytes.NewReader(long), make([]byte, 32<<10)); !errors.Is(err, ErrLineTooLong) {
			t.Errorf("long line at %d: checkLines says %v", at, err)
		}
	}
}

// FuzzDataWriter checks the writer's promises on any input and any split
// into two writes: the same output either way, no bare CR or LF, CRLF.CRLF
// at the end, decoding gives the normalised input, and long lines are
// refused exactly when checkLines refuses them.
func FuzzDataWriter(f *testing.F) {
	for _, tt := range bodyCases {
		f.Add([]byte(tt.in), uint16(len(tt.in)/2))
	}
	f.Add([]byte(strings.Repeat("x", 999)), uint16(500))
	f.Add([]byte("a\r"+strings.Repeat("x", 998)+"\r\n"), uint16(2))
	buf := make([]byte, 0, 2*fastBlock+1) // blocks of fastBlock octets, a flush after each
	readBuf := make([]byte, 97)
	f.Fuzz(func(t *testing.T, in []byte, split uint16) {
		_, lineErr := checkLines(bytes.NewReader(in), readBuf)
		if errors.Is(lineErr, ErrLineTooLong) != (longestLine(in) > maxLine) {
			t.Fatalf("checkLines says %v, the longest line is %d octets, for %q", lineErr, longestLine(in), in)
		}
		whole, err := encodeBodyWith(buf, in)
		if errors.Is(lineErr, ErrLineTooLong) != errors.Is(err, ErrLineTooLong) {
			t.Fatalf("checkLines says %v, writer says %v, for %q", lineErr, err, in)
		}
		if err != nil {
			if !errors.Is(err, ErrLineTooLong) {
				t.Fatal(err)
			}
			return
		}
		checkWire(t, in, whole)
		i := int(split) % (len(in) + 1)
		parts, err := encodeBodyWith(buf, in[:i], in[i:])
		if err != nil || !bytes.Equal(parts, whole) {
			t.Fatalf("split at %d: %q, %v; whole %q", i, parts, err, whole)
		}
	})
}
