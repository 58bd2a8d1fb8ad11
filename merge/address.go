package merge

import (
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// An address goes through two forms. net/mail parses a header's addr-spec
// into local@domain with the local part unquoted: `"a b"@example.test`
// becomes `a b@example.test`. Written back as is into MAIL FROM or RCPT TO,
// such a string can name another mailbox: `"@evil.test:c5"@example.test`
// unquoted is the source route `@evil.test:c5@example.test`, which servers
// deliver to c5@example.test. So the parsed form is only ever kept inside a
// Message (mail.Address.Address, which net/mail quotes again for headers),
// and the envelope gets the RFC 5321 form made by envelopeForm.

const (
	// maxLocalPartLength is the longest local part SMTP accepts, quotes
	// included (RFC 5321 section 4.5.3.1.1).
	maxLocalPartLength = 64
	// maxLabelLength is the longest label of a domain name (RFC 1035
	// section 2.3.4).
	maxLabelLength = 63
)

// normalizeAddress checks addr, the addr-spec of an address net/mail parsed
// (local part unquoted), and returns it as Messages hold it: the local part
// unchanged, an internationalised domain name as its A-label
// (xn--bcher-kva.example; UTS #46 lookup processing), so that only a
// non-ASCII local part needs SMTPUTF8 (RFC 6531). It fails when the address
// cannot be written into an SMTP envelope: a local part holding a control
// character, white space or angle brackets, or longer than 64 octets once
// quoted; a domain that is not a host name or an IPv4 address literal; more
// than 254 octets in all.
func normalizeAddress(addr string) (string, error) {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", fmt.Errorf("%q is not an email address", addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if err := checkLocalPart(local); err != nil {
		return "", fmt.Errorf("%q: the part before the @ %w", addr, err)
	}
	domain, err := normalizeDomain(domain)
	if err != nil {
		return "", fmt.Errorf("%q: %w", addr, err)
	}
	addr = local + "@" + domain
	if n := len(envelopeForm(addr)); n > maxAddressLength {
		return "", fmt.Errorf("email address is %d octets long, more than %d", n, maxAddressLength)
	}
	return addr, nil
}

// checkLocalPart reports why local, an unquoted local part, cannot be sent
// to. RFC 5321 section 4.1.2 allows any printable ASCII in a quoted local
// part, and RFC 6531 any UTF-8; mailshot refuses space and angle brackets
// as well as control characters, which no real mailbox needs and which
// would end the path in an envelope that was not quoted.
func checkLocalPart(local string) error {
	if !utf8.ValidString(local) {
		return errors.New("is not valid UTF-8")
	}
	for _, r := range local {
		switch {
		case r == ' ' || r == '\t':
			return errors.New("holds white space")
		case r == '<' || r == '>':
			return errors.New("holds an angle bracket")
		case r == '@':
			// Quoted, it is valid; but relays (Postfix) look inside the
			// quotes and deliver "@evil.test:x"@example.test to x@example.test.
			return errors.New("holds an @, which relays may read as another address")
		case r < ' ' || r == 0x7f || unicode.IsControl(r):
			return fmt.Errorf("holds the control character %U", r)
		}
	}
	if n := len(quoteLocalPart(local)); n > maxLocalPartLength {
		return fmt.Errorf("is %d octets long, more than %d", n, maxLocalPartLength)
	}
	return nil
}

// normalizeDomain returns domain as an envelope carries it: a host name in
// ASCII, its internationalised labels as A-labels (RFC 5890), or an IPv4
// address literal such as [192.0.2.1] (RFC 5321 section 4.1.3). A name
// already in ASCII keeps its spelling.
func normalizeDomain(domain string) (string, error) {
	if plainHostName(domain) {
		return domain, nil // what IDNA gives, but for case: see below
	}
	return normalizeDomainIDNA(domain)
}

// normalizeDomainIDNA is normalizeDomain for every domain.
func normalizeDomainIDNA(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		ip, err := netip.ParseAddr(strings.TrimSuffix(domain[1:], "]"))
		if err != nil || !strings.HasSuffix(domain, "]") || !ip.Is4() {
			return "", fmt.Errorf("the domain %s is not an IPv4 address in brackets, the one address literal mailshot sends to", domain)
		}
		return "[" + ip.String() + "]", nil
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("the domain %q is not a valid domain name", domain)
	}
	if err := checkHostName(ascii); err != nil {
		return "", fmt.Errorf("the domain %q %w", domain, err)
	}
	if isASCII(domain) && strings.EqualFold(ascii, domain) {
		return domain, nil
	}
	return ascii, nil
}

