package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestPayoutKeyFile: a payout key is written once, mode 0600, and reads
// back as the same public key; an existing file is never replaced, and a
// file that is not an Ed25519 PKCS #8 key is refused.
func TestPayoutKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "payouts", "k.pem")
	pub, err := newPayoutKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	got, err := loadPayoutKey(path)
	if err != nil || !bytes.Equal(got, pub) {
		t.Fatalf("loaded %x, %v; want %x", got, err, pub)
	}
	if _, err := newPayoutKey(path); err == nil {
		t.Fatal("an existing key file was replaced")
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadPayoutKey(bad); err == nil {
		t.Fatal("a malformed key file loads")
	}
}
