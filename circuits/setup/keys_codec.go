package setup

import (
	"errors"
	"fmt"
	"math"

	curve "github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr/fft"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr/pedersen"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
)

// MarshalProvingKey encodes a BN254 proving key with gnark's WriteTo
// (compressed points).
func MarshalProvingKey(pk groth16.ProvingKey) ([]byte, error) {
	k, ok := pk.(*groth16bn254.ProvingKey)
	if !ok || k == nil {
		return nil, fmt.Errorf("setup: proving key: %w: %T is not a BN254 proving key", ErrUnsupportedCircuit, pk)
	}
	b, err := encode(k)
	if err != nil {
		return nil, fmt.Errorf("setup: proving key: %w", err)
	}
	return b, nil
}

// UnmarshalProvingKey decodes a proving key written by MarshalProvingKey.
// Before anything is allocated the domain size is checked (a power of two
// ≤ MaxDomainSize, with at least the N−1 points of Z in the input) and every
// declared vector length is checked against the bytes that follow it; the
// domain must be the standard one of its size; points are decoded with
// gnark-crypto's on-curve and subgroup checks; the vectors' lengths must be
// consistent with each other; only the canonical (compressed) encoding is
// accepted. A panic in gnark's decoder is returned as ErrMalformed.
func UnmarshalProvingKey(data []byte) (groth16.ProvingKey, error) {
	pk := new(groth16bn254.ProvingKey)
	if err := contain("proving key: decode", func() error { return decodeProvingKey(pk, data) }); err != nil {
		return nil, malformed("proving key", err)
	}
	return pk, nil
}

