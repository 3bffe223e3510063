package setup

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestCeremonyKeysProveAndTranscriptReverifies(t *testing.T) {
	c := fixture(t)
	ccs := fixtureCircuit()

	// The transcript round-trips and re-verifies from its bytes alone.
	enc, err := c.transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var decoded Transcript
	if err := decoded.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&decoded, c.transcript) {
		t.Fatal("transcript changed through MarshalBinary/UnmarshalBinary")
	}
	vk, err := decoded.Verify(ccs)
	if err != nil {
		t.Fatal(err)
	}
	vkBytes, err := MarshalVerifyingKey(vk)
	if err != nil {
		t.Fatal(err)
	}
	keyBytes, err := MarshalVerifyingKey(c.keys.VK)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vkBytes, keyBytes) || !bytes.Equal(vkBytes, decoded.VerifyingKey) {
		t.Fatal("re-derived verifying key differs from the ceremony's")
	}

	// Metadata.
	digest, err := CircuitDigest(ccs)
	if err != nil {
		t.Fatal(err)
	}
	td, err := c.transcript.Digest()
	if err != nil {
		t.Fatal(err)
	}
	want := KeyMeta{Kind: Ceremony, Participants: 3, CircuitDigest: digest, TranscriptDigest: td}
	if c.keys.Meta != want {
		t.Fatalf("meta = %+v, want %+v", c.keys.Meta, want)
	}

	// The keys prove and verify a real proof with a commitment; a wrong
	// public input fails.
	xs := []uint64{0, 1, 40000, 65535}
	if err := proveAndVerify(t, ccs, c.keys.PK, c.keys.VK, xs, 105536); err != nil {
		t.Fatalf("valid proof rejected: %v", err)
	}
	if err := proveAndVerify(t, ccs, c.keys.PK, c.keys.VK, xs, 105537); err == nil {
		t.Fatal("proof verified against a wrong public input")
	}
	// Keys of another ceremony for the same circuit do not accept it.
	if err := proveAndVerify(t, ccs, c.keys.PK, other(t).keys.VK, xs, 105536); err == nil {
		t.Fatal("proof verified under another ceremony's verifying key")
	}

	// DeriveKeys rebuilds a proving key that works, and the same Meta.
	derived, err := decoded.DeriveKeys(ccs)
	if err != nil {
		t.Fatal(err)
	}
	if derived.Meta != want {
		t.Fatalf("derived meta = %+v, want %+v", derived.Meta, want)
	}
	if err := proveAndVerify(t, ccs, derived.PK, c.keys.VK, xs, 105536); err != nil {
		t.Fatalf("derived proving key: %v", err)
	}
}

