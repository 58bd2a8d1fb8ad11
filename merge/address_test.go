package merge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

// rfc5321Mailbox is the Mailbox of RFC 5321 section 4.1.2, written out
// independently of the code under test, with RFC 6531's UTF-8 in atext and
// in quoted strings, and IPv4 address literals (section 4.1.3):
//
//	Mailbox        = Local-part "@" ( Domain / address-literal )
//	Local-part     = Dot-string / Quoted-string
//	Dot-string     = Atom *("."  Atom)
//	Quoted-string  = DQUOTE *QcontentSMTP DQUOTE
//	QcontentSMTP   = qtextSMTP / quoted-pairSMTP
//	qtextSMTP      = %d32-33 / %d35-91 / %d93-126
//	quoted-pairSMTP = %d92 %d32-126
//	Domain         = sub-domain *("." sub-domain)
//	sub-domain     = Let-dig [Ldh-str]
var rfc5321Mailbox = func() *regexp.Regexp {
	const (
		atext     = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]|[^\\x00-\\x7f]"
		atom      = "(?:" + atext + ")+"
		dotString = atom + "(?:\\." + atom + ")*"
		quoted    = `"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e]|[^\x00-\x7f])*"`
		subDomain = "[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
		domain    = subDomain + "(?:\\." + subDomain + ")*"
		ipv4      = `\[[0-9]{1,3}(?:\.[0-9]{1,3}){3}\]`
	)
	return regexp.MustCompile("^(?:" + dotString + "|" + quoted + ")@(?:" + domain + "|" + ipv4 + ")$")
}()

// splitAddr splits an addr-spec at its last @.
func splitAddr(addr string) (local, domain string) {
	at := strings.LastIndexByte(addr, '@')
	return addr[:at], addr[at+1:]
}

