package smtp

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Auth is one SASL mechanism (RFC 4422) as SMTP AUTH runs it (RFC 4954).
// An Auth value is used for one exchange only.
type Auth interface {
	// Start returns the mechanism's name and the initial response: nil for
	// none, empty for an empty one (sent as "=").
	Start() (mech string, initial []byte, err error)
	// Next returns the response to a server challenge (already decoded
	// from base64). An error cancels the exchange with "*".
	Next(challenge []byte) (response []byte, err error)
}

// Credentials are what Authenticate needs to log in.
type Credentials struct {
	Username string
	Password string
	// Token is an OAuth 2.0 access token for XOAUTH2 (Gmail, Microsoft).
	Token string
	// Mechanism "" picks from the server's list in the order XOAUTH2 (only
	// when Token is set), CRAM-MD5, PLAIN, LOGIN; "PLAIN", "LOGIN",
	// "CRAM-MD5" or "XOAUTH2" forces that mechanism.
	Mechanism string
}

// AuthError is the server's refusal of an AUTH exchange: 535, 534 or any
// other 5xx (RFC 4954 §6). Retrying with the same credentials fails again,
// so callers treat it as fatal. It unwraps to the *Error with the reply.
type AuthError struct {
	Mechanism string // the SASL mechanism refused, such as "PLAIN"
	// Challenge is the XOAUTH2 server's JSON error, sent in its last 334
	// before the final 535; "" for the other mechanisms.
	Challenge string
	Err       *Error
}

// Error formats e as "smtp: AUTH PLAIN: 535 5.7.8 authentication failed".
func (e *AuthError) Error() string {
	s := "smtp: AUTH " + e.Mechanism + strings.TrimPrefix(e.Err.Error(), "smtp: AUTH")
	if e.Challenge != "" {
		s += " (" + e.Challenge + ")"
	}
	return s
}

// Unwrap returns the *Error carrying the reply.
func (e *AuthError) Unwrap() error { return e.Err }