// plainHostName reports whether domain is a host name that IDNA maps
// only to lower case, and so one normalizeDomain returns as it is: labels
// of 1 to 63 ASCII letters, digits and hyphens, not starting or ending
// with a hyphen, nor with hyphens as their third and fourth octets (as
// "xn--" labels have, which IDNA decodes and checks). It is quick, for the
// address of every row.
func plainHostName(domain string) bool {
	start := 0
	for i := 0; i <= len(domain); i++ {
		if i < len(domain) && domain[i] != '.' {
			c := domain[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
			continue
		}
		label := domain[start:i]
		if label == "" || len(label) > maxLabelLength || label[0] == '-' || label[len(label)-1] == '-' ||
			len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
		start = i + 1
	}
	return true
}

// checkHostName reports why name, in ASCII, is not a domain name SMTP can
// carry: labels of letters, digits and hyphens, not starting or ending with
// a hyphen, of 1 to 63 octets (RFC 5321 section 4.1.2, sub-domain).
func checkHostName(name string) error {
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return errors.New("has an empty label")
		case len(label) > maxLabelLength:
			return fmt.Errorf("has a label of %d octets, more than %d", len(label), maxLabelLength)
		case label[0] == '-' || label[len(label)-1] == '-':
			return errors.New("has a label starting or ending with a hyphen")
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("holds %q, which a host name may not", c)
			}
		}
	}
	return nil
}

// envelopeForm returns addr, an addr-spec with its local part unquoted, as
// an RFC 5321 Mailbox for MAIL FROM or RCPT TO (section 4.1.2): the local
// part as a Dot-string when it is one, else as a Quoted-string with '"' and
// '\' escaped. The domain is written as it is.
func envelopeForm(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return quoteLocalPart(addr)
	}
	return quoteLocalPart(addr[:at]) + addr[at:]
}

// quoteLocalPart returns local as a Dot-string when it is one (RFC 5321
// section 4.1.2, with RFC 6531's UTF-8 in atext), else as a Quoted-string.
func quoteLocalPart(local string) string {
	if isDotString(local) {
		return local
	}
	var b strings.Builder
	b.Grow(len(local) + 2)
	b.WriteByte('"')
	for i := 0; i < len(local); i++ {
		if c := local[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(local[i])
	}
	b.WriteByte('"')
	return b.String()
}

// isDotString reports whether s is an RFC 5321 Dot-string: atoms of atext
// (RFC 5322 section 3.2.3, or any non-ASCII character, RFC 6531 section
// 3.3) separated by single dots.
func isDotString(s string) bool {
	if s == "" {
		return false
	}
	for atom := range strings.SplitSeq(s, ".") {
		if atom == "" {
			return false
		}
		for i := 0; i < len(atom); i++ {
			if !isAtextOctet(atom[i]) {
				return false
			}
		}
	}
	return true
}

// isAtextOctet reports whether c is an atext character, or an octet of a
// non-ASCII UTF-8 character, which RFC 6531 adds to atext.
func isAtextOctet(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c >= 0x80 || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// isASCII reports whether s holds only ASCII octets.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// EnvelopeAddress returns addr, an addr-spec as net/mail parses it (its
// local part unquoted, as in mail.Address.Address), as the Mailbox of an
// SMTP MAIL FROM or RCPT TO command (RFC 5321 section 4.1.2): the local part
// quoted where it must be, an internationalised domain as its A-label. It
// fails when the address cannot be sent to; see Message.Envelope for the
// addresses of a rendered Message.
func EnvelopeAddress(addr string) (string, error) {
	norm, err := normalizeAddress(addr)
	if err != nil {
		return "", err
	}
	return envelopeForm(norm), nil
}

// Envelope is what SMTP needs to deliver a Message (RFC 5321 section 3.3).
type Envelope struct {
	// From is the reverse-path for MAIL FROM: From's address, as an RFC
	// 5321 Mailbox.
	From string
	// To lists the forward-paths for RCPT TO: the addresses of To, Cc and
	// Bcc, each once, as RFC 5321 Mailboxes.
	To []string
	// SMTPUTF8 says the message needs the SMTPUTF8 extension (RFC 6531):
	// an address in the envelope or in a header field has a non-ASCII
	// local part, and the header carries it in UTF-8 (RFC 6532). A server
	// that does not offer SMTPUTF8 cannot take the message.
	SMTPUTF8 bool
}

// Envelope returns m's SMTP envelope. The addresses are quoted for SMTP, so
// they may differ from m.From.Address and the others, which net/mail holds
// unquoted: `"a..b"@example.test` has the Address a..b@example.test.
func (m *Message) Envelope() Envelope {
	e := Envelope{To: m.Recipients(), SMTPUTF8: m.NeedsSMTPUTF8()}
	if m.From != nil {
		e.From = envelopeForm(m.From.Address)
	}
	return e
}

// NeedsSMTPUTF8 reports whether an address of m, in its envelope or its
// header (From, To, Cc, Bcc, Reply-To), has a non-ASCII local part: such a
// message can only go to a server that offers SMTPUTF8 (RFC 6531).
// Internationalised domains need no SMTPUTF8: Render writes them as
// A-labels.
func (m *Message) NeedsSMTPUTF8() bool {
	if m.From != nil && !isASCII(m.From.Address) {
		return true
	}
	for _, list := range [][]*mail.Address{m.To, m.Cc, m.Bcc, m.ReplyTo} {
		for _, a := range list {
			if !isASCII(a.Address) {
				return true
			}
		}
	}
	return false
}
