package smtp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"regexp"
	"strings"
	"testing"
)

const (
	user = "alice@example.test"
	pass = "s3cret"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// emptyAuth is a mechanism with an empty initial response.
type emptyAuth struct{}

func (emptyAuth) Start() (string, []byte, error) { return "EXTERNAL", []byte{}, nil }
func (emptyAuth) Next([]byte) ([]byte, error)    { return nil, errors.New("no challenge expected") }

func TestAuth(t *testing.T) {
	ctx := context.Background()
	plainIR := b64("\x00" + user + "\x00" + pass)
	xoauthIR := b64("user=" + user + "\x01auth=Bearer ya29.token\x01\x01")
	xoauthJSON := `{"status":"400","schemes":"Bearer","scope":"https://mail.google.com/"}`
	tests := []struct {
		name    string
		ehlo    string
		replies []string
		run     func(c *Client) error
		wrote   string // after EHLO
		check   func(t *testing.T, err error)
	}{
		{name: "PLAIN", replies: []string{"235 2.7.0 Authentication successful"},
			run:   func(c *Client) error { return c.Auth(ctx, PlainAuth("", user, pass)) },
			wrote: "AUTH PLAIN " + plainIR + "\r\n"},
		{name: "empty initial response", replies: []string{"235 ok"},
			run:   func(c *Client) error { return c.Auth(ctx, emptyAuth{}) },
			wrote: "AUTH EXTERNAL =\r\n"},
		{name: "LOGIN ignores the wording", replies: []string{"334 " + b64("Benutzername:"), "334 " + b64("Geheimwort?"), "235 ok"},
			run:   func(c *Client) error { return c.Auth(ctx, LoginAuth(user, pass)) },
			wrote: "AUTH LOGIN\r\n" + b64(user) + "\r\n" + b64(pass) + "\r\n"},
		{name: "LOGIN with a third challenge cancels", replies: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "334 TW9yZT8=", "501 5.7.0 cancelled"},
			run:   func(c *Client) error { return c.Auth(ctx, LoginAuth(user, pass)) },
			wrote: "AUTH LOGIN\r\n" + b64(user) + "\r\n" + b64(pass) + "\r\n*\r\n",
			check: func(t *testing.T, err error) {
				if err == nil || IsAuthFailure(err) {
					t.Fatalf("error = %v", err)
				}
			}},
		{name: "CRAM-MD5 (RFC 2195 example)", replies: []string{"334 " + b64("<1896.697170952@postoffice.reston.mci.net>"), "235 ok"},
			run:   func(c *Client) error { return c.Auth(ctx, CRAMMD5Auth("tim", "tanstaaftanstaaf")) },
			wrote: "AUTH CRAM-MD5\r\n" + b64("tim b913a602c7eda7a495b4e6e7334d3890") + "\r\n"},
		{name: "XOAUTH2", replies: []string{"235 2.7.0 Accepted"},
			run:   func(c *Client) error { return c.Auth(ctx, XOAuth2(user, "ya29.token")) },
			wrote: "AUTH XOAUTH2 " + xoauthIR + "\r\n"},
		{name: "XOAUTH2 refused with JSON", replies: []string{"334 " + b64(xoauthJSON), "535-5.7.8 Username and Password not accepted.", "535 5.7.8 https://support.google.com/mail/?p=BadCredentials"},
			run:   func(c *Client) error { return c.Auth(ctx, XOAuth2(user, "ya29.token")) },
			wrote: "AUTH XOAUTH2 " + xoauthIR + "\r\n\r\n",
			check: func(t *testing.T, err error) {
				var ae *AuthError
				if !errors.As(err, &ae) || ae.Challenge != xoauthJSON || ae.Mechanism != "XOAUTH2" || ae.Err.Code != 535 {
					t.Fatalf("error = %#v", err)
				}
				if !strings.Contains(err.Error(), xoauthJSON) {
					t.Errorf("error %q lacks the server's JSON", err)
				}
			}},
		{name: "535", replies: []string{"535 5.7.8 Error: authentication failed: authentication failure"},
			run:   func(c *Client) error { return c.Auth(ctx, PlainAuth("", user, pass)) },
			wrote: "AUTH PLAIN " + plainIR + "\r\n",
			check: func(t *testing.T, err error) {
				if !IsAuthFailure(err) {
					t.Fatalf("error = %v, not an auth failure", err)
				}
				if e := wantReplyError(t, err, "AUTH", 535); e.Enhanced != "5.7.8" {
					t.Errorf("reply %+v", e.Reply)
				}
				if want := "smtp: AUTH PLAIN: 535 5.7.8 Error: authentication failed: authentication failure"; err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
			}},
		{name: "534", replies: []string{"534 5.7.9 Please log in with your web browser"},
			run:   func(c *Client) error { return c.Auth(ctx, LoginAuth(user, pass)) },
			wrote: "AUTH LOGIN\r\n",
			check: func(t *testing.T, err error) {
				if !IsAuthFailure(err) {
					t.Fatal(err)
				}
			}},
		{name: "454 is temporary, not an auth failure", replies: []string{"454 4.7.0 Temporary authentication failure"},
			run:   func(c *Client) error { return c.Auth(ctx, PlainAuth("", user, pass)) },
			wrote: "AUTH PLAIN " + plainIR + "\r\n",
			check: func(t *testing.T, err error) {
				if e := wantReplyError(t, err, "AUTH", 454); !e.Temporary() || IsAuthFailure(err) {
					t.Fatal(err)
				}
			}},
		{name: "an echoed payload is redacted", replies: []string{"500 5.5.2 Error: bad syntax: AUTH PLAIN " + plainIR},
			run:   func(c *Client) error { return c.Auth(ctx, PlainAuth("", user, pass)) },
			wrote: "AUTH PLAIN " + plainIR + "\r\n",
			check: func(t *testing.T, err error) {
				if !IsAuthFailure(err) || strings.Contains(err.Error(), plainIR) {
					t.Fatalf("error %q", err)
				}
			}},
		{name: "challenge not base64", replies: []string{"334 not*base64"},
			run:   func(c *Client) error { return c.Auth(ctx, LoginAuth(user, pass)) },
			wrote: "AUTH LOGIN\r\n",
			check: func(t *testing.T, err error) { wantConnError(t, err, ErrMalformedReply) }},
		{name: "endless challenges", replies: strings.Split(strings.Repeat("334 \n", maxAuthRounds+1), "\n")[:maxAuthRounds+1],
			run:   func(c *Client) error { return c.Auth(ctx, emptyAuthChallenges{}) },
			wrote: "AUTH EXTERNAL\r\n" + strings.Repeat("\r\n", maxAuthRounds),
			check: func(t *testing.T, err error) { wantConnError(t, err, ErrMalformedReply) }},

		{name: "Authenticate prefers CRAM-MD5", replies: []string{"334 " + b64("<1.2@mx>"), "235 ok"},
			run: func(c *Client) error {
				return c.Authenticate(ctx, Credentials{Username: "tim", Password: "tanstaaftanstaaf"})
			},
			wrote: "AUTH CRAM-MD5\r\n" + b64("tim e754dec6cb79e9872982d7f66ce8062a") + "\r\n"},
		{name: "Authenticate PLAIN before LOGIN", ehlo: lines("250-mx", "250 AUTH LOGIN PLAIN"), replies: []string{"235 ok"},
			run:   func(c *Client) error { return c.Authenticate(ctx, Credentials{Username: user, Password: pass}) },
			wrote: "AUTH PLAIN " + plainIR + "\r\n"},
		{name: "Authenticate LOGIN", ehlo: lines("250-mx", "250 AUTH LOGIN"), replies: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 ok"},
			run:   func(c *Client) error { return c.Authenticate(ctx, Credentials{Username: user, Password: pass}) },
			wrote: "AUTH LOGIN\r\n" + b64(user) + "\r\n" + b64(pass) + "\r\n"},
		{name: "Authenticate XOAUTH2 with a token", ehlo: lines("250-mx", "250 AUTH LOGIN PLAIN XOAUTH2 OAUTHBEARER"), replies: []string{"235 ok"},
			run: func(c *Client) error {
				return c.Authenticate(ctx, Credentials{Username: user, Token: "ya29.token"})
			},
			wrote: "AUTH XOAUTH2 " + xoauthIR + "\r\n"},
		{name: "Authenticate with a token, no XOAUTH2", ehlo: lines("250-mx", "250 AUTH LOGIN PLAIN"),
			run: func(c *Client) error {
				return c.Authenticate(ctx, Credentials{Username: user, Token: "ya29.token"})
			},
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatal(err)
				}
			}},
		{name: "Authenticate forced LOGIN", replies: []string{"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 ok"},
			run: func(c *Client) error {
				return c.Authenticate(ctx, Credentials{Username: user, Password: pass, Mechanism: "login"})
			},
			wrote: "AUTH LOGIN\r\n" + b64(user) + "\r\n" + b64(pass) + "\r\n"},
		{name: "Authenticate unknown mechanism",
			run: func(c *Client) error {
				return c.Authenticate(ctx, Credentials{Username: user, Password: pass, Mechanism: "GSSAPI"})
			},
			check: func(t *testing.T, err error) {
				if err == nil {
					t.Fatal("no error")
				}
			}},
		{name: "Authenticate without AUTH offered", ehlo: ehloLockstep,
			run: func(c *Client) error { return c.Authenticate(ctx, Credentials{Username: user, Password: pass}) },
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatal(err)
				}
			}},
		{name: "Authenticate, no common mechanism", ehlo: lines("250-mx", "250 AUTH GSSAPI NTLM"),
			run: func(c *Client) error { return c.Authenticate(ctx, Credentials{Username: user, Password: pass}) },
			check: func(t *testing.T, err error) {
				if !errors.Is(err, errors.ErrUnsupported) {
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ehlo := tt.ehlo
			if ehlo == "" {
				ehlo = ehloPipelining
			}
			var replies string
			for _, r := range tt.replies {
				replies += r + "\r\n"
			}
			var trace bytes.Buffer
			c, f, err := scripted(t, &Config{Trace: &trace}, ehlo+replies)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Hello(ctx); err != nil {
				t.Fatal(err)
			}
			err = tt.run(c)
			if got := strings.TrimPrefix(f.wrote(), ehloLine); got != tt.wrote {
				t.Errorf("client wrote %q, want %q", got, tt.wrote)
			}
			if tt.check != nil {
				tt.check(t, err)
			} else if err != nil {
				t.Fatal(err)
			}
			for _, secret := range []string{pass, b64(pass), plainIR, "ya29.token", xoauthIR, "tanstaaftanstaaf", b64("tim b913a602c7eda7a495b4e6e7334d3890")} {
				if strings.Contains(trace.String(), secret) {
					t.Errorf("transcript holds the secret %q:\n%s", secret, trace.String())
				}
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("error holds the secret %q: %v", secret, err)
				}
			}
		})
	}
}

