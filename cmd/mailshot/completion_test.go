package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// completionScript writes mailshot completion SHELL to a file.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	out, errOut, status := runCLI(t, context.Background(), "completion", shell)
	if status != exitOK || errOut != "" {
		t.Fatalf("completion %s: status %d: %s", shell, status, errOut)
	}
	return writeFile(t, t.TempDir(), "mailshot."+shell, out)
}

// bashComplete sources the bash script and completes words, the last being
// the one under the cursor, in dir.
func bashComplete(t *testing.T, script, dir string, words ...string) []string {
	t.Helper()
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c",
		`source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _mailshot; printf '%s\n' "${COMPREPLY[@]}"`,
		"bash", script)
	cmd.Args = append(cmd.Args, words...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v", words, err)
	}
	got := strings.Fields(string(out))
	slices.Sort(got)
	return got
}

func TestBashCompletion(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	script := completionScript(t, "bash")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "invite"), 0o755)
	os.Mkdir(filepath.Join(dir, "preview"), 0o755)
	writeFile(t, dir, "people.csv", "email\n")
	writeFile(t, dir, "people.xlsx", "")
	tests := []struct {
		words []string
		want  string // space-separated, sorted
	}{
		{[]string{"mailshot", ""}, "check completion help init preview report send version"},
		{[]string{"mailshot", "se"}, "send"},
		{[]string{"mailshot", "help", "pre"}, "preview"},
		{[]string{"mailshot", "completion", ""}, "bash fish zsh"},
		{[]string{"mailshot", "send", "--sm"}, "--smtp"},
		{[]string{"mailshot", "send", "--retr"}, "--retries --retry-failed"},
		{[]string{"mailshot", "check", "-"}, "" /* checked below */},
		{[]string{"mailshot", "check", "-t", ""}, "invite preview"},
		{[]string{"mailshot", "check", "--template", "in"}, "invite"},
		{[]string{"mailshot", "preview", "-d", "peo"}, "people.csv people.xlsx"},
		{[]string{"mailshot", "preview", "-t", "invite", "-o", "pr"}, "preview"},
		{[]string{"mailshot", "send", "--auth", "x"}, "xoauth2"},
		{[]string{"mailshot", "send", "--smtp", ""}, ""},
		{[]string{"mailshot", "send", "--smtp", "smtp://example.org", "--con"}, "--config --connections"},
		{[]string{"mailshot", "init", ""}, "invite preview"},
		{[]string{"mailshot", "version", ""}, ""},
	}
	for _, tt := range tests {
		got := bashComplete(t, script, dir, tt.words...)
		if tt.words[len(tt.words)-1] == "-" {
			continue
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q completes to %q, want %q", tt.words, got, tt.want)
		}
	}
	// Every flag of every command, from the command's own flag set.
	for _, cmd := range workCommands {
		got := bashComplete(t, script, dir, "mailshot", cmd, "-")
		commandFlagSet(context.Background(), cmd).VisitAll(func(f *flag.Flag) {
			if !slices.Contains(got, dashed(f.Name)) {
				t.Errorf("%s: %s is not completed; got %q", cmd, dashed(f.Name), got)
			}
		})
	}
}

func TestZshAndFishCompletion(t *testing.T) {
	for _, shell := range []string{"zsh", "fish"} {
		script := completionScript(t, shell)
		b, _ := os.ReadFile(script)
		text := string(b)
		for _, cmd := range workCommands {
			commandFlagSet(context.Background(), cmd).VisitAll(func(f *flag.Flag) {
				var want string
				switch {
				case shell == "zsh":
					want = dashed(f.Name)
				case len(f.Name) == 1:
					want = "-s " + f.Name
				default:
					want = "-l " + f.Name
				}
				if !strings.Contains(text, want) {
					t.Errorf("%s: %s %s missing", shell, cmd, want)
				}
			})
		}
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("no %s here: its script is not run", shell)
			continue
		}
		if out, err := exec.Command(shell, "-n", script).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
	}
}

func TestFishCompletion(t *testing.T) {
	if _, err := exec.LookPath("fish"); err != nil {
		t.Skip("no fish")
	}
	script := completionScript(t, "fish")
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "invite"), 0o755)
	writeFile(t, dir, "people.csv", "email\n")
	for _, tt := range []struct{ line, want string }{
		{"mailshot sen", "send"},
		{"mailshot send --sm", "--smtp"},
		{"mailshot check -t ", "invite/"},
		{"mailshot check -d peo", "people.csv"},
		{"mailshot send --auth xo", "xoauth2"},
	} {
		cmd := exec.Command("fish", "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, tt.line)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			word, _, _ := strings.Cut(l, "\t")
			got = append(got, word)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%q completes to %q, want %q", tt.line, got, tt.want)
		}
	}
}
