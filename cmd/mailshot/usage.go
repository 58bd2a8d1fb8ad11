package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"
)

// This file is how a command's flags are parsed and shown: the help a
// person reads with -h or mailshot help COMMAND, built from the command's
// own flag.FlagSet, and the one-line error for a mistyped flag.

// commands are mailshot's commands in the order the help lists them, each
// with the line that says what it is for (help, completion) and two or
// three examples (help).
var commands = []struct {
	name, summary string
	examples      []string
}{
	{"check", "validate every row, send nothing", []string{
		"mailshot check -t invite -d people.csv",
		"mailshot check -t invite -d people.xlsx --sheet Members --where 'status!=paid'",
	}},
	{"preview", "write .eml files and an index.html to look at", []string{
		"mailshot preview -t invite -d people.csv -o preview",
		"mailshot preview -t invite -d people.csv -o preview --rows 2-6 --limit 3",
	}},
	{"send", "send one message per row, with a journal for resume", []string{
		"# first a test: the first message, marked [TEST], only to you\n" +
			"mailshot send -t invite -d people.csv --smtp smtp://me@example.org@smtp.example.org:587 --test-to me@example.org",
		"# then everyone, at most 30 a minute; the same command again resumes\n" +
			"mailshot send -t invite -d people.csv --smtp smtp://me@example.org@smtp.example.org:587 --rate 30/m",
		"MAILSHOT_SMTP_TOKEN=... mailshot send -t invite -d people.csv --smtp smtps://me@example.org@smtp.example.org:465 --auth xoauth2",
	}},
	{"report", "totals and the recipients not sent, from a journal", []string{
		"mailshot report --journal invite-people.journal.jsonl",
		"mailshot report --journal invite-people.journal.jsonl --json",
		"mailshot report --journal invite-people.journal.jsonl --failed-csv retry.csv -t invite -d people.csv",
	}},
	{"init", "write a starter template and recipients.csv", []string{
		"mailshot init invite",
		"mailshot init invite && mailshot check -t invite -d invite/recipients.csv",
	}},
	{"help", "show help for mailshot or one command", []string{
		"mailshot help send",
	}},
	{"version", "print the version, commit and Go version", []string{
		"mailshot version",
	}},
	{"completion", "print a shell completion script (bash, zsh or fish)", []string{
		"source <(mailshot completion bash)            # bash, in ~/.bashrc",
		"mailshot completion zsh > \"${fpath[1]}/_mailshot\"   # zsh",
		"mailshot completion fish > ~/.config/fish/completions/mailshot.fish",
	}},
}

// commandNames returns the names of every command.
func commandNames() []string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return names
}

// examplesOf returns a command's examples.
func examplesOf(name string) []string {
	for _, c := range commands {
		if c.name == name {
			return c.examples
		}
	}
	return nil
}

// flagGroups sorts flags into the groups the help shows, in this order. A
// name written "command:flag" places that command's flag, ahead of the
// plain name. Flags in no group are shown last, under "Other".
var flagGroups = []struct {
	title string
	names []string
}{
	{"Input", []string{"template", "data", "report:journal", "sheet", "delimiter", "attachments", "rows", "where", "shard", "other-data", "config"}},
	{"Server", []string{"smtp", "auth", "password-file", "password-cmd", "token-file", "token-cmd", "tls-ca", "tls-insecure", "helo"}},
	{"Pacing", []string{"connections", "rate", "burst", "max-per-conn", "retries", "daily-limit", "wait"}},
	{"Safety", []string{"timeout", "test-to", "dry-run", "send:limit", "skip-invalid", "retry-failed", "resend-unknown"}},
	{"Output", []string{"out", "preview:limit", "journal", "trace", "json", "failed-csv", "force", "dkim-key", "dkim-selector", "dkim-domain"}},
}

// groupOf returns the group index and the position in it of a command's
// flag, or len(flagGroups) for a flag in no group.
func groupOf(command, name string) (group, pos int) {
	for _, key := range []string{command + ":" + name, name} {
		for g, grp := range flagGroups {
			if i := slices.Index(grp.names, key); i >= 0 {
				return g, i
			}
		}
	}
	return len(flagGroups), 0
}

// newFlagSet makes a command's flag set. Its Usage writes the command's
// help (synopsis, what the command does, its flags by group, examples) to
// the set's output; run sends it to stdout when the command line asks.
func newFlagSet(name string, stderr io.Writer, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "read saved settings from `FILE` (default: the nearest "+settingsFile+" in this directory or above it)")
	fs.Usage = func() { writeHelp(fs.Output(), fs, synopsis, about) }
	return fs
}

