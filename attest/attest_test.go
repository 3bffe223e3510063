package attest

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestSignVerify(t *testing.T) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	a := ContributionAck{DatasetID: "fitness", Node: 2, StoredAt: 1700000000}
	a.Nullifier[0], a.PayloadDigest[31] = 1, 2
	sig := Sign(key, a)
	if err := Verify(pub, a, sig); err != nil {
		t.Fatal(err)
	}
	b := a
	b.Node = 1
	if err := Verify(pub, b, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ack for another node verified: %v", err)
	}
	r := Revocation{DatasetID: a.DatasetID, Nullifier: a.Nullifier, RevokedAt: a.StoredAt}
	if err := Verify(pub, r, sig); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("ack signature verified as a revocation: %v", err)
	}
	if err := Verify(pub, a, sig[:10]); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("short signature: %v", err)
	}
}

// Length prefixes keep field boundaries: moving bytes between two
// variable-length fields changes the message.
func TestInjective(t *testing.T) {
	x := CeremonyStart{CeremonyID: "ab", DatasetID: "c"}
	y := CeremonyStart{CeremonyID: "a", DatasetID: "bc"}
	if bytes.Equal(x.Message(), y.Message()) {
		t.Fatal("distinct statements encode alike")
	}
	p := CeremonyStart{Participants: []uint32{1}, BeaconSource: ""}
	q := CeremonyStart{Participants: nil, BeaconSource: "\x00\x00\x00\x01"}
	if bytes.Equal(p.Message(), q.Message()) {
		t.Fatal("participants and beacon source run together")
	}
}
