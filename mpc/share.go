package mpc

import (
	"fmt"
	"io"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// A Share is node Node's additive share of one record vector, with the
// blinding ρ that makes its commitment hiding. Both Blind and Values are
// secret: they are only ever sent sealed to node Node (see SealShare).
//
// A Share is plain data; it is safe for concurrent reads.
type Share struct {
	// Node is the 0-based index j of the node the share belongs to.
	Node int
	// Blind is ρ_j, uniformly random in Fr.
	Blind fr.Element
	// Values are the m coordinates of the share.
	Values []fr.Element
}

// Split splits the record vector v into k additive shares over Fr: shares
// 0 … k−2 are uniformly random and share k−1 is v minus their sum, so that
// the k shares sum to v and any k−1 of them are jointly uniform, independent
// of v. Every share also gets a fresh uniformly random blinding.
//
// k must be in [2, MaxNodes] and len(v) in [1, MaxLen]. rnd is the source of
// randomness; nil means crypto/rand.Reader. Production code must pass nil or
// crypto/rand.Reader: anyone who can predict rnd can recover v.
func Split(v []uint64, k int, rnd io.Reader) ([]Share, error) {
	if k < 2 || k > MaxNodes {
		return nil, fmt.Errorf("mpc: split: %d nodes, want 2 to %d", k, MaxNodes)
	}
	m := len(v)
	if !checkLen(m) {
		return nil, fmt.Errorf("mpc: split: vector length %d, want 1 to %d", m, MaxLen)
	}
	s := newSampler(rnd)
	shares := make([]Share, k)
	last := make([]fr.Element, m)
	for i, x := range v {
		last[i].SetUint64(x)
	}
	for j := range k - 1 {
		vals := make([]fr.Element, m)
		shares[j] = Share{Node: j, Values: vals}
		if err := s.fill(vals); err != nil {
			wipeShares(shares)
			clear(last)
			return nil, fmt.Errorf("mpc: split: %w", err)
		}
		l := fr.Vector(last)
		l.Sub(l, vals)
	}
	shares[k-1] = Share{Node: k - 1, Values: last}
	for j := range shares {
		b, err := s.element()
		if err != nil {
			wipeShares(shares)
			return nil, fmt.Errorf("mpc: split: %w", err)
		}
		shares[j].Blind = b
	}
	return shares, nil
}

// wipeShares overwrites the secret contents of shares.
func wipeShares(shares []Share) {
	for j := range shares {
		clear(shares[j].Values)
		shares[j].Blind.SetZero()
	}
}
