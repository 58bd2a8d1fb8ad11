package smtp

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckHelloName(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"mail.example.org", true},
		{"localhost", true},
		{"vm", true},
		{"xn--bcher-kva.example", true},
		{"a-b.example", true},
		{"[192.0.2.1]", true},
		{"[IPv6:2001:db8::1]", true},
		{"", false},
		{"a b", false},
		{"evil\r\nRCPT TO:<x@example.com>", false},
		{"grüße.example", false},
		{"under_score.example", false},
		{"-lead.example", false},
		{"trail-.example", false},
		{"two..dots", false},
		{"dot.at.end.", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 128) + "a", false},
		{"[192.0.2.300]", false},
		{"[2001:db8::1]", false},
		{"[IPv6:192.0.2.1]", false},
		{"[192.0.2.1", false},
		{"192.0.2.1]", false},
		{"[x-tag:abc]", false},
	} {
		err := CheckHelloName(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckHelloName(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
		var he *HelloNameError
		if err != nil && (!errors.As(err, &he) || he.Name != tt.in || he.Reason == "") {
			t.Errorf("CheckHelloName(%q): %v (%T) is not a *HelloNameError for it", tt.in, err, err)
		}
	}
}

// TestHelloNameRefusedBeforeSending: an invalid LocalName is a
// *HelloNameError from Hello, with nothing written.
func TestHelloNameRefusedBeforeSending(t *testing.T) {
	c, f, err := scripted(t, &Config{LocalName: "my_host"}, ehloPipelining)
	if err != nil {
		t.Fatal(err)
	}
	var he *HelloNameError
	if err := c.Hello(context.Background()); !errors.As(err, &he) || f.wrote() != "" {
		t.Errorf("Hello = %v, wrote %q", err, f.wrote())
	}
}

var mailboxCases = []struct {
	in     string
	ok     bool
	reason string // a word of the reason, for a refused one
}{
	{"b@example.org", true, ""},
	{"first.last+tag@sub.example.org", true, ""},
	{"!#$%&'*+-/=?^_`{|}~@example.org", true, ""},
	{`"john doe"@example.org`, true, ""},
	{`"e4\"x"@example.test`, true, ""},
	{`"back\\slash"@example.test`, true, ""},
	{`"john..doe"@example.org`, true, ""},
	{"josé@example.test", true, ""},
	{"δοκιμή@παράδειγμα.δοκιμή", true, ""},
	{`"josé smith"@example.test`, true, ""},
	{"b@[192.0.2.1]", true, ""},
	{"b@[IPv6:2001:db8::1]", true, ""},
	{"b@xn--bcher-kva.example", true, ""},

	{"@evil.test:c5@example.test", false, "source route"},
	{`"@evil.test:c5"@example.test`, false, "'@'"},
	{`"c5@evil.test"@example.test`, false, "'@'"},
	{"@a.example,@b.example:c5@example.test", false, "source route"},
	{`""@example.org`, false, "empty quoted"},
	{"c5", false, "no '@'"},
	{"b@", false, "empty domain"},
	{"john..doe@example.org", false, "quoted"},
	{".lead@example.org", false, "quoted"},
	{"trail.@example.org", false, "quoted"},
	{"john doe@example.org", false, "quoted"},
	{`e4"x@example.test`, false, "quoted"},
	{`a\b@example.org`, false, "quoted"},
	{"a(comment)@example.org", false, "quoted"},
	{"a,b@example.org", false, "quoted"},
	{"a:b@example.org", false, "quoted"},
	{`"unterminated@example.org`, false, "unterminated"},
	{`"in"side"@example.org`, false, `'"'`},
	{`"ends in \"@example.org`, false, `'\'`},
	{"\"ctl\x01\"@example.org", false, "control"},
	{"b@exa mple.org", false, "domain"},
	{"b@example..org", false, "empty label"},
	{"b@-example.org", false, "'-'"},
	{"b@under_score.example", false, "domain"},
	{"b@[300.1.1.1]", false, "IPv4"},
	{"b@[2001:db8::1]", false, "IPv4"},
	{"b@example.org>\r\nRCPT TO:<evil@example.net", false, ""},
	{"a@b@example.org", false, "quoted"},
	{"c1\u0085control@example.org", false, "local part"},
	{"\"c1\u0085\"@example.org", false, "quoted local part"},
}

func TestMailboxSyntax(t *testing.T) {
	for _, tt := range mailboxCases {
		err := validAddress(tt.in, false)
		if (err == nil) != tt.ok {
			t.Errorf("validAddress(%q) = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrInvalidAddress) || !strings.Contains(err.Error(), tt.reason)) {
			t.Errorf("validAddress(%q) = %v, want ErrInvalidAddress saying %q", tt.in, err, tt.reason)
		}
	}
	for _, special := range []string{"Postmaster", "postmaster"} {
		if err := validAddress(special, false); err != nil {
			t.Errorf("%s: %v", special, err)
		}
		if err := validAddress(special, true); err == nil {
			t.Errorf("%s accepted as a sender", special)
		}
	}
}

// TestEnvelopeWrittenAsGiven: a quoted local part goes into RCPT TO with
// its quotes, as given; a source route, or a quoted local part that a
// server looking inside the quotes would read as one, is refused before
// anything is sent, and the other recipients go.
func TestEnvelopeWrittenAsGiven(t *testing.T) {
	c, f, err := scripted(t, nil, ehloLockstep, lines("250 ok", "250 ok", "250 ok", "354 go", "250 ok"))
	if err != nil {
		t.Fatal(err)
	}
	env := envTo(`"john doe"@example.test`, "@evil.test:c5@example.test", `"@evil.test:c5"@example.test`, `"e4\"x"@example.test`)
	res, err := c.Send(context.Background(), &env, strings.NewReader(testBody))
	if err != nil {
		t.Fatal(err)
	}
	want := ehloLine + mailLine +
		`RCPT TO:<"john doe"@example.test>` + "\r\n" +
		`RCPT TO:<"e4\"x"@example.test>` + "\r\n" +
		"DATA\r\n" + testWire
	if got := f.wrote(); got != want {
		t.Errorf("wrote\n%q\nwant\n%q", got, want)
	}
	if res.Rcpts[0].Err != nil || !errors.Is(res.Rcpts[1].Err, ErrInvalidAddress) ||
		!errors.Is(res.Rcpts[2].Err, ErrInvalidAddress) || res.Rcpts[3].Err != nil {
		t.Errorf("results %+v", res.Rcpts)
	}
	if !c.Usable() {
		t.Error("unusable after a recipient refused here")
	}
}

// FuzzMailbox: an address the client accepts goes into exactly one command
// line, never as a source route, and names the mailbox an independent
// parser (net/mail, RFC 5322) reads from it: the same local part once
// unquoted, the same domain.
func FuzzMailbox(f *testing.F) {
	for _, tt := range mailboxCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, a string) {
		if validAddress(a, false) != nil || strings.EqualFold(a, "postmaster") {
			return
		}
		line := string(appendRcpt(nil, a))
		if strings.Count(line, "\r") != 1 || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, ">\r\n") {
			t.Fatalf("%q makes the command %q", a, line)
		}
		if strings.HasPrefix(a, "@") {
			t.Fatalf("source route %q accepted", a)
		}
		at := strings.LastIndexByte(a, '@')
		local, domain := a[:at], a[at+1:]
		if strings.HasPrefix(domain, "[") || !utf8.ValidString(a) {
			return // net/mail has no address literals of RFC 5321's form
		}
		got, err := mail.ParseAddress("<" + a + ">")
		if err != nil {
			// net/mail refuses some valid RFC 5321 forms (UTF-8 in quotes);
			// the ASCII ones it must read.
			if isASCII(a) {
				t.Fatalf("net/mail refuses %q, which the client sends: %v", a, err)
			}
			return
		}
		gat := strings.LastIndexByte(got.Address, '@')
		if got.Address[gat+1:] != domain || got.Address[:gat] != unquoteLocal(local) {
			t.Fatalf("client sends %q, net/mail reads the mailbox %q", a, got.Address)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// unquoteLocal undoes the quoting of a Quoted-string local part.
func unquoteLocal(l string) string {
	if !strings.HasPrefix(l, `"`) {
		return l
	}
	var b strings.Builder
	for i := 1; i < len(l)-1; i++ {
		if l[i] == '\\' {
			i++
		}
		b.WriteByte(l[i])
	}
	return b.String()
}
