package schema

import (
	"fmt"
	"math/big"
	"math/bits"
)

// Bounds gives the largest value of each coordinate of an encoded vector.
type Bounds struct {
	CoordMax     []uint64 // CoordMax[i] is the largest value of coordinate i
	MaxCoord     uint64   // the largest of CoordMax
	MaxCoordBits int      // bits.Len64(MaxCoord)
}

// Bounds returns the coordinate bounds of s: 1 for the constant and for
// category indicators, Span for a value, Span_a·Span_b for a product.
func (s *Schema) Bounds() Bounds {
	l := s.Layout()
	b := Bounds{CoordMax: make([]uint64, l.Len)}
	b.CoordMax[0] = 1
	for _, vc := range l.Values {
		b.CoordMax[vc.Index] = vc.Span
	}
	for _, c := range l.Categories {
		for k := range c.Values {
			b.CoordMax[c.Start+k] = 1
		}
	}
	for _, p := range l.Products {
		b.CoordMax[p.Index] = p.Max
	}
	for _, m := range b.CoordMax {
		b.MaxCoord = max(b.MaxCoord, m)
	}
	b.MaxCoordBits = bits.Len64(b.MaxCoord)
	return b
}

// SumBits returns the number of bits of the largest possible coordinate sum
// over maxCohort records, maxCohort·MaxCoord.
func (b Bounds) SumBits(maxCohort uint64) int {
	hi, lo := bits.Mul64(maxCohort, b.MaxCoord)
	if hi != 0 {
		return 64 + bits.Len64(hi)
	}
	return bits.Len64(lo)
}

// CheckFits checks that every coordinate sum over up to maxCohort records
// can be recovered exactly, and as a signed value, from its residue modulo
// modulus (the BGV plaintext modulus t for HE, the BN254 scalar field order
// r for MPC): it refuses, with an error wrapping ErrDoesNotFit, when
// maxCohort·MaxCoord ≥ modulus/2. maxCohort must be at least 1 and modulus
// at least 2.
func (s *Schema) CheckFits(maxCohort uint64, modulus *big.Int) error {
	if maxCohort == 0 {
		return fmt.Errorf("schema: dataset %q: max cohort must be at least 1", s.ID)
	}
	if modulus == nil || modulus.Cmp(big.NewInt(2)) < 0 {
		return fmt.Errorf("schema: dataset %q: modulus must be at least 2", s.ID)
	}
	b := s.Bounds()
	largest := new(big.Int).Mul(new(big.Int).SetUint64(maxCohort), new(big.Int).SetUint64(b.MaxCoord))
	if new(big.Int).Lsh(largest, 1).Cmp(modulus) >= 0 { // largest ≥ modulus/2, exactly
		worst := 0
		for i, m := range b.CoordMax {
			if m == b.MaxCoord {
				worst = i
				break
			}
		}
		return fmt.Errorf("schema: dataset %q: %w: %d records × largest coordinate %d (%q) = %s (%d bits) is not below modulus/2 (modulus has %d bits); lower max_cohort or narrow the field ranges",
			s.ID, ErrDoesNotFit, maxCohort, b.MaxCoord, s.Layout().Name(worst), largest, largest.BitLen(), modulus.BitLen())
	}
	return nil
}
