package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiling for those working on mailshot itself: with
// MAILSHOT_CPUPROFILE=FILE the whole command runs under the CPU profiler,
// and with MAILSHOT_MEMPROFILE=FILE an allocation profile is written at the
// end. Read either with `go tool pprof`. Nothing else changes.
const (
	cpuProfileEnv = "MAILSHOT_CPUPROFILE"
	memProfileEnv = "MAILSHOT_MEMPROFILE"
)

// startProfiles starts what the environment asks for and returns the
// function that finishes it, to call before the process exits.
func startProfiles() (stop func()) {
	var cpu *os.File
	if path := os.Getenv(cpuProfileEnv); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "mailshot: %s: %v\n", cpuProfileEnv, err)
		} else {
			cpu = f
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if path := os.Getenv(memProfileEnv); path != "" {
			f, err := os.Create(path)
			if err == nil {
				runtime.GC()
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "mailshot: %s: %v\n", memProfileEnv, err)
			}
		}
	}
}
