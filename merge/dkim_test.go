package merge

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// dkimVerifyScript verifies the DKIM signature of the message in argv[1]
// with dkimpy, an implementation independent of the one that signs,
// serving the TXT record argv[3] for the name argv[2] and nothing else.
// It prints the signature's tags and exits 0 when the signature verifies.
const dkimVerifyScript = `
import sys, dkim, logging
logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
msg = open(sys.argv[1], 'rb').read()
def dnsfunc(name, timeout=5):
    name = name.decode() if isinstance(name, bytes) else name
    if name.rstrip('.') == sys.argv[2]:
        return sys.argv[3].encode()
    return None
ok = dkim.verify(msg, logger=logging.getLogger('dkim'), dnsfunc=dnsfunc, minkey=2048)
sys.exit(0 if ok else 1)
`

// dkimPython returns a python3 that can import dkim (Debian's python3-dkim),
// or skips the test unless MAILSHOT_HARNESS=1 says it must run.
func dkimPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if exec.Command(py, "-c", "import dkim, nacl").Run() == nil {
			return py
		}
	}
	if os.Getenv("MAILSHOT_HARNESS") == "1" {
		t.Fatal("MAILSHOT_HARNESS=1 but python3 cannot import dkim: apt-get install python3-dkim")
	}
	t.Skip("python3-dkim is not installed")
	return ""
}

// verifyDKIM reports whether dkimpy verifies msg with the TXT record
// served for name, and what it logged.
func verifyDKIM(t *testing.T, py string, msg []byte, name, record string) (bool, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "message.eml")
	if err := os.WriteFile(path, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", dkimVerifyScript, path, name, record).CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return err == nil, string(out)
}

var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
)

// testRSAKey returns an RSA key of 2048 bits, generated once per run.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaKeyOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