// TestEnvelopeAddresses renders a To cell (and the same address as From)
// and checks the envelope: an RFC 5321 Mailbox, naming the mailbox the cell
// names, quoted where it must be and never a source route; the domain as
// its A-label; SMTPUTF8 only for a non-ASCII local part. The header is read
// back by Python's email package, which must find the same mailbox.
func TestEnvelopeAddresses(t *testing.T) {
	type envelopeCase struct {
		cell     string
		envelope string // "" when the row is invalid
		local    string // the local part, unquoted; "" when the row is invalid
		utf8     bool
		err      string // in the row's error when it is invalid
	}
	tests := []envelopeCase{
		{cell: "ada@example.test", envelope: "ada@example.test", local: "ada"},
		{cell: "Ada.Lovelace+news@Example.TEST", envelope: "Ada.Lovelace+news@Example.TEST", local: "Ada.Lovelace+news"},
		// Valid quoted, but Postfix looks inside the quotes and delivers it
		// to c5@example.test: refused at check.
		{cell: `"@evil.test:c5"@example.test`, err: "holds an @"},
		{cell: `"e4\"x"@example.test`, envelope: `"e4\"x"@example.test`, local: `e4"x`},
		{cell: `"a\\b"@example.test`, envelope: `"a\\b"@example.test`, local: `a\b`},
		{cell: `"a..b"@example.test`, envelope: `"a..b"@example.test`, local: "a..b"},
		{cell: `".a"@example.test`, envelope: `".a"@example.test`, local: ".a"},
		{cell: `"a,b"@example.test`, envelope: `"a,b"@example.test`, local: "a,b"},
		{cell: `"plain"@example.test`, envelope: "plain@example.test", local: "plain"},
		{cell: "info@bücher.example", envelope: "info@xn--bcher-kva.example", local: "info"},
		{cell: "info@BÜCHER.example", envelope: "info@xn--bcher-kva.example", local: "info"},
		{cell: "info@xn--bcher-kva.example", envelope: "info@xn--bcher-kva.example", local: "info"},
		{cell: "josé@example.test", envelope: "josé@example.test", local: "josé", utf8: true},
		{cell: "用户@例子.测试", envelope: "用户@xn--fsqu00a.xn--0zwm56d", local: "用户", utf8: true},
		{cell: `"jo sé"@example.test`, err: "white space"},
		{cell: `"a b"@example.test`, err: "holds white space"},
		{cell: `"<a>"@example.test`, err: "angle bracket"},
		{cell: "a@[192.0.2.1]", envelope: "a@[192.0.2.1]", local: "a"},
		{cell: "a@[::1]", err: "IPv4 address in brackets"},
		{cell: "a@exa_mple.test", err: "is not a valid domain name"},
		{cell: "a@-example.test", err: "is not a valid domain name"},
		{cell: "a@xn--zz.example", err: "is not a valid domain name"},
		{cell: strings.Repeat("a", 65) + "@example.test", err: "more than 64"},
		{cell: "a@" + strings.Repeat(strings.Repeat("d", 63)+".", 4) + "test", err: "more than 254"},
	}
	dir := writeTemplate(t, map[string]string{
		"message.txt": "From: {{address \"Sender\" .email}}\nTo: {{.email}}\nCc: {{address .name .email}}\nSubject: s\n\nHi\n",
	})
	tmpl, err := LoadTemplate(dir, TemplateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var composed [][]byte
	var want []envelopeCase
	for _, tt := range tests {
		t.Run(tt.cell, func(t *testing.T) {
			m, err := tmpl.Render(&Record{File: "p.csv", Row: 2, Columns: NewColumns([]string{"email", "name"}), Values: []string{tt.cell, "Ada"}})
			if tt.envelope == "" {
				var re *RowError
				if !errors.As(err, &re) || re.Column != "email" || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Render: %v; want a row error about column \"email\" saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			env := m.Envelope()
			if env.From != tt.envelope || len(env.To) != 1 || env.To[0] != tt.envelope {
				t.Errorf("envelope From %q To %q, want %q", env.From, env.To, tt.envelope)
			}
			if !rfc5321Mailbox.MatchString(env.To[0]) {
				t.Errorf("envelope %q is not an RFC 5321 Mailbox", env.To[0])
			}
			if env.SMTPUTF8 != tt.utf8 || m.NeedsSMTPUTF8() != tt.utf8 {
				t.Errorf("SMTPUTF8 %v, want %v", env.SMTPUTF8, tt.utf8)
			}
			// The envelope names the mailbox the header does.
			back, err := mail.ParseAddress(env.To[0])
			if err != nil {
				t.Fatalf("net/mail cannot read the envelope address back: %v", err)
			}
			if back.Address != m.To[0].Address {
				t.Errorf("envelope reads back as %q, the header holds %q", back.Address, m.To[0].Address)
			}
			if local, _ := splitAddr(back.Address); local != tt.local {
				t.Errorf("local part %q, want %q", local, tt.local)
			}
			var b bytes.Buffer
			if err := testComposer().Compose(&b, m); err != nil {
				t.Fatalf("Compose: %v", err)
			}
			if hasRawUTF8(b.Bytes()) != tt.utf8 {
				t.Errorf("raw UTF-8 in the message: %v, want %v (RFC 6532 only with SMTPUTF8)\n%s", !tt.utf8, tt.utf8, b.Bytes())
			}
			composed = append(composed, b.Bytes())
			want = append(want, tt)
		})
	}
	// Python reads every composed message's headers back at once.
	for i, list := range pyAddresses(t, composed) {
		tt := want[i]
		_, wantDomain := splitAddr(tt.envelope)
		if len(list) != 3 {
			t.Errorf("%s: Python reads %d addresses, want 3: %+v", tt.cell, len(list), list)
		}
		for _, h := range list {
			if h.Local != tt.local || !strings.EqualFold(h.Domain, wantDomain) {
				t.Errorf("%s: Python reads %s as %q at %q, want %q at %q", tt.cell, h.Header, h.Local, h.Domain, tt.local, wantDomain)
			}
			for _, d := range h.Defects {
				// Python flags every RFC 6532 local part so.
				if !tt.utf8 || !strings.HasPrefix(d, "NonASCIILocalPartDefect") {
					t.Errorf("%s: Python finds a defect in %s: %s", tt.cell, h.Header, d)
				}
			}
		}
	}
}

func hasRawUTF8(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return true
		}
	}
	return false
}

