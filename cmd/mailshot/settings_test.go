package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mailshot.toml is found in the current directory or above it, and its
// relative paths resolve against its own directory.
func TestSettingsFoundUpwardWithRelativePaths(t *testing.T) {
	root, _ := filepath.EvalSymlinks(t.TempDir())
	copyTemplate(t, root, "tpl")
	peopleCSV(t, root, 2)
	writeFile(t, root, settingsFile, "template = \"tpl\"\ndata = \"people.csv\"\n")
	deep := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(deep)
	out, errOut, status := runCLI(t, context.Background(), "check")
	if status != exitOK || !strings.Contains(out, "2 rows: 2 valid") {
		t.Errorf("check two directories below mailshot.toml: %d\n%s%s", status, out, errOut)
	}
}

// A value of the wrong type names the key and the type wanted.
func TestSettingsWrongTypeNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "s.toml", "connections = \"three\"\n")
	_, errOut, status := runCLI(t, context.Background(), "send", "--config", p, "-t", "testdata/plain", "-d", peopleCSV(t, dir, 1), "--smtp", "smtp://127.0.0.1:1")
	if status != exitInvalid || !strings.Contains(errOut, `connections: want a number, got "three"`) {
		t.Errorf("status %d\n%s", status, errOut)
	}
}

// A mailshot.toml that was found, not named, may not name a command to
// run; named with --config it may.
func TestSettingsFoundMayNotRunCommands(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	marker := filepath.Join(dir, "ran")
	writeFile(t, dir, settingsFile, "password-cmd = \"touch "+marker+"\"\n")
	data := peopleCSV(t, dir, 1)
	t.Chdir(dir)
	args := []string{"send", "-t", plainDir, "-d", data, "--smtp", "smtp://alice@127.0.0.1:1"}
	_, errOut, status := runCLI(t, context.Background(), args...)
	if status != exitInvalid || !strings.Contains(errOut, `"password-cmd" names a command to run`) || !strings.Contains(errOut, "--config") {
		t.Errorf("found settings with password-cmd: %d\n%s", status, errOut)
	}
	if fileExists(marker) {
		t.Error("the command ran")
	}
	_, errOut, _ = runCLI(t, context.Background(), append(args, "--config", filepath.Join(dir, settingsFile))...)
	if strings.Contains(errOut, "names a command to run") {
		t.Errorf("named with --config, still refused:\n%s", errOut)
	}
}

// plainDir is testdata/plain as an absolute path, for tests that change
// directory.
var plainDir, _ = filepath.Abs("testdata/plain")
