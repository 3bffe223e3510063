package setup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	curve "github.com/consensys/gnark-crypto/ecc/bn254"
	cryptompc "github.com/consensys/gnark-crypto/ecc/bn254/mpcsetup"
	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
	"github.com/consensys/gnark/constraint"
	cs "github.com/consensys/gnark/constraint/bn254"
)

// Phase2 is one state of the circuit-specific phase: the initial state
// derived from a circuit and an SRS (NewPhase2), or the state after a
// participant's contribution (Contribute). It holds [δ]₁, [δ]₂, the proving
// key's δ-divided vectors (Z: xⁱt(x)/δ; PKK: private-wire coefficients/δ),
// and for each Groth16 commitment (BSB22) the σ-scaled commitment basis and
// [σ]₂. A Phase2 is immutable: Contribute returns a new state.
//
// Encoding (gnark's Phase2.WriteTo, compressed points): uint16 number of
// commitments c, [δ]₁, PKK and Z (each a uint32 count then G1 points), [δ]₂,
// c σ-bases (uint32 count then G1 points each), c [σ]₂, the δ update proof,
// c σ update proofs, then a length byte and the 32-byte challenge.
type Phase2 struct {
	state *mpcsetup.Phase2
}

// NewPhase2 returns the initial phase-2 state for ccs (a BN254 R1CS, with or
// without commitments) on top of srs: δ = σᵢ = 1. The SRS is truncated to the
// circuit's domain (the next power of two at or above its constraint count),
// so the keys are those of the circuit's own size whatever the federation's
// phase-1 domain. Everyone who verifies phase 2 re-runs this; it costs a
// few FFTs over G1 and G2 of the circuit's domain.
func NewPhase2(ccs constraint.ConstraintSystem, srs *SRS) (*Phase2, error) {
	state, _, err := initPhase2(ccs, srs)
	if err != nil {
		return nil, fmt.Errorf("setup: phase 2: %w", err)
	}
	return &Phase2{state: state}, nil
}

// initPhase2 builds the initial state for ccs on srs, and what sealing needs
// besides the last state: the SRS truncated to the circuit's domain and the
// δ-independent evaluations of the circuit's polynomials.
func initPhase2(ccs constraint.ConstraintSystem, srs *SRS) (*mpcsetup.Phase2, *phase2Init, error) {
	r, err := bn254R1CS(ccs)
	if err != nil {
		return nil, nil, err
	}
	if srs == nil || srs.domainSize == 0 {
		return nil, nil, fmt.Errorf("%w: no SRS", ErrDomainSize)
	}
	n := circuitDomain(r)
	if n > srs.domainSize {
		return nil, nil, fmt.Errorf("%w: %d constraints need a domain of %d, the SRS has %d",
			ErrCircuitTooLarge, r.GetNbConstraints(), n, srs.domainSize)
	}
	init := &phase2Init{r1cs: r, commons: srs.truncated(n)}
	state := new(mpcsetup.Phase2)
	err = contain("phase 2: initialize", func() error {
		init.evals = state.Initialize(r, init.commons)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return state, init, nil
}

// phase2Init is what sealing a phase 2 needs besides the last state.
type phase2Init struct {
	r1cs    *cs.R1CS
	commons *mpcsetup.SrsCommons
	evals   mpcsetup.Phase2Evaluations
}

// Contribute draws fresh secrets δ' and σ'ᵢ (from crypto/rand, inside gnark),
// applies them to a copy of p — [δ] and [σᵢ] multiplied, Z and PKK divided by
// δ', the σ-bases multiplied by σ'ᵢ — and returns that copy with proofs of
// knowledge bound to p's hash. p is not modified; the secrets never leave
// gnark's Contribute. Contribute does not verify p: a participant should
// first check p with VerifyPhase2Step.
func (p *Phase2) Contribute() (*Phase2, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("setup: phase 2: contribute: %w", err)
	}
	next := &Phase2{state: clonePhase2(p.state)}
	if err := contain("phase 2: contribute", func() error { next.state.Contribute(); return nil }); err != nil {
		return nil, err
	}
	return next, nil
}

// VerifyPhase2Step checks that next is a valid contribution on top of prev:
// same shape (vector lengths, number of commitments), next's challenge is
// the hash of prev, the proofs of knowledge of δ' and each σ'ᵢ verify, [δ]₁,
// [δ]₂, Z and PKK were updated by δ' (and only by it), and each σ-basis and
// [σᵢ]₂ by σ'ᵢ. prev is trusted: the initial state or a state that passed
// this check. Neither argument is modified.
func VerifyPhase2Step(prev, next *Phase2) error {
	if err := verifyPhase2Step(prev, next); err != nil {
		return fmt.Errorf("setup: phase 2 step: %w", err)
	}
	return nil
}

func verifyPhase2Step(prev, next *Phase2) error {
	if err := prev.check(); err != nil {
		return fmt.Errorf("previous state: %w", err)
	}
	if err := next.check(); err != nil {
		return err
	}
	if err := samePhase2Shape(prev.state, next.state); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidContribution, err)
	}
	if len(next.state.Challenge) != challengeSize {
		return fmt.Errorf("%w: not a contribution (no challenge)", ErrInvalidContribution)
	}
	h, err := prev.hash()
	if err != nil {
		return err
	}
	if !bytes.Equal(next.state.Challenge, h) {
		return fmt.Errorf("%w: %w", ErrInvalidContribution, errChallenge)
	}
	// gnark's Verify stores the challenge it computed into its argument;
	// give it a shallow copy so that next is never written to.
	err = contain("phase 2: verify", func() error {
		n := *next.state
		return prev.state.Verify(&n)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidContribution, err)
	}
	return nil
}

