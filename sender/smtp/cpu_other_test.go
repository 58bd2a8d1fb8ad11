//go:build !linux

package smtp

import "time"

// threadCPU and processCPU are only measured on Linux; -1 means unknown.
func threadCPU() time.Duration  { return -1 }
func processCPU() time.Duration { return -1 }