// parseFlags parses args, refuses stray positional arguments, then fills
// the flags args did not set from the settings file.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseCommandLine(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("%s: unexpected argument %q (flags come before it? every value needs its flag)", fs.Name(), fs.Arg(0))}
	}
	return applySettings(fs, fs.Output())
}

// helpRequest is what parsing returns when the command line asks for a
// command's help (-h, --help): run writes the help of the flag set to
// stdout, and the command does nothing else.
type helpRequest struct{ fs *flag.FlagSet }

func (h helpRequest) Error() string { return "help requested" }
func (h helpRequest) Unwrap() error { return flag.ErrHelp }

// boolFlag is the method by which the flag package knows a flag that
// takes no value (--json, not --json true).
type boolFlag interface{ IsBoolFlag() bool }

// parseCommandLine parses the flags at the start of args as the flag
// package does (-x, --x, -x=v, --x v; -- ends the flags), so that each
// mistake is one line pointing at the command's help: an unknown flag with
// the nearest known one, a flag without its value, a value of the wrong
// kind. The rest of args is left in fs.Args. It writes nothing.
func parseCommandLine(fs *flag.FlagSet, args []string) error {
	for len(args) > 0 {
		a := args[0]
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		if a == "--" {
			break
		}
		spec := strings.TrimPrefix(a[1:], "-")
		if spec == "" || spec[0] == '-' || spec[0] == '=' {
			return flagUsageError(fs, "bad flag syntax: %s", a)
		}
		name, value, hasValue := strings.Cut(spec, "=")
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				return helpRequest{fs}
			}
			if s := suggest(name, longNames(fs)); s != "" {
				return flagUsageError(fs, "unknown flag %s; did you mean --%s?", dashed(name), s)
			}
			return flagUsageError(fs, "unknown flag %s", dashed(name))
		}
		if b, ok := f.Value.(boolFlag); ok && b.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if len(args) == 0 {
				return flagUsageError(fs, "%s needs a value: %s %s", dashed(name), dashed(name), placeholder(f))
			}
			value, args = args[0], args[1:]
		}
		if err := fs.Set(name, value); err != nil {
			return flagUsageError(fs, "%s: %s", dashed(name), badValue(f, value, err))
		}
	}
	// What is left are arguments: the flag package records them, and
	// stops at once after the "--".
	return fs.Parse(append([]string{"--"}, args...))
}

// flagUsageError is a mistake on a command's line, said in one line that
// ends with where the command's flags are listed.
func flagUsageError(fs *flag.FlagSet, format string, args ...any) error {
	return usageError{fmt.Errorf(format+" (mailshot %s -h)", append(args, fs.Name())...)}
}

// badValue says what is wrong with the value a flag was given, by the
// kind of value it takes.
func badValue(f *flag.Flag, value string, err error) string {
	if g, ok := f.Value.(flag.Getter); ok {
		want := ""
		switch g.Get().(type) {
		case int, int64, uint, uint64:
			want = "a whole number"
		case float64:
			want = "a number"
		case bool:
			want = "true or false"
		case time.Duration:
			want = "a duration such as 30s or 5m"
		}
		if want != "" {
			return fmt.Sprintf("want %s, got %q", want, value)
		}
	}
	return err.Error()
}

// dashed writes a flag's name as a person types it: -t, --template.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// longNames returns the names of fs's flags that are longer than a
// letter, in the flag package's order.
func longNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if len(f.Name) > 1 {
			names = append(names, f.Name)
		}
	})
	return names
}

// sameValue reports whether two flags are names of one: the flag package
// gives -t and --template the same Value when both are registered on the
// same variable.
func sameValue(a, b flag.Value) bool {
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	return ta == tb && ta.Comparable() && a == b
}

// helpFlag is one flag as the help shows it: every name it has, the word
// that stands for its value, what it does, its default.
type helpFlag struct {
	names        []string // letters first, then long names
	value, usage string
	group, pos   int
}

