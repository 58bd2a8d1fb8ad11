package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/mailshot/mailshot/sender"
	"github.com/mailshot/mailshot/sender/smtp"
)

// smtpURLs is --smtp, which may be given several times: each URL is a
// relay, and the flags given once (--connections, --rate, --burst,
// --daily-limit, --helo, --tls-ca, --auth and the secret's source) apply
// to each.
type smtpURLs []string

func (u *smtpURLs) String() string { return strings.Join(*u, ",") }

// Set adds one relay's URL.
func (u *smtpURLs) Set(v string) error {
	*u = append(*u, v)
	return nil
}

// relaySpec is one relay as the command line or a [[relay]] table of the
// settings file gives it, before anything is parsed or a secret read.
type relaySpec struct {
	where       string // where it was given, for messages: "--smtp URL", "settings F: [[relay]] 2"; "" for the only --smtp
	name        string // "" for the default (host:port)
	url         string
	connections int
	rate        string
	burst       int
	dailyLimit  int
	helo        string
	tlsCA       string
	cred        credentialFlags
	passwordEnv string // names an environment variable holding the password
	// ownSecret: the table names its own secret source, so the shared
	// ones (MAILSHOT_SMTP_PASSWORD, --password-file, ...) never go to it.
	ownSecret bool
}

// flagRelays returns one relay for each --smtp URL, each with the values
// of the flags given once (shared; its url and where are ignored).
func flagRelays(urls []string, shared relaySpec) []relaySpec {
	out := make([]relaySpec, len(urls))
	for i, u := range urls {
		s := shared
		s.url = u
		s.where = "" // one relay: said as today, without saying where
		if len(urls) > 1 {
			s.where = fmt.Sprintf("--smtp #%d", i+1) // never the URL, which may hold a password
		}
		out[i] = s
	}
	return out
}

// relayKeys are the keys a [[relay]] table may hold, and the type of
// each: "string" or "number".
var relayKeys = map[string]string{
	"name": "string", "smtp": "string", "connections": "number", "rate": "string", "burst": "number",
	"daily-limit": "number", "helo": "string", "tls-ca": "string", "auth": "string",
	"password-env": "string", "password-file": "string", "password-cmd": "string", "token-cmd": "string",
}

// settingsRelays reads the [[relay]] tables of the settings file that
// applySettings reads (--config of fs, or the nearest mailshot.toml), each
// on top of shared, the values of the flags given once. It returns none
// when there is no file or the file has no such table. The file's owner
// and mode are checked as applySettings checks them.
func settingsRelays(fs *flag.FlagSet, shared relaySpec) ([]relaySpec, error) {
	path, explicit := findSettings(), false
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		path, explicit = f.Value.String(), true
	}
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("settings %s: %w", path, err)
	}
	defer f.Close()
	if err := checkSettingsOwner(f); err != nil {
		return nil, err
	}
	var settings map[string]any
	if _, err := toml.NewDecoder(f).Decode(&settings); err != nil {
		return nil, fmt.Errorf("settings %s: %w", path, err)
	}
	v, ok := settings["relay"]
	if !ok {
		return nil, nil
	}
	if _, both := settings["smtp"]; both {
		return nil, withHint(fmt.Errorf("settings %s: both smtp and [[relay]] tables", path),
			"give every relay as a [[relay]] table with its own smtp = \"...\", or use smtp alone")
	}
	return relayTables(path, v, explicit, shared)
}

