package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitWritesAStarterKitThatChecks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kit")
	out, errOut, status := runCLI(t, context.Background(), "init", dir)
	if status != exitOK {
		t.Fatalf("status %d\n%s", status, errOut)
	}
	for _, name := range []string{"message.txt", "message.html", "logo.png", "recipients.csv"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		src := filepath.Join("../../templates/announcement", name)
		if name == "recipients.csv" {
			src = "../../samples/recipients.csv"
		}
		want, _ := os.ReadFile(src)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s", name, src)
		}
	}
	// The three next commands are printed, and the first one passes.
	var next []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  mailshot ") {
			next = append(next, strings.Fields(l)[1])
		}
	}
	if strings.Join(next, " ") != "check preview send" {
		t.Errorf("next commands %v:\n%s", next, out)
	}
	if _, errOut, status := runCLI(t, context.Background(), "check", "-t", dir, "-d", filepath.Join(dir, "recipients.csv")); status != exitOK {
		t.Errorf("check of the starter kit: status %d\n%s", status, errOut)
	}
}

func TestInitRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	mine := writeFile(t, dir, "message.txt", "my own template\n")
	writeFile(t, dir, "notes.txt", "unrelated\n")
	_, errOut, status := runCLI(t, context.Background(), "init", dir)
	if status != exitInvalid || !strings.Contains(errOut, "message.txt") {
		t.Fatalf("status %d\n%s", status, errOut)
	}
	if b, _ := os.ReadFile(mine); string(b) != "my own template\n" {
		t.Error("init overwrote message.txt")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("init wrote files although it refused: %d entries", len(entries))
	}
}

func TestSettingsFileFillsFlagsThatTheCommandLineDidNotSet(t *testing.T) {
	dir := t.TempDir()
	data := peopleCSV(t, dir, 2)
	tpl, _ := filepath.Abs("testdata/plain")
	good := writeFile(t, dir, "good.toml", "template = \""+tpl+"\"\ndata = \""+data+"\"\nsmtp = \"smtp://example.org\"\nrate = \"10/s\"\n")
	out, errOut, status := runCLI(t, context.Background(), "check", "--config", good)
	if status != exitOK || !strings.Contains(out, "2 rows: 2 valid") {
		t.Fatalf("check with settings: status %d\n%s%s", status, out, errOut)
	}
	// A flag overrides the file: this data file does not exist.
	_, errOut, status = runCLI(t, context.Background(), "check", "--config", good, "-d", filepath.Join(dir, "missing.csv"))
	if status != exitInvalid || !strings.Contains(errOut, "missing.csv") {
		t.Errorf("flag did not override the settings file: status %d\n%s", status, errOut)
	}
	tests := []struct{ content, want string }{
		{"password = \"hunter2\"\n", "secrets are never read"},
		{"smtp-token = \"abc\"\n", "secrets are never read"},
		{"conections = 3\n", `unknown setting "conections"`},
		{"[send]\nrate = \"1/s\"\n", "sections are not used"},
		{"rate = \n", "settings"},
	}
	for _, tt := range tests {
		p := writeFile(t, dir, "bad.toml", tt.content)
		_, errOut, status := runCLI(t, context.Background(), "check", "--config", p, "-t", tpl, "-d", data)
		if status != exitInvalid || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: status %d, stderr %q, want %q", tt.content, status, errOut, tt.want)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("a secret from the settings file was printed: %s", errOut)
		}
	}
}

func TestSettingsFileWritableByOthersIsRefused(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "open.toml", "password-cmd = \"echo pwned > /tmp/mailshot-pwned\"\n")
	if err := os.Chmod(p, 0o666); err != nil {
		t.Fatal(err)
	}
	_, errOut, status := runCLI(t, context.Background(), "check", "--config", p, "-t", "testdata/plain", "-d", peopleCSV(t, dir, 1))
	if status != exitInvalid || !strings.Contains(errOut, "group or others may write it") || !strings.Contains(errOut, "chmod go-w") {
		t.Errorf("status %d\n%s", status, errOut)
	}
}
