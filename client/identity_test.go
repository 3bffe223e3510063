package client

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
)

// testRand is a deterministic randomness source for tests.
func testRand(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	return rand.NewChaCha8(s)
}

func testIdentity(t *testing.T, seed byte) *Identity {
	t.Helper()
	id, err := NewIdentity(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestNewIdentity(t *testing.T) {
	a, b := testIdentity(t, 1), testIdentity(t, 1)
	if !a.Secret.Equal(&b.Secret) {
		t.Fatal("same randomness, different secrets")
	}
	if c := testIdentity(t, 2); a.Secret.Equal(&c.Secret) {
		t.Fatal("different randomness, same secret")
	}
	if a.Secret.IsZero() || a.Member != nil {
		t.Fatalf("fresh identity %v", a)
	}
	// A source stuck at all ones never yields a value below r.
	if _, err := NewIdentity(bytes.NewReader(bytes.Repeat([]byte{0xff}, 32*maxRejections))); err == nil {
		t.Fatal("broken randomness accepted")
	}
	if _, err := NewIdentity(bytes.NewReader(nil)); err == nil {
		t.Fatal("empty randomness accepted")
	}
	if _, err := NewIdentity(nil); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityDerivations(t *testing.T) {
	id := testIdentity(t, 3)
	ic, nf, rt := circuits.IdentityCommitment(id.Secret), circuits.NullifierOf(id.Secret, circuits.DatasetField("ds"), 7),
		circuits.RevocationTokenOf(id.Secret, circuits.DatasetField("ds"), 7)
	if id.Commitment() != ic.Bytes() || id.Nullifier("ds", 7) != nf.Bytes() || id.RevocationToken("ds", 7) != rt.Bytes() {
		t.Fatal("derivations differ from package circuits")
	}
	if id.Nullifier("ds", 7) == id.Nullifier("ds", 8) || id.Nullifier("ds", 7) == id.Nullifier("dt", 7) {
		t.Fatal("nullifiers repeat across epochs or datasets")
	}
}

func TestIdentityFormatHidesSecret(t *testing.T) {
	id := testIdentity(t, 4)
	id.Member = &Membership{Federation: "fed", Index: 3}
	s := id.Secret.Bytes()
	secretHex := fmt.Sprintf("%x", s)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for _, v := range []any{id, *id} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secretHex) || strings.Contains(out, id.Secret.String()) {
				t.Fatalf("%s prints the secret: %s", verb, out)
			}
			if !strings.Contains(out, "commitment") {
				t.Fatalf("%s: %s", verb, out)
			}
		}
	}
}

func TestIdentityFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "identity.json")
	id := testIdentity(t, 5)
	if err := id.Save(path); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)
	got, err := LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Secret.Equal(&id.Secret) || got.Member != nil {
		t.Fatalf("loaded %v, saved %v", got, id)
	}
	if err := id.Save(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Save over an existing file = %v, want fs.ErrExist", err)
	}

	root := circuits.IdentityCommitment(id.Secret) // any canonical element
	id.Member = &Membership{Federation: "node0.example:7443", Index: 12, Root: root.Bytes(), Sequence: 40}
	if err := id.Update(path); err != nil {
		t.Fatal(err)
	}
	checkMode(t, path, 0o600)
	got, err = LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Member == nil || *got.Member != *id.Member {
		t.Fatalf("membership %+v, want %+v", got.Member, id.Member)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("Update left %d files behind", len(entries))
	}

	other := testIdentity(t, 6)
	if err := other.Update(path); !errors.Is(err, ErrIdentityFile) {
		t.Fatalf("Update with another identity = %v, want ErrIdentityFile", err)
	}
	if got, _ := LoadIdentity(path); !got.Secret.Equal(&id.Secret) {
		t.Fatal("another identity's Update replaced the secret")
	}
	if err := id.Update(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Update of a missing file = %v", err)
	}
}

func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != want {
		t.Fatalf("%s has mode %04o, want %04o", path, fi.Mode().Perm(), want)
	}
}

func TestLoadIdentityRefusesOpenModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	path := filepath.Join(t.TempDir(), "identity.json")
	if err := testIdentity(t, 7).Save(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadIdentity(path)
		if !errors.Is(err, ErrIdentityFile) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %04o: LoadIdentity = %v, want a refusal naming chmod 600", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if _, err := LoadIdentity(path); err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
	}
	if _, err := LoadIdentity(t.TempDir()); !errors.Is(err, ErrIdentityFile) {
		t.Fatalf("a directory: %v", err)
	}
}

// validIdentityJSON is a well-formed identity file for the malformed cases to
// start from.
func validIdentityJSON(t testing.TB) string {
	id, err := NewIdentity(testRand(9))
	if err != nil {
		t.Fatal(err)
	}
	id.Member = &Membership{Federation: "fed", Index: 1, Sequence: 2}
	b, err := id.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseIdentityMalformed(t *testing.T) {
	valid := validIdentityJSON(t)
	if _, err := parseIdentity([]byte(valid)); err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	var r [32]byte
	fr.Modulus().FillBytes(r[:])
	secret := valid[strings.Index(valid, `"secret": "`)+11:][:64]
	cases := map[string]string{
		"empty":            ``,
		"not json":         `secret`,
		"trailing":         valid + `{}`,
		"unknown member":   strings.Replace(valid, `"version"`, `"extra": 1, "version"`, 1),
		"version":          strings.Replace(valid, `"version": 1`, `"version": 2`, 1),
		"short secret":     strings.Replace(valid, secret, secret[:62], 1),
		"non-hex secret":   strings.Replace(valid, secret, "zz"+secret[2:], 1),
		"secret = r":       strings.Replace(valid, secret, fmt.Sprintf("%x", r), 1),
		"zero secret":      strings.Replace(valid, secret, strings.Repeat("0", 64), 1),
		"bad root":         strings.Replace(valid, `"root": "`+strings.Repeat("0", 64), `"root": "`+fmt.Sprintf("%x", r), 1),
		"short root":       strings.Replace(valid, `"root": "`+strings.Repeat("0", 64), `"root": "00`, 1),
		"no federation":    strings.Replace(valid, `"federation": "fed"`, `"federation": ""`, 1),
		"long federation":  strings.Replace(valid, `"federation": "fed"`, `"federation": "`+strings.Repeat("f", MaxFederationLen+1)+`"`, 1),
		"two memberships":  strings.Replace(valid, `"memberships": [`, `"memberships": [{"federation":"x","index":0,"root":"`+strings.Repeat("0", 64)+`","sequence":0},`, 1),
		"negative index":   strings.Replace(valid, `"index": 1`, `"index": -1`, 1),
		"too large":        valid + strings.Repeat(" ", MaxIdentityFileSize),
		"secret as number": strings.Replace(valid, `"`+secret+`"`, `12`, 1),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if in == valid {
				t.Fatal("case does not change the input")
			}
			if _, err := parseIdentity([]byte(in)); !errors.Is(err, ErrIdentityFile) {
				t.Fatalf("parseIdentity = %v, want ErrIdentityFile", err)
			}
		})
	}
}