// relayTables parses the value of the settings file's "relay" key: an
// array of tables, each one relay on top of shared. Relative paths are
// relative to the file's directory; a file found rather than named
// (explicit false) may not name commands to run. Secrets themselves are
// refused, as at the top level.
func relayTables(path string, v any, explicit bool, shared relaySpec) ([]relaySpec, error) {
	tables, ok := v.([]map[string]any)
	if !ok {
		return nil, withHint(fmt.Errorf("settings %s: relay: want [[relay]] tables, got %s", path, tomlValue(v)),
			"write each relay as a table:\n  [[relay]]\n  smtp = \"smtp://me@example.org@smtp.example.org:587\"")
	}
	if len(tables) == 0 {
		return nil, fmt.Errorf("settings %s: relay: no [[relay]] tables", path)
	}
	out := make([]relaySpec, 0, len(tables))
	for i, t := range tables {
		s, err := relayTable(path, i+1, t, explicit, shared)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// relayTable parses the n-th [[relay]] table.
func relayTable(path string, n int, t map[string]any, explicit bool, shared relaySpec) (relaySpec, error) {
	s := shared
	s.where = fmt.Sprintf("settings %s: [[relay]] %d", path, n)
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %s", s.where, fmt.Sprintf(format, args...))
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var own credentialFlags
	for _, k := range keys {
		want, known := relayKeys[k]
		switch {
		case !known && isSecretKey(k):
			return s, withHint(fail("%q: secrets are never read from a settings file", k),
				"name where the secret is: password-env = \"VARIABLE\", password-file, password-cmd or token-cmd")
		case !known:
			names := make([]string, 0, len(relayKeys))
			for name := range relayKeys {
				names = append(names, name)
			}
			slices.Sort(names)
			if m := suggest(k, names); m != "" {
				return s, withHint(fail("unknown key %q", k), "did you mean %s?", m)
			}
			return s, withHint(fail("unknown key %q", k), "a relay's keys are %s", strings.Join(names, ", "))
		case (k == "password-cmd" || k == "token-cmd") && !explicit:
			return s, withHint(fail("%q names a command to run, and this file was found, not named", k),
				"to trust it, pass --config %s", shellQuote(path))
		}
		var str string
		var num int
		switch want {
		case "string":
			v, ok := t[k].(string)
			if !ok {
				return s, fail("%s: want a string, got %s", k, tomlValue(t[k]))
			}
			str = v
		case "number":
			v, ok := t[k].(int64)
			if !ok {
				return s, fail("%s: want a number, got %s", k, tomlValue(t[k]))
			}
			if v < 0 || v > 1<<20 {
				return s, fail("%s: %d is out of range", k, v)
			}
			num = int(v)
		}
		if k == "tls-ca" || k == "password-file" {
			if str != "" && !filepath.IsAbs(str) {
				str = filepath.Join(filepath.Dir(path), str)
			}
		}
		switch k {
		case "name":
			s.name = str
		case "smtp":
			s.url = str
		case "connections":
			s.connections = num
		case "rate":
			s.rate = str
		case "burst":
			s.burst = num
		case "daily-limit":
			s.dailyLimit = num
		case "helo":
			s.helo = str
		case "tls-ca":
			s.tlsCA = str
		case "auth":
			s.cred.auth = str
		case "password-env":
			s.passwordEnv, s.ownSecret = str, true
		case "password-file":
			own.passwordFile, s.ownSecret = str, true
		case "password-cmd":
			own.passwordCmd, s.ownSecret = str, true
		case "token-cmd":
			own.tokenCmd, s.ownSecret = str, true
		}
	}
	if s.url == "" {
		return s, withHint(fail("no smtp"), "each [[relay]] needs smtp = \"smtp://user@host:587\"")
	}
	if s.ownSecret {
		auth := s.cred.auth
		s.cred = own
		s.cred.auth = auth
	}
	if n := btoi(s.passwordEnv != "") + btoi(own.passwordFile != "") + btoi(own.passwordCmd != ""); n > 1 {
		return s, fail("password-env, password-file and password-cmd: give one")
	}
	return s, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// buildRelays checks every relay and returns them for sender.Config,
// without credentials (see relayCredentials): the URL, rate, EHLO name
// and CA file of each. tlsInsecure and trace apply to every relay. Names
// default to host:port, or user@host:port when two relays share a
// server.
func buildRelays(specs []relaySpec, tlsInsecure bool, trace io.Writer, stderr io.Writer) ([]sender.Relay, error) {
	out := make([]sender.Relay, len(specs))
	addrs := make(map[string]int)
	cas := make(map[string]*tls.Config)
	for i, s := range specs {
		fail := func(err error) error {
			if s.where == "" {
				return usageError{err}
			}
			return usageError{fmt.Errorf("%s: %w", s.where, err)}
		}
		if s.connections < 1 || s.burst < 1 || s.dailyLimit < 0 {
			return nil, fail(errors.New("connections and burst must be at least 1; daily-limit not negative"))
		}
		ep, err := sender.ParseURL(s.url)
		if err != nil {
			return nil, fail(err)
		}
		limit, err := sender.ParseRate(s.rate)
		if err != nil {
			return nil, fail(err)
		}
		if s.helo != "" {
			if err := checkHelo(s.helo); err != nil {
				return nil, fail(err)
			}
		}
		if s.passwordEnv != "" && ep.Username == "" {
			return nil, fail(errors.New("password-env needs a user in the smtp URL: smtp://user@host:587"))
		}
		var tlsConfig *tls.Config
		if s.tlsCA != "" {
			if tlsConfig = cas[s.tlsCA]; tlsConfig == nil {
				if tlsConfig, err = smtp.TrustCA(s.tlsCA); err != nil {
					key := "tls-ca"
					if s.where == "" || strings.HasPrefix(s.where, "--") {
						key = "--tls-ca"
					} else {
						err = fmt.Errorf("%s: %w", s.where, err)
					}
					return nil, withHint(err, "%s takes the CA's certificate in PEM form (-----BEGIN CERTIFICATE-----)", key)
				}
				cas[s.tlsCA] = tlsConfig
			}
		}
		if tlsInsecure {
			if tlsConfig == nil {
				tlsConfig = &tls.Config{}
			} else {
				tlsConfig = tlsConfig.Clone()
			}
			tlsConfig.InsecureSkipVerify = true
		}
		out[i] = sender.Relay{
			Name:        s.name,
			Endpoint:    ep,
			Client:      smtp.Config{LocalName: s.helo, TLSConfig: tlsConfig, Trace: trace},
			Connections: s.connections,
			Rate:        limit,
			Burst:       s.burst,
			DailyLimit:  s.dailyLimit,
		}
		addrs[ep.Addr()]++
	}
	seen := make(map[string]string)
	for i := range out {
		rl := &out[i]
		if rl.Name == "" {
			rl.Name = rl.Endpoint.Addr()
			if addrs[rl.Endpoint.Addr()] > 1 && rl.Endpoint.Username != "" {
				rl.Name = rl.Endpoint.Username + "@" + rl.Endpoint.Addr()
			}
		}
		if first, dup := seen[rl.Name]; dup {
			return nil, usageError{fmt.Errorf("%s and %s: the same relay %s twice; give each its own name", first, specs[i].where, rl.Name)}
		}
		seen[rl.Name] = specs[i].where
	}
	if tlsInsecure {
		hosts := make([]string, 0, len(out))
		for _, rl := range out {
			hosts = append(hosts, rl.Endpoint.Host)
		}
		if len(hosts) == 1 {
			fmt.Fprintf(stderr, "warning: --tls-insecure: the server's certificate is not verified, so anyone between here and %s can read the password and the mail\n", hosts[0])
		} else {
			fmt.Fprintf(stderr, "warning: --tls-insecure: the servers' certificates are not verified, so anyone between here and %s can read the passwords and the mail\n", strings.Join(hosts, ", "))
		}
	}
	return out, nil
}

// relayCredentials sets the credentials of the relays applyRelays put
// into cfg (built from specs, in order): from the relay's own
// password-env, password-file, password-cmd or token-cmd when its table
// names one, otherwise as for a single relay (MAILSHOT_SMTP_PASSWORD,
// --password-file, --password-cmd, a prompt; MAILSHOT_SMTP_TOKEN,
// --token-file, --token-cmd). A relay without a user gets none.
func relayCredentials(ctx context.Context, cfg *sender.Config, specs []relaySpec, stdin io.Reader, stderr io.Writer) error {
	if len(cfg.Relays) == 0 && len(specs) == 1 {
		c, err := specs[0].credentials(ctx, cfg.Endpoint, stdin, stderr)
		cfg.Credentials = c
		return err
	}
	for i, s := range specs {
		c, err := s.credentials(ctx, cfg.Relays[i].Endpoint, stdin, stderr)
		if err != nil {
			return fmt.Errorf("%s: %w", s.where, err)
		}
		cfg.Relays[i].Credentials = c
	}
	return nil
}

// credentials returns the relay's credentials function, nil without a
// user in its URL.
func (s *relaySpec) credentials(ctx context.Context, ep *sender.Endpoint, stdin io.Reader, stderr io.Writer) (func(context.Context) (smtp.Credentials, error), error) {
	if !s.ownSecret || ep.Username == "" {
		return s.cred.credentials(ctx, ep, stdin, stderr)
	}
	return s.ownCredentials(ctx, ep, stderr)
}

// ownCredentials reads the secret from the source the relay's table
// names, and never from the shared ones.
func (s *relaySpec) ownCredentials(ctx context.Context, ep *sender.Endpoint, stderr io.Writer) (func(context.Context) (smtp.Credentials, error), error) {
	mech := strings.ToUpper(s.cred.auth)
	switch mech {
	case "", "PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2":
	default:
		return nil, usageError{fmt.Errorf("auth %q: choose plain, login, cram-md5 or xoauth2", s.cred.auth)}
	}
	base := smtp.Credentials{Username: ep.Username, Mechanism: mech}
	fixed := func(c smtp.Credentials) func(context.Context) (smtp.Credentials, error) {
		return func(context.Context) (smtp.Credentials, error) { return c, nil }
	}
	if mech == "XOAUTH2" {
		if s.cred.tokenCmd == "" {
			return nil, usageError{errors.New("auth xoauth2 needs token-cmd in the relay's table")}
		}
		command := s.cred.tokenCmd
		return func(ctx context.Context) (smtp.Credentials, error) {
			tok, err := runSecretCommand(ctx, "token-cmd", command, stderr)
			c := base
			c.Token = tok
			return c, err
		}, nil
	}
	var err error
	switch {
	case s.cred.tokenCmd != "":
		return nil, usageError{errors.New("token-cmd goes with auth = \"xoauth2\"")}
	case s.passwordEnv != "":
		base.Password = os.Getenv(s.passwordEnv)
		if base.Password == "" {
			return nil, withHint(fmt.Errorf("password-env: $%s is not set", s.passwordEnv), "export %s=... before mailshot runs", s.passwordEnv)
		}
	case s.cred.passwordFile != "":
		base.Password, err = readSecretFile("password-file", s.cred.passwordFile)
	case s.cred.passwordCmd != "":
		base.Password, err = runSecretCommand(ctx, "password-cmd", s.cred.passwordCmd, stderr)
	}
	if err != nil {
		return nil, err
	}
	return fixed(base), nil
}

// applyRelays puts the relays into cfg: one relay as today's single
// server (its daily limit, if any, the batch's, counted over every record
// of the journal), several as cfg.Relays, each with its own limits; the
// batch then has no daily limit of its own (cfg.DailyLimit 0), since
// --daily-limit given once is each relay's.
func applyRelays(cfg *sender.Config, rs []sender.Relay) {
	if len(rs) == 1 {
		rl := rs[0]
		cfg.Endpoint, cfg.Client, cfg.Credentials = rl.Endpoint, rl.Client, rl.Credentials
		cfg.Connections, cfg.Rate, cfg.Burst = rl.Connections, rl.Rate, rl.Burst
		if rl.DailyLimit > 0 {
			cfg.DailyLimit = rl.DailyLimit
		}
		cfg.Relays = nil
		return
	}
	cfg.Endpoint, cfg.Credentials = nil, nil
	cfg.DailyLimit = 0
	cfg.Relays = rs
}
