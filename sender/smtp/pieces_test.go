package smtp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// encodePieces runs a body of pieces through c's data writer, over a fake
// connection, as Send does (checkPieces first), and returns the wire
// bytes; c keeps what it prepared, as a connection does between messages.
func encodePieces(c *Client, buf []byte, pieces []Piece) ([]byte, error) {
	f := &fakeConn{server: strings.NewReader("250 2.0.0 ok\r\n"), remote: loopbackAddr}
	c.raw, c.conn, c.br, c.broken, c.closed = f, f, bufio.NewReader(f), false, false
	c.data.buf = buf
	p := NewPieces(pieces)
	if _, err := c.checkPieces(p); err != nil {
		return nil, err
	}
	w := c.startData(context.Background())
	if err := c.copyBody(w, p); err != nil {
		return []byte(f.wrote()), err
	}
	err := w.Close()
	return []byte(f.wrote()), err
}

// cut splits in at the given offsets (clamped, in any order) into pieces,
// the i-th shared when bit i of shared is set.
func cut(in []byte, shared uint8, at ...int) []Piece {
	var out []Piece
	start := 0
	for i, k := range at {
		k = min(max(k, start), len(in))
		out = append(out, Piece{Octets: in[start:k], Shared: shared&(1<<i) != 0})
		start = k
	}
	return append(out, Piece{Octets: in[start:], Shared: shared&(1<<len(at)) != 0})
}

// TestPiecesOnTheWire sends bodies in pieces, shared ones among them, and
// compares the wire with the same body sent whole: shared pieces that
// start mid-line or after a CR, hold leading dots or bare line ends, are
// small enough to be copied or large enough to go in several blocks.
func TestPiecesOnTheWire(t *testing.T) {
	image := []byte(strings.Repeat(strings.Repeat("QUJD", 19)+"\r\n", 2000)) // ~150 KB of base64 lines
	dotted := []byte(".leading dot\r\nplain\r\n..two\r\n")
	bare := []byte("bare lf\nbare cr\rend\r\n")
	head := []byte("Subject: pieces\r\n\r\n--b\r\n\r\n")
	cases := []struct {
		name   string
		pieces []Piece
	}{
		{"image", []Piece{{Octets: head}, {Octets: image, Shared: true}, {Octets: []byte("--b--\r\n")}}},
		{"small shared", []Piece{{Octets: head}, {Octets: dotted[14:21], Shared: true}, {Octets: []byte("x\r\n")}}},
		{"dots", []Piece{{Octets: head}, {Octets: dotted, Shared: true}, {Octets: image[:3000], Shared: true}}},
		{"bare line ends", []Piece{{Octets: head}, {Octets: bare, Shared: true}, {Octets: []byte("\nafter\r\n")}}},
		{"mid-line", []Piece{{Octets: []byte("Subject: x\r\n\r\nno end ")}, {Octets: dotted, Shared: true}}},
		{"after CR", []Piece{{Octets: []byte("Subject: x\r\n\r\nline\r")}, {Octets: []byte("\n.dot\r\n"), Shared: true}}},
		{"ends mid-line", []Piece{{Octets: head}, {Octets: []byte("tail without end"), Shared: true}, {Octets: []byte(" and more\r\n.x")}}},
		{"ends in CR", []Piece{{Octets: head}, {Octets: []byte("a\r"), Shared: true}, {Octets: []byte("\nb\r\n")}}},
		{"shared only", []Piece{{Octets: image, Shared: true}}},
		{"empty pieces", []Piece{{}, {Octets: head}, {Shared: true}, {Octets: image[:78], Shared: true}, {}}},
	}
	c := &Client{}
	for round := range 2 { // the second round from what the first prepared
		for _, tt := range cases {
			t.Run(fmt.Sprintf("%s/%d", tt.name, round), func(t *testing.T) {
				var whole []byte
				for _, p := range tt.pieces {
					whole = append(whole, p.Octets...)
				}
				want, err := encodeBody(whole)
				if err != nil {
					t.Fatal(err)
				}
				got, err := encodePieces(c, nil, tt.pieces)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("wire differs from the body sent whole:\ngot  %.300q\nwant %.300q", got, want)
				}
				checkWire(t, whole, got)
			})
		}
	}
	if len(c.prepared) == 0 || len(c.prepared) > maxPrepared {
		t.Errorf("%d pieces prepared, want 1 to %d", len(c.prepared), maxPrepared)
	}
	// The image, sent twice, was prepared once and went out from its own
	// memory: the prepared octets are the image's.
	for _, e := range c.prepared {
		if e.n == len(image) && &e.wire[0] != &image[0] {
			t.Errorf("the image was copied for the wire; it needs no change")
		}
	}
}

