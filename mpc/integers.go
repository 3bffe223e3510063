package mpc

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// Reconstructed sums are elements of Fr. A sum of non-negative integer
// coordinates is the integer itself only while it stays below r; the dataset's
// bounds guarantee it stays far below. These helpers map sums back to
// integers and refuse any value at or above the bound the caller states, so a
// sum that wrapped around r (or a wrong reconstruction, which looks uniformly
// random) is an error rather than a huge number.

// ToUint64 returns the coordinates of sum as integers, each required to be
// below bound (bound ≥ 1). A coordinate ≥ bound wraps ErrOutOfRange.
func ToUint64(sum []fr.Element, bound uint64) ([]uint64, error) {
	if bound == 0 {
		return nil, fmt.Errorf("mpc: to integers: bound must be positive")
	}
	out := make([]uint64, len(sum))
	for i := range sum {
		if !sum[i].IsUint64() || sum[i].Uint64() >= bound {
			return nil, fmt.Errorf("mpc: to integers: %w: coordinate %d is not below %d", ErrOutOfRange, i, bound)
		}
		out[i] = sum[i].Uint64()
	}
	return out, nil
}

// ToBig returns the coordinates of sum as integers, each required to be below
// bound, with 1 ≤ bound ≤ r. A coordinate ≥ bound wraps ErrOutOfRange.
func ToBig(sum []fr.Element, bound *big.Int) ([]*big.Int, error) {
	if bound == nil || bound.Sign() <= 0 || bound.Cmp(fr.Modulus()) > 0 {
		return nil, fmt.Errorf("mpc: to integers: bound must be in [1, r]")
	}
	out := make([]*big.Int, len(sum))
	for i := range sum {
		x := sum[i].BigInt(new(big.Int))
		if x.Cmp(bound) >= 0 {
			return nil, fmt.Errorf("mpc: to integers: %w: coordinate %d is not below %v", ErrOutOfRange, i, bound)
		}
		out[i] = x
	}
	return out, nil
}
