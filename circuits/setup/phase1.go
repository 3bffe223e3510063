package setup

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
)

// Phase1 is one state of the powers-of-τ phase: the initial state of a
// domain size (NewPhase1) or the state after a participant's contribution
// (Contribute). A Phase1 is immutable: Contribute returns a new state.
//
// Encoded size: 192·N+233 bytes for the initial state, 192·N+265 bytes for a
// contribution (N the domain size): three update proofs, the size N, [β]₂,
// [τ¹…τ²ᴺ⁻²]₁, [τ¹…τᴺ⁻¹]₂, [βτ⁰…βτᴺ⁻¹]₁, [ατ⁰…ατᴺ⁻¹]₁, all points
// compressed, then the 32-byte challenge (the SHA-256 of the previous
// state's encoding).
type Phase1 struct {
	domainSize uint64
	state      *mpcsetup.Phase1
}

// phase-1 encoding layout (gnark's Phase1.WriteTo with compressed points).
const (
	updateProofSize    = g1Size + g2Size      // [x]₁ and the proof of knowledge [x·r]₂
	phase1ProofsSize   = 3 * updateProofSize  // τ, α, β
	phase1DomainOffset = phase1ProofsSize     // the uint64 N follows the proofs
	phase1FixedSize    = phase1ProofsSize + 1 // + the challenge's length byte
	challengeSize      = sha256.Size
)

// phase1Size is the encoded size of a phase-1 state of domain size n with a
// challenge of challengeLen bytes.
func phase1Size(n uint64, challengeLen int) uint64 {
	// N, [β]₂, (2N−2) G1 powers of τ, (N−1) G2 powers of τ, N βτⁱ, N ατⁱ.
	commons := 8 + g2Size + (2*n-2)*g1Size + (n-1)*g2Size + 2*n*g1Size
	return phase1FixedSize + commons + uint64(challengeLen)
}

// NewPhase1 returns the initial phase-1 state for a domain of domainSize
// points: every power of τ, α and β equal to one. domainSize must be a power
// of two in [MinDomainSize, MaxDomainSize]; it bounds the number of
// constraints of every circuit whose phase 2 builds on this phase 1.
func NewPhase1(domainSize uint64) (*Phase1, error) {
	if !isDomainSize(domainSize) {
		return nil, fmt.Errorf("setup: phase 1: %w: %d is not a power of two in [%d, %d]",
			ErrDomainSize, domainSize, MinDomainSize, MaxDomainSize)
	}
	return &Phase1{domainSize: domainSize, state: mpcsetup.NewPhase1(domainSize)}, nil
}

// DomainSize returns the number of points of the domain the state is for.
func (p *Phase1) DomainSize() uint64 {
	if p == nil {
		return 0
	}
	return p.domainSize
}

// Contribute draws fresh secrets τ', α', β' (from crypto/rand, inside
// gnark-crypto's UpdateValues), multiplies them into a copy of p (in
// parallel across the CPUs, updateCommons), and returns that copy with
// proofs of knowledge of the secrets bound to p's hash. p is not modified.
// The secrets live only in local variables, zeroed before Contribute
// returns; the caller never sees them. Contribute does not verify p: a
// participant should first check p with VerifyPhase1Step against the state
// it followed.
func (p *Phase1) Contribute() (*Phase1, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("setup: phase 1: contribute: %w", err)
	}
	var next *mpcsetup.Phase1
	err := contain("phase 1: contribute", func() (err error) { next, err = contributePhase1(p.state); return err })
	if err != nil {
		return nil, fmt.Errorf("setup: phase 1: contribute: %w", err)
	}
	return &Phase1{domainSize: p.domainSize, state: next}, nil
}

// VerifyPhase1Step checks that next is a valid contribution on top of prev:
// same domain size, next's challenge is the hash of prev, its proofs of
// knowledge of τ', α', β' verify, its [τ]₁, [α]₁, [β]₁ and [β]₂ were updated
// by exactly those secrets, and all its vectors are geometric sequences of
// the same ratio τ (pairing checks with random linear combinations). prev is
// trusted: it is the initial state or a state that passed this check. The
// cost is a few multi-scalar multiplications of the domain size and a
// handful of pairings. Neither argument is modified.
func VerifyPhase1Step(prev, next *Phase1) error {
	if err := verifyPhase1Step(prev, next); err != nil {
		return fmt.Errorf("setup: phase 1 step: %w", err)
	}
	return nil
}

func verifyPhase1Step(prev, next *Phase1) error {
	if err := prev.check(); err != nil {
		return fmt.Errorf("previous state: %w", err)
	}
	if err := next.check(); err != nil {
		return err
	}
	if prev.domainSize != next.domainSize {
		return fmt.Errorf("%w: contribution for %d points, ceremony has %d", ErrDomainSize, next.domainSize, prev.domainSize)
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
	err = contain("phase 1: verify", func() error {
		n := *next.state
		return prev.state.Verify(&n)
	})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidContribution, err)
	}
	return nil
}