// IsAuthFailure reports whether err is (or wraps) an *AuthError: the server
// refused the credentials or the mechanism.
func IsAuthFailure(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// ErrEncryptionRequired is returned, wrapped, instead of sending
// credentials over an unencrypted connection to a host other than this one.
var ErrEncryptionRequired = errors.New("smtp: refusing to send credentials over an unencrypted connection")

// maxAuthRounds bounds the 334 challenges of one exchange.
const maxAuthRounds = 8

// maxAuthLine is the longest AUTH command line (RFC 4954 §4: 12288 octets);
// a longer initial response is sent after an empty 334 instead.
const maxAuthLine = 12288

// Authenticate logs in with AUTH (RFC 4954), choosing the mechanism as
// Credentials.Mechanism says. A refusal is an *AuthError (see
// IsAuthFailure). A server that does not offer AUTH gives an error wrapping
// errors.ErrUnsupported; so does one offering none of the mechanisms.
func (c *Client) Authenticate(ctx context.Context, cred Credentials) error {
	defer c.setupPhase()()
	stop, err := c.beginGreeted(ctx, "AUTH")
	if err != nil {
		return err
	}
	defer stop()
	offered, ok := c.ext["AUTH"]
	if !ok {
		return fmt.Errorf("smtp: AUTH: not offered by the server (STARTTLS first?): %w", errors.ErrUnsupported)
	}
	a, err := pickAuth(cred, strings.Fields(strings.ToUpper(offered)))
	if err != nil {
		return err
	}
	return c.auth(ctx, a)
}

// pickAuth returns the mechanism for cred among those offered.
func pickAuth(cred Credentials, offered []string) (Auth, error) {
	mechanism := func(mech string) Auth {
		switch mech {
		case "XOAUTH2":
			return XOAuth2(cred.Username, cred.Token)
		case "CRAM-MD5":
			return CRAMMD5Auth(cred.Username, cred.Password)
		case "PLAIN":
			return PlainAuth("", cred.Username, cred.Password)
		case "LOGIN":
			return LoginAuth(cred.Username, cred.Password)
		}
		return nil
	}
	if cred.Mechanism != "" {
		a := mechanism(strings.ToUpper(cred.Mechanism))
		if a == nil {
			return nil, fmt.Errorf("smtp: AUTH: unknown mechanism %q", cred.Mechanism)
		}
		return a, nil
	}
	var prefs []string
	if cred.Token != "" {
		prefs = append(prefs, "XOAUTH2")
	}
	if cred.Password != "" {
		prefs = append(prefs, "CRAM-MD5", "PLAIN", "LOGIN")
	}
	for _, p := range prefs {
		for _, o := range offered {
			if o == p {
				return mechanism(p), nil
			}
		}
	}
	return nil, fmt.Errorf("smtp: AUTH: no usable mechanism among %q: %w", strings.Join(offered, " "), errors.ErrUnsupported)
}

// Auth runs one AUTH exchange with the given mechanism, offered or not.
// Credentials never go over an unencrypted connection to another host
// (ErrEncryptionRequired), and never into errors or the transcript.
func (c *Client) Auth(ctx context.Context, a Auth) error {
	defer c.setupPhase()()
	stop, err := c.beginGreeted(ctx, "AUTH")
	if err != nil {
		return err
	}
	defer stop()
	return c.auth(ctx, a)
}

func (c *Client) auth(ctx context.Context, a Auth) error {
	if !c.isTLS && !c.loopback {
		return fmt.Errorf("%w to %s", ErrEncryptionRequired, c.host)
	}
	mech, initial, err := a.Start()
	if err != nil {
		return fmt.Errorf("smtp: AUTH: %w", err)
	}
	if !validMechanism(mech) {
		return fmt.Errorf("smtp: AUTH: invalid mechanism name %q", mech)
	}
	if cr, ok := a.(credentialed); ok {
		for _, secret := range cr.secrets() {
			c.trace.addSecret([]byte(secret), true)
		}
	}

	c.cmd = append(append(c.cmd[:0], "AUTH "...), mech...)
	var pending []byte // an initial response too long for the command line
	if initial != nil {
		enc := encodeSASL(initial)
		if len(enc) == 0 {
			c.cmd = append(c.cmd, " ="...)
		} else if len(c.cmd)+1+len(enc)+2 <= maxAuthLine {
			c.cmd = append(append(c.cmd, ' '), enc...)
			c.trace.addSecret(enc, false)
		} else {
			pending = initial
		}
	}
	c.cmd = append(c.cmd, "\r\n"...)

	timeout := orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout)
	var challenge string
	for round := 0; ; round++ {
		r, err := c.roundTrip(ctx, "AUTH", timeout)
		if err != nil {
			return err
		}
		switch {
		case r.Code == 235:
			return nil
		case r.Code == 334:
			if round == maxAuthRounds {
				return c.fail(ctx, "AUTH", fmt.Errorf("%w: more than %d AUTH challenges", ErrMalformedReply, maxAuthRounds))
			}
			ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Text))
			if err != nil {
				return c.fail(ctx, "AUTH", fmt.Errorf("%w: AUTH challenge is not base64", ErrMalformedReply))
			}
			var resp []byte
			if pending != nil {
				resp, pending = pending, nil
			} else {
				if mech == "XOAUTH2" {
					challenge = string(ch)
				}
				resp, err = a.Next(ch)
				if err != nil {
					return c.cancelAuth(ctx, mech, err)
				}
			}
			enc := encodeSASL(resp)
			c.trace.addSecret(enc, false)
			c.cmd = append(append(c.cmd[:0], enc...), "\r\n"...)
		default:
			e := c.replyError("AUTH", r)
			if r.Code >= 500 {
				if !strings.HasPrefix(strings.TrimSpace(challenge), "{") {
					challenge = ""
				}
				return &AuthError{Mechanism: mech, Challenge: c.trace.redactString(sanitise(challenge)), Err: e}
			}
			return e
		}
	}
}

// cancelAuth ends an exchange the mechanism cannot continue with "*"
// (RFC 4954 §4) and returns the mechanism's error.
func (c *Client) cancelAuth(ctx context.Context, mech string, cause error) error {
	c.cmd = append(c.cmd[:0], "*\r\n"...)
	if _, err := c.roundTrip(ctx, "AUTH", orDefault(c.cfg.CommandTimeout, DefaultCommandTimeout)); err != nil {
		return err
	}
	return fmt.Errorf("smtp: AUTH %s: %w", mech, cause)
}

