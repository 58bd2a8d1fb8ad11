package smtp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// maxLine is the longest text line SMTP carries, in octets without CRLF and
// without the dot added for transparency (RFC 5321 §4.5.3.1.6).
const maxLine = 998

// dataBufferSize is the size of the writes of the body: large writes keep
// system calls and TLS records few.
const dataBufferSize = 64 << 10

// ErrLineTooLong is returned when a message has a line longer than 998
// octets (RFC 5321 §4.5.3.1.6). Send finds it before MAIL FROM when the body
// is Pieces or an io.ReadSeeker (with Envelope.Then, after MAIL FROM but
// before any of the body); otherwise the transaction is abandoned before the
// final dot (the connection is closed) and the line never reaches the wire.
// It is a permanent property of the message.
var ErrLineTooLong = errors.New("smtp: message line longer than 998 octets")

// dataWriter is the body of a DATA command on the wire (RFC 5321 §4.5.2):
// every line end becomes CRLF (a bare LF or CR included, so no bare one
// reaches the wire), a line starting with "." gets another ".", lines over
// 998 octets are refused, and Close ends the body with exactly CRLF.CRLF.
// It works on whole buffers and writes in blocks of about dataBufferSize,
// each with its own deadline, so the deadline moves with progress.
type dataWriter struct {
	c   *Client
	ctx context.Context
	buf []byte // wire bytes not yet written
	// iov is what the next write sends before buf[mark:]: pieces of buf
	// and, between them, octets of shared pieces, written from where they
	// are (see writeWire); buf is not moved until that write.
	iov     net.Buffers
	mark    int
	shared  int   // octets of shared pieces in iov
	lineLen int   // octets of the current line so far
	afterCR bool  // the last input octet was a CR already turned into CRLF
	octets  int64 // octets written to the connection
	err     error // sticky
	closed  bool
	stop    func() bool // ends the context watch of Data, nil for Send
}

// startData prepares the client's data writer for a body.
func (c *Client) startData(ctx context.Context) *dataWriter {
	w := &c.data
	if w.buf == nil {
		w.buf = make([]byte, 0, dataBufferSize)
	}
	clear(w.iov[:cap(w.iov)]) // left by a failed write
	*w = dataWriter{c: c, ctx: ctx, buf: w.buf[:0], iov: w.iov[:0]}
	return w
}

// Write adds p to the body.
func (w *dataWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("smtp: write to a closed message")
	}
	n := len(p)
	for len(p) > 0 {
		if w.afterCR {
			w.afterCR = false
			if p[0] == '\n' {
				p = p[1:]
				continue
			}
		}
		// Output is at most twice the input (a LF becomes CRLF, a dot
		// two), so a block of half the free space always fits.
		if cap(w.buf)-len(w.buf) < 2*fastBlock || w.shared >= dataBufferSize {
			if err := w.flush(); err != nil {
				return n - len(p), err
			}
		}
		q := p[:min(len(p), (cap(w.buf)-len(w.buf))/2)]
		if !w.writeFast(q) {
			if err := w.writeExact(q); err != nil {
				return n - len(p), err
			}
		}
		p = p[len(q):]
	}
	return n, nil
}

// fastBlock is the least input writeFast is given at once.
const fastBlock = 4 << 10