// SealPhase1 verifies the chain of contributions from the initial state of
// domainSize (each against the one before it), applies the beacon as a last,
// public contribution, and returns the resulting SRS. A failure names the
// contribution, counted from 1: "phase 1 contribution 2: …". At least one
// contribution is required. The contributions are not modified.
func SealPhase1(domainSize uint64, beacon Beacon, contributions ...*Phase1) (*SRS, error) {
	if err := beacon.validate(); err != nil {
		return nil, fmt.Errorf("setup: phase 1: %w", err)
	}
	if err := checkCount(len(contributions)); err != nil {
		return nil, fmt.Errorf("setup: phase 1: %w", err)
	}
	prev, err := NewPhase1(domainSize)
	if err != nil {
		return nil, err
	}
	for i, c := range contributions {
		if err := verifyPhase1Step(prev, c); err != nil {
			return nil, fmt.Errorf("setup: phase 1 contribution %d: %w", i+1, err)
		}
		prev = c
	}
	return sealPhase1(prev, beacon)
}

// sealPhase1 applies the beacon to last, which it does not modify: the
// SRS gnark's Phase1.Seal would return, computed by sealCommons.
func sealPhase1(last *Phase1, beacon Beacon) (*SRS, error) {
	var c *mpcsetup.SrsCommons
	err := contain("phase 1: seal", func() (err error) { c, err = sealCommons(last.state, beacon); return err })
	if err != nil {
		return nil, fmt.Errorf("setup: phase 1: seal: %w", err)
	}
	return &SRS{domainSize: last.domainSize, commons: *c}, nil
}

// MarshalBinary returns the state's encoding (see Phase1).
func (p *Phase1) MarshalBinary() ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("setup: phase 1: %w", err)
	}
	return encode(p.state)
}

// UnmarshalBinary decodes a phase-1 state. Before anything is allocated it
// reads the declared domain size, checks that it is a power of two within
// [MinDomainSize, MaxDomainSize] and that the input has exactly the length
// that size implies; every point is decoded with gnark-crypto's on-curve and
// prime-order-subgroup checks (on for G1 and G2 — BN254's G1 has cofactor 1,
// G2's subgroup check is the endomorphism test); only compressed points and
// the canonical encoding are accepted, and a challenge must be empty or 32
// bytes. A panic in gnark's decoder is returned as ErrMalformed. Decoding
// does not verify the contribution: use VerifyPhase1Step.
func (p *Phase1) UnmarshalBinary(data []byte) error {
	q, err := decodePhase1(data)
	if err != nil {
		return fmt.Errorf("setup: phase 1: %w", err)
	}
	*p = *q
	return nil
}

func decodePhase1(data []byte) (*Phase1, error) {
	if len(data) < phase1DomainOffset+8 {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(data))
	}
	// gnark's decoder reads N at this offset only if the six proof points
	// before it are compressed; check so that the size it allocates for is
	// the one checked here.
	for off := 0; off < phase1ProofsSize; off += updateProofSize {
		if !isCompressed(data[off]) || !isCompressed(data[off+g1Size]) {
			return nil, fmt.Errorf("%w: uncompressed point in update proofs", ErrMalformed)
		}
	}
	n := binary.BigEndian.Uint64(data[phase1DomainOffset:])
	if !isDomainSize(n) {
		return nil, fmt.Errorf("%w: %w: declared domain size %d", ErrMalformed, ErrDomainSize, n)
	}
	if l := uint64(len(data)); l != phase1Size(n, 0) && l != phase1Size(n, challengeSize) {
		return nil, fmt.Errorf("%w: %d bytes for domain size %d", ErrMalformed, len(data), n)
	}
	state := new(mpcsetup.Phase1)
	err := contain("phase 1: decode", func() error {
		r := bytes.NewReader(data)
		if _, err := state.ReadFrom(r); err != nil {
			return err
		}
		if r.Len() != 0 {
			return fmt.Errorf("%d trailing bytes", r.Len())
		}
		if l := len(state.Challenge); l != 0 && l != challengeSize {
			return fmt.Errorf("challenge of %d bytes", l)
		}
		return canonical(state, data)
	})
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return &Phase1{domainSize: n, state: state}, nil
}

// isCompressed reports whether b, the first byte of a point's encoding,
// flags a compressed point (gnark-crypto's two top bits: 01 infinity,
// 10 and 11 compressed; 00 uncompressed).
func isCompressed(b byte) bool { return b&0xC0 != 0 }

func (p *Phase1) check() error {
	if p == nil || p.state == nil {
		return fmt.Errorf("%w: empty phase-1 state", ErrMalformed)
	}
	return nil
}

// hash is gnark's challenge for the next contribution: SHA-256 of the
// state's encoding.
func (p *Phase1) hash() ([]byte, error) {
	h := sha256.New()
	if _, err := p.state.WriteTo(h); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func checkCount(n int) error {
	if n == 0 {
		return ErrNoContributions
	}
	if n > MaxParticipants {
		return fmt.Errorf("%w: %d > %d", ErrTooManyParticipants, n, MaxParticipants)
	}
	return nil
}
