package setup

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	curve "github.com/consensys/gnark-crypto/ecc/bn254"
)

// offset of [τ²]₁ in a phase-1 encoding: update proofs, N, [β]₂, [τ¹]₁.
const phase1Tau2Offset = phase1ProofsSize + 8 + g2Size + g1Size

// tamperPhase1 replaces [τ³]₁ with [τ²]₁: a valid point, a broken sequence.
func tamperPhase1(tb testing.TB, b []byte) []byte {
	tb.Helper()
	out := bytes.Clone(b)
	copy(out[phase1Tau2Offset+g1Size:], b[phase1Tau2Offset:phase1Tau2Offset+g1Size])
	var p Phase1
	if err := p.UnmarshalBinary(out); err != nil {
		tb.Fatalf("tampered phase-1 contribution no longer decodes: %v", err)
	}
	return out
}

// tamperPhase2 decodes a phase-2 contribution, changes one element with
// edit, and re-encodes it.
func tamperPhase2(tb testing.TB, b []byte, edit func(*Phase2)) []byte {
	tb.Helper()
	var p Phase2
	if err := p.UnmarshalBinary(b); err != nil {
		tb.Fatal(err)
	}
	edit(&p)
	out, err := p.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func addGenerator(p *curve.G1Affine) {
	_, _, g1, _ := curve.Generators()
	p.Add(p, &g1)
}

func TestTamperedTranscriptFailsNamingTheStep(t *testing.T) {
	c := fixture(t)
	o := other(t)
	ccs := fixtureCircuit()

	tests := []struct {
		name   string
		tamper func(*Transcript)
		want   error  // sentinel
		step   string // substring naming the failing step
	}{
		{
			name:   "phase 1 contribution 2: point replaced",
			tamper: func(tr *Transcript) { tr.Phase1[1] = tamperPhase1(t, tr.Phase1[1]) },
			want:   ErrInvalidContribution, step: "phase 1 contribution 2:",
		},
		{
			// Any ceremony's first contribution is valid on the (public,
			// deterministic) initial state; the break shows at the next one.
			name:   "phase 1 contribution 1 spliced from another ceremony",
			tamper: func(tr *Transcript) { tr.Phase1[0] = bytes.Clone(o.transcript.Phase1[0]) },
			want:   ErrInvalidContribution, step: "phase 1 contribution 2:",
		},
		{
			name:   "phase 1 contributions reordered",
			tamper: func(tr *Transcript) { tr.Phase1[1], tr.Phase1[2] = tr.Phase1[2], tr.Phase1[1] },
			want:   ErrInvalidContribution, step: "phase 1 contribution 2:",
		},
		{
			name: "phase 2 contribution 1: PKK point changed",
			tamper: func(tr *Transcript) {
				tr.Phase2[0] = tamperPhase2(t, tr.Phase2[0], func(p *Phase2) { addGenerator(&p.state.Parameters.G1.PKK[0]) })
			},
			want: ErrInvalidContribution, step: "phase 2 contribution 1:",
		},
		{
			name: "phase 2 contribution 2: commitment basis point changed",
			tamper: func(tr *Transcript) {
				tr.Phase2[1] = tamperPhase2(t, tr.Phase2[1], func(p *Phase2) { addGenerator(&p.state.Parameters.G1.SigmaCKK[0][0]) })
			},
			want: ErrInvalidContribution, step: "phase 2 contribution 2:",
		},
		{
			name: "phase 2 contribution 3: [δ]₁ changed",
			tamper: func(tr *Transcript) {
				tr.Phase2[2] = tamperPhase2(t, tr.Phase2[2], func(p *Phase2) { addGenerator(&p.state.Parameters.G1.Delta) })
			},
			want: ErrInvalidContribution, step: "phase 2 contribution 3:",
		},
		{
			name:   "phase 2 contribution 2 spliced from another ceremony",
			tamper: func(tr *Transcript) { tr.Phase2[1] = bytes.Clone(o.transcript.Phase2[1]) },
			want:   ErrInvalidContribution, step: "phase 2 contribution 2:",
		},
		{
			name:   "phase 2 contribution 1 truncated",
			tamper: func(tr *Transcript) { tr.Phase2[0] = tr.Phase2[0][:len(tr.Phase2[0])-1] },
			want:   ErrMalformed, step: "phase 2 contribution 1:",
		},
		{
			name:   "verifying key swapped for another ceremony's",
			tamper: func(tr *Transcript) { tr.VerifyingKey = bytes.Clone(o.transcript.VerifyingKey) },
			want:   ErrVerifyingKeyMismatch, step: "verifying key does not match the ceremony",
		},
		{
			// Another beacon 1 seals another SRS, so phase 2's initial state
			// differs and its first contribution no longer follows it.
			name:   "wrong beacon 1",
			tamper: func(tr *Transcript) { tr.Beacon1[0] ^= 1 },
			want:   ErrInvalidContribution, step: "phase 2 contribution 1: invalid contribution: challenge is not the hash of the previous state (the previous state is the circuit's initial state",
		},
		{
			name:   "wrong beacon 2",
			tamper: func(tr *Transcript) { tr.Beacon2[31] ^= 1 },
			want:   ErrVerifyingKeyMismatch, step: "verifying key does not match the ceremony",
		},
		{
			name:   "last phase-2 contribution dropped",
			tamper: func(tr *Transcript) { tr.Phase2 = tr.Phase2[:2] },
			want:   ErrVerifyingKeyMismatch, step: "verifying key does not match the ceremony",
		},
		{
			name:   "circuit digest of another circuit",
			tamper: func(tr *Transcript) { tr.CircuitDigest[0] ^= 1 },
			want:   ErrCircuitMismatch, step: "another circuit",
		},
		{
			name:   "short beacon",
			tamper: func(tr *Transcript) { tr.Beacon2 = tr.Beacon2[:MinBeaconSize-1] },
			want:   ErrBeacon, step: "beacon 2",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := cloneTranscript(c.transcript)
			tt.tamper(tr)
			_, err := tr.Verify(ccs)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.step) {
				t.Fatalf("Verify: %v; want %v naming %q", err, tt.want, tt.step)
			}
		})
	}

	// The original still verifies: the tests tampered with copies.
	if _, err := c.transcript.Verify(ccs); err != nil {
		t.Fatal(err)
	}
	// And it does not verify for another circuit.
	if _, err := c.transcript.Verify(otherCircuit()); !errors.Is(err, ErrCircuitMismatch) {
		t.Fatalf("Verify(other circuit): %v", err)
	}
}

