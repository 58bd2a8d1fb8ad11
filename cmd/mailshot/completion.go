package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// completionShells are the shells mailshot completion writes a script for.
var completionShells = []string{"bash", "zsh", "fish"}

// completionWords are the values a flag takes, for the flags that take one
// of a few words.
var completionWords = map[string][]string{
	"auth": {"plain", "login", "cram-md5", "xoauth2"},
}

// runCompletion writes the completion script for a shell. The scripts
// complete the commands, each command's flags (from the flag sets the
// commands parse with), file names after the flags that take a file and
// directory names after those that take a directory.
func runCompletion(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 1 || !slices.Contains(completionShells, args[0]) {
		return usageError{fmt.Errorf("completion needs one shell: bash, zsh or fish (mailshot help completion)")}
	}
	var cmds []complCommand
	for _, name := range workCommands {
		cmds = append(cmds, complCommand{name: name, flags: helpFlags(commandFlagSet(ctx, name))})
	}
	switch args[0] {
	case "bash":
		writeBashCompletion(stdout, cmds)
	case "zsh":
		writeZshCompletion(stdout, cmds)
	case "fish":
		writeFishCompletion(stdout, cmds)
	}
	return nil
}

// complCommand is a command and its flags, for a completion script.
type complCommand struct {
	name  string
	flags []*helpFlag
}

// complKind is what a flag's value is completed with.
type complKind int

const (
	complNone  complKind = iota // a flag without a value
	complFree                   // a value mailshot cannot guess (a URL, a number)
	complFile                   // a file name
	complDir                    // a directory name
	complWords                  // one of completionWords
)

// kindOf says what a flag's value is completed with, from the word that
// stands for it in the help (FILE, DIR).
func kindOf(h *helpFlag) complKind {
	switch {
	case h.value == "":
		return complNone
	case completionWords[longName(h)] != nil:
		return complWords
	case strings.HasSuffix(h.value, "DIR"):
		return complDir
	case strings.HasSuffix(h.value, "FILE"):
		return complFile
	}
	return complFree
}

// longName is a flag's last (longest) name.
func longName(h *helpFlag) string { return h.names[len(h.names)-1] }

// shortHelp is the first clause of a flag's usage, without the characters
// completion scripts would have to quote.
func shortHelp(h *helpFlag) string {
	s := h.usage
	for _, sep := range []string{": ", "; ", " (", ", e.g."} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("[]:'\"\\$`{}", r) {
			return -1
		}
		return r
	}, s)
}

func writeBashCompletion(w io.Writer, cmds []complCommand) {
	fmt.Fprintf(w, `# bash completion for mailshot
# Load it with: source <(mailshot completion bash)

_mailshot_files() {
	compopt -o filenames 2>/dev/null
	local IFS=$'\n'
	COMPREPLY=($(compgen -f -- "$cur"))
}

_mailshot_dirs() {
	compopt -o filenames 2>/dev/null
	local IFS=$'\n'
	COMPREPLY=($(compgen -d -- "$cur"))
}

_mailshot() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} flags=
	COMPREPLY=()
	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W '%s' -- "$cur"))
		return 0
	fi
	case ${COMP_WORDS[1]} in
	help)
		((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W '%s' -- "$cur"))
		return 0
		;;
	completion)
		((COMP_CWORD == 2)) && COMPREPLY=($(compgen -W '%s' -- "$cur"))
		return 0
		;;
`, strings.Join(commandNames(), " "), strings.Join(commandNames(), " "), strings.Join(completionShells, " "))
	for _, c := range cmds {
		fmt.Fprintf(w, "\t%s)\n", c.name)
		var all []string
		byKind := make(map[complKind][]string)
		for _, h := range c.flags {
			k := kindOf(h)
			for _, n := range h.names {
				all = append(all, dashed(n))
				byKind[k] = append(byKind[k], "-"+n, "--"+n)
			}
			if k == complWords {
				fmt.Fprintf(w, "\t\tcase $prev in %s) COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return 0 ;; esac\n",
					bashPattern(h.names), strings.Join(completionWords[longName(h)], " "))
			}
		}
		fmt.Fprintf(w, "\t\tflags='%s'\n", strings.Join(all, " "))
		fmt.Fprintf(w, "\t\tcase $prev in\n")
		for _, kc := range []struct {
			kind   complKind
			action string
		}{{complDir, "_mailshot_dirs; return 0"}, {complFile, "_mailshot_files; return 0"}, {complFree, "return 0"}} {
			if names := byKind[kc.kind]; len(names) > 0 {
				fmt.Fprintf(w, "\t\t%s) %s ;;\n", strings.Join(names, "|"), kc.action)
			}
		}
		fmt.Fprintf(w, "\t\tesac\n")
		if c.name == "init" { // init DIR
			fmt.Fprintf(w, "\t\t[[ $cur == -* ]] || { _mailshot_dirs; return 0; }\n")
		}
		fmt.Fprintf(w, "\t\t;;\n")
	}
	fmt.Fprint(w, `	*)
		return 0
		;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	fi
	return 0
}

complete -F _mailshot mailshot
`)
}

