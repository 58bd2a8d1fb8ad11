//go:build !unix

package merge

// processRuns reports whether a process with the ID pid exists; where that
// cannot be told, it says yes, so that nothing in use is removed.
func processRuns(pid int) bool { return true }