func TestTamperedStepFails(t *testing.T) {
	c := fixture(t)
	ccs := fixtureCircuit()
	dec1 := func(b []byte) *Phase1 {
		p := new(Phase1)
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dec2 := func(b []byte) *Phase2 {
		p := new(Phase2)
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tr := c.transcript

	// Phase 1: the honest step verifies, the tampered one does not.
	p1, p2 := dec1(tr.Phase1[0]), dec1(tr.Phase1[1])
	if err := VerifyPhase1Step(p1, p2); err != nil {
		t.Fatal(err)
	}
	err := VerifyPhase1Step(p1, dec1(tamperPhase1(t, tr.Phase1[1])))
	if !errors.Is(err, ErrInvalidContribution) {
		t.Fatalf("tampered phase-1 step: %v", err)
	}
	if _, err := SealPhase1(tr.DomainSize, beacon1, p1, dec1(tamperPhase1(t, tr.Phase1[1]))); !errors.Is(err, ErrInvalidContribution) ||
		!strings.Contains(err.Error(), "phase 1 contribution 2:") {
		t.Fatalf("SealPhase1 with a tampered contribution: %v", err)
	}
	// Skipping a contribution breaks the chain.
	if err := VerifyPhase1Step(p1, dec1(tr.Phase1[2])); !errors.Is(err, ErrInvalidContribution) {
		t.Fatalf("phase-1 step skipping a contribution: %v", err)
	}

	// Phase 2.
	contribs := make([]*Phase1, len(tr.Phase1))
	for i, b := range tr.Phase1 {
		contribs[i] = dec1(b)
	}
	srs, err := SealPhase1(tr.DomainSize, beacon1, contribs...)
	if err != nil {
		t.Fatal(err)
	}
	init, err := NewPhase2(ccs, srs)
	if err != nil {
		t.Fatal(err)
	}
	q1 := dec2(tr.Phase2[0])
	if err := VerifyPhase2Step(init, q1); err != nil {
		t.Fatal(err)
	}
	bad := dec2(tamperPhase2(t, tr.Phase2[0], func(p *Phase2) { addGenerator(&p.state.Parameters.G1.Z[3]) }))
	if err := VerifyPhase2Step(init, bad); !errors.Is(err, ErrInvalidContribution) {
		t.Fatalf("tampered phase-2 step: %v", err)
	}
	if _, err := SealPhase2(ccs, srs, beacon2, bad); !errors.Is(err, ErrInvalidContribution) ||
		!strings.Contains(err.Error(), "phase 2 contribution 1:") {
		t.Fatalf("SealPhase2 with a tampered contribution: %v", err)
	}
	// A σ-basis of another length is refused before gnark sees it.
	short := dec2(tamperPhase2(t, tr.Phase2[0], func(p *Phase2) {
		p.state.Parameters.G1.SigmaCKK[0] = p.state.Parameters.G1.SigmaCKK[0][1:]
	}))
	if err := VerifyPhase2Step(init, short); !errors.Is(err, ErrInvalidContribution) {
		t.Fatalf("phase-2 step with a shorter σ-basis: %v", err)
	}
	// A phase-2 state of another circuit does not verify on this one.
	if err := VerifyPhase2Step(init, dec2(tamperPhase2(t, tr.Phase2[0], func(p *Phase2) {
		p.state.Parameters.G1.PKK = p.state.Parameters.G1.PKK[1:]
	}))); !errors.Is(err, ErrInvalidContribution) {
		t.Fatalf("phase-2 step of another shape: %v", err)
	}
}

// TestStepsSafeForConcurrentUse verifies, contributes to and encodes the same
// states from several goroutines at once (meaningful under -race): the steps
// never write to their arguments.
func TestStepsSafeForConcurrentUse(t *testing.T) {
	tr := fixture(t).transcript
	var p1, p2 Phase1
	if err := p1.UnmarshalBinary(tr.Phase1[0]); err != nil {
		t.Fatal(err)
	}
	if err := p2.UnmarshalBinary(tr.Phase1[1]); err != nil {
		t.Fatal(err)
	}
	var q1, q2 Phase2
	if err := q1.UnmarshalBinary(tr.Phase2[0]); err != nil {
		t.Fatal(err)
	}
	if err := q2.UnmarshalBinary(tr.Phase2[1]); err != nil {
		t.Fatal(err)
	}
	work := []func() error{
		func() error { return VerifyPhase1Step(&p1, &p2) },
		func() error { return VerifyPhase1Step(&p1, &p2) },
		func() error { _, err := p2.Contribute(); return err },
		func() error { _, err := p2.MarshalBinary(); return err },
		func() error { return VerifyPhase2Step(&q1, &q2) },
		func() error { return VerifyPhase2Step(&q1, &q2) },
		func() error { _, err := q2.Contribute(); return err },
		func() error { _, err := q2.MarshalBinary(); return err },
	}
	errs := make(chan error, len(work))
	for _, w := range work {
		go func() { errs <- w() }()
	}
	for range work {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := p2.MarshalBinary(); !bytes.Equal(b, tr.Phase1[1]) {
		t.Fatal("phase-1 state changed")
	}
	if b, _ := q2.MarshalBinary(); !bytes.Equal(b, tr.Phase2[1]) {
		t.Fatal("phase-2 state changed")
	}
}