// bashPattern is a case pattern matching every way to write a flag.
func bashPattern(names []string) string {
	var p []string
	for _, n := range names {
		p = append(p, "-"+n, "--"+n)
	}
	return strings.Join(p, "|")
}

func writeZshCompletion(w io.Writer, cmds []complCommand) {
	fmt.Fprint(w, `#compdef mailshot
# zsh completion for mailshot
# Install it with: mailshot completion zsh > "${fpath[1]}/_mailshot"
# or load it with: source <(mailshot completion zsh)

_mailshot() {
	local -a cmds
	cmds=(
`)
	for _, c := range commands {
		fmt.Fprintf(w, "\t\t'%s:%s'\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `	)
	if ((CURRENT == 2)); then
		_describe -t commands 'mailshot command' cmds
		return
	fi
	local cmd=$words[2]
	shift words
	((CURRENT--))
	case $cmd in
	help) _describe -t commands 'mailshot command' cmds ;;
	completion) _values 'shell' %s ;;
`, strings.Join(completionShells, " "))
	for _, c := range cmds {
		fmt.Fprintf(w, "\t%s)\n\t\t_arguments -s \\\n", c.name)
		for _, h := range c.flags {
			fmt.Fprintf(w, "\t\t\t%s \\\n", zshSpec(h))
		}
		if c.name == "init" {
			fmt.Fprintf(w, "\t\t\t'1:directory:_files -/' \\\n")
		}
		fmt.Fprintf(w, "\t\t\t&& return 0\n\t\t;;\n")
	}
	fmt.Fprint(w, `	esac
}

if [[ $funcstack[1] == _mailshot ]]; then
	_mailshot "$@"
else
	compdef _mailshot mailshot
fi
`)
}

// zshSpec is a flag's _arguments specification: its names, which exclude
// each other, what it does, and how its value is completed.
func zshSpec(h *helpFlag) string {
	var names []string
	for _, n := range h.names {
		names = append(names, dashed(n))
	}
	spec := "'" + names[0] + "'"
	if len(names) > 1 {
		spec = "'(" + strings.Join(names, " ") + ")'{" + strings.Join(names, ",") + "}"
	}
	spec += "'[" + shortHelp(h) + "]"
	switch kindOf(h) {
	case complNone:
	case complDir:
		spec += ":" + h.value + ":_files -/"
	case complFile:
		spec += ":" + h.value + ":_files"
	case complWords:
		spec += ":" + h.value + ":(" + strings.Join(completionWords[longName(h)], " ") + ")"
	default:
		spec += ":" + h.value + ": "
	}
	return spec + "'"
}

func writeFishCompletion(w io.Writer, cmds []complCommand) {
	fmt.Fprint(w, `# fish completion for mailshot
# Install it with: mailshot completion fish > ~/.config/fish/completions/mailshot.fish

complete -c mailshot -f
`)
	for _, c := range commands {
		fmt.Fprintf(w, "complete -c mailshot -n __fish_use_subcommand -a %s -d %s\n", c.name, fishQuote(c.summary))
	}
	fmt.Fprintf(w, "complete -c mailshot -n '__fish_seen_subcommand_from help' -a %s\n", fishQuote(strings.Join(commandNames(), " ")))
	fmt.Fprintf(w, "complete -c mailshot -n '__fish_seen_subcommand_from completion' -a %s\n", fishQuote(strings.Join(completionShells, " ")))
	for _, c := range cmds {
		cond := fmt.Sprintf("-n '__fish_seen_subcommand_from %s'", c.name)
		for _, h := range c.flags {
			line := "complete -c mailshot " + cond
			for _, n := range h.names {
				if len(n) == 1 {
					line += " -s " + n
				} else {
					line += " -l " + n
				}
			}
			switch kindOf(h) {
			case complNone:
			case complDir:
				line += " -x -a '(__fish_complete_directories)'"
			case complFile:
				line += " -r -F"
			case complWords:
				line += " -x -a " + fishQuote(strings.Join(completionWords[longName(h)], " "))
			default:
				line += " -x"
			}
			fmt.Fprintln(w, line+" -d "+fishQuote(shortHelp(h)))
		}
		if c.name == "init" {
			fmt.Fprintf(w, "complete -c mailshot %s -x -a '(__fish_complete_directories)'\n", cond)
		}
	}
}

// fishQuote quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