// TestStepsOverBytes runs a ceremony the way nodes do over the network:
// every state travels as bytes, each participant verifies what it receives
// before contributing on top of it, and anyone seals.
func TestStepsOverBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("second ceremony; the fixture covers the steps in -short")
	}
	ccs := fixtureCircuit()
	const participants = 2
	domain := circuitDomain(mustR1CS(t, ccs))

	init1, err := NewPhase1(domain)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wire1 [][]byte
		prev1 = init1
	)
	for range participants {
		before, err := prev1.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		next, err := prev1.Contribute()
		if err != nil {
			t.Fatal(err)
		}
		after, err := prev1.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(before, after) {
			t.Fatal("Phase1.Contribute modified its receiver")
		}
		b, err := next.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var received Phase1
		if err := received.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := VerifyPhase1Step(prev1, &received); err != nil {
			t.Fatal(err)
		}
		wire1 = append(wire1, b)
		prev1 = &received
	}
	contribs1 := make([]*Phase1, len(wire1))
	for i, b := range wire1 {
		contribs1[i] = new(Phase1)
		if err := contribs1[i].UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
	}
	srs, err := SealPhase1(domain, beacon1, contribs1...)
	if err != nil {
		t.Fatal(err)
	}
	if srs.DomainSize() != domain {
		t.Fatalf("SRS domain %d, want %d", srs.DomainSize(), domain)
	}

	init2, err := NewPhase2(ccs, srs)
	if err != nil {
		t.Fatal(err)
	}
	var (
		wire2 [][]byte
		prev2 = init2
	)
	for range participants {
		before, _ := prev2.MarshalBinary()
		next, err := prev2.Contribute()
		if err != nil {
			t.Fatal(err)
		}
		if after, _ := prev2.MarshalBinary(); !bytes.Equal(before, after) {
			t.Fatal("Phase2.Contribute modified its receiver")
		}
		b, err := next.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var received Phase2
		if err := received.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if err := VerifyPhase2Step(prev2, &received); err != nil {
			t.Fatal(err)
		}
		wire2 = append(wire2, b)
		prev2 = &received
	}
	contribs2 := make([]*Phase2, len(wire2))
	for i, b := range wire2 {
		contribs2[i] = new(Phase2)
		if err := contribs2[i].UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := SealPhase2(ccs, srs, beacon2, contribs2...)
	if err != nil {
		t.Fatal(err)
	}
	if keys.Meta.Kind != Ceremony || keys.Meta.Participants != participants {
		t.Fatalf("meta = %+v", keys.Meta)
	}
	// Sealing twice gives the same keys: sealing is deterministic and does
	// not consume the contributions.
	again, err := SealPhase2(ccs, srs, beacon2, contribs2...)
	if err != nil {
		t.Fatal(err)
	}
	vk1, _ := MarshalVerifyingKey(keys.VK)
	vk2, _ := MarshalVerifyingKey(again.VK)
	if !bytes.Equal(vk1, vk2) {
		t.Fatal("sealing the same contributions twice gave different keys")
	}

	// The transcript assembled from the wire verifies.
	digest, _ := CircuitDigest(ccs)
	tr := &Transcript{DomainSize: domain, Phase1: wire1, Beacon1: beacon1, CircuitDigest: digest,
		Phase2: wire2, Beacon2: beacon2, VerifyingKey: vk1}
	if _, err := tr.Verify(ccs); err != nil {
		t.Fatal(err)
	}
	if err := proveAndVerify(t, ccs, keys.PK, keys.VK, []uint64{7, 8, 9, 10}, 34); err != nil {
		t.Fatal(err)
	}
}

// TestLargerPhase1Domain: a federation's phase 1 is larger than a circuit
// needs; the circuit's keys are sized to its own domain and work.
func TestLargerPhase1Domain(t *testing.T) {
	if testing.Short() {
		t.Skip("phase 1 at 2^10")
	}
	ccs := fixtureCircuit()
	p0, err := NewPhase1(1 << 10)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := p0.Contribute()
	if err != nil {
		t.Fatal(err)
	}
	srs, err := SealPhase1(1<<10, beacon1, p1)
	if err != nil {
		t.Fatal(err)
	}
	q0, err := NewPhase2(ccs, srs)
	if err != nil {
		t.Fatal(err)
	}
	q1, err := q0.Contribute()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := SealPhase2(ccs, srs, beacon2, q1)
	if err != nil {
		t.Fatal(err)
	}
	pkBytes, err := MarshalProvingKey(keys.PK)
	if err != nil {
		t.Fatal(err)
	}
	fixturePK, _ := MarshalProvingKey(fixture(t).keys.PK)
	if len(pkBytes) != len(fixturePK) {
		t.Fatalf("proving key of %d bytes from a 2^10 phase 1, %d from the circuit's own domain", len(pkBytes), len(fixturePK))
	}
	if err := proveAndVerify(t, ccs, keys.PK, keys.VK, []uint64{1, 2, 3, 4}, 10); err != nil {
		t.Fatal(err)
	}
}

