package setup

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	curve "github.com/consensys/gnark-crypto/ecc/bn254"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
)

// offSubgroupG2 returns a point on BN254's G2 curve outside the prime-order
// subgroup (the twist's cofactor is not cleared by MapToCurve2).
func offSubgroupG2(tb testing.TB) curve.G2Affine {
	tb.Helper()
	var u curve.E2
	u.A0.SetUint64(7)
	u.A1.SetUint64(11)
	p := curve.MapToCurve2(&u)
	if !p.IsOnCurve() || p.IsInSubGroup() {
		tb.Fatal("test point is not on the curve outside the subgroup")
	}
	return p
}

func TestKeyEncodingsRoundTrip(t *testing.T) {
	c := fixture(t)
	pkBytes, err := MarshalProvingKey(c.keys.PK)
	if err != nil {
		t.Fatal(err)
	}
	vkBytes, err := MarshalVerifyingKey(c.keys.VK)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := UnmarshalProvingKey(pkBytes)
	if err != nil {
		t.Fatal(err)
	}
	vk, err := UnmarshalVerifyingKey(vkBytes)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := MarshalProvingKey(pk); !bytes.Equal(again, pkBytes) {
		t.Fatal("proving key changed through the round trip")
	}
	if again, _ := MarshalVerifyingKey(vk); !bytes.Equal(again, vkBytes) {
		t.Fatal("verifying key changed through the round trip")
	}
	xs := []uint64{65535, 65535, 0, 1}
	if err := proveAndVerify(t, fixtureCircuit(), pk, vk, xs, 131071); err != nil {
		t.Fatalf("decoded keys: %v", err)
	}
	t.Logf("domain %d: proving key %d bytes, verifying key %d bytes", c.transcript.DomainSize, len(pkBytes), len(vkBytes))
}

func TestContributionEncodingsRoundTrip(t *testing.T) {
	c := fixture(t)
	for i, b := range c.transcript.Phase1 {
		if uint64(len(b)) != phase1Size(c.transcript.DomainSize, challengeSize) {
			t.Fatalf("phase-1 contribution %d: %d bytes, documented size %d", i+1, len(b), phase1Size(c.transcript.DomainSize, challengeSize))
		}
		var p Phase1
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if again, _ := p.MarshalBinary(); !bytes.Equal(again, b) {
			t.Fatalf("phase-1 contribution %d changed through the round trip", i+1)
		}
	}
	init, _ := NewPhase1(c.transcript.DomainSize)
	ib, _ := init.MarshalBinary()
	if uint64(len(ib)) != phase1Size(c.transcript.DomainSize, 0) {
		t.Fatalf("initial phase-1 state: %d bytes, documented size %d", len(ib), phase1Size(c.transcript.DomainSize, 0))
	}
	var p Phase1
	if err := p.UnmarshalBinary(ib); err != nil {
		t.Fatalf("initial phase-1 state: %v", err)
	}
	for i, b := range c.transcript.Phase2 {
		var p Phase2
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if again, _ := p.MarshalBinary(); !bytes.Equal(again, b) {
			t.Fatalf("phase-2 contribution %d changed through the round trip", i+1)
		}
	}
}

