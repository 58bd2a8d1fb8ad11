//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the command in a process group of its own and makes
// cancelling it kill the whole group: "sh -c CMD" may leave CMD running
// when only sh is killed.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