func TestCircuitTooLargeForSRS(t *testing.T) {
	p0, err := NewPhase1(MinDomainSize * 2)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := p0.Contribute()
	if err != nil {
		t.Fatal(err)
	}
	srs, err := SealPhase1(MinDomainSize*2, beacon1, p1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewPhase2(fixtureCircuit(), srs); !errors.Is(err, ErrCircuitTooLarge) {
		t.Fatalf("NewPhase2 on a too small SRS: %v, want ErrCircuitTooLarge", err)
	}
	if _, err := SealPhase2(fixtureCircuit(), srs, beacon2, &Phase2{}); !errors.Is(err, ErrCircuitTooLarge) {
		t.Fatalf("SealPhase2 on a too small SRS: %v, want ErrCircuitTooLarge", err)
	}
}

func TestArgumentsRefused(t *testing.T) {
	ccs := fixtureCircuit()
	c := fixture(t)
	var contribs1 []*Phase1
	for _, b := range c.transcript.Phase1 {
		p := new(Phase1)
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		contribs1 = append(contribs1, p)
	}
	domain := c.transcript.DomainSize
	short := Beacon(make([]byte, MinBeaconSize-1))

	tests := []struct {
		name string
		err  error
		want error
	}{
		{"NewPhase1(0)", second(NewPhase1(0)), ErrDomainSize},
		{"NewPhase1(1)", second(NewPhase1(1)), ErrDomainSize},
		{"NewPhase1(3)", second(NewPhase1(3)), ErrDomainSize},
		{"NewPhase1(2^25)", second(NewPhase1(MaxDomainSize * 2)), ErrDomainSize},
		{"NewBeacon(31 bytes)", second(NewBeacon(make([]byte, 31))), ErrBeacon},
		{"NewBeacon(1025 bytes)", second(NewBeacon(make([]byte, MaxBeaconSize+1))), ErrBeacon},
		{"SealPhase1 no contributions", second(SealPhase1(domain, beacon1)), ErrNoContributions},
		{"SealPhase1 short beacon", second(SealPhase1(domain, short, contribs1...)), ErrBeacon},
		{"SealPhase1 wrong domain", second(SealPhase1(domain*2, beacon1, contribs1...)), ErrDomainSize},
		{"SealPhase1 nil contribution", second(SealPhase1(domain, beacon1, nil)), ErrMalformed},
		{"SealPhase2 no contributions", second(SealPhase2(ccs, nil, beacon2)), ErrNoContributions},
		{"RunLocalCeremony 0 participants", err3(RunLocalCeremony(ccs, 0, beacon1, beacon2)), ErrNoContributions},
		{"RunLocalCeremony short beacon", err3(RunLocalCeremony(ccs, 1, beacon1, short)), ErrBeacon},
		{"RunLocalCeremony too many", err3(RunLocalCeremony(ccs, MaxParticipants+1, beacon1, beacon2)), ErrTooManyParticipants},
		{"Contribute on zero Phase1", second((&Phase1{}).Contribute()), ErrMalformed},
		{"Contribute on zero Phase2", second((&Phase2{}).Contribute()), ErrMalformed},
		{"VerifyPhase1Step initial as next", VerifyPhase1Step(mustPhase1(t, domain), mustPhase1(t, domain)), ErrInvalidContribution},
		{"UnmarshalProvingKey(nil)", second(UnmarshalProvingKey(nil)), ErrMalformed},
		{"MarshalProvingKey(nil)", second(MarshalProvingKey(nil)), ErrUnsupportedCircuit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errors.Is(tt.err, tt.want) {
				t.Fatalf("error %v, want %v", tt.err, tt.want)
			}
		})
	}
	if b, err := NewBeacon(make([]byte, MinBeaconSize)); err != nil || len(b) != MinBeaconSize {
		t.Fatalf("NewBeacon(32 bytes) = %v, %v", b, err)
	}
}

func TestCircuitDigest(t *testing.T) {
	a, err := CircuitDigest(fixtureCircuit())
	if err != nil {
		t.Fatal(err)
	}
	b, err := CircuitDigest(mustCompile(fixtureInputs, fixtureMul))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("compiling the same circuit twice gave different digests")
	}
	c, err := CircuitDigest(otherCircuit())
	if err != nil {
		t.Fatal(err)
	}
	if a == c {
		t.Fatal("different circuits share a digest")
	}
	if _, err := CircuitDigest(nil); !errors.Is(err, ErrUnsupportedCircuit) {
		t.Fatalf("CircuitDigest(nil): %v", err)
	}
	if !strings.Contains(circuitDigestTag, "circuit-digest") {
		t.Fatal("tag lost its name")
	}
}

func second[T any](_ T, err error) error { return err }

func err3[A, B any](_ A, _ B, err error) error { return err }

func mustPhase1(tb testing.TB, n uint64) *Phase1 {
	tb.Helper()
	p, err := NewPhase1(n)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