func TestDecodersRefuseMalformed(t *testing.T) {
	c := fixture(t)
	tr := c.transcript
	p1 := tr.Phase1[0]
	p2 := tr.Phase2[0]
	vk := tr.VerifyingKey
	pk, err := MarshalProvingKey(c.keys.PK)
	if err != nil {
		t.Fatal(err)
	}
	off := offSubgroupG2(t)
	offBytes := off.Bytes()
	withAt := func(b []byte, at int, v []byte) []byte {
		out := bytes.Clone(b)
		copy(out[at:], v)
		return out
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	// A phase-2 contribution whose [δ]₂ is on the curve but off the subgroup.
	var q Phase2
	if err := q.UnmarshalBinary(p2); err != nil {
		t.Fatal(err)
	}
	q.state.Parameters.G2.Delta = off
	p2OffSubgroup, err := q.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// A proving key whose [β]₂ is off the subgroup.
	pkOff, err := UnmarshalProvingKey(pk)
	if err != nil {
		t.Fatal(err)
	}
	pkOff.(*groth16bn254.ProvingKey).G2.Beta = off
	pkOffSubgroup, err := MarshalProvingKey(pkOff)
	if err != nil {
		t.Fatal(err)
	}
	// Phase 2 layout: uint16 commitments, [δ]₁, then PKK's uint32 count.
	const pkkCount = 2 + g1Size
	// Verifying key layout: 3 G1 and 3 G2 points, then K's count.
	const kCount = 3*g1Size + 3*g2Size

	decoders := map[string]func([]byte) error{
		"phase1":     func(b []byte) error { return new(Phase1).UnmarshalBinary(b) },
		"phase2":     func(b []byte) error { return new(Phase2).UnmarshalBinary(b) },
		"vk":         func(b []byte) error { _, err := UnmarshalVerifyingKey(b); return err },
		"pk":         func(b []byte) error { _, err := UnmarshalProvingKey(b); return err },
		"transcript": func(b []byte) error { return new(Transcript).UnmarshalBinary(b) },
	}
	trBytes, err := tr.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, decoder string
		data          []byte
	}{
		{"empty", "phase1", nil},
		{"truncated", "phase1", p1[:len(p1)-1]},
		{"trailing byte", "phase1", append(bytes.Clone(p1), 0)},
		{"huge domain in a small input", "phase1", withAt(p1, phase1DomainOffset, u64(MaxDomainSize))},
		{"domain too large", "phase1", withAt(p1, phase1DomainOffset, u64(MaxDomainSize*2))},
		{"domain not a power of two", "phase1", withAt(p1, phase1DomainOffset, u64(255))},
		{"uncompressed proof point", "phase1", withAt(p1, 0, []byte{p1[0] & 0x3f})},
		{"[β]₂ off the subgroup", "phase1", withAt(p1, phase1DomainOffset+8, offBytes[:])},
		{"challenge of 31 bytes", "phase1", withAt(p1[:len(p1)-1], len(p1)-33, []byte{31})},
		{"empty", "phase2", nil},
		{"truncated", "phase2", p2[:len(p2)-1]},
		{"trailing byte", "phase2", append(bytes.Clone(p2), 0)},
		{"256 commitments", "phase2", withAt(p2, 0, []byte{1, 0})},
		{"PKK count 2^32-1", "phase2", withAt(p2, pkkCount, u32(1<<32-1))},
		{"[δ]₂ off the subgroup", "phase2", p2OffSubgroup},
		{"empty", "vk", nil},
		{"truncated", "vk", vk[:len(vk)-1]},
		{"trailing byte", "vk", append(bytes.Clone(vk), 0)},
		{"[β]₂ off the subgroup", "vk", withAt(vk, 2*g1Size, offBytes[:])},
		{"K count 2^32-1", "vk", withAt(vk, kCount, u32(1<<32-1))},
		{"too large", "vk", make([]byte, MaxVerifyingKeySize+1)},
		{"empty", "pk", nil},
		{"truncated", "pk", pk[:len(pk)-1]},
		{"trailing byte", "pk", append(bytes.Clone(pk), 0)},
		{"huge domain in a small input", "pk", withAt(pk, 0, u64(MaxDomainSize))},
		{"domain not a power of two", "pk", withAt(pk, 0, u64(255))},
		{"[β]₂ off the subgroup", "pk", pkOffSubgroup},
		{"empty", "transcript", nil},
		{"bad magic", "transcript", withAt(trBytes, 0, []byte("XXXX"))},
		{"truncated", "transcript", trBytes[:len(trBytes)-1]},
		{"trailing byte", "transcript", append(bytes.Clone(trBytes), 0)},
		{"phase-1 count 2^32-1", "transcript", withAt(trBytes, 13, u32(1<<32-1))},
		{"phase-1 length 2^64-1", "transcript", withAt(trBytes, 17, u64(1<<64-1))},
	}
	for _, tt := range tests {
		t.Run(tt.decoder+"/"+tt.name, func(t *testing.T) {
			if err := decoders[tt.decoder](tt.data); !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
}

// TestVerifyingKeyCommitmentIndices: a verifying key whose commitment
// points at an input that does not exist is refused when decoded, instead of
// making gnark's Verify index out of range.
func TestVerifyingKeyCommitmentIndices(t *testing.T) {
	vk, err := UnmarshalVerifyingKey(fixture(t).transcript.VerifyingKey)
	if err != nil {
		t.Fatal(err)
	}
	k := vk.(*groth16bn254.VerifyingKey)
	if len(k.PublicAndCommitmentCommitted) != 1 {
		t.Fatalf("fixture has %d commitments, want 1", len(k.PublicAndCommitmentCommitted))
	}
	for _, idx := range []int{0, len(k.G1.K)} {
		k.PublicAndCommitmentCommitted[0] = []int{idx}
		b, err := MarshalVerifyingKey(k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalVerifyingKey(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("index %d: %v, want ErrMalformed", idx, err)
		}
	}
}
