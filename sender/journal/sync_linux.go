package journal

import (
	"os"
	"syscall"
)

// syncData makes what was appended to f durable with fdatasync(2): the data
// and the file size needed to read it back, without the modification time
// that fsync would also write. That saves a metadata write per batch.
func syncData(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}
