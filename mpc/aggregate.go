package mpc

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// Accumulate adds share into dst coordinate by coordinate (dst += share).
// Both must have the same length, else it returns ErrLengthMismatch and
// leaves dst unchanged.
func Accumulate(dst, share []fr.Element) error {
	if len(dst) != len(share) {
		return fmt.Errorf("mpc: accumulate: %w: %d and %d", ErrLengthMismatch, len(dst), len(share))
	}
	addInto(dst, share)
	return nil
}

// Reconstruct returns the coordinate-wise sum of shares, which must number at
// least two and all have the same non-zero length. Given one share (or one
// partial aggregate) from each of the k nodes it returns the secret (or the
// aggregate); given fewer it returns values that are uniformly random and
// meaningless, and nothing here can tell the difference: the caller must pass
// exactly one input per node.
func Reconstruct(shares ...[]fr.Element) ([]fr.Element, error) {
	if len(shares) < 2 {
		return nil, fmt.Errorf("mpc: reconstruct: %d shares, want at least 2", len(shares))
	}
	m := len(shares[0])
	if m == 0 {
		return nil, fmt.Errorf("mpc: reconstruct: %w: empty share", ErrLengthMismatch)
	}
	for j, s := range shares {
		if len(s) != m {
			return nil, fmt.Errorf("mpc: reconstruct: %w: share %d has length %d, share 0 has %d", ErrLengthMismatch, j, len(s), m)
		}
	}
	sum := make([]fr.Element, m)
	copy(sum, shares[0])
	for _, s := range shares[1:] {
		addInto(sum, s)
	}
	return sum, nil
}

// addInto sets dst = dst + src; the caller has checked the lengths match.
func addInto(dst, src []fr.Element) {
	v := fr.Vector(dst)
	v.Add(v, src)
}
