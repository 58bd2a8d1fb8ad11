package sender

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Endpoint is the SMTP server a pool sends through, as given by an smtp or
// smtps URL. It never holds a password.
type Endpoint struct {
	// ImplicitTLS is true for smtps: TLS from the first octet (RFC 8314
	// §3.3). Otherwise the client upgrades with STARTTLS (RFC 3207) when the
	// server offers it.
	ImplicitTLS bool
	// Host is the server's name or IP address, without brackets.
	Host string
	// Port is the TCP port.
	Port string
	// Username is the AUTH identity (RFC 4954); "" means no AUTH.
	Username string
}

// Default ports (RFC 8314 §7.3 for submissions).
const (
	// DefaultSubmissionPort is the port of an smtp URL without one: message
	// submission (RFC 6409) with STARTTLS.
	DefaultSubmissionPort = "587"
	// DefaultSubmissionsPort is the port of an smtps URL without one:
	// submission over implicit TLS.
	DefaultSubmissionsPort = "465"
)

// URLError is the error ParseURL returns for a URL it refuses. It never
// quotes the URL, which could hold a password.
type URLError struct {
	Err error // what is wrong: ErrPasswordInURL, ErrNoScheme, or a description
	// Suggest, for ErrNoScheme, is the URL meant, with smtp:// before
	// it, when the input holds no user name and so no secret.
	Suggest string
}

// ErrNoScheme is the cause of a URLError for host:port without smtp:// or
// smtps:// before it.
var ErrNoScheme = errors.New("no scheme: write smtp:// (STARTTLS) or smtps:// (implicit TLS) before the host")

// Error says what is wrong with the URL.
func (e *URLError) Error() string { return "smtp URL: " + e.Err.Error() }

// Unwrap returns Err.
func (e *URLError) Unwrap() error { return e.Err }

// ErrPasswordInURL is the cause of a URLError for a URL with a password:
// command lines are visible to other users of the machine.
var ErrPasswordInURL = errors.New("must not contain a password")

// ParseURL parses an SMTP server URL:
//
//	smtp://[user@]host[:port]    STARTTLS when offered; port 587 by default
//	smtps://[user@]host[:port]   implicit TLS; port 465 by default
//
// The user, which may itself contain an unescaped "@" (alice@example.com@host),
// is the AUTH identity; without one the pool does not authenticate. A
// password in the URL is refused: command lines are visible to other users
// of the machine, so credentials come from elsewhere.
func ParseURL(s string) (*Endpoint, error) {
	if !strings.Contains(s, "://") && !strings.HasPrefix(strings.ToLower(s), "smtp") {
		e := &URLError{Err: ErrNoScheme}
		if !strings.Contains(s, "@") && validHost(strings.Split(s, ":")[0]) {
			e.Suggest = "smtp://" + s
		}
		return nil, e
	}
	u, err := url.Parse(s)
	if err != nil {
		// url's errors quote the whole input, or a part of it, which could
		// be a password.
		if strings.Contains(s, "@") {
			return nil, &URLError{Err: errors.New("malformed")}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &URLError{Err: err}
	}
	if _, has := u.User.Password(); has {
		return nil, &URLError{Err: ErrPasswordInURL}
	}
	e := &Endpoint{}
	switch strings.ToLower(u.Scheme) {
	case "smtp":
		e.Port = DefaultSubmissionPort
	case "smtps":
		e.ImplicitTLS = true
		e.Port = DefaultSubmissionsPort
	case "":
		return nil, &URLError{Err: errors.New("missing scheme")}
	default:
		return nil, &URLError{Err: fmt.Errorf("scheme %q is not smtp or smtps", u.Scheme)}
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, &URLError{Err: errors.New("only scheme://[user@]host[:port] is allowed")}
	}
	e.Host = u.Hostname()
	if e.Host == "" {
		return nil, &URLError{Err: errors.New("missing host")}
	}
	if !validHost(e.Host) {
		return nil, &URLError{Err: fmt.Errorf("invalid host %q", e.Host)}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, &URLError{Err: fmt.Errorf("invalid port %q", p)}
		}
		e.Port = p
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, &URLError{Err: errors.New("empty port")}
	}
	if u.User != nil {
		e.Username = u.User.Username()
		if e.Username == "" {
			return nil, &URLError{Err: errors.New("empty user name")}
		}
		if strings.ContainsAny(e.Username, "\x00\r\n") {
			return nil, &URLError{Err: errors.New("user name contains a control character")}
		}
	}
	return e, nil
}

// validHost reports whether h is an IP address or a DNS name made of
// letters, digits, hyphens, underscores and dots (RFC 1123 §2.1; an
// internationalised name must be written in its A-label form).
func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if h == "" || h[0] == '.' || h[0] == '-' || strings.Contains(h, "..") {
		return false
	}
	for _, c := range []byte(h) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// Addr returns host:port for dialling.
func (e *Endpoint) Addr() string { return net.JoinHostPort(e.Host, e.Port) }

// Loopback reports whether the endpoint is this machine ("localhost" or a
// loopback IP address), where credentials may go without TLS because they
// never cross a network.
func (e *Endpoint) Loopback() bool {
	if strings.EqualFold(e.Host, "localhost") {
		return true
	}
	ip := net.ParseIP(e.Host)
	return ip != nil && ip.IsLoopback()
}

// String returns the endpoint as a URL that ParseURL accepts.
func (e *Endpoint) String() string {
	u := url.URL{Scheme: "smtp", Host: e.Addr()}
	if e.ImplicitTLS {
		u.Scheme = "smtps"
	}
	if e.Username != "" {
		u.User = url.User(e.Username)
	}
	return u.String()
}