func decodeProvingKey(pk *groth16bn254.ProvingKey, data []byte) error {
	r := newReader(data)
	card, err := r.peekUint64()
	if err != nil {
		return err
	}
	if !isDomainSize(card) {
		return fmt.Errorf("%w: declared domain size %d", ErrDomainSize, card)
	}
	if uint64(r.remaining()) < (card-1)*g1Size {
		return fmt.Errorf("%d bytes cannot hold a key for a domain of %d", len(data), card)
	}
	if _, err := pk.Domain.ReadFrom(r.r); err != nil {
		return fmt.Errorf("domain: %w", err)
	}
	ref := fft.NewDomain(card, fft.WithoutPrecompute())
	if pk.Domain.Cardinality != ref.Cardinality || pk.Domain.CardinalityInv != ref.CardinalityInv ||
		pk.Domain.Generator != ref.Generator || pk.Domain.GeneratorInv != ref.GeneratorInv ||
		pk.Domain.FrMultiplicativeGen != ref.FrMultiplicativeGen || pk.Domain.FrMultiplicativeGenInv != ref.FrMultiplicativeGenInv {
		return errors.New("domain is not the standard domain of its size")
	}
	for _, v := range []any{&pk.G1.Alpha, &pk.G1.Beta, &pk.G1.Delta} {
		if err := r.dec.Decode(v); err != nil {
			return err
		}
	}
	for _, v := range []*[]curve.G1Affine{&pk.G1.A, &pk.G1.B, &pk.G1.Z, &pk.G1.K} {
		if err := r.slice(v, g1Size, math.MaxInt32); err != nil {
			return err
		}
	}
	for _, v := range []any{&pk.G2.Beta, &pk.G2.Delta} {
		if err := r.dec.Decode(v); err != nil {
			return err
		}
	}
	if err := r.slice(&pk.G2.B, g2Size, math.MaxInt32); err != nil {
		return err
	}
	var nbWires uint64
	for _, v := range []*uint64{&nbWires, &pk.NbInfinityA, &pk.NbInfinityB} {
		if err := r.dec.Decode(v); err != nil {
			return err
		}
	}
	if nbWires > uint64(r.remaining())/2 {
		return fmt.Errorf("declared %d wires exceeds the input", nbWires)
	}
	pk.InfinityA = make([]bool, nbWires)
	pk.InfinityB = make([]bool, nbWires)
	for _, v := range []*[]bool{&pk.InfinityA, &pk.InfinityB} {
		if err := r.dec.Decode(v); err != nil {
			return err
		}
	}
	var nbCommitments uint32
	if err := r.dec.Decode(&nbCommitments); err != nil {
		return err
	}
	if nbCommitments > MaxCommitments {
		return fmt.Errorf("%d commitments > %d", nbCommitments, MaxCommitments)
	}
	pk.CommitmentKeys = make([]pedersen.ProvingKey, nbCommitments)
	for i := range pk.CommitmentKeys {
		ck := &pk.CommitmentKeys[i]
		if err := r.slice(&ck.Basis, g1Size, math.MaxInt32); err != nil {
			return fmt.Errorf("commitment key %d: %w", i, err)
		}
		if err := r.slice(&ck.BasisExpSigma, g1Size, math.MaxInt32); err != nil {
			return fmt.Errorf("commitment key %d: %w", i, err)
		}
		if len(ck.Basis) != len(ck.BasisExpSigma) {
			return fmt.Errorf("commitment key %d: basis lengths differ", i)
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	if err := checkProvingKeyShape(pk, nbWires); err != nil {
		return err
	}
	return canonical(pk, data)
}

// checkProvingKeyShape checks the consistency gnark's prover relies on.
func checkProvingKeyShape(pk *groth16bn254.ProvingKey, nbWires uint64) error {
	count := func(b []bool) (n uint64) {
		for _, x := range b {
			if x {
				n++
			}
		}
		return n
	}
	switch {
	case count(pk.InfinityA) != pk.NbInfinityA || count(pk.InfinityB) != pk.NbInfinityB:
		return errors.New("infinity counts do not match the infinity flags")
	case uint64(len(pk.G1.A)) != nbWires-pk.NbInfinityA || uint64(len(pk.G1.B)) != nbWires-pk.NbInfinityB:
		return errors.New("A or B does not have one point per wire that is not at infinity")
	case len(pk.G2.B) != len(pk.G1.B):
		return errors.New("[B]₂ and [B]₁ differ in length")
	case uint64(len(pk.G1.Z)) != pk.Domain.Cardinality-1:
		return errors.New("Z does not have N−1 points")
	}
	return nil
}

// MarshalVerifyingKey encodes a BN254 verifying key with gnark's WriteTo
// (compressed points).
func MarshalVerifyingKey(vk groth16.VerifyingKey) ([]byte, error) {
	k, ok := vk.(*groth16bn254.VerifyingKey)
	if !ok || k == nil {
		return nil, fmt.Errorf("setup: verifying key: %w: %T is not a BN254 verifying key", ErrUnsupportedCircuit, vk)
	}
	b, err := encode(k)
	if err != nil {
		return nil, fmt.Errorf("setup: verifying key: %w", err)
	}
	return b, nil
}

// UnmarshalVerifyingKey decodes a verifying key written by
// MarshalVerifyingKey: at most MaxVerifyingKeySize bytes; every declared
// length checked against the bytes that follow it before allocation; points
// decoded with gnark-crypto's on-curve and subgroup checks; the commitment
// structure checked so that gnark's Verify cannot index out of range (one
// commitment key per commitment, each committed public index within the
// public inputs and earlier commitments); only the canonical encoding
// accepted. A panic in gnark's decoder is returned as ErrMalformed.
func UnmarshalVerifyingKey(data []byte) (groth16.VerifyingKey, error) {
	if len(data) > MaxVerifyingKeySize {
		return nil, fmt.Errorf("setup: verifying key: %w: %d bytes > %d", ErrMalformed, len(data), MaxVerifyingKeySize)
	}
	vk := new(groth16bn254.VerifyingKey)
	if err := contain("verifying key: decode", func() error { return decodeVerifyingKey(vk, data) }); err != nil {
		return nil, malformed("verifying key", err)
	}
	return vk, nil
}

func decodeVerifyingKey(vk *groth16bn254.VerifyingKey, data []byte) error {
	r := newReader(data)
	for _, v := range []any{&vk.G1.Alpha, &vk.G1.Beta, &vk.G2.Beta, &vk.G2.Gamma, &vk.G1.Delta, &vk.G2.Delta} {
		if err := r.dec.Decode(v); err != nil {
			return err
		}
	}
	if err := r.slice(&vk.G1.K, g1Size, math.MaxInt32); err != nil {
		return fmt.Errorf("K: %w", err)
	}
	// PublicAndCommitmentCommitted: uint32 count, then per commitment a
	// uint32 count and that many uint64 indices.
	var nbCommitted uint32
	if err := r.dec.Decode(&nbCommitted); err != nil {
		return err
	}
	if nbCommitted > MaxCommitments {
		return fmt.Errorf("%d commitments > %d", nbCommitted, MaxCommitments)
	}
	committed := make([][]uint64, nbCommitted)
	for i := range committed {
		if err := r.slice(&committed[i], 8, math.MaxInt32); err != nil {
			return fmt.Errorf("commitment %d: %w", i, err)
		}
	}
	var nbKeys uint32
	if err := r.dec.Decode(&nbKeys); err != nil {
		return err
	}
	if nbKeys != nbCommitted {
		return fmt.Errorf("%d commitment keys for %d commitments", nbKeys, nbCommitted)
	}
	vk.CommitmentKeys = make([]pedersen.VerifyingKey, nbKeys)
	for i := range vk.CommitmentKeys {
		if err := r.dec.Decode(&vk.CommitmentKeys[i].G); err != nil {
			return err
		}
		if err := r.dec.Decode(&vk.CommitmentKeys[i].GSigmaNeg); err != nil {
			return err
		}
	}
	if err := r.end(); err != nil {
		return err
	}
	// gnark's Verify reads public input PublicAndCommitmentCommitted[i][j]−1
	// from the public inputs followed by the commitments before i.
	if len(vk.G1.K) < 1+len(committed) {
		return fmt.Errorf("K has %d points for %d commitments", len(vk.G1.K), len(committed))
	}
	nbPublic := uint64(len(vk.G1.K) - len(committed)) // including the constant wire
	vk.PublicAndCommitmentCommitted = make([][]int, len(committed))
	for i, c := range committed {
		vk.PublicAndCommitmentCommitted[i] = make([]int, len(c))
		for j, idx := range c {
			if idx < 1 || idx > nbPublic-1+uint64(i) {
				return fmt.Errorf("commitment %d commits to input %d, out of range", i, idx)
			}
			vk.PublicAndCommitmentCommitted[i][j] = int(idx)
		}
	}
	if err := vk.Precompute(); err != nil {
		return err
	}
	return canonical(vk, data)
}

// malformed wraps a decoding failure in ErrMalformed (once).
func malformed(what string, err error) error {
	if errors.Is(err, ErrMalformed) {
		return fmt.Errorf("setup: %s: %w", what, err)
	}
	return fmt.Errorf("setup: %s: %w: %w", what, ErrMalformed, err)
}
