//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// checkSettingsOwner refuses a settings file, already open as f, that
// another user owns (root excepted) or that group or others may write: it
// can name commands that run (--password-cmd, --token-cmd) and the server
// the password goes to.
func checkSettingsOwner(f *os.File) error {
	path := f.Name()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return withHint(fmt.Errorf("settings %s: group or others may write it, and it can name commands to run; not read", path),
			"chmod go-w %s", shellQuote(path))
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() && st.Uid != 0 {
		return withHint(fmt.Errorf("settings %s: belongs to another user, and it can name commands to run; not read", path),
			"use your own settings file, or pass the flags on the command line")
	}
	return nil
}
