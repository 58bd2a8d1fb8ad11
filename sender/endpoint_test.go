package sender

import (
	"errors"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		in   string
		want Endpoint
	}{
		{"smtp://alice@example.com@mail.example.com:587", Endpoint{Host: "mail.example.com", Port: "587", Username: "alice@example.com"}},
		{"smtp://alice%40example.com@mail.example.com", Endpoint{Host: "mail.example.com", Port: "587", Username: "alice@example.com"}},
		{"smtps://bob@mail.example.org", Endpoint{ImplicitTLS: true, Host: "mail.example.org", Port: "465", Username: "bob"}},
		{"SMTPS://bob@mail.example.org:2465/", Endpoint{ImplicitTLS: true, Host: "mail.example.org", Port: "2465", Username: "bob"}},
		{"smtp://127.0.0.1:2525", Endpoint{Host: "127.0.0.1", Port: "2525"}},
		{"smtp://[::1]:2587", Endpoint{Host: "::1", Port: "2587"}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if *got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, *got, tt.want)
		}
		// String gives back a URL that parses to the same endpoint.
		again, err := ParseURL(got.String())
		if err != nil || *again != *got {
			t.Errorf("ParseURL(%q.String() = %q) = %+v, %v", tt.in, got.String(), again, err)
		}
	}
}

func TestParseURLErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"smtp://alice:hunter2@mail.example.com", "must not contain a password"},
		{"smtp://alice@example.com:hunter2@mail.example.com", "must not contain a password"},
		{"mail.example.com:587", "scheme"},
		{"127.0.0.1:2525", "no scheme"},
		{"alice@mail.example.com:587", "no scheme"},
		{"http://mail.example.com", `scheme "http"`},
		{"smtp://mail.example.com/path", "only scheme"},
		{"smtp://mail.example.com?auth=plain", "only scheme"},
		{"smtp://mail.example.com#x", "only scheme"},
		{"smtp://", "missing host"},
		{"smtp://@mail.example.com", "empty user name"},
		{"smtp://mail.example.com:", "empty port"},
		{"smtp://mail.example.com:smtp", "invalid port"},
		{"smtp:mail.example.com", "only scheme"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseURL(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q) error reveals the password: %v", tt.in, err)
		}
	}
}

func TestEndpointLoopback(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true}, {"LocalHost", true}, {"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true},
		{"mail.example.com", false}, {"192.0.2.1", false}, {"localhost.example.com", false}, {"::2", false},
	}
	for _, tt := range tests {
		if got := (&Endpoint{Host: tt.host}).Loopback(); got != tt.want {
			t.Errorf("Endpoint{Host: %q}.Loopback() = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtp://alice@example.com@mail.example.com:587", "smtps://[::1]:2465", "smtp://u:p@h", "smtp://h:%zz", "smtp://a%40b@h/", "smtp://u:%zzsecret@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseURL(s)
		if err != nil {
			// What would be a password, between "//user:" and the last "@",
			// does not show in the error.
			if i := strings.LastIndex(s, "@"); i >= 0 {
				_, userinfo, _ := strings.Cut(s[:i], "//")
				_, pw, ok := strings.Cut(userinfo, ":")
				if ok && len(pw) >= 4 && !strings.Contains(s[i:], pw) && strings.Contains(err.Error(), pw) {
					t.Fatalf("ParseURL(%q) error reveals the password: %v", s, err)
				}
			}
			return
		}
		if e.Host == "" || e.Port == "" {
			t.Fatalf("ParseURL(%q) = %+v: empty host or port", s, e)
		}
		again, err := ParseURL(e.String())
		if err != nil || *again != *e {
			t.Fatalf("ParseURL(%q) = %+v; its String %q parses to %+v, %v", s, e, e.String(), again, err)
		}
	})
}

// host:port without a scheme suggests the URL meant, unless the input has
// a user name, which is never echoed.
func TestParseURLSuggestsScheme(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:2525":             "smtp://127.0.0.1:2525",
		"mail.example.com":           "smtp://mail.example.com",
		"alice@mail.example.com:587": "",
	} {
		_, err := ParseURL(in)
		var ue *URLError
		if !errors.As(err, &ue) || !errors.Is(err, ErrNoScheme) || ue.Suggest != want {
			t.Errorf("ParseURL(%q) = %v (suggest %q), want ErrNoScheme suggesting %q", in, err, ue.Suggest, want)
		}
	}
}
