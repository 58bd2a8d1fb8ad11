//go:build linux

package smtp

import (
	"syscall"
	"time"
)

// rusageThread is RUSAGE_THREAD (Linux): the calling thread only.
const rusageThread = 1

// threadCPU is the user and system CPU time of the calling OS thread; with
// runtime.LockOSThread, of the calling goroutine.
func threadCPU() time.Duration { return rusage(rusageThread) }

// processCPU is the CPU time of the whole process.
func processCPU() time.Duration { return rusage(syscall.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
