package merge

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// MinDKIMRSABits is the smallest RSA key a DKIMSigner accepts: RFC 8301
// section 3.2 requires at least 1024 bits, and Gmail and Yahoo ask bulk
// senders for 2048.
const MinDKIMRSABits = 2048

// maxDKIMKeyFile is the largest key file LoadDKIMSigner reads; a PEM
// RSA key of 8192 bits is about 6.5 KB.
const maxDKIMKeyFile = 64 << 10

// dkimHeaders are the header fields a DKIMSigner signs, in this order
// (RFC 6376 section 5.4.1). A name listed once more than the message has
// fields of that name signs the field's absence, so that none can be added
// after signing (section 8.15): From and the two one-click unsubscribe
// fields (RFC 8058 section 4) are listed twice to make that so even when
// they are present.
var dkimHeaders = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
	"Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Id",
	"From", "List-Unsubscribe", "List-Unsubscribe-Post",
}

// DKIMSigner adds a DKIM-Signature (RFC 6376) to composed messages, with
// relaxed/relaxed canonicalisation and SHA-256, by an RSA key (rsa-sha256)
// or an Ed25519 key (ed25519-sha256, RFC 8463). Set it as Composer.DKIM.
// A DKIMSigner is safe for concurrent use.
type DKIMSigner struct {
	key      crypto.Signer
	selector string
	domain   string
}

// NewDKIMSigner returns a DKIMSigner signing with key, an *rsa.PrivateKey
// of at least MinDKIMRSABits bits or an ed25519.PrivateKey, under the DNS
// name selector._domainkey.domain. An empty domain means each message's
// From domain, which is what DMARC alignment asks for.
func NewDKIMSigner(key crypto.Signer, selector, domain string) (*DKIMSigner, error) {
	if err := checkDKIMKey(key); err != nil {
		return nil, err
	}
	if err := checkDNSLabels(selector); err != nil {
		return nil, fmt.Errorf("dkim selector %q: %w", selector, err)
	}
	if domain != "" {
		if err := checkDNSLabels(domain); err != nil {
			return nil, fmt.Errorf("dkim domain %q: %w", domain, err)
		}
	}
	return &DKIMSigner{key: key, selector: selector, domain: strings.ToLower(domain)}, nil
}

// LoadDKIMSigner reads a private key from the PEM file at path, PKCS#1
// ("RSA PRIVATE KEY") or PKCS#8 ("PRIVATE KEY"), and returns a DKIMSigner
// for it, as NewDKIMSigner does. The key is a secret: a file that others
// may read, or that group or others may write, is refused with an
// *InsecureKeyFileError before it is read, and a file larger than any key
// is refused as well.
func LoadDKIMSigner(path, selector, domain string) (*DKIMSigner, error) {
	key, err := readDKIMKey(path)
	if err != nil {
		return nil, err
	}
	s, err := NewDKIMSigner(key, selector, domain)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	return s, nil
}

// InsecureKeyFileError is the error for a private key file whose
// permissions let others read it, or group or others change it.
type InsecureKeyFileError struct {
	Path string      // the key file
	Mode fs.FileMode // its permission bits
}

func (e *InsecureKeyFileError) Error() string {
	return fmt.Sprintf("dkim key %s: mode %04o lets other users read or change a private key", e.Path, e.Mode.Perm())
}

// Selector returns the selector the signer signs with (the s= tag).
func (s *DKIMSigner) Selector() string { return s.selector }

// Domain returns the signing domain (the d= tag), or "" when each
// message's From domain is used.
func (s *DKIMSigner) Domain() string { return s.domain }

// DNSRecord returns the TXT record that must be published at
// selector._domainkey.<domain> for receivers to verify the signatures
// (RFC 6376 section 3.6.1).
func (s *DKIMSigner) DNSRecord() string {
	switch pub := s.key.Public().(type) {
	case *rsa.PublicKey:
		der, _ := x509.MarshalPKIXPublicKey(pub)
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	return ""
}

// sign returns the DKIM-Signature header field, CRLF included, for msg, a
// complete message from a From address at fromDomain.
func (s *DKIMSigner) sign(msg []byte, fromDomain string) ([]byte, error) {
	domain := s.domain
	if domain == "" {
		domain = strings.ToLower(fromDomain)
	}
	signer, err := dkim.NewSigner(&dkim.SignOptions{
		Domain:                 domain,
		Selector:               s.selector,
		Signer:                 s.key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             dkimHeaders,
	})
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if _, err := signer.Write(msg); err != nil {
		signer.Close()
		return nil, fmt.Errorf("dkim: %w", err)
	}
	if err := signer.Close(); err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	return []byte(signer.Signature()), nil
}

// checkDKIMKey reports why key cannot sign DKIM signatures.
func checkDKIMKey(key crypto.Signer) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < MinDKIMRSABits {
			return fmt.Errorf("dkim: an RSA key of %d bits is too short; at least %d are needed", n, MinDKIMRSABits)
		}
		return nil
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return errors.New("dkim: malformed Ed25519 key")
		}
		return nil
	case nil:
		return errors.New("dkim: no key")
	}
	return fmt.Errorf("dkim: a %T cannot sign DKIM; use RSA or Ed25519", key)
}

// checkDNSLabels reports why name cannot be a DKIM selector or domain:
// dot-separated labels of letters, digits, hyphens and underscores.
func checkDNSLabels(name string) error {
	if name == "" {
		return errors.New("is empty")
	}
	if len(name) > 253 {
		return errors.New("is longer than a DNS name may be")
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("is not a DNS name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("holds %q, which a DNS name may not", c)
			}
		}
	}
	return nil
}

// readDKIMKey reads and parses the private key in the PEM file at path.
func readDKIMKey(path string) (crypto.Signer, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("dkim key %s: not a regular file", path)
	}
	// Windows has no such permission bits; os reports 0666 or 0444.
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o026 != 0 {
		return nil, &InsecureKeyFileError{Path: path, Mode: fi.Mode().Perm()}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxDKIMKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	if len(b) > maxDKIMKeyFile {
		return nil, fmt.Errorf("dkim key %s: larger than %d KiB, so not a private key", path, maxDKIMKeyFile>>10)
	}
	key, err := parseDKIMKey(b)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	return key, nil
}

// parseDKIMKey parses the first PEM private key in b.
func parseDKIMKey(b []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, errors.New("no PEM block \"PRIVATE KEY\" or \"RSA PRIVATE KEY\" holding a private key")
		}
		if _, encrypted := block.Headers["Proc-Type"]; encrypted {
			return nil, errors.New("the private key is encrypted; give the key without a passphrase")
		}
		switch block.Type {
		case "RSA PRIVATE KEY":
			key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			return key, nil
		case "PRIVATE KEY":
			key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			signer, ok := key.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("a %T cannot sign", key)
			}
			return signer, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted; give the key without a passphrase")
		}
	}
}
