package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"golang.org/x/time/rate"

	"github.com/mailshot/mailshot/sender"
)

// sharedSpec is what send's flags given once hold by default.
func sharedSpec() relaySpec {
	return relaySpec{connections: sender.DefaultConnections, burst: 1}
}

// Several --smtp URLs are several relays, each with the flags given once;
// names are host:port, or user@host:port when two share a server.
func TestFlagRelays(t *testing.T) {
	shared := sharedSpec()
	shared.connections, shared.rate, shared.burst, shared.dailyLimit, shared.helo = 2, "30/m", 3, 500, "mail.example.org"
	specs := flagRelays([]string{
		"smtp://alice@example.org@smtp.example.org:587",
		"smtps://relay.example.net",
		"smtp://bob@example.org@smtp.example.org:587",
	}, shared)
	rs, err := buildRelays(specs, false, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"alice@example.org@smtp.example.org:587", "relay.example.net:465", "bob@example.org@smtp.example.org:587"}
	for i, rl := range rs {
		if rl.Name != wantNames[i] {
			t.Errorf("relay %d named %q, want %q", i+1, rl.Name, wantNames[i])
		}
		if rl.Connections != 2 || rl.Rate != rate.Limit(0.5) || rl.Burst != 3 || rl.DailyLimit != 500 || rl.Client.LocalName != "mail.example.org" {
			t.Errorf("relay %d: %+v, want the shared flags", i+1, rl)
		}
	}
	if !rs[1].Endpoint.ImplicitTLS || rs[0].Endpoint.Username != "alice@example.org" {
		t.Errorf("endpoints %v, %v", rs[0].Endpoint, rs[1].Endpoint)
	}

	// One relay: today's single server, its daily limit the batch's.
	cfg := sender.Config{}
	applyRelays(&cfg, rs[:1])
	if cfg.Endpoint != rs[0].Endpoint || cfg.Relays != nil || cfg.DailyLimit != 500 || cfg.Connections != 2 {
		t.Errorf("one relay: %+v", cfg)
	}
	applyRelays(&cfg, rs)
	if cfg.Endpoint != nil || len(cfg.Relays) != 3 || cfg.DailyLimit != 0 {
		t.Errorf("three relays: endpoint %v, %d relays, batch daily limit %d", cfg.Endpoint, len(cfg.Relays), cfg.DailyLimit)
	}
	if _, err := sender.NewPool(cfg); err == nil || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("NewPool without credentials for users: %v", err)
	}
}

func TestFlagRelaysRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		urls []string
		want string
	}{
		{"twice", []string{"smtp://smtp.example.org", "smtp://smtp.example.org:587"}, "the same relay smtp.example.org:587 twice"},
		{"password in the second", []string{"smtp://smtp.example.org", "smtp://u:hunter2@smtp.example.net"}, "--smtp #2: smtp URL: must not contain a password"},
		{"no scheme", []string{"mail.example.org:587", "smtp://smtp.example.net"}, "--smtp #1: smtp URL: no scheme"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildRelays(flagRelays(tt.urls, sharedSpec()), false, nil, io.Discard)
			var ue usageError
			if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a usage error with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the password: %v", err)
			}
		})
	}
}

// decodeRelays decodes a settings file's text as applySettings does and
// parses its relay tables.
func decodeRelays(t *testing.T, dir, text string, explicit bool) ([]relaySpec, error) {
	t.Helper()
	var settings map[string]any
	if _, err := toml.Decode(text, &settings); err != nil {
		t.Fatal(err)
	}
	return relayTables(filepath.Join(dir, settingsFile), settings["relay"], explicit, sharedSpec())
}

