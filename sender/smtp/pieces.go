package smtp

import (
	"bytes"
	"io"
	"net"
	"unsafe"
)

// Piece is one piece of a message body sent as Pieces.
type Piece struct {
	// Octets are the piece's octets, encoded for the wire as any body's
	// are (see Client.Data).
	Octets []byte
	// Shared marks octets that many messages hold, as this very slice: a
	// template's image in base64 lines, the same in every message of a
	// run. The octets must never change while a Client that sent them is
	// in use: a Client remembers what it found in the first few shared
	// pieces it meets (line lengths, dots, line ends) by their address,
	// and trusts that. Such a piece, when it starts a line, is checked and
	// encoded once per Client, and later written from Octets (or from its
	// one encoded copy) with no copy into the Client's buffer, on a TCP
	// connection in the same system call (writev) as the octets before it.
	Shared bool
}

// Pieces is a message body for Send made of pieces: the message is their
// concatenation. Send checks it for long lines before sending any of it,
// as it does an io.ReadSeeker. Read and WriteTo give the concatenation to any other
// reader, once.
type Pieces struct {
	pieces []Piece
	i, off int // read position: pieces[i].Octets[off:] is next
}

// NewPieces returns a body of the pieces p, read from the start.
func NewPieces(p []Piece) *Pieces { return &Pieces{pieces: p} }

// Len returns the number of octets of the whole body.
func (p *Pieces) Len() int64 {
	var n int64
	for _, q := range p.pieces {
		n += int64(len(q.Octets))
	}
	return n
}

// Read reads the next octets of the body.
func (p *Pieces) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) && p.i < len(p.pieces) {
		k := copy(b[n:], p.pieces[p.i].Octets[p.off:])
		n += k
		if p.off += k; p.off == len(p.pieces[p.i].Octets) {
			p.i, p.off = p.i+1, 0
		}
	}
	if n == 0 && p.i >= len(p.pieces) && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteTo writes the rest of the body to w.
func (p *Pieces) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for ; p.i < len(p.pieces); p.i, p.off = p.i+1, 0 {
		n, err := w.Write(p.pieces[p.i].Octets[p.off:])
		total += int64(n)
		if err != nil {
			p.off += n
			return total, err
		}
	}
	return total, nil
}

// prepared is a shared piece encoded for the wire once, as written at the
// start of a line: what the data writer needs to write it again with no
// copy and no look at its octets.
type prepared struct {
	key     *byte // the piece's first octet: its identity, with n
	n       int
	wire    []byte // the piece on the wire: its Octets when nothing changes
	lineLen int    // the data writer's state after it
	afterCR bool
	tail    int // longestTail of the piece from a line start: over maxLine when a line is too long
}

// maxPrepared is how many shared pieces a Client remembers: a template
// has a few files. The first maxPrepared-1 met stay; the last place goes
// to each other piece in turn, so that a template with more files than
// places has most of them remembered rather than none (which a
// least-recently-used order would give, the files coming in the same order
// in every message).
const maxPrepared = 32

// prepare returns the shared piece p encoded for the wire, from the
// Client's memory (see maxPrepared) or encoded now.
func (c *Client) prepare(p []byte) *prepared {
	key := unsafe.SliceData(p)
	for _, e := range c.prepared {
		if e.key == key && e.n == len(p) {
			return e
		}
	}
	e := &prepared{key: key, n: len(p), tail: longestTail(p, 0)}
	if e.tail <= maxLine {
		e.wire, e.lineLen, e.afterCR = encodeAlone(p)
	}
	if len(c.prepared) < maxPrepared {
		c.prepared = append(c.prepared, e)
	} else {
		c.prepared[maxPrepared-1] = e
	}
	return e
}

// encodeAlone returns p as the data writer puts it on the wire from the
// start of a line, and the writer's state after it; p itself when no octet
// changes (every line end a CRLF, no line starting with a dot). p has no
// line over maxLine.
func encodeAlone(p []byte) (wire []byte, lineLen int, afterCR bool) {
	if bytes.Count(p, []byte{'\r'}) == bytes.Count(p, []byte{'\n'}) {
		same := true
		start := 0 // of the current line
		for start < len(p) {
			if p[start] == '.' {
				same = false
				break
			}
			i := bytes.IndexByte(p[start:], '\n')
			if i < 0 {
				lineLen = len(p) - start
				break
			}
			if i == 0 || p[start+i-1] != '\r' {
				same = false
				break
			}
			start += i + 1
		}
		if same {
			return p, lineLen, false
		}
	}
	w := dataWriter{buf: make([]byte, 0, len(p)+len(p)/8+16)}
	w.writeExact(p) //nolint:errcheck // no line is too long
	return w.buf, w.lineLen, w.afterCR
}

// checkPieces is checkBody for a body of pieces: it reports
// ErrLineTooLong, looking at each shared piece only the first time, and
// returns the body's length.
func (c *Client) checkPieces(p *Pieces) (int64, error) {
	var total int64
	lineLen := 0
	for i, q := range p.pieces[p.i:] {
		o := q.Octets
		if i == 0 {
			o = o[p.off:]
		}
		if q.Shared && lineLen == 0 && len(o) == len(q.Octets) {
			lineLen = c.prepare(o).tail
		} else {
			lineLen = longestTail(o, lineLen)
		}
		if lineLen > maxLine {
			return total, ErrLineTooLong
		}
		total += int64(len(o))
	}
	return total, nil
}

// writePieces writes the rest of p to w: shared pieces that start a line
// straight from their prepared octets, with no copy, the others through
// Write.
func (w *dataWriter) writePieces(p *Pieces) error {
	for ; p.i < len(p.pieces); p.i, p.off = p.i+1, 0 {
		q := p.pieces[p.i]
		o := q.Octets[p.off:]
		if q.Shared && p.off == 0 && w.lineLen == 0 && !w.afterCR {
			if e := w.c.prepare(o); e.tail <= maxLine {
				if err := w.writeWire(e.wire); err != nil {
					return err
				}
				w.lineLen, w.afterCR = e.lineLen, e.afterCR
				continue
			}
		}
		if _, err := w.Write(o); err != nil {
			return err
		}
	}
	return nil
}

// copyWire is the most octets of a prepared piece writeWire copies into
// the buffer rather than hand to the connection from where they are.
const copyWire = 4 << 10

// writeWire adds octets already in wire form: a few, or any on a
// connection without writev (TLS: its records copy them anyway), are
// copied into the buffer; more go, from where they are, into the next
// write, after what the buffer holds (see flush); a piece larger than a
// write goes in blocks of dataBufferSize, each with its own deadline.
func (w *dataWriter) writeWire(p []byte) error {
	if w.err != nil {
		return w.err
	}
	if _, vectored := w.c.conn.(*net.TCPConn); len(p) <= copyWire || !vectored {
		for len(p) > 0 {
			if len(w.buf) == cap(w.buf) {
				if err := w.flush(); err != nil {
					return err
				}
			}
			n := min(len(p), cap(w.buf)-len(w.buf))
			w.buf = append(w.buf, p[:n]...)
			p = p[n:]
		}
		return nil
	}
	for len(p) > 0 {
		block := p[:min(len(p), dataBufferSize)]
		if w.pending()+len(block) > dataBufferSize {
			if err := w.flush(); err != nil {
				return err
			}
		}
		w.iov = append(w.iov, w.buf[w.mark:len(w.buf):len(w.buf)], block)
		w.mark = len(w.buf)
		w.shared += len(block)
		p = p[len(block):]
	}
	return nil
}
