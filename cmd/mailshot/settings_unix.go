//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// checkSettingsOwner refuses a settings file that another user owns or may
// write: it can name commands that run (--password-cmd, --token-cmd) and
// the server the password goes to.
func checkSettingsOwner(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return withHint(fmt.Errorf("settings %s: other users may write it, and it can name commands to run; not read", path),
			"chmod go-w %s", shellQuote(path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return withHint(fmt.Errorf("settings %s: belongs to another user, and it can name commands to run; not read", path),
			"use your own settings file, or pass the flags on the command line")
	}
	return nil
}
