//go:build unix

package merge

import "syscall"

// openNonblock makes opening a FIFO return at once instead of waiting for
// a writer; reads of a regular file are not affected.
const openNonblock = syscall.O_NONBLOCK
