package mpc

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
)

// Commitment returns C_j = H(DST_SH, j, ρ_j, share_j…) over the node index,
// the blinding and the m values (circuits.ShareCommitment). It is the public input that binds the record's proof to this
// share; the circuit computes the same digest.
func (s Share) Commitment() fr.Element {
	return circuits.ShareCommitment(s.Node, s.Blind, s.Values)
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
