package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionLine(t *testing.T) {
	platform := " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, tt := range []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "mailshot (devel) " + runtime.Version() + platform},
		{"go install of a tag", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			"mailshot v1.2.0 go1.26.8" + platform},
		{"built in a work tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "1c131d5f9a3b7e2d4c6a8b0f1e3d5c7b9a1f2e3d"},
			{Key: "vcs.time", Value: "2026-03-01T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		}}, "mailshot (devel) (commit 1c131d5f9a3b, 2026-03-01T10:00:00Z, modified) go1.26.8" + platform},
		{"a clean tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20260301100000-1c131d5f9a3b"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "1c131d5f9a3b7e2d4c6a8b0f1e3d5c7b9a1f2e3d"},
			{Key: "vcs.modified", Value: "false"},
		}}, "mailshot v0.0.0-20260301100000-1c131d5f9a3b (commit 1c131d5f9a3b) go1.26.8" + platform},
	} {
		if got := versionLine(tt.bi); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

func TestVersionCommand(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		out, errOut, status := runCLI(t, context.Background(), args...)
		if status != exitOK || errOut != "" || !strings.HasPrefix(out, "mailshot ") || !strings.Contains(out, runtime.Version()) {
			t.Errorf("%q: status %d, stderr %q, stdout %q", args, status, errOut, out)
		}
	}
	if _, errOut, status := runCLI(t, context.Background(), "version", "--json"); status != exitInvalid || !strings.Contains(errOut, "no arguments") {
		t.Errorf("version --json: status %d, %q", status, errOut)
	}
}

// TestVersionOfABuiltBinary builds mailshot from this work tree with its
// version control information and checks that version names the commit.
func TestVersionOfABuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not in a git work tree: %v", err)
	}
	top, _ := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if st, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !st.IsDir() {
		t.Skip("a linked work tree (git worktree): the go command stamps version control information only in a repository's main work tree")
	}
	bin := filepath.Join(t.TempDir(), "mailshot")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "(commit " + string(head[:12])
	if !strings.HasPrefix(string(out), "mailshot ") || !strings.Contains(string(out), want) || !strings.Contains(string(out), runtime.Version()) {
		t.Errorf("mailshot version = %q, want it to hold %q and %s", out, want, runtime.Version())
	}
}
