package journal

import (
	"fmt"
	"os"
)

// appender makes groups of journal records durable at the end of the file.
// One goroutine (the journal's flusher) calls it at a time.
type appender interface {
	// append writes data, whole records, after everything appended before
	// and returns once it is durable.
	append(data []byte) error
	// close leaves the file holding exactly the records appended, and
	// releases what the appender holds (not the journal's own file).
	close() error
}

const (
	// directAlign is the alignment of O_DIRECT writes: offset, length and
	// memory. 4096 suits disks with 512- and 4096-octet sectors alike.
	directAlign = 4096
	// maxGroupWrite bounds one write of records: a larger group goes in
	// several, each durable before the next, so that a crash can tear at
	// most this much (plus a block) after the last complete record.
	maxGroupWrite = 1 << 20
	// maxTornSpan is how far past the block of the last complete record a
	// crash can leave octets of a torn write.
	maxTornSpan = maxGroupWrite + 2*directAlign
)

// syncAppender appends with write(2) and makes the group durable with
// fdatasync(2): it works on any file system, at the price of an inode
// update per group as the file grows.
type syncAppender struct {
	f *os.File // opened with O_APPEND
}

func (a *syncAppender) append(data []byte) error {
	for len(data) > 0 {
		n := min(len(data), maxGroupWrite)
		if _, err := a.f.Write(data[:n]); err != nil {
			return err
		}
		if err := syncData(a.f); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

func (a *syncAppender) close() error { return nil }

// trimTo cuts f, the journal file, to end octets and makes that durable:
// it drops space preallocated past the last record.
func trimTo(f *os.File, end int64) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.Size() == end {
		return nil
	}
	if err := f.Truncate(end); err != nil {
		return fmt.Errorf("cut preallocated space: %w", err)
	}
	return f.Sync()
}
