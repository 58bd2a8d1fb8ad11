package smtp

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// HelloNameError is the error of CheckHelloName, and of Hello (and every
// call that says EHLO first) when Config.LocalName is not a valid name.
type HelloNameError struct {
	Name   string // the name as given
	Reason string // what is wrong with it
}

// Error formats e as `smtp: EHLO name "a b": ...`.
func (e *HelloNameError) Error() string {
	return fmt.Sprintf("smtp: EHLO name %q: %s", e.Name, e.Reason)
}

// CheckHelloName reports whether name can be sent in EHLO and HELO
// (RFC 5321 §4.1.1.1, §4.1.3): a domain of letters, digits and hyphens
// (an IDN as its A-label, xn--...), or an address literal such as
// [192.0.2.1] or [IPv6:2001:db8::1]. The error is a *HelloNameError.
func CheckHelloName(name string) error {
	bad := func(reason string) error { return &HelloNameError{Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > 255:
		return bad("longer than 255 octets")
	case name[0] == '[':
		if reason := checkAddressLiteral(name); reason != "" {
			return bad(reason)
		}
		return nil
	}
	if reason := checkDomain(name, false); reason != "" {
		return bad(reason)
	}
	return nil
}

// checkDomain checks an RFC 5321 Domain: sub-domains of Let-dig [Ldh-str],
// each at most 63 octets, joined by dots. With utf8, a sub-domain may also
// be a U-label (RFC 6531 §3.3), which is checked only for letters, marks,
// digits and hyphens. It returns what is wrong, or "".
func checkDomain(d string, utf8OK bool) string {
	if d == "" {
		return "empty domain"
	}
	if len(d) > 255 {
		return "domain longer than 255 octets"
	}
	for label := range strings.SplitSeq(d, ".") {
		switch {
		case label == "":
			return "empty label in the domain (two dots, or a dot at an end)"
		case len(label) > 63:
			return "domain label longer than 63 octets"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "domain label starting or ending with '-'"
		}
		for _, r := range label {
			switch {
			case r < utf8.RuneSelf && (isLetDig(byte(r)) || r == '-'):
			case r >= utf8.RuneSelf && utf8OK && r != utf8.RuneError &&
				(unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsDigit(r)):
			case r >= utf8.RuneSelf && !utf8OK:
				return "non-ASCII domain (write an IDN as its A-label, xn--...)"
			default:
				return fmt.Sprintf("%q in the domain (only letters, digits, '-' and '.')", r)
			}
		}
	}
	return ""
}

func isLetDig(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// checkAddressLiteral checks "[" IPv4 "]" or "[IPv6:" IPv6 "]" (RFC 5321
// §4.1.3) and returns what is wrong, or "". General address literals are
// refused: IANA has registered no tag for them but IPv6.
func checkAddressLiteral(a string) string {
	if len(a) < 3 || a[0] != '[' || a[len(a)-1] != ']' {
		return "an address literal is written [192.0.2.1] or [IPv6:2001:db8::1]"
	}
	inner := a[1 : len(a)-1]
	if v6, ok := strings.CutPrefix(inner, "IPv6:"); ok {
		if ip, err := netip.ParseAddr(v6); err != nil || !ip.Is6() || ip.Zone() != "" {
			return "not an IPv6 address after IPv6:"
		}
		return ""
	}
	if ip, err := netip.ParseAddr(inner); err != nil || !ip.Is4() {
		return "not an IPv4 address (write IPv6 as [IPv6:...])"
	}
	return ""
}

// checkMailbox checks that a is an RFC 5321 §4.1.2 Mailbox, as it goes
// between the angle brackets of MAIL and RCPT: Local-part "@" (Domain /
// address-literal), the local part a Dot-string or a Quoted-string, and no
// source route. With RFC 6531 the local part and the domain may hold UTF-8
// (the caller asks for SMTPUTF8). It returns what is wrong, or "".
//
// An address is sent exactly as given: a quoted local part stays quoted,
// so the server sees the mailbox the caller named. One valid form is
// refused all the same: a quoted local part holding '@', which a server
// that looks inside quotes delivers to another mailbox.
func checkMailbox(a string) string {
	if strings.HasPrefix(a, "@") {
		return "a source route (@host:...), which RFC 5321 §4.1.2 lets only the local part hold quoted"
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return "no '@'"
	}
	local, domain := a[:at], a[at+1:]
	if local == "" {
		return "empty local part"
	}
	if local[0] == '"' {
		if reason := checkQuotedString(local); reason != "" {
			return reason
		}
		if strings.IndexByte(local, '@') >= 0 {
			// Valid, but Postfix resolves addresses looking inside the
			// quotes (resolve_dequoted_address), so "@evil.test:c5"@example.test
			// reaches c5@example.test, and "a@b.example"@relay may be relayed.
			return "'@' in the quoted local part, which servers that look inside the quotes read as a route to another mailbox"
		}
	} else if reason := checkDotString(local); reason != "" {
		return reason
	}
	if strings.HasPrefix(domain, "[") {
		return checkAddressLiteral(domain)
	}
	return checkDomain(domain, true)
}

// checkDotString checks Atom *("." Atom), atext extended with UTF-8
// (RFC 6531 §3.3) other than control characters.
func checkDotString(s string) string {
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return "a dot at an end of the local part, or two in a row (such a local part must be quoted)"
	}
	for _, r := range s {
		switch {
		case r == '.':
		case r >= utf8.RuneSelf:
			if r == utf8.RuneError || unicode.IsControl(r) {
				return fmt.Sprintf("%q in the local part", r)
			}
		case !isAtext(byte(r)):
			return fmt.Sprintf("%q in the local part (such a local part must be quoted)", r)
		}
	}
	return ""
}

// isAtext reports the ASCII atext of RFC 5322 §3.2.3.
func isAtext(c byte) bool {
	return isLetDig(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// checkQuotedString checks DQUOTE *QcontentSMTP DQUOTE: printable ASCII
// and space, '"' and '\' only as a quoted pair, and UTF-8 other than
// control characters (RFC 6531).
func checkQuotedString(s string) string {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "unterminated quoted local part"
	}
	if len(s) == 2 {
		return "empty quoted local part"
	}
	inner := s[1 : len(s)-1]
	for i := 0; i < len(inner); i++ {
		c := inner[i]
		switch {
		case c == '\\':
			i++
			if i == len(inner) || inner[i] < 32 || inner[i] > 126 {
				return "'\\' at the end of the quoted local part or before a character it cannot quote"
			}
		case c == '"':
			return "'\"' inside the quoted local part not written \\\""
		case c >= 32 && c <= 126:
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(inner[i:])
			if r == utf8.RuneError || unicode.IsControl(r) {
				return fmt.Sprintf("%q in the quoted local part", r)
			}
			i += size - 1
		default:
			return "control character in the quoted local part"
		}
	}
	return ""
}