// samePhase2Shape checks that b has a's vector lengths: gnark's Verify
// compares most of them, not the length of each σ-basis.
func samePhase2Shape(a, b *mpcsetup.Phase2) error {
	pa, pb := &a.Parameters, &b.Parameters
	switch {
	case len(pa.G1.Z) != len(pb.G1.Z):
		return fmt.Errorf("Z has %d points, expected %d", len(pb.G1.Z), len(pa.G1.Z))
	case len(pa.G1.PKK) != len(pb.G1.PKK):
		return fmt.Errorf("PKK has %d points, expected %d", len(pb.G1.PKK), len(pa.G1.PKK))
	case len(pa.G1.SigmaCKK) != len(pb.G1.SigmaCKK) || len(pa.G2.Sigma) != len(pb.G2.Sigma) ||
		len(a.Sigmas) != len(b.Sigmas) || len(pb.G2.Sigma) != len(pb.G1.SigmaCKK) || len(b.Sigmas) != len(pb.G2.Sigma):
		return fmt.Errorf("%d commitments, expected %d", len(pb.G2.Sigma), len(pa.G2.Sigma))
	}
	for i := range pa.G1.SigmaCKK {
		if len(pa.G1.SigmaCKK[i]) != len(pb.G1.SigmaCKK[i]) {
			return fmt.Errorf("commitment %d basis has %d points, expected %d", i, len(pb.G1.SigmaCKK[i]), len(pa.G1.SigmaCKK[i]))
		}
	}
	return nil
}

// SealPhase2 recomputes the initial state for ccs and srs, verifies the chain
// of contributions (each against the one before it), applies the beacon as a
// last, public contribution, and returns the proving and verifying keys. A
// failure names the contribution, counted from 1: "phase 2 contribution 1:
// …". At least one contribution is required. The keys' Meta says Ceremony,
// the number of phase-2 contributions and the circuit digest; its
// TranscriptDigest is left zero for whoever assembles the transcript
// (RunLocalCeremony and Transcript.DeriveKeys fill it). The contributions
// are not modified.
func SealPhase2(ccs constraint.ConstraintSystem, srs *SRS, beacon Beacon, contributions ...*Phase2) (*Keys, error) {
	if err := beacon.validate(); err != nil {
		return nil, fmt.Errorf("setup: phase 2: %w", err)
	}
	if err := checkCount(len(contributions)); err != nil {
		return nil, fmt.Errorf("setup: phase 2: %w", err)
	}
	digest, err := CircuitDigest(ccs)
	if err != nil {
		return nil, err
	}
	state, init, err := initPhase2(ccs, srs)
	if err != nil {
		return nil, fmt.Errorf("setup: phase 2: %w", err)
	}
	prev := &Phase2{state: state}
	for i, c := range contributions {
		if err := verifyPhase2Step(prev, c); err != nil {
			return nil, fmt.Errorf("setup: phase 2 contribution %d: %w", i+1, explainFirst(i, err))
		}
		prev = c
	}
	keys, err := sealPhase2(init, clonePhase2(prev.state), beacon)
	if err != nil {
		return nil, err
	}
	keys.Meta = KeyMeta{Kind: Ceremony, Participants: len(contributions), CircuitDigest: digest}
	return keys, nil
}

// sealPhase2 applies the beacon to last, which it consumes.
func sealPhase2(init *phase2Init, last *mpcsetup.Phase2, beacon Beacon) (*Keys, error) {
	keys := new(Keys)
	err := contain("phase 2: seal", func() error {
		keys.PK, keys.VK = last.Seal(init.commons, &init.evals, beacon)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return keys, nil
}

// MarshalBinary returns the state's encoding (see Phase2).
func (p *Phase2) MarshalBinary() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("setup: phase 2: %w", err)
	}
	return encode(p.state)
}