// encodeSASL is base64 without the "=" convention for empty initial
// responses, which the caller applies.
func encodeSASL(b []byte) []byte {
	enc := make([]byte, base64.StdEncoding.EncodedLen(len(b)))
	base64.StdEncoding.Encode(enc, b)
	return enc
}

// validMechanism accepts SASL mechanism names (RFC 4422 §3.1: upper-case
// letters, digits, "-" and "_", at most 20).
func validMechanism(m string) bool {
	if m == "" || len(m) > 20 {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// sanitise replaces control characters for an error message.
func sanitise(s string) string {
	var b strings.Builder
	writeSanitised(&b, []byte(s))
	return b.String()
}

// credentialed is implemented by this package's mechanisms: the secrets
// they hold (password, token), which are redacted from every reply on the
// connection from the AUTH exchange on, in errors and in the transcript.
type credentialed interface {
	secrets() []string
}

func (a *plainAuth) secrets() []string   { return []string{a.password} }
func (a *loginAuth) secrets() []string   { return []string{a.password} }
func (a *cramMD5Auth) secrets() []string { return []string{a.secret} }
func (a *xoauth2) secrets() []string     { return []string{a.token} }

// PlainAuth is the PLAIN mechanism (RFC 4616), with the credentials in
// the initial response. identity is usually "".
func PlainAuth(identity, username, password string) Auth {
	return &plainAuth{identity, username, password}
}

type plainAuth struct{ identity, username, password string }

func (a *plainAuth) Start() (string, []byte, error) {
	if strings.ContainsRune(a.identity+a.username+a.password, 0) {
		return "", nil, errors.New("PLAIN: credentials must not contain NUL")
	}
	return "PLAIN", []byte(a.identity + "\x00" + a.username + "\x00" + a.password), nil
}

func (a *plainAuth) Next([]byte) ([]byte, error) {
	return nil, errors.New("PLAIN: unexpected server challenge")
}

// LoginAuth is the LOGIN mechanism (draft-murchison-sasl-login): the user
// name answers the first challenge and the password the second, whatever
// their wording, which servers vary.
func LoginAuth(username, password string) Auth {
	return &loginAuth{username: username, password: password}
}

type loginAuth struct {
	username, password string
	step               int
}

func (a *loginAuth) Start() (string, []byte, error) { return "LOGIN", nil, nil }

func (a *loginAuth) Next([]byte) ([]byte, error) {
	a.step++
	switch a.step {
	case 1:
		return []byte(a.username), nil
	case 2:
		return []byte(a.password), nil
	}
	return nil, errors.New("LOGIN: unexpected third challenge")
}

// CRAMMD5Auth is the CRAM-MD5 mechanism (RFC 2195): the answer to the
// server's challenge is the user name and the HMAC-MD5 of it keyed with the
// secret.
func CRAMMD5Auth(username, secret string) Auth {
	return &cramMD5Auth{username, secret}
}

type cramMD5Auth struct{ username, secret string }

func (a *cramMD5Auth) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (a *cramMD5Auth) Next(challenge []byte) ([]byte, error) {
	h := hmac.New(md5.New, []byte(a.secret))
	h.Write(challenge)
	return []byte(a.username + " " + hex.EncodeToString(h.Sum(nil))), nil
}

// XOAuth2 is Google's and Microsoft's XOAUTH2 mechanism with an OAuth 2.0
// access token. When the server answers with a 334 carrying a JSON error,
// the empty response asks it for the final 535, which Auth reports with
// that JSON in AuthError.Challenge.
func XOAuth2(username, token string) Auth {
	return &xoauth2{username, token}
}

type xoauth2 struct{ username, token string }

func (a *xoauth2) Start() (string, []byte, error) {
	if strings.ContainsRune(a.username+a.token, 1) {
		return "", nil, errors.New("XOAUTH2: credentials must not contain ^A")
	}
	return "XOAUTH2", []byte("user=" + a.username + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

func (a *xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }
