package main

import "testing"

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"smtp", "smtp", 0},
		{"smpt", "smtp", 1}, // two letters swapped
		{"smt", "smtp", 1},
		{"smtpx", "smtp", 1},
		{"smtq", "smtp", 1},
		{"", "rate", 4},
		{"ca", "abc", 3}, // optimal string alignment: no edit of a swapped pair
		{"kitten", "sitting", 3},
	} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := editDistance(tt.b, tt.a); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	flags := []string{"smtp", "template", "data", "rate", "retries", "retry-failed", "resend-unknown", "test-to", "json"}
	for _, tt := range []struct{ typed, want string }{
		{"smpt", "smtp"},
		{"SMTP", "smtp"},
		{"templte", "template"},
		{"tempalte", "template"},
		{"temp", "template"}, // an abbreviation
		{"rat", "rate"},
		{"retry", "retry-failed"}, // an abbreviation beats "retries", 3 edits away
		{"resend", "resend-unknown"},
		{"jsno", "json"},
		{"x", ""},
		{"frobnicate", ""},
		{"", ""},
	} {
		if got := suggest(tt.typed, flags); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.typed, got, tt.want)
		}
	}
	for _, tt := range []struct{ typed, want string }{
		{"sned", "send"}, {"chekc", "check"}, {"previwe", "preview"}, {"verison", "version"}, {"int", "init"}, {"mail", ""},
	} {
		if got := suggest(tt.typed, commandNames()); got != tt.want {
			t.Errorf("suggest(%q) among commands = %q, want %q", tt.typed, got, tt.want)
		}
	}
}