// pyAddressScript prints, as JSON, for each message file named, the local
// part, domain and defects of every address in From, To and Cc as Python's
// email package reads them: the message decoded as UTF-8 (RFC 6532), with
// the SMTPUTF8 policy.
const pyAddressScript = `
import sys, json, email, email.policy
out = []
for path in sys.argv[1:]:
    msg = email.message_from_string(open(path, 'rb').read().decode('utf-8'), policy=email.policy.SMTPUTF8)
    addrs = []
    for k in ("From", "To", "Cc"):
        h = msg[k]
        for a in h.addresses:
            addrs.append({"header": k, "local": a.username, "domain": a.domain, "defects": [repr(d) for d in h.defects]})
    out.append(addrs)
json.dump(out, sys.stdout)
`

type pyAddress struct {
	Header  string   `json:"header"`
	Local   string   `json:"local"`
	Domain  string   `json:"domain"`
	Defects []string `json:"defects"`
}

// pyAddresses reads the addresses of each message's From, To and Cc with
// Python.
func pyAddresses(t *testing.T, messages [][]byte) [][]pyAddress {
	t.Helper()
	py := python3(t)
	dir := t.TempDir()
	var paths []string
	for i, raw := range messages {
		path := filepath.Join(dir, fmt.Sprintf("%d.eml", i))
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	out, err := exec.Command(py, append([]string{"-c", pyAddressScript}, paths...)...).Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var lists [][]pyAddress
	if err := json.Unmarshal(out, &lists); err != nil || len(lists) != len(messages) {
		t.Fatalf("python3: %v: %s", err, out)
	}
	return lists
}

func TestEnvelopeAddressExported(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "me@example.org", want: "me@example.org"},
		{in: "@evil.test:c5@example.test", err: "holds an @"},
		{in: "a,b@example.test", want: `"a,b"@example.test`},
		{in: "me@bücher.example", want: "me@xn--bcher-kva.example"},
		{in: "me", err: "is not an email address"},
		{in: "me@", err: "is not an email address"},
		{in: "a\r\nb@example.org", err: "control character"},
	}
	for _, tt := range tests {
		got, err := EnvelopeAddress(tt.in)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("EnvelopeAddress(%q) = %q, %v; want an error saying %q", tt.in, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("EnvelopeAddress(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestRecipientsQuoted checks the envelope of a Message built by hand, as a
// test send does: the addresses net/mail holds unquoted are quoted.
func TestRecipientsQuoted(t *testing.T) {
	m := &Message{
		From: &mail.Address{Address: "a..b@example.test"},
		To:   []*mail.Address{{Address: "@evil.test:c5@example.test"}},
		Cc:   []*mail.Address{{Address: "ok@example.test"}},
		Bcc:  []*mail.Address{{Address: `e4"x@example.test`}, {Address: "OK@example.test"}},
	}
	env := m.Envelope()
	want := []string{`"@evil.test:c5"@example.test`, "ok@example.test", `"e4\"x"@example.test`}
	if env.From != `"a..b"@example.test` || strings.Join(env.To, " ") != strings.Join(want, " ") || env.SMTPUTF8 {
		t.Errorf("Envelope() = %+v, want From \"a..b\"@example.test, To %q", env, want)
	}
}

// FuzzEnvelopeAddress checks, for any address net/mail parses, that the
// envelope form is an RFC 5321 Mailbox that net/mail reads back as the same
// local part and domain (the domain as its A-label), or that the address is
// refused.
func FuzzEnvelopeAddress(f *testing.F) {
	for _, s := range []string{
		"ada@example.test", `"@evil.test:c5"@example.test`, `"e4\"x"@example.test`, `"a\\b"@example.test`,
		`"a..b"@example.test`, "info@bücher.example", "josé@example.test", "a@[192.0.2.1]", `"a b"@example.test`,
		"Ada <ada@example.test>", `"x"@xn--bcher-kva.example`, "a@ＥＸＡＭＰＬＥ.test", `"\é"@example.test`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := mail.ParseAddress(s)
		if err != nil {
			return
		}
		norm, err := normalizeAddress(a.Address)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		env := envelopeForm(norm)
		if !rfc5321Mailbox.MatchString(env) {
			t.Fatalf("%q: envelope %q is not an RFC 5321 Mailbox", s, env)
		}
		if len(env) > maxAddressLength {
			t.Fatalf("%q: envelope %q is longer than %d", s, env, maxAddressLength)
		}
		back, err := mail.ParseAddress(env)
		if err != nil {
			t.Fatalf("%q: net/mail cannot read the envelope %q back: %v", s, env, err)
		}
		local, domain := splitAddr(a.Address)
		backLocal, backDomain := splitAddr(back.Address)
		if backLocal != local {
			t.Fatalf("%q: envelope %q has the local part %q, not %q", s, env, backLocal, local)
		}
		if strings.HasPrefix(domain, "[") {
			if backDomain != domain {
				t.Fatalf("%q: envelope %q has the domain %q, not %q", s, env, backDomain, domain)
			}
			return
		}
		if want, err := idna.Lookup.ToASCII(domain); err != nil || !strings.EqualFold(backDomain, want) {
			t.Fatalf("%q: envelope %q has the domain %q, not the A-label %q (%v)", s, env, backDomain, want, err)
		}
		if !isASCII(backDomain) {
			t.Fatalf("%q: envelope domain %q is not ASCII", s, backDomain)
		}
		if needs := !isASCII(env); needs != !isASCII(local) {
			t.Fatalf("%q: envelope %q needs SMTPUTF8: %v, local part %q", s, env, needs, local)
		}
	})
}

// FuzzPlainHostName checks normalizeDomain's quick way against IDNA: a
// domain plainHostName takes is one the whole normalization returns as it
// is, without an error.
func FuzzPlainHostName(f *testing.F) {
	for _, s := range []string{
		"example.test", "EXAMPLE.test", "xn--bcher-kva.example", "ab--cd.example", "a-b.example", "-a.example",
		"a.example.", "", ".", "1.2.3.4", "bücher.example", "a..b", strings.Repeat("a", 64) + ".example",
		"XN--BCHER-KVA.example", "r0000001.example.org",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainHostName(s) {
			return
		}
		got, err := normalizeDomainIDNA(s)
		if err != nil || got != s {
			t.Fatalf("plainHostName(%q) is true, but IDNA normalizes it to %q, %v", s, got, err)
		}
	})
}

// TestPlainHostName checks which host names take the quick way.
func TestPlainHostName(t *testing.T) {
	for s, want := range map[string]bool{
		"example.test": true, "Mail-1.EXAMPLE.org": true, "r0000001.example.org": true, "a": true,
		strings.Repeat("a", 63) + ".test": true,
		"xn--bcher-kva.example":           false, "ab--cd.example": false, "-a.example": false, "a-.example": false,
		"a.example.": false, "": false, "a..b": false, "bücher.example": false, "a_b.example": false,
		strings.Repeat("a", 64) + ".test": false, "[192.0.2.1]": false,
	} {
		if got := plainHostName(s); got != want {
			t.Errorf("plainHostName(%q) = %v, want %v", s, got, want)
		}
	}
}