// helpFlags collects fs's flags for the help: names of one flag together,
// in their groups.
func helpFlags(fs *flag.FlagSet) []*helpFlag {
	var out []*helpFlag
	var values []flag.Value
	fs.VisitAll(func(f *flag.Flag) {
		for i, v := range values {
			if sameValue(v, f.Value) {
				h := out[i]
				h.names = append(h.names, f.Name)
				if !strings.HasPrefix(f.Usage, "same as ") {
					h.usage = usageLine(f)
				}
				if len(f.Name) > 1 {
					h.group, h.pos = groupOf(fs.Name(), f.Name)
				}
				return
			}
		}
		h := &helpFlag{names: []string{f.Name}, value: placeholder(f), usage: usageLine(f)}
		h.group, h.pos = groupOf(fs.Name(), f.Name)
		out = append(out, h)
		values = append(values, f.Value)
	})
	for _, h := range out {
		slices.SortStableFunc(h.names, func(a, b string) int { return min(len(a), 2) - min(len(b), 2) })
	}
	slices.SortStableFunc(out, func(a, b *helpFlag) int {
		if a.group != b.group {
			return a.group - b.group
		}
		return a.pos - b.pos
	})
	return out
}

// placeholder is the word that stands for a flag's value in the help:
// the usage's `quoted` word, else one for the kind of value; "" for a
// flag that takes none.
func placeholder(f *flag.Flag) string {
	if b, ok := f.Value.(boolFlag); ok && b.IsBoolFlag() {
		return ""
	}
	name, _ := flag.UnquoteUsage(f)
	switch name {
	case "int", "uint":
		return "N"
	case "float":
		return "X"
	case "string":
		return "TEXT"
	}
	return strings.ToUpper(name)
}

// usageLine is what a flag does, with its default when it has one the
// text does not already give.
func usageLine(f *flag.Flag) string {
	_, usage := flag.UnquoteUsage(f)
	switch f.DefValue {
	case "", "0", "false", "[]", "0s":
	default:
		switch {
		case strings.Contains(usage, "default"):
		case strings.HasSuffix(usage, ")"): // "(0: unlimited; default 100)"
			usage = usage[:len(usage)-1] + "; default " + f.DefValue + ")"
		default:
			usage += " (default " + f.DefValue + ")"
		}
	}
	return usage
}

// helpWidth is the width the help is wrapped to.
const helpWidth = 80

// writeHelp writes a command's help: synopsis, what the command does, its
// flags by group, each once with all its names, and examples.
func writeHelp(w io.Writer, fs *flag.FlagSet, synopsis, about string) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", synopsis, about)
	flags := helpFlags(fs)
	col := 0
	for _, h := range flags {
		col = max(col, len(flagColumn(h)))
	}
	col = min(col, 28) + 2
	group := -1
	for _, h := range flags {
		if h.group != group {
			group = h.group
			title := "Other"
			if group < len(flagGroups) {
				title = flagGroups[group].title
			}
			fmt.Fprintf(w, "\n%s:\n", title)
		}
		left := flagColumn(h)
		lines := wrap(h.usage, helpWidth-col)
		if len(left) > col-2 {
			fmt.Fprintf(w, "%s\n", left)
			left = ""
		}
		for _, l := range lines {
			fmt.Fprintf(w, "%-*s%s\n", col, left, l)
			left = ""
		}
	}
	if ex := examplesOf(fs.Name()); len(ex) > 0 {
		fmt.Fprintf(w, "\nExamples:\n")
		for _, e := range ex {
			for _, l := range strings.Split(e, "\n") {
				fmt.Fprintf(w, "  %s\n", l)
			}
		}
	}
}

// flagColumn is the left column of a flag's help line: "  -t, --template DIR",
// long-only flags indented to line up with the long names.
func flagColumn(h *helpFlag) string {
	var b strings.Builder
	b.WriteString("  ")
	if len(h.names[0]) > 1 {
		b.WriteString("    ")
	}
	for i, n := range h.names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(dashed(n))
	}
	if h.value != "" {
		b.WriteString(" " + h.value)
	}
	return b.String()
}

// wrap breaks text into lines of at most width bytes at spaces; a word
// longer than width has a line of its own.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case len(line)+1+len(word) <= width:
			line += " " + word
		default:
			lines = append(lines, line)
			line = word
		}
	}
	if line != "" || len(lines) == 0 {
		lines = append(lines, line)
	}
	return lines
}

// errUnknownCommand is the cause of the error for a command mailshot does
// not have.
var errUnknownCommand = errors.New("unknown command")

// unknownCommand is the one-line error for a command mailshot does not
// have, with the nearest one when it looks like a typo of it.
func unknownCommand(name string) error {
	if s := suggest(name, commandNames()); s != "" {
		return usageError{fmt.Errorf("%w %q; did you mean %s? (mailshot help)", errUnknownCommand, name, s)}
	}
	return usageError{fmt.Errorf("%w %q (mailshot help)", errUnknownCommand, name)}
}
