package merge

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// digestChunk is the number of bytes of a data file each SHA-256 of a
// dataDigest covers. A later pass checks a chunk before it hands any of its
// bytes on, so it holds one chunk in memory; the digest itself takes 32 bytes
// a chunk, 128 kB for a 1 GB file.
const digestChunk = 256 << 10

// dataDigest is what one pass over a data file read: the SHA-256 of every
// digestChunk bytes, in order. A send's second pass reads the file through
// a verifier of the first pass's digest, so that every byte it parses is a
// byte the first pass checked, whatever the file's size and times say.
type dataDigest struct {
	sums [][sha256.Size]byte
	last int   // bytes in the last chunk of sums
	n    int64 // bytes read in all
	eof  bool  // the pass read to the end of the file
}

// errDigestMismatch is what a verifying reader returns at the first byte
// that differs from the recorded pass.
var errDigestMismatch = fmt.Errorf("the bytes read differ from those checked: %w", ErrDataChanged)

// recordingReader passes r through and records its bytes in d.
type recordingReader struct {
	r      io.Reader
	d      *dataDigest
	sum    hash.Hash // of the current chunk
	inSum  int       // bytes in sum so far
	closed bool
}

func newRecordingReader(r io.Reader, d *dataDigest) *recordingReader {
	*d = dataDigest{}
	return &recordingReader{r: r, d: d, sum: sha256.New()}
}

func (rr *recordingReader) Read(p []byte) (int, error) {
	n, err := rr.r.Read(p)
	rr.add(p[:n])
	if err == io.EOF {
		rr.d.eof = true
		rr.finish()
	}
	return n, err
}

// add hashes b, closing a chunk at every digestChunk bytes.
func (rr *recordingReader) add(b []byte) {
	rr.d.n += int64(len(b))
	for len(b) > 0 {
		k := min(len(b), digestChunk-rr.inSum)
		rr.sum.Write(b[:k])
		rr.inSum += k
		b = b[k:]
		if rr.inSum == digestChunk {
			rr.flush()
		}
	}
}

// flush closes the current chunk.
func (rr *recordingReader) flush() {
	var s [sha256.Size]byte
	rr.sum.Sum(s[:0])
	rr.d.sums = append(rr.d.sums, s)
	rr.d.last = rr.inSum
	rr.sum.Reset()
	rr.inSum = 0
}

// finish records the last, short chunk; the digest is complete.
func (rr *recordingReader) finish() {
	if rr.closed {
		return
	}
	rr.closed = true
	if rr.inSum > 0 {
		rr.flush()
	}
}

// verifyingReader reads r and returns errDigestMismatch as soon as what it
// reads differs from d, before it returns any byte of a chunk that differs.
type verifyingReader struct {
	r    io.Reader
	d    *dataDigest
	next int    // the chunk to read next
	buf  []byte // the unread rest of the current, checked chunk
	err  error
}

func newVerifyingReader(r io.Reader, d *dataDigest) *verifyingReader {
	return &verifyingReader{r: r, d: d}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if len(v.buf) == 0 && v.err == nil {
		v.err = v.fill()
	}
	if len(v.buf) == 0 {
		return 0, v.err
	}
	n := copy(p, v.buf)
	v.buf = v.buf[n:]
	return n, nil
}

// fill reads and checks the next chunk.
func (v *verifyingReader) fill() error {
	if v.next >= len(v.d.sums) {
		if !v.d.eof {
			// The checked pass stopped here; nothing beyond was checked.
			return errDigestMismatch
		}
		var one [1]byte
		if n, err := io.ReadFull(v.r, one[:]); n > 0 {
			return errDigestMismatch // the file grew
		} else if err != io.EOF {
			return err
		}
		return io.EOF
	}
	size := digestChunk
	if v.next == len(v.d.sums)-1 {
		size = v.d.last
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(v.r, buf); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || err == io.EOF {
			return errDigestMismatch // the file shrank
		}
		return err
	}
	if sha256.Sum256(buf) != v.d.sums[v.next] {
		return errDigestMismatch
	}
	v.next++
	v.buf = buf
	return nil
}

// matches reports whether the file at path still holds the bytes the digest
// was taken of: it reads them again, as far as the pass that made d read.
func (d *dataDigest) matches(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	v := newVerifyingReader(f, d)
	if !d.eof {
		_, err = io.CopyN(io.Discard, v, d.n)
		return err
	}
	_, err = io.Copy(io.Discard, v)
	return err
}