// TestPiecesLongLine: a line over 998 octets, inside a shared piece or
// made of the end of one piece and the start of the next, is refused
// before anything is sent.
func TestPiecesLongLine(t *testing.T) {
	long := []byte("a\r\n" + strings.Repeat("x", 999) + "\r\n")
	half := []byte(strings.Repeat("y", 500))
	for _, pieces := range [][]Piece{
		{{Octets: []byte("Subject: x\r\n\r\n")}, {Octets: long, Shared: true}},
		{{Octets: []byte("Subject: x\r\n\r\n")}, {Octets: half, Shared: true}, {Octets: half, Shared: true}},
		{{Octets: half}, {Octets: half, Shared: true}},
	} {
		c := &Client{}
		for range 2 {
			if _, err := encodePieces(c, nil, pieces); !errors.Is(err, ErrLineTooLong) {
				t.Errorf("%d pieces: %v, want ErrLineTooLong", len(pieces), err)
			}
		}
	}
}

// TestPiecesRemembersFew: a client remembers at most maxPrepared shared
// pieces, keeping those it met first; a message with more shared pieces
// than that, sent again and again, still finds all but one remembered.
func TestPiecesRemembersFew(t *testing.T) {
	c := &Client{}
	first := []byte("first\r\n")
	for i := range 3 * maxPrepared {
		p := []byte(fmt.Sprintf("piece %d\r\n", i))
		if _, err := encodePieces(c, nil, []Piece{{Octets: first, Shared: true}, {Octets: p, Shared: true}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.prepared) != maxPrepared {
		t.Fatalf("%d pieces remembered, want %d", len(c.prepared), maxPrepared)
	}
	if c.prepared[0].key != &first[0] {
		t.Error("the piece used with every message was forgotten")
	}

	c = &Client{}
	var many []Piece
	for i := range maxPrepared + 8 {
		many = append(many, Piece{Octets: []byte(fmt.Sprintf("file %d\r\n", i)), Shared: true})
	}
	for range 3 {
		if _, err := encodePieces(c, nil, many); err != nil {
			t.Fatal(err)
		}
	}
	remembered := 0
	for _, p := range many {
		for _, e := range c.prepared {
			if e.key == &p.Octets[0] {
				remembered++
			}
		}
	}
	if remembered < maxPrepared-1 {
		t.Errorf("%d of %d shared pieces remembered after three messages, want %d", remembered, len(many), maxPrepared-1)
	}
}

// TestPiecesRandom sends random bodies in up to eight pieces, shared
// ones drawn from a few reused across messages (some of several write
// blocks, some cut to start mid-line), with every kind of line end,
// leading dots and lines near the limit: the wire is always the body's
// sent whole, and a line too long is refused either way.
func TestPiecesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 15))
	body := func(size int) []byte {
		var b []byte
		for len(b) < size {
			n := r.IntN(120)
			if r.IntN(20) == 0 {
				n = r.IntN(1000)
			}
			if r.IntN(5) == 0 {
				b = append(b, '.')
			}
			for range n {
				b = append(b, byte('A'+r.IntN(26)))
			}
			switch r.IntN(6) {
			case 0:
				b = append(b, '\n')
			case 1:
				b = append(b, '\r')
			default:
				b = append(b, '\r', '\n')
			}
		}
		return b[:size]
	}
	var shared [][]byte
	for _, size := range []int{10, 200, 3000, 5000, 70000, 140000} {
		shared = append(shared, body(size), body(size))
	}
	c := &Client{}
	refused := 0
	for i := range 400 {
		var pieces []Piece
		var whole []byte
		for range 1 + r.IntN(8) {
			p := Piece{Shared: true}
			if r.IntN(2) == 0 {
				p.Octets = shared[r.IntN(len(shared))]
				if r.IntN(4) == 0 {
					p.Octets = p.Octets[r.IntN(len(p.Octets)+1):]
				}
			} else {
				p.Octets, p.Shared = body(r.IntN(3000)), false
			}
			pieces = append(pieces, p)
			whole = append(whole, p.Octets...)
		}
		want, wantErr := encodeBody(whole)
		got, err := encodePieces(c, nil, pieces)
		if errors.Is(err, ErrLineTooLong) != errors.Is(wantErr, ErrLineTooLong) {
			t.Fatalf("message %d: in pieces %v, whole %v", i, err, wantErr)
		}
		if err != nil {
			refused++
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d octets on the wire in pieces, %d whole, not the same", i, len(got), len(want))
		}
	}
	if refused == 0 || refused > 300 {
		t.Errorf("%d of 400 messages refused: the bodies do not test both ways", refused)
	}
}

