package main

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestHelpIsOnStdout(t *testing.T) {
	for _, cmd := range workCommands {
		var first string
		for _, args := range [][]string{{"help", cmd}, {cmd, "-h"}, {cmd, "--help"}, {cmd, "-help"}} {
			out, errOut, status := runCLI(t, context.Background(), args...)
			if status != exitOK || errOut != "" || !strings.HasPrefix(out, "Usage: mailshot "+cmd) {
				t.Errorf("%q: status %d, stderr %q, stdout:\n%s", args, status, errOut, out)
			}
			if first == "" {
				first = out
				golden(t, "help-"+cmd+".golden", out)
			} else if out != first {
				t.Errorf("%q is not the same help as help %s", args, cmd)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out, errOut, status := runCLI(t, context.Background(), args...)
		if status != exitOK || errOut != "" || out != usage {
			t.Errorf("%q: status %d, stderr %q, stdout:\n%s", args, status, errOut, out)
		}
	}
	for _, cmd := range []string{"help", "version", "completion"} {
		out, errOut, status := runCLI(t, context.Background(), "help", cmd)
		if status != exitOK || errOut != "" || !strings.Contains(out, "mailshot "+cmd) {
			t.Errorf("help %s: status %d, stderr %q, stdout:\n%s", cmd, status, errOut, out)
		}
	}
}

// flagLine is a flag's line in the help: its names, dashed, and the word
// for its value.
var flagLine = regexp.MustCompile(`^  (?:-(\w), |    )--([\w-]+)(?: (\S+))?(?:  |$)`)

func TestHelpShowsEveryFlagOnceWithTwoDashes(t *testing.T) {
	for _, cmd := range workCommands {
		t.Run(cmd, func(t *testing.T) {
			out, _, _ := runCLI(t, context.Background(), "help", cmd)
			shown := make(map[string]int) // by name
			var groups []string
			for _, line := range strings.Split(out, "\n") {
				if m := flagLine.FindStringSubmatch(line); m != nil {
					shown[m[2]]++
					if m[1] != "" {
						shown[m[1]]++
					}
				}
				if strings.HasSuffix(line, ":") && !strings.HasPrefix(line, " ") {
					groups = append(groups, strings.TrimSuffix(line, ":"))
				}
			}
			fs := commandFlagSet(context.Background(), cmd)
			fs.VisitAll(func(f *flag.Flag) {
				if shown[f.Name] != 1 {
					t.Errorf("--%s is shown %d times", f.Name, shown[f.Name])
				}
			})
			for _, stale := range []string{"-template string", "same as -", "\n  -template", "\n  -t DIR"} {
				if strings.Contains(out, stale) {
					t.Errorf("the help still shows %q", stale)
				}
			}
			if cmd == "check" && !strings.Contains(out, "\n  -t, --template DIR  ") {
				t.Errorf("no -t, --template DIR line")
			}
			if cmd == "send" {
				for _, g := range []string{"Input", "Server", "Pacing", "Safety", "Output"} {
					if !slices.Contains(groups, g) {
						t.Errorf("no %s group; groups %q", g, groups)
					}
				}
			}
			if slices.Contains(groups, "Other") {
				t.Errorf("flags in no group (add them to flagGroups):\n%s", out[strings.Index(out, "\nOther:"):])
			}
			_, examples, _ := strings.Cut(out, "\nExamples:\n")
			if n := strings.Count(examples, "  mailshot "+cmd+" "); n < 2 {
				t.Errorf("%d examples, want 2 or 3", n)
			}
		})
	}
}

func TestFlagMistakesAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"send", "--smpt", "smtp://example.org"}, "unknown flag --smpt; did you mean --smtp? (mailshot send -h)"},
		{[]string{"check", "-tempalte", "x"}, "unknown flag --tempalte; did you mean --template? (mailshot check -h)"},
		{[]string{"preview", "--templ", "x"}, "unknown flag --templ; did you mean --template? (mailshot preview -h)"},
		{[]string{"report", "--frobnicate"}, "unknown flag --frobnicate (mailshot report -h)"},
		{[]string{"check", "-x"}, "unknown flag -x (mailshot check -h)"},
		{[]string{"check", "-t"}, "-t needs a value: -t DIR (mailshot check -h)"},
		{[]string{"send", "--connections", "three"}, `--connections: want a whole number, got "three" (mailshot send -h)`},
		{[]string{"send", "--retry-failed=maybe"}, `--retry-failed: want true or false, got "maybe" (mailshot send -h)`},
		{[]string{"check", "---t", "x"}, "bad flag syntax: ---t (mailshot check -h)"},
		{[]string{"sned"}, `unknown command "sned"; did you mean send? (mailshot help)`},
		{[]string{"reprot"}, `unknown command "reprot"; did you mean report? (mailshot help)`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" (mailshot help)`},
		{[]string{"help", "chekc"}, `unknown command "chekc"; did you mean check? (mailshot help)`},
		{[]string{"completion", "tcsh"}, "completion needs one shell: bash, zsh or fish (mailshot help completion)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, status := runCLI(t, context.Background(), tt.args...)
			if want := "mailshot: " + tt.want + "\n"; errOut != want || out != "" || status != exitInvalid {
				t.Errorf("status %d, stdout %q\nstderr %q\nwant   %q", status, out, errOut, want)
			}
		})
	}
}