// writeKey writes key as PEM of the given block type to a file with mode
// perm and returns its path.
func writeKey(t *testing.T, blockType string, der []byte, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dkim.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

func pkcs8(t *testing.T, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestDKIMVerifiesIndependently(t *testing.T) {
	py := dkimPython(t)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := testRSAKey(t)
	tests := []struct {
		name, blockType string
		der             []byte
		domain          string // --dkim-domain; "" is the From domain
		wantD           string
		values          []string
	}{
		{"rsa-pkcs1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), "", "example.org",
			[]string{"tom@example.com", `Tom "T-Bone" <Tommy> & Co`, "Tom", "Lisbon 🌊", "1006", "2026-05-06", "5e96097c6c165c11aa15409da888aa83"}},
		{"rsa-pkcs8", "PRIVATE KEY", pkcs8(t, rsaKey), "mail.example.org", "mail.example.org",
			[]string{"dmitri.ivanov@example.org", "Дмитрий Иванов", "Дмитрий", "Москва", "1010", "2026-05-08", "b85d156d4bd0033a13278b7d2d24e2ed"}},
		{"ed25519", "PRIVATE KEY", pkcs8(t, edKey), "", "example.org",
			[]string{"wang.xiaoming@example.org", "王小明", "小明", "北京", "1005", "2026-05-06", "c1302e4c10ae388c7d32b3eb0b342db8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			signer, err := LoadDKIMSigner(writeKey(t, tt.blockType, tt.der, 0o600), "mailshot2026", tt.domain)
			if err != nil {
				t.Fatal(err)
			}
			c := testComposer()
			c.DKIM = signer
			m := render(t, "../templates/announcement", TemplateOptions{}, sampleColumns, tt.values...)
			var b bytes.Buffer
			if err := c.Compose(&b, m); err != nil {
				t.Fatal(err)
			}
			msg := b.Bytes()
			checkLines(t, msg)
			pyParse(t, msg)
			name := "mailshot2026._domainkey." + tt.wantD
			if ok, log := verifyDKIM(t, py, msg, name, signer.DNSRecord()); !ok {
				t.Fatalf("dkimpy does not verify the signature:\n%s\n%s", log, msg)
			}

			sig := dkimTags(t, msg)
			if sig["d"] != tt.wantD || sig["s"] != "mailshot2026" || sig["c"] != "relaxed/relaxed" {
				t.Errorf("d=%s s=%s c=%s, want d=%s s=mailshot2026 c=relaxed/relaxed", sig["d"], sig["s"], sig["c"], tt.wantD)
			}
			h := strings.Split(strings.ToLower(sig["h"]), ":")
			count := map[string]int{}
			for _, f := range h {
				count[f]++
			}
			for _, f := range []string{"from", "to", "cc", "subject", "date", "message-id", "mime-version",
				"content-type", "reply-to", "list-unsubscribe", "list-unsubscribe-post"} {
				if count[f] == 0 {
					t.Errorf("h= does not sign %s: %s", f, sig["h"])
				}
			}
			for _, f := range []string{"from", "list-unsubscribe", "list-unsubscribe-post"} {
				if count[f] < 2 {
					t.Errorf("h= does not oversign %s: %s", f, sig["h"])
				}
			}

			// What must break the signature does: a second List-Unsubscribe
			// or From added after signing, and a changed body.
			tampered := map[string][]byte{
				"added List-Unsubscribe": bytes.Replace(msg, []byte("Subject:"),
					[]byte("List-Unsubscribe: <https://evil.example.com/u>\r\nSubject:"), 1),
				"added From":   bytes.Replace(msg, []byte("Subject:"), []byte("From: ceo@example.org\r\nSubject:"), 1),
				"changed body": bytes.Replace(msg, []byte("Doors open at 9:00"), []byte("Doors open at 8:00"), 1),
			}
			for what, bad := range tampered {
				if bytes.Equal(bad, msg) {
					t.Fatalf("%s: the test changed nothing", what)
				}
				if ok, _ := verifyDKIM(t, py, bad, name, signer.DNSRecord()); ok {
					t.Errorf("%s: the signature still verifies", what)
				}
			}
		})
	}
}

// dkimTags returns the tags of msg's DKIM-Signature field.
func dkimTags(t *testing.T, msg []byte) map[string]string {
	t.Helper()
	if !bytes.HasPrefix(msg, []byte("DKIM-Signature:")) {
		t.Fatalf("the message does not start with DKIM-Signature:\n%s", msg)
	}
	field := string(msg[len("DKIM-Signature:"):])
	// The field ends at the first line that does not start with white space.
	end := 0
	for {
		i := strings.Index(field[end:], "\r\n")
		end += i + 2
		if field[end] != ' ' && field[end] != '\t' {
			break
		}
	}
	tags := map[string]string{}
	for _, tag := range strings.Split(field[:end], ";") {
		k, v, _ := strings.Cut(tag, "=")
		v = strings.Join(strings.Fields(v), "")
		tags[strings.TrimSpace(k)] = v
	}
	return tags
}

func TestLoadDKIMSignerRefuses(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := x509.MarshalPKCS1PrivateKey(testRSAKey(t))
	tests := []struct {
		name      string
		path      func(t *testing.T) string
		selector  string
		domain    string
		want      string
		insecure  bool
		unixOnly  bool
		wantCause error
	}{
		{name: "world-readable", path: func(t *testing.T) string { return writeKey(t, "RSA PRIVATE KEY", good, 0o644) },
			selector: "s1", want: "mode 0644 lets other users read or change a private key", insecure: true, unixOnly: true},
		{name: "group-writable", path: func(t *testing.T) string { return writeKey(t, "RSA PRIVATE KEY", good, 0o660) },
			selector: "s1", want: "mode 0660", insecure: true, unixOnly: true},
		{name: "short RSA", path: func(t *testing.T) string {
			return writeKey(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small), 0o600)
		},
			selector: "s1", want: "an RSA key of 1024 bits is too short; at least 2048 are needed"},
		{name: "public key", path: func(t *testing.T) string { return writeKey(t, "PUBLIC KEY", good, 0o600) },
			selector: "s1", want: "no PEM block"},
		{name: "encrypted", path: func(t *testing.T) string { return writeKey(t, "ENCRYPTED PRIVATE KEY", good, 0o600) },
			selector: "s1", want: "the private key is encrypted"},
		{name: "too large", path: func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "big.pem")
			if err := os.WriteFile(p, bytes.Repeat([]byte("A"), maxDKIMKeyFile+1), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, selector: "s1", want: "larger than 64 KiB"},
		{name: "missing", path: func(t *testing.T) string { return filepath.Join(t.TempDir(), "none.pem") },
			selector: "s1", want: "no such file", wantCause: os.ErrNotExist},
		{name: "directory", path: func(t *testing.T) string { return t.TempDir() }, selector: "s1", want: "not a regular file"},
		{name: "bad selector", path: func(t *testing.T) string { return writeKey(t, "RSA PRIVATE KEY", good, 0o600) },
			selector: "a b", want: `dkim selector "a b": holds ' '`},
		{name: "empty selector", path: func(t *testing.T) string { return writeKey(t, "RSA PRIVATE KEY", good, 0o600) },
			want: `dkim selector "": is empty`},
		{name: "bad domain", path: func(t *testing.T) string { return writeKey(t, "RSA PRIVATE KEY", good, 0o600) },
			selector: "s1", domain: "example..org", want: `dkim domain "example..org": is not a DNS name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.unixOnly && runtime.GOOS == "windows" {
				t.Skip("no permission bits")
			}
			s, err := LoadDKIMSigner(tt.path(t), tt.selector, tt.domain)
			if err == nil {
				t.Fatalf("LoadDKIMSigner = %v, want an error", s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			var insecure *InsecureKeyFileError
			if errors.As(err, &insecure) != tt.insecure {
				t.Errorf("error %v: errors.As *InsecureKeyFileError = %v, want %v", err, !tt.insecure, tt.insecure)
			}
			if tt.wantCause != nil && !errors.Is(err, tt.wantCause) {
				t.Errorf("error %v does not wrap %v", err, tt.wantCause)
			}
			if strings.Contains(err.Error(), "--") || strings.Contains(err.Error(), "hint") {
				t.Errorf("library error %q names a flag or gives a hint", err)
			}
		})
	}
}

// TestDKIMGroupReadableKey checks that a group-readable key, the usual mode
// for a key shared with a signing daemon's group, is accepted.
func TestDKIMGroupReadableKey(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits")
	}
	if _, err := LoadDKIMSigner(writeKey(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(testRSAKey(t)), 0o640), "s1", ""); err != nil {
		t.Fatalf("a key of mode 0640 is refused: %v", err)
	}
}