// TestPiecesReader: Read and WriteTo give the concatenation, from where
// reading stopped.
func TestPiecesReader(t *testing.T) {
	pieces := []Piece{{Octets: []byte("abc")}, {}, {Octets: []byte("defgh"), Shared: true}, {Octets: []byte("i")}}
	if n := NewPieces(pieces).Len(); n != 9 {
		t.Errorf("Len %d, want 9", n)
	}
	for size := 1; size <= 10; size++ {
		p := NewPieces(pieces)
		buf := make([]byte, size)
		n, _ := io.ReadFull(p, buf[:min(size, 4)])
		var rest bytes.Buffer
		if _, err := p.WriteTo(&rest); err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]) + rest.String(); got != "abcdefghi" {
			t.Errorf("read %d then WriteTo: %q", size, got)
		}
		if n, err := p.Read(buf); n != 0 || err != io.EOF {
			t.Errorf("at the end: %d, %v", n, err)
		}
	}
}

// FuzzPieces: any body in three pieces, any of them shared, goes on the
// wire as the body sent whole, or is refused as it is (a line too long);
// the client's memory of shared pieces carries over from message to
// message.
func FuzzPieces(f *testing.F) {
	for _, tt := range bodyCases {
		f.Add([]byte(tt.in), uint16(len(tt.in)/3), uint16(len(tt.in)/2), uint8(2))
	}
	f.Add([]byte(strings.Repeat("x", 990)+"\r\n"+strings.Repeat("y", 20)), uint16(500), uint16(995), uint8(7))
	c := &Client{}
	buf := make([]byte, 0, 2*fastBlock+1)
	f.Fuzz(func(t *testing.T, in []byte, i, j uint16, shared uint8) {
		// The fuzzer reuses in's memory; a shared piece must not change.
		in = bytes.Clone(in)
		want, wantErr := encodeBodyWith(buf, in)
		got, err := encodePieces(c, buf, cut(in, shared, int(i), int(j)))
		if errors.Is(err, ErrLineTooLong) != errors.Is(wantErr, ErrLineTooLong) {
			t.Fatalf("pieces: %v; whole: %v", err, wantErr)
		}
		if err == nil && !bytes.Equal(got, want) {
			t.Fatalf("pieces %q, whole %q", got, want)
		}
		if len(c.prepared) > maxPrepared {
			t.Fatalf("%d pieces remembered", len(c.prepared))
		}
	})
}