// parseBoth parses args with the flag package and with parseCommandLine,
// each into a fresh set of every kind of flag, and returns what each set.
func parseBoth(args []string) (std, ours map[string]string, stdArgs, ourArgs []string, stdErr, ourErr error) {
	newSet := func() (*flag.FlagSet, map[string]any) {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(discard{})
		vals := map[string]any{
			"t": fs.String("t", "", ""), "template": new(string), "json": fs.Bool("json", false, ""),
			"n": fs.Int("n", 0, ""), "where": new(stringList),
		}
		fs.StringVar(vals["template"].(*string), "template", "", "")
		fs.Var(vals["where"].(*stringList), "where", "")
		return fs, vals
	}
	collect := func(fs *flag.FlagSet) map[string]string {
		m := make(map[string]string)
		fs.Visit(func(f *flag.Flag) { m[f.Name] = f.Value.String() })
		return m
	}
	a, _ := newSet()
	stdErr = a.Parse(args)
	b, _ := newSet()
	ourErr = parseCommandLine(b, args)
	return collect(a), collect(b), a.Args(), b.Args(), stdErr, ourErr
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestParseCommandLineParsesAsTheFlagPackage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-t", "dir", "--json", "rest", "-n", "3"},
		{"--template=dir", "-json=false", "-n=-4", "--where", "a=b", "-where", "c!=d"},
		{"-t", "-json"}, // a value that looks like a flag
		{"--", "-t", "x"},
		{"-", "-t"},
		{"-n", "x"},
		{"-json", "false", "more"},
		{"--zz"},
		{"-t"},
		{"-=x"},
		{"---json"},
		{"-h"},
	} {
		std, ours, stdArgs, ourArgs, stdErr, ourErr := parseBoth(args)
		if (stdErr == nil) != (ourErr == nil) {
			t.Errorf("%q: flag package: %v; parseCommandLine: %v", args, stdErr, ourErr)
			continue
		}
		if stdErr == nil && (!reflect.DeepEqual(std, ours) || !slices.Equal(stdArgs, ourArgs)) {
			t.Errorf("%q: flag package set %v, args %q; parseCommandLine set %v, args %q", args, std, stdArgs, ours, ourArgs)
		}
	}
}

func FuzzParseCommandLine(f *testing.F) {
	for _, s := range []string{"-t dir --json rest", "--template=x -n 3", "-- -t", "-n x", "-where a=b -where c", "---x", "-h", "- -t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Fields(s)
		std, ours, stdArgs, ourArgs, stdErr, ourErr := parseBoth(args)
		if (stdErr == nil) != (ourErr == nil) {
			t.Fatalf("%q: flag package: %v; parseCommandLine: %v", args, stdErr, ourErr)
		}
		if stdErr == nil && (!reflect.DeepEqual(std, ours) || !slices.Equal(stdArgs, ourArgs)) {
			t.Fatalf("%q: flag package set %v, args %q; parseCommandLine set %v, args %q", args, std, stdArgs, ours, ourArgs)
		}
	})
}

func TestWrap(t *testing.T) {
	for _, tt := range []struct {
		in    string
		width int
		want  []string
	}{
		{"", 10, []string{""}},
		{"one two three", 7, []string{"one two", "three"}},
		{"unbreakable-word here", 5, []string{"unbreakable-word", "here"}},
	} {
		if got := wrap(tt.in, tt.width); !slices.Equal(got, tt.want) {
			t.Errorf("wrap(%q, %d) = %q, want %q", tt.in, tt.width, got, tt.want)
		}
	}
}