// [[relay]] tables give each relay its own keys; what a table leaves out
// comes from the flags given once; relative paths are the file's.
func TestRelayTables(t *testing.T) {
	dir := t.TempDir()
	specs, err := decodeRelays(t, dir, `
[[relay]]
smtp = "smtp://me@example.org@smtp.example.org:587"
connections = 3
rate = "30/m"
burst = 2
daily-limit = 500
helo = "mail.example.org"
tls-ca = "ca.pem"
auth = "login"
password-env = "ORG_PASSWORD"

[[relay]]
name = "ses"
smtp = "smtps://AKIAEXAMPLE@email-smtp.example.com"
password-file = "/run/secrets/ses"

[[relay]]
smtp = "smtp://other@example.net@mail.example.net"
password-cmd = "pass show mail"
`, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 3 {
		t.Fatalf("%d relays, want 3", len(specs))
	}
	a := specs[0]
	if a.url != "smtp://me@example.org@smtp.example.org:587" || a.connections != 3 || a.rate != "30/m" || a.burst != 2 ||
		a.dailyLimit != 500 || a.helo != "mail.example.org" || a.tlsCA != filepath.Join(dir, "ca.pem") || a.cred.auth != "login" ||
		a.passwordEnv != "ORG_PASSWORD" || !a.ownSecret {
		t.Errorf("first relay %+v", a)
	}
	if b := specs[1]; b.name != "ses" || b.cred.passwordFile != "/run/secrets/ses" || b.connections != sender.DefaultConnections || b.burst != 1 {
		t.Errorf("second relay %+v: want its own password file, the shared connections", b)
	}
	if c := specs[2]; c.cred.passwordCmd != "pass show mail" || c.passwordEnv != "" {
		t.Errorf("third relay %+v", c)
	}
	if !strings.Contains(specs[2].where, "[[relay]] 3") {
		t.Errorf("where %q", specs[2].where)
	}
}

func TestRelayTablesRefused(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		explicit   bool
		want       string
	}{
		{"wrong type", "[[relay]]\nsmtp = \"smtp://a.example.org\"\nconnections = \"three\"\n", true, `[[relay]] 1: connections: want a number, got "three"`},
		{"wrong type string", "[[relay]]\nsmtp = 25\n", true, `smtp: want a string, got 25`},
		{"secret", "[[relay]]\nsmtp = \"smtp://u@a.example.org\"\npassword = \"hunter2\"\n", true, `"password": secrets are never read from a settings file`},
		{"unknown key", "[[relay]]\nsmtp = \"smtp://a.example.org\"\nconections = 2\n", true, `unknown key "conections"`},
		{"command in a found file", "[[relay]]\nsmtp = \"smtp://u@a.example.org\"\npassword-cmd = \"pass show mail\"\n", false, `"password-cmd" names a command to run`},
		{"no smtp", "[[relay]]\nrate = \"1/s\"\n", true, `[[relay]] 1: no smtp`},
		{"two secret sources", "[[relay]]\nsmtp = \"smtp://u@a.example.org\"\npassword-env = \"X\"\npassword-file = \"f\"\n", true, "give one"},
		{"not a table", "relay = \"smtp://a.example.org\"\n", true, "want [[relay]] tables"},
		{"negative", "[[relay]]\nsmtp = \"smtp://a.example.org\"\nburst = -1\n", true, "burst: -1 is out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeRelays(t, t.TempDir(), tt.text, tt.explicit)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
	// A typo gets a suggestion.
	_, err := decodeRelays(t, t.TempDir(), "[[relay]]\nsmtp = \"smtp://a.example.org\"\nconections = 2\n", true)
	var h hintError
	if !errors.As(err, &h) || !strings.Contains(h.hint, "connections") {
		t.Errorf("typo: %v, want a hint naming connections", err)
	}
}

// settingsRelays reads the file named by --config; a file with both smtp
// and [[relay]] tables is refused.
func TestSettingsRelays(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relays.toml")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.String("config", "", "")
	fs.Set("config", path)

	write("rate = \"10/s\"\n[[relay]]\nsmtp = \"smtp://a.example.org\"\n[[relay]]\nsmtp = \"smtp://b.example.org\"\n")
	specs, err := settingsRelays(fs, sharedSpec())
	if err != nil || len(specs) != 2 || specs[1].url != "smtp://b.example.org" {
		t.Fatalf("settingsRelays: %v, %+v", err, specs)
	}
	write("smtp = \"smtp://a.example.org\"\n[[relay]]\nsmtp = \"smtp://b.example.org\"\n")
	if _, err := settingsRelays(fs, sharedSpec()); err == nil || !strings.Contains(err.Error(), "both smtp and [[relay]]") {
		t.Errorf("smtp and relays: %v", err)
	}
	write("smtp = \"smtp://a.example.org\"\n")
	if specs, err := settingsRelays(fs, sharedSpec()); err != nil || specs != nil {
		t.Errorf("no tables: %v, %+v", err, specs)
	}
}

// A relay's own secret source is the only one it reads: the shared
// MAILSHOT_SMTP_PASSWORD never goes to a relay that names its own, and
// goes to one that does not.
func TestRelayCredentials(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(passwordEnv, "shared-secret")
	t.Setenv("ORG_PASSWORD", "org-secret")
	pwFile := filepath.Join(dir, "ses")
	if err := os.WriteFile(pwFile, []byte("ses-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	specs, err := decodeRelays(t, dir, `
[[relay]]
smtp = "smtp://me@example.org@smtp.example.org"
password-env = "ORG_PASSWORD"
[[relay]]
smtp = "smtp://ses@email-smtp.example.com"
password-file = "ses"
[[relay]]
smtp = "smtp://plain@mail.example.net"
[[relay]]
smtp = "smtp://mail.example.test"
`, true)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := buildRelays(specs, false, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var cfg sender.Config
	applyRelays(&cfg, rs)
	if err := relayCredentials(context.Background(), &cfg, specs, nil, io.Discard); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"org-secret", "ses-secret", "shared-secret"} {
		c, err := cfg.Relays[i].Credentials(context.Background())
		if err != nil || c.Password != want || c.Username != cfg.Relays[i].Endpoint.Username {
			t.Errorf("relay %d: %+v, %v; want password %q", i+1, c, err, want)
		}
	}
	if cfg.Relays[3].Credentials != nil {
		t.Error("a relay without a user got credentials")
	}
	if _, err := sender.NewPool(cfg); err != nil {
		t.Errorf("NewPool: %v", err)
	}

	// An unset password-env says which variable.
	t.Setenv("ORG_PASSWORD", "")
	err = relayCredentials(context.Background(), &cfg, specs, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "$ORG_PASSWORD is not set") || !strings.Contains(err.Error(), "[[relay]] 1") {
		t.Errorf("unset password-env: %v", err)
	}
}
