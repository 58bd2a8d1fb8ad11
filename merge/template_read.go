package merge

import (
	"fmt"
	"io"
	"io/fs"
	"os"
)

// readRegularFile reads the file at path, which must be a regular file of
// at most limit octets. It looks at the file before opening it, and opens
// it without blocking, so that a FIFO or a device (a template linked to
// /dev/zero) is an error rather than a read that never ends.
func readRegularFile(path string, limit int64) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, info, limit); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readOpened(f, path, limit)
}

// readOpened reads f, opened from path, checking again that it is a
// regular file (it may have been replaced since it was looked at) and
// reading at most limit octets.
func readOpened(f *os.File, path string, limit int64) ([]byte, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := checkRegular(path, info, limit); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: more than the %d octets allowed", path, limit)
	}
	return b, nil
}

// checkRegular reports why the file at path, described by info, cannot be
// read: not a regular file, or larger than limit.
func checkRegular(path string, info fs.FileInfo, limit int64) error {
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: not a regular file but %s", path, fileTypeName(info.Mode()))
	}
	if info.Size() > limit {
		return fmt.Errorf("%s: %d octets, more than the %d allowed", path, info.Size(), limit)
	}
	return nil
}

// fileTypeName names the type of a file that is not a regular file.
func fileTypeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "a special file"
}