// writeFast encodes q when every CR in it is part of a CRLF and no line is
// too long, which it checks with one vectorised count of CRs and one search
// per line; lines needing no change are copied in runs. Otherwise it
// leaves the state as it was and returns false for writeExact to do it.
func (w *dataWriter) writeFast(q []byte) bool {
	crs := bytes.Count(q, []byte{'\r'})
	start, lineLen := len(w.buf), w.lineLen
	crlfs, run, pos := 0, 0, 0
	for pos < len(q) {
		i := bytes.IndexByte(q[pos:], '\n')
		if i < 0 {
			// A last partial line; a CR in it makes the counts differ.
			rest := q[pos:]
			if w.lineLen+len(rest) > maxLine {
				break
			}
			if w.lineLen == 0 && rest[0] == '.' {
				w.buf = append(append(w.buf, q[run:pos]...), '.')
				run = pos
			}
			w.lineLen += len(rest)
			pos = len(q)
			break
		}
		end := pos + i // the LF
		content, cr := i, i > 0 && q[end-1] == '\r'
		if cr {
			content--
			crlfs++
		}
		if w.lineLen+content > maxLine {
			break
		}
		if w.lineLen == 0 && content > 0 && q[pos] == '.' {
			w.buf = append(append(w.buf, q[run:pos]...), '.')
			run = pos
		}
		if !cr { // a bare LF
			w.buf = append(append(w.buf, q[run:end]...), '\r', '\n')
			run = end + 1
		}
		w.lineLen = 0
		pos = end + 1
	}
	if pos < len(q) || crlfs != crs {
		w.buf, w.lineLen = w.buf[:start], lineLen
		return false
	}
	w.buf = append(w.buf, q[run:]...)
	return true
}

// writeExact encodes p line by line, handling bare CRs, and refuses a line
// over maxLine. Write has dealt with a LF completing a CR before p.
func (w *dataWriter) writeExact(p []byte) error {
	for len(p) > 0 {
		seg, eol, used := p, false, len(p)
		if i := bytes.IndexByte(p, '\n'); i >= 0 {
			seg, eol, used = p[:i], true, i+1
		}
		if j := bytes.IndexByte(seg, '\r'); j >= 0 {
			// The CR ends the line; a LF right after it belongs to it.
			seg, eol, used = seg[:j], true, j+1
			switch {
			case used == len(p):
				w.afterCR = true
			case p[used] == '\n':
				used++
			}
		}
		if w.lineLen+len(seg) > maxLine {
			w.err = ErrLineTooLong
			if w.c != nil { // nil in encodeAlone
				w.c.breakConn() // DATA cannot be abandoned any other way
			}
			return w.err
		}
		if w.lineLen == 0 && len(seg) > 0 && seg[0] == '.' {
			w.buf = append(w.buf, '.')
		}
		w.buf = append(w.buf, seg...)
		w.lineLen += len(seg)
		if eol {
			w.buf = append(w.buf, '\r', '\n')
			w.lineLen = 0
		}
		p = p[used:]
	}
	return nil
}

// flush writes the buffered wire bytes, the shared pieces between them
// included, in one system call where the connection can (writev).
func (w *dataWriter) flush() error {
	if len(w.buf) == 0 && len(w.iov) == 0 {
		return nil
	}
	c := w.c
	c.setDeadline(w.ctx, true, orDefault(c.cfg.DataBlockTimeout, DefaultDataBlockTimeout))
	var n int64
	var err error
	if len(w.iov) == 0 {
		var k int
		k, err = c.conn.Write(w.buf)
		n = int64(k)
	} else {
		bufs := append(w.iov, w.buf[w.mark:])
		n, err = bufs.WriteTo(c.conn)
		clear(w.iov[:cap(w.iov)]) // no hold on the message's pieces
		w.iov, w.mark, w.shared = w.iov[:0], 0, 0
	}
	w.octets += n
	w.buf = w.buf[:0]
	if err != nil {
		w.err = c.fail(w.ctx, "message", err)
	}
	return w.err
}

// pending is the number of octets waiting for flush.
func (w *dataWriter) pending() int { return len(w.buf) + w.shared }

