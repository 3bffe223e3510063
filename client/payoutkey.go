package client

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Payout keys (docs/design.md §6.8): an Ed25519 key pair per payout
// account, kept as a PKCS #8 PEM file of mode 0600, by default in the
// "payouts" directory beside the identity file (PayoutsDir), a fresh one
// per claim. A claim credits the public key; the private key is what would
// sign a transfer or a payout statement.

// payoutKeyPEM is the PEM block type of a payout key file.
const payoutKeyPEM = "PRIVATE KEY"

// maxPayoutKeyFile bounds a payout key file: an Ed25519 PKCS #8 PEM block
// is about 120 bytes.
const maxPayoutKeyFile = 4 << 10

// PayoutsDir is the default directory of payout keys for the identity
// file at identityPath: "payouts" beside it.
func PayoutsDir(identityPath string) string {
	return filepath.Join(filepath.Dir(identityPath), "payouts")
}

// NewPayoutKey draws a fresh payout key from crypto/rand and writes it to
// path, which must not exist (fs.ErrExist otherwise; an existing key is
// never replaced), creating its directory with mode 0700.
func NewPayoutKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: payoutKeyPEM, Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	return pub, f.Close()
}

// LoadPayoutKey reads the public key of a payout key file, refusing a file
// above 4 KiB or one that is not an Ed25519 PKCS #8 PEM key.
func LoadPayoutKey(path string) (ed25519.PublicKey, error) {
	priv, err := LoadPayoutPrivateKey(path)
	if err != nil {
		return nil, err
	}
	return priv.Public().(ed25519.PublicKey), nil
}

// LoadPayoutPrivateKey reads a payout key file's private key, which signs
// the account's transfers, as LoadPayoutKey checks it.
func LoadPayoutPrivateKey(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPayoutKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayoutKeyFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPayoutKeyFile)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != payoutKeyPEM {
		return nil, fmt.Errorf("%s: not a PEM %q block", path, payoutKeyPEM)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T, not an Ed25519 key", path, k)
	}
	return priv, nil
}

// PayoutKeyFiles lists the payout key files (*.pem) in dir, sorted; a
// directory that does not exist holds none.
func PayoutKeyFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".pem") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}
