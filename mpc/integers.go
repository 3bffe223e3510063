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

// ToSigned returns the coordinates of sum as centred integers: x for an
// element below r/2 and x − r above it, each required to be below bound
// in absolute value, with 1 ≤ bound ≤ r/2. Sums that carry noise (a
// negative z is added as r − |z|) are read this way. A coordinate at bound
// or beyond wraps ErrOutOfRange.
func ToSigned(sum []fr.Element, bound *big.Int) ([]*big.Int, error) {
	half := new(big.Int).Rsh(fr.Modulus(), 1)
	if bound == nil || bound.Sign() <= 0 || bound.Cmp(half) > 0 {
		return nil, fmt.Errorf("mpc: to signed integers: bound must be in [1, r/2]")
	}
	out := make([]*big.Int, len(sum))
	for i := range sum {
		x := sum[i].BigInt(new(big.Int))
		if x.Cmp(half) > 0 {
			x.Sub(x, fr.Modulus())
		}
		if x.CmpAbs(bound) >= 0 {
			return nil, fmt.Errorf("mpc: to signed integers: %w: coordinate %d is not below %v in absolute value", ErrOutOfRange, i, bound)
		}
		out[i] = x
	}
	return out, nil
}
