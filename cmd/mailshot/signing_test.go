package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// preview --dkim-key signs every message; a key others may read is refused
// with the chmod that fixes it.
func TestPreviewSignsWithDKIM(t *testing.T) {
	dir := t.TempDir()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "dkim.pem")
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	data := peopleCSV(t, dir, 2)
	out := filepath.Join(dir, "out")
	_, errOut, status := runCLI(t, context.Background(), "preview", "-t", "testdata/plain", "-d", data, "-o", out, "--dkim-key", key, "--dkim-selector", "s1")
	if status != exitOK {
		t.Fatalf("preview: %d\n%s", status, errOut)
	}
	emls, _ := filepath.Glob(filepath.Join(out, "*.eml"))
	if len(emls) != 2 {
		t.Fatalf("%d .eml files", len(emls))
	}
	for _, p := range emls {
		b, _ := os.ReadFile(p)
		if !strings.HasPrefix(string(b), "DKIM-Signature:") || !strings.Contains(string(b), "s=s1") {
			t.Errorf("%s is not signed:\n%.300s", p, b)
		}
	}
	os.Chmod(key, 0o644)
	_, errOut, status = runCLI(t, context.Background(), "preview", "-t", "testdata/plain", "-d", data, "-o", filepath.Join(dir, "out2"), "--dkim-key", key, "--dkim-selector", "s1")
	if status != exitInvalid || !strings.Contains(errOut, "chmod 600") {
		t.Errorf("world-readable key: %d\n%s", status, errOut)
	}
	_, errOut, status = runCLI(t, context.Background(), "preview", "-t", "testdata/plain", "-d", data, "-o", filepath.Join(dir, "out3"), "--dkim-key", key)
	if status != exitInvalid || !strings.Contains(errOut, "--dkim-selector") {
		t.Errorf("no selector: %d\n%s", status, errOut)
	}
}