// finish ends the body with CRLF.CRLF, followed in the same write by the
// command lines next (the following transaction's, pipelined: RFC 2920
// §3.1), and reads the reply to the dot. committed reports whether the
// final dot was written completely.
func (w *dataWriter) finish(next []byte) (r Reply, committed bool, err error) {
	if w.err != nil {
		return Reply{}, false, w.err
	}
	if w.closed {
		return Reply{}, false, errors.New("smtp: message already closed")
	}
	w.closed = true
	if cap(w.buf)-len(w.buf) < 5+len(next) {
		if err := w.flush(); err != nil {
			return Reply{}, false, err
		}
	}
	if w.lineLen > 0 {
		w.buf = append(w.buf, '\r', '\n')
	}
	w.buf = append(w.buf, '.', '\r', '\n')
	dotEnd := w.octets + int64(w.pending())
	w.buf = append(w.buf, next...)
	c := w.c
	if c.trace.on() {
		c.trace.note(bodySummary(dotEnd - 3)) // without the dot line
		c.trace.client("message", []byte("."))
		for rest := next; len(rest) > 0; {
			i := bytes.IndexByte(rest, '\n')
			line := bytes.TrimSuffix(rest[:i], []byte{'\r'})
			c.trace.client(string(bytes.Fields(line)[0]), line)
			rest = rest[i+1:]
		}
	}
	if err := w.flush(); err != nil {
		// The dot counts as sent when the octets written reach past it,
		// whatever became of the commands after it.
		return Reply{}, w.octets >= dotEnd, err
	}
	r, err = c.readReply(w.ctx, "message", orDefault(c.cfg.DataTermTimeout, DefaultDataTermTimeout))
	return r, true, err
}

// Close ends the body with CRLF.CRLF and reads the reply; a reply other
// than 2xx is an *Error for "message".
func (w *dataWriter) Close() error {
	if w.stop != nil {
		defer w.stop()
	}
	r, _, err := w.finish(nil)
	if err != nil {
		return err
	}
	if !r.Positive() {
		return w.c.replyError("message", r)
	}
	return nil
}

// copyBody streams body into w, using body's WriteTo when it has one (a
// bytes.Reader writes itself in one call). A failure to read the body
// abandons the transaction: the connection is closed before the final dot.
func (c *Client) copyBody(w *dataWriter, body io.Reader) error {
	var err error
	if p, ok := body.(*Pieces); ok {
		err = w.writePieces(p)
	} else if wt, ok := body.(io.WriterTo); ok {
		_, err = wt.WriteTo(w)
	} else {
		if c.rbuf == nil {
			c.rbuf = make([]byte, 32<<10)
		}
		for err == nil {
			var n int
			n, err = body.Read(c.rbuf)
			if n > 0 {
				if _, werr := w.Write(c.rbuf[:n]); werr != nil {
					return werr
				}
			}
		}
		if err == io.EOF {
			err = nil
		}
	}
	switch {
	case w.err != nil:
		return w.err
	case err != nil:
		c.breakConn()
		return fmt.Errorf("smtp: reading the message: %w", err)
	}
	return nil
}

// checkLines reads r to the end and reports ErrLineTooLong if a line, with
// CR, LF and CRLF all counting as line ends, is longer than maxLine. It
// returns the number of octets read.
func checkLines(r io.Reader, buf []byte) (int64, error) {
	var total int64
	lineLen := 0 // octets since the last line end, carried between reads
	for {
		n, err := r.Read(buf)
		total += int64(n)
		if lineLen = longestTail(buf[:n], lineLen); lineLen > maxLine {
			return total, ErrLineTooLong
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, fmt.Errorf("smtp: reading the message: %w", err)
		}
	}
}

// longestTail returns the length of the line that p leaves open, given
// lineLen octets of it before p, or a number over maxLine as soon as some
// line is too long. It looks at windows of maxLine+1 octets, each of which
// must hold a line end, searching each backwards from its end: with short
// lines only a few octets per window are read.
func longestTail(p []byte, lineLen int) int {
	pos := 0 // p[:pos] holds no line too long; the line at pos started lineLen octets before it
	for {
		// The current line's end must come at limit at the latest.
		limit := pos - lineLen + maxLine
		if limit >= len(p) {
			if k := lastLineEnd(p[pos:]); k >= 0 {
				return len(p) - pos - k - 1
			}
			return lineLen + len(p) - pos
		}
		k := lastLineEnd(p[pos : limit+1])
		if k < 0 {
			return maxLine + 1
		}
		pos += k + 1
		lineLen = 0
	}
}

// lastLineEnd is the index of the last CR or LF in p, or -1.
func lastLineEnd(p []byte) int {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\n' || p[i] == '\r' {
			return i
		}
	}
	return -1
}
