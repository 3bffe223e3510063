package seal

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// TestGolden opens keys and sealed bytes recorded from an earlier build:
// key files, descriptors and secrets sealed at rest keep loading, and
// encodings stay byte for byte the same.
func TestGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	v := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		name, value, _ := strings.Cut(line, " ")
		if v[name], err = hex.DecodeString(value); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	k, err := ParsePrivateKey(v["private"])
	if err != nil {
		t.Fatal(err)
	}
	if again, err := k.Marshal(); err != nil || !bytes.Equal(again, v["private"]) {
		t.Fatalf("private key re-encodes to %x (%v)", again, err)
	}
	if !bytes.Equal(k.Public().Marshal(), v["public"]) {
		t.Fatal("the private key's public key encodes differently")
	}
	pub, err := ParsePublicKey(v["public"])
	if err != nil || !pub.Equal(k.Public()) {
		t.Fatalf("public key: %v", err)
	}
	pt, err := Open(k, "cohort/v1/golden", v["sealed"], []byte("aad"))
	if err != nil || string(pt) != "sealed before the seal package existed" {
		t.Fatalf("open: %q, %v", pt, err)
	}
}

func TestOverhead(t *testing.T) {
	n, err := DefaultSuite.Overhead()
	if err != nil || n != 1137 {
		t.Fatalf("overhead %d, %v", n, err)
	}
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := Seal(k.Public(), "cohort/v1/test", make([]byte, 10), nil)
	if err != nil || len(sealed) != 10+n {
		t.Fatalf("sealed %d bytes, %v", len(sealed), err)
	}
	if _, err := Suite(0).Overhead(); err == nil {
		t.Fatal("overhead of suite 0")
	}
}
