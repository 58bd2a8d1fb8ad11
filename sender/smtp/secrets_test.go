package smtp

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestSecretsRedacted: a server that echoes the password or the token, as
// sent or decoded, in any reply (the 535 of a failed login, or a later
// reply on the connection) never gets it into an error or the transcript.
func TestSecretsRedacted(t *testing.T) {
	const (
		password = "Tr0ub4dor&3-horse"
		token    = "ya29.a0AfH6SMBsecret-token"
	)
	ctx := context.Background()
	tests := []struct {
		name    string
		cred    Credentials
		replies []string
		send    bool // log in, then send a message whose MAIL reply echoes
		secrets []string
	}{
		{
			name: "PLAIN, 535 echoes the decoded password",
			cred: Credentials{Username: user, Password: password, Mechanism: "PLAIN"},
			replies: []string{
				"535-5.7.8 authentication failed for " + user + " with password " + password + "\r\n" +
					"535 5.7.8 (you sent " + b64(password) + ", decoded \x00" + user + "\x00" + password + ")\r\n",
			},
			secrets: []string{password, b64(password), b64("\x00" + user + "\x00" + password)},
		},
		{
			name: "LOGIN, 535 echoes the password's base64",
			cred: Credentials{Username: user, Password: password, Mechanism: "LOGIN"},
			replies: []string{"334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n",
				"535 5.7.8 bad credentials: " + b64(password) + " is not " + password + "\r\n"},
			secrets: []string{password, b64(password)},
		},
		{
			name: "XOAUTH2, the JSON challenge and the 535 echo the token",
			cred: Credentials{Username: user, Token: token, Mechanism: "XOAUTH2"},
			replies: []string{
				"334 " + b64(`{"status":"401","token":"`+token+`"}`) + "\r\n",
				"535 5.7.8 token " + token + " expired\r\n",
			},
			secrets: []string{token, b64(token)},
		},
		{
			name: "a later reply echoes the password",
			cred: Credentials{Username: user, Password: password, Mechanism: "PLAIN"},
			replies: []string{"235 2.7.0 ok\r\n", "550 5.7.1 sender refused; your password " + password + " is weak\r\n",
				"503 5.5.1 no\r\n", "503 5.5.1 no\r\n", "250 ok\r\n"},
			send:    true,
			secrets: []string{password},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace bytes.Buffer
			c, _, err := scripted(t, &Config{Trace: &trace}, append([]string{ehloPipelining}, tt.replies...)...)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			err = c.Authenticate(ctx, tt.cred)
			if tt.send {
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(testBody))
			} else if !IsAuthFailure(err) {
				t.Fatalf("error %v, want an auth failure", err)
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want one with the reply", err, err)
			}
			texts = append(texts, err.Error(), se.Text)
			for _, s := range tt.secrets {
				for _, text := range append(texts, trace.String()) {
					if strings.Contains(text, s) {
						t.Errorf("%q appears in %q", s, text)
					}
				}
			}
			if !strings.Contains(err.Error(), redacted) || !strings.Contains(trace.String(), "S: "+strconv.Itoa(se.Code)) {
				t.Errorf("error %q or transcript lacks the redacted reply:\n%s", err, trace.String())
			}
		})
	}
}

// TestTranscriptEscapesServerBytes: terminal escapes, C1 controls,
// bidirectional overrides and invalid UTF-8 from the server reach the
// transcript escaped, and the reply text '?'-masked; printable UTF-8 stays.
func TestTranscriptEscapesServerBytes(t *testing.T) {
	var trace bytes.Buffer
	hostile := "550-5.7.1 \x1b]0;owned\x07title \x1b[2J cleared\r\n" +
		"550-5.7.1 c1 \xc2\x9b31m, raw \x9b31m, bidi \u202egnp.exe, back\\slash\r\n" +
		"550 5.7.1 grüße ✓\r\n"
	c, _, err := scripted(t, &Config{Trace: &trace}, ehloLockstep, hostile, "250 ok\r\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Send(context.Background(), &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(testBody))
	e := wantReplyError(t, err, "MAIL", 550)

	got := trace.String()
	checkPrintable := func(what, s string, allowNL bool) {
		t.Helper()
		if !utf8.ValidString(s) {
			t.Errorf("%s is not valid UTF-8: %q", what, s)
		}
		for _, r := range s {
			if r == '\n' && allowNL || r == '\t' {
				continue
			}
			if !unicode.IsGraphic(r) {
				t.Errorf("%s holds %U: %q", what, r, s)
			}
		}
	}
	checkPrintable("transcript", got, true)
	checkPrintable("reply text", e.Text, true)
	checkPrintable("error", err.Error(), false)
	for _, want := range []string{
		`S: 550-5.7.1 \x1b]0;owned\x07title \x1b[2J cleared`,
		`c1 \u009b31m, raw \x9b31m, bidi \u202egnp.exe, back\\slash`,
		"S: 550 5.7.1 grüße ✓\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("transcript lacks %q:\n%s", want, got)
		}
	}
	if want := "?]0;owned?title ?[2J cleared\nc1 ?31m, raw ?31m, bidi ?gnp.exe, back\\slash\ngrüße ✓"; e.Text != want {
		t.Errorf("reply text %q, want %q", e.Text, want)
	}
}

func TestAppendEscaped(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\there", "tab\there"},
		{"\x00\x1b\x7f", `\x00\x1b\x7f`},
		{`a\b`, `a\\b`},
		{"\xff\xfe", `\xff\xfe`},
		{"\u200b\u202e\u2066", `\u200b\u202e\u2066`},
		{"\U000e0041", `\U000e0041`}, // a tag character: format
		{"日本語 🙂", "日本語 🙂"},
	} {
		if got := string(appendEscaped(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendEscaped(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzAppendEscaped: the transcript's escaping leaves only printable text
// (and tabs), and undoing it gives back the octets the server sent.
func FuzzAppendEscaped(f *testing.F) {
	for _, s := range []string{"250 ok", "\x1b]0;t\x07", "\xc2\x9b", "\u202e", `a\b`, "\xff", "grüße", "\U000e0041", `\x41`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := string(appendEscaped(nil, in))
		if !utf8.ValidString(out) {
			t.Fatalf("escaped %q is not UTF-8: %q", in, out)
		}
		for _, r := range out {
			if r != '\t' && !unicode.IsGraphic(r) {
				t.Fatalf("escaped %q holds %U", in, r)
			}
		}
		if back := unescape(t, out); back != string(in) {
			t.Fatalf("escaped %q as %q, which reads back as %q", in, out, back)
		}
	})
}

// unescape undoes appendEscaped: \\, \xNN, \uNNNN, \UNNNNNNNN.
func unescape(t *testing.T, s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		i++
		if i == len(s) {
			t.Fatalf("%q ends in a lone backslash", s)
		}
		var n int
		switch s[i] {
		case '\\':
			b = append(b, '\\')
			continue
		case 'x':
			n = 2
		case 'u':
			n = 4
		case 'U':
			n = 8
		}
		if n == 0 || i+n >= len(s) {
			t.Fatalf("%q: bad escape at %d", s, i)
		}
		v, err := strconv.ParseUint(s[i+1:i+1+n], 16, 32)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if s[i] == 'x' {
			b = append(b, byte(v))
		} else {
			b = utf8.AppendRune(b, rune(v))
		}
		i += n
	}
	return string(b)
}