// UnmarshalBinary decodes a phase-2 state. The number of commitments is
// checked against MaxCommitments and every declared vector length against the
// bytes that follow it before anything is allocated; every point is decoded
// with gnark-crypto's on-curve and subgroup checks; only compressed points
// and the canonical encoding are accepted, and a challenge must be empty or
// 32 bytes. A panic in gnark's decoder is returned as ErrMalformed. Decoding
// does not verify the contribution: use VerifyPhase2Step.
func (p *Phase2) UnmarshalBinary(data []byte) error {
	state := new(mpcsetup.Phase2)
	err := contain("phase 2: decode", func() error { return decodePhase2(state, data) })
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return fmt.Errorf("setup: phase 2: %w", err)
	}
	p.state = state
	return nil
}

// decodePhase2 mirrors gnark's Phase2.ReadFrom with every count checked.
func decodePhase2(s *mpcsetup.Phase2, data []byte) error {
	r := newReader(data)
	var nb uint16
	if err := binary.Read(r.r, binary.BigEndian, &nb); err != nil {
		return err
	}
	if nb > MaxCommitments {
		return fmt.Errorf("%d commitments > %d", nb, MaxCommitments)
	}
	s.Sigmas = make([]cryptompc.UpdateProof, nb)
	s.Parameters.G1.SigmaCKK = make([][]curve.G1Affine, nb)
	s.Parameters.G2.Sigma = make([]curve.G2Affine, nb)

	if err := r.dec.Decode(&s.Parameters.G1.Delta); err != nil {
		return fmt.Errorf("[δ]₁: %w", err)
	}
	if err := r.slice(&s.Parameters.G1.PKK, g1Size, math.MaxInt32); err != nil {
		return fmt.Errorf("PKK: %w", err)
	}
	if err := r.slice(&s.Parameters.G1.Z, g1Size, MaxDomainSize-1); err != nil {
		return fmt.Errorf("Z: %w", err)
	}
	if err := r.dec.Decode(&s.Parameters.G2.Delta); err != nil {
		return fmt.Errorf("[δ]₂: %w", err)
	}
	for i := range s.Parameters.G1.SigmaCKK {
		if err := r.slice(&s.Parameters.G1.SigmaCKK[i], g1Size, math.MaxInt32); err != nil {
			return fmt.Errorf("σ-basis %d: %w", i, err)
		}
	}
	for i := range s.Parameters.G2.Sigma {
		if err := r.dec.Decode(&s.Parameters.G2.Sigma[i]); err != nil {
			return fmt.Errorf("[σ%d]₂: %w", i, err)
		}
	}
	if _, err := s.Delta.ReadFrom(r.r); err != nil {
		return fmt.Errorf("δ proof: %w", err)
	}
	for i := range s.Sigmas {
		if _, err := s.Sigmas[i].ReadFrom(r.r); err != nil {
			return fmt.Errorf("σ%d proof: %w", i, err)
		}
	}
	l, err := r.r.ReadByte()
	if err != nil {
		return fmt.Errorf("challenge: %w", err)
	}
	if l != 0 && l != challengeSize {
		return fmt.Errorf("challenge of %d bytes", l)
	}
	if l != 0 {
		s.Challenge = make([]byte, l)
		if _, err := io.ReadFull(r.r, s.Challenge); err != nil {
			return fmt.Errorf("challenge: %w", err)
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	return canonical(s, data)
}

func (p *Phase2) check() error {
	if p == nil || p.state == nil {
		return fmt.Errorf("%w: empty phase-2 state", ErrMalformed)
	}
	return nil
}

// hash is gnark's challenge for the next contribution: SHA-256 of the
// state's encoding.
func (p *Phase2) hash() ([]byte, error) {
	h := sha256.New()
	if _, err := p.state.WriteTo(h); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// clonePhase2 deep-copies a phase-2 state.
func clonePhase2(s *mpcsetup.Phase2) *mpcsetup.Phase2 {
	c := *s
	c.Parameters.G1.Z = slices.Clone(s.Parameters.G1.Z)
	c.Parameters.G1.PKK = slices.Clone(s.Parameters.G1.PKK)
	c.Parameters.G1.SigmaCKK = make([][]curve.G1Affine, len(s.Parameters.G1.SigmaCKK))
	for i := range s.Parameters.G1.SigmaCKK {
		c.Parameters.G1.SigmaCKK[i] = slices.Clone(s.Parameters.G1.SigmaCKK[i])
	}
	c.Parameters.G2.Sigma = slices.Clone(s.Parameters.G2.Sigma)
	c.Sigmas = slices.Clone(s.Sigmas)
	c.Challenge = slices.Clone(s.Challenge)
	return &c
}

// explainFirst adds to a challenge mismatch of the first phase-2
// contribution that its previous state is derived, not contributed: the
// fault may be the circuit, phase 1 or beacon 1 rather than the contributor.
func explainFirst(i int, err error) error {
	if i == 0 && errors.Is(err, errChallenge) {
		return fmt.Errorf("%w (the previous state is the circuit's initial state on the sealed phase 1: the circuit, a phase-1 contribution or beacon 1 may differ)", err)
	}
	return err
}
