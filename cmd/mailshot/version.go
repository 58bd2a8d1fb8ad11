package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// runVersion prints what mailshot was built from: mailshot version and
// mailshot --version.
func runVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("version takes no arguments, got %q (mailshot help version)", args[0])}
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(bi))
	return nil
}

// versionLine is the one line mailshot version prints, from the build
// information the Go toolchain puts in the binary: the module's version
// ("(devel)" for a build from a work tree), the commit with its date and
// whether the tree had changes, and the Go version and platform.
//
//	mailshot v1.2.0 (commit 1c131d5f9a3b, 2026-03-01T10:00:00Z) go1.26.8 linux/amd64
//	mailshot (devel) (commit 1c131d5f9a3b, modified) go1.26.8 linux/amd64
func versionLine(bi *debug.BuildInfo) string {
	version, goVersion := "(devel)", runtime.Version()
	var vcs []string
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		settings := make(map[string]string)
		for _, s := range bi.Settings {
			settings[s.Key] = s.Value
		}
		if rev := settings["vcs.revision"]; rev != "" {
			vcs = append(vcs, "commit "+rev[:min(len(rev), 12)])
			if t := settings["vcs.time"]; t != "" {
				vcs = append(vcs, t)
			}
			if settings["vcs.modified"] == "true" {
				vcs = append(vcs, "modified")
			}
		}
	}
	line := "mailshot " + version
	if len(vcs) > 0 {
		line += " (" + strings.Join(vcs, ", ") + ")"
	}
	return line + " " + goVersion + " " + runtime.GOOS + "/" + runtime.GOARCH
}