// emptyAuthChallenges answers every challenge with an empty response.
type emptyAuthChallenges struct{}

func (emptyAuthChallenges) Start() (string, []byte, error) { return "EXTERNAL", nil, nil }
func (emptyAuthChallenges) Next([]byte) ([]byte, error)    { return []byte{}, nil }

// TestAuthNeedsEncryption checks that credentials never go in clear to
// another host, and do go in clear to this one.
func TestAuthNeedsEncryption(t *testing.T) {
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.25"), Port: 587}
	c, f, err := scriptedFrom(t, remote, nil, ehloPipelining+"235 ok\r\n")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Authenticate(ctx, Credentials{Username: user, Password: pass}); !errors.Is(err, ErrEncryptionRequired) {
		t.Fatalf("Authenticate = %v, want ErrEncryptionRequired", err)
	}
	if err := c.Auth(ctx, PlainAuth("", user, pass)); !errors.Is(err, ErrEncryptionRequired) {
		t.Fatalf("Auth = %v, want ErrEncryptionRequired", err)
	}
	if got := f.wrote(); got != ehloLine {
		t.Errorf("client wrote %q", got)
	}
	if !c.Usable() {
		t.Error("unusable after refusing to authenticate")
	}

	for _, addr := range []net.Addr{
		&net.TCPAddr{IP: net.IPv6loopback, Port: 25},
		&net.UnixAddr{Name: "/run/smtp.sock", Net: "unix"},
		pipeAddr{},
	} {
		c, _, err := scriptedFrom(t, addr, nil, ehloPipelining+"235 ok\r\n")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Authenticate(ctx, Credentials{Username: user, Password: pass}); err != nil {
			t.Errorf("%s %s: %v", addr.Network(), addr, err)
		}
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

var timestamp = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z `)

// TestTranscript compares a whole session's transcript, timestamps masked,
// with a golden file: both directions, AUTH redacted, the body summarised.
func TestTranscript(t *testing.T) {
	var trace bytes.Buffer
	c, _, err := scripted(t, &Config{Trace: &trace}, ehloPipelining+lines(
		"334 VXNlcm5hbWU6", "334 UGFzc3dvcmQ6", "235 2.7.0 ok",
		"250 2.1.0 ok", "250 2.1.5 ok", "354 go", "250 2.0.0 queued", "221 2.0.0 bye"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Authenticate(ctx, Credentials{Username: user, Password: pass, Mechanism: "LOGIN"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, &Envelope{From: "a@example.com", To: []string{"b@example.org"}}, strings.NewReader(testBody)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(timestamp.FindAllIndex(trace.Bytes(), -1)); n != strings.Count(trace.String(), "\n") {
		t.Errorf("%d timestamps for %d lines", n, strings.Count(trace.String(), "\n"))
	}
	golden(t, "transcript.golden", timestamp.ReplaceAll(trace.Bytes(), []byte("TIME ")))
	for _, secret := range []string{pass, b64(pass), user, b64(user)} {
		if strings.Contains(trace.String(), secret) {
			t.Errorf("transcript holds %q", secret)
		}
	}
}
