package mpc

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/hash"
)

// Commitment returns C_j = H(DST_SH, j, ρ_j, share_j…): the Poseidon2 digest,
// in domain hash.ShareCommitment, of the node index, the blinding and the m
// values. It is the public input that binds the record's proof to this
// share; the circuit computes the same digest.
func (s Share) Commitment() fr.Element {
	xs := make([]fr.Element, 0, 2+len(s.Values))
	xs = append(xs, fr.NewElement(uint64(s.Node)), s.Blind)
	xs = append(xs, s.Values...)
	c := hash.Sum(hash.ShareCommitment, xs...)
	clear(xs)
	return c
}

// CheckCommitment returns nil if s's commitment is c, else an error wrapping
// ErrCommitment. A node calls it on every share it opens, with the C_j from
// the verified proof's public inputs.
func (s Share) CheckCommitment(c fr.Element) error {
	got := s.Commitment()
	if !got.Equal(&c) {
		return fmt.Errorf("mpc: share of node %d: %w", s.Node, ErrCommitment)
	}
	return nil
}
