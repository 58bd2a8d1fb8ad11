package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// settingsFile is the file of saved settings, found in the current
// directory or the nearest one above it when --config does not name
// another.
const settingsFile = "mailshot.toml"

// findSettings returns the nearest mailshot.toml in the current directory
// or above it, as git finds its repository, or "" when there is none.
func findSettings() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, settingsFile)
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// pathKeys are the settings whose values are file names: relative ones
// resolve against the settings file's directory, wherever mailshot runs.
var pathKeys = map[string]bool{
	"template": true, "data": true, "attachments": true, "journal": true, "tls-ca": true,
	"password-file": true, "token-file": true, "trace": true, "out": true, "failed-csv": true,
	"dkim-key": true,
}

// commandKeys are the settings that name a command to run. A settings file
// found by searching (not named with --config) may not hold them: a
// mailshot.toml left in a directory must not run a command unasked.
var commandKeys = []string{"password-cmd", "token-cmd"}

// commandFlags registers every command's flags, for the list of keys a
// settings file may hold.
var commandFlags = []func(fs *flag.FlagSet){
	func(fs *flag.FlagSet) { new(checkFlags).register(fs) },
	func(fs *flag.FlagSet) { new(previewFlags).register(fs) },
	func(fs *flag.FlagSet) { new(sendFlags).register(fs) },
	func(fs *flag.FlagSet) { new(reportFlags).register(fs) },
}

// settingKeys returns the long flag names of every command: the keys a
// settings file may hold.
func settingKeys() map[string]bool {
	keys := make(map[string]bool)
	for _, register := range commandFlags {
		fs := flag.NewFlagSet("", flag.ContinueOnError)
		register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if len(f.Name) > 1 && f.Name != "config" {
				keys[f.Name] = true
			}
		})
	}
	return keys
}

// applySettings reads the settings file (--config, or mailshot.toml in the
// current directory when there is one) and sets every flag of fs that it
// names and the command line did not set: flags override the file. Keys
// that are flags of other commands are ignored; unknown keys and secrets
// are errors.
func applySettings(fs *flag.FlagSet, stderr io.Writer) error {
	path, explicit := findSettings(), false
	var keys []toml.Key
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		path, explicit = f.Value.String(), true
	}
	if path == "" {
		return nil
	}
	var settings map[string]any
	f, err := os.Open(path)
	if err == nil {
		// Check and read the same open file, so it cannot be swapped between.
		defer f.Close()
		if err = checkSettingsOwner(f); err == nil {
			var meta toml.MetaData
			meta, err = toml.NewDecoder(f).Decode(&settings)
			keys = meta.Keys()
		}
	}
	switch {
	case errors.Is(err, os.ErrNotExist) && !explicit:
		return nil
	case isHint(err): // already says what to do
		return err
	case err != nil:
		return withHint(fmt.Errorf("settings %s: %w", path, err), "the file holds lines like smtp = \"smtp://you@example.org@smtp.example.org:587\"; see README")
	}
	// A flag set on the command line under either of its names (-d, -data)
	// is not taken from the file: both names share one flag.Value.
	var set []flag.Value
	fs.Visit(func(f *flag.Flag) { set = append(set, f.Value) })
	known := settingKeys()
	for _, key := range keys {
		if key[0] == "relay" {
			continue // [[relay]] tables: settingsRelays reads them
		}
		name := key.String()
		if _, table := settings[name].(map[string]any); table || len(key) > 1 {
			return fmt.Errorf("settings %s: %q: sections are not used; write every setting at the top level", path, name)
		}
		if isSecretKey(name) {
			return withHint(fmt.Errorf("settings %s: %q: secrets are never read from a settings file", path, name),
				"set %s or %s, or use --password-file, --password-cmd, --token-file or --token-cmd", passwordEnv, tokenEnv)
		}
		if !known[name] {
			return withHint(fmt.Errorf("settings %s: unknown setting %q", path, name), "settings are named like the long flags of mailshot's commands: smtp, rate, connections, ...")
		}
		f := fs.Lookup(name)
		if f == nil || slices.Contains(set, f.Value) {
			continue
		}
		if slices.Contains(commandKeys, name) && !explicit {
			return withHint(fmt.Errorf("settings %s: %q names a command to run, and this file was found, not named", path, name),
				"to trust it, pass --config %s", shellQuote(path))
		}
		values, err := settingValues(settings[name])
		if err != nil {
			return fmt.Errorf("settings %s: %q: %w", path, name, err)
		}
		for _, v := range values {
			if pathKeys[name] && v != "" && !filepath.IsAbs(v) {
				v = filepath.Join(filepath.Dir(path), v)
			}
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("settings %s: %s: want %s, got %s", path, name, wantedType(f), tomlValue(settings[name]))
			}
		}
	}
	return nil
}

// isSecretKey reports whether a settings key would hold a password or a
// token itself, rather than where to find one.
func isSecretKey(name string) bool {
	if slices.Contains([]string{"password-file", "password-cmd", "token-file", "token-cmd"}, name) {
		return false
	}
	for _, w := range []string{"password", "passwd", "token", "secret"} {
		if strings.Contains(strings.ToLower(name), w) {
			return true
		}
	}
	return false
}

// settingValues turns a TOML value into flag values: an array sets a
// repeatable flag once per element.
func settingValues(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case int64, bool, float64:
		return []string{fmt.Sprint(v)}, nil
	case []any:
		var out []string
		for _, e := range v {
			s, err := settingValues(e)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("a %T cannot be a flag's value; use a string, number, true/false or a list", v)
}

// wantedType says what kind of value a flag takes, for people.
func wantedType(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "true or false"
	}
	switch fmt.Sprintf("%T", f.Value) {
	case "*flag.intValue", "*flag.int64Value", "*flag.uintValue", "*flag.uint64Value":
		return "a number"
	case "*flag.float64Value":
		return "a number"
	case "*flag.durationValue":
		return "a duration such as \"30s\" or \"2m\""
	}
	return "a value like " + strconvQuote(f.DefValue)
}

// tomlValue shows a settings value as it was written.
func tomlValue(v any) string {
	if s, ok := v.(string); ok {
		return strconvQuote(s)
	}
	return fmt.Sprint(v)
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// isHint reports whether err already carries a hint for a person.
func isHint(err error) bool {
	var h hintError
	return errors.As(err, &h)
}
