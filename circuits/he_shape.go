package circuits

import (
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"slices"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/schema"
)

// Limits on HE keys, as the circuit sees them.
const (
	MaxHEDegree    = 1 << 16 // largest ring degree N (about 800k constraints)
	MaxErrorBits   = 16      // largest ErrorBits: the error table has 2^b entries
	maxParamSetLen = 64
)

// HEKey is a dataset's collective BGV public key as the HE contribution
// circuit sees it: plain integers, no lattigo types. Its coefficients are
// constants of the circuit, so a dataset's circuit, and hence its Groth16
// keys, is tied to its collective key: rotating the key means a new setup.
type HEKey struct {
	ParamSet  string     // he parameter-set id, e.g. "bgv-n12-q109"
	N         int        // ring degree, a power of two
	Q         *big.Int   // ciphertext modulus
	Delta     *big.Int   // Δ = t⁻¹ mod Q, the plaintext scaling
	ErrorBits int        // b: every encryption error e lies in [−2^(b−1), 2^(b−1))
	PK0, PK1  []*big.Int // N coefficients each, in [0, Q)
}

// HEShape fixes everything the HE contribution circuit depends on: the
// record layout with each coordinate's largest value, the registry depth,
// the purposes width and the collective key. NewHEShape validates it and
// copies the key, so a shape never aliases its caller's slices.
type HEShape struct {
	Layout      schema.Layout
	CoordMax    []uint64 // CoordMax[i] is the largest value of record coordinate i (schema.Bounds)
	Depth       int      // registry Merkle depth
	PurposeBits int      // width of the purposes bitmask
	Key         HEKey
}

// NewHEShape returns the shape for schema s, a registry of the given depth
// and collective key key. It refuses, with an error wrapping ErrShape: a
// depth or purpose count out of range; an empty parameter-set id; N not a
// power of two, below the record length or above MaxHEDegree; Q < 2; Δ not
// in [1, Q); ErrorBits outside 1..MaxErrorBits or 2^(b−1) ≥ Q; public-key
// polynomials of another length or with a coefficient outside [0, Q); a
// schema whose quotient bound N + max CoordMax + 2 does not fit an int64;
// and keys too large for the soundness argument, 8·Q·N·(1 + max CoordMax) ≥ r
// (see the package doc: below it no coefficient of the checked relation
// wraps around the BN254 scalar field).
func NewHEShape(s *schema.Schema, depth int, key HEKey) (HEShape, error) {
	if s == nil {
		return HEShape{}, fmt.Errorf("%w: no schema", ErrShape)
	}
	if depth < 1 || depth > merkle.MaxDepth {
		return HEShape{}, fmt.Errorf("%w: registry depth %d, want 1..%d", ErrShape, depth, merkle.MaxDepth)
	}
	if len(s.Purposes) < 1 || len(s.Purposes) > 64 {
		return HEShape{}, fmt.Errorf("%w: %d purposes, want 1..64", ErrShape, len(s.Purposes))
	}
	l := s.Layout()
	b := s.Bounds()
	if err := checkHEKey(key, l.Len, b.MaxCoord); err != nil {
		return HEShape{}, err
	}
	return HEShape{
		Layout:      l,
		CoordMax:    b.CoordMax,
		Depth:       depth,
		PurposeBits: len(s.Purposes),
		Key:         key.clone(),
	}, nil
}

// validate re-checks a shape that may not come from NewHEShape (a zero
// value, or one edited since), so that compiling it fails with ErrShape
// rather than panicking.
func (sh HEShape) validate() error {
	if sh.Depth < 1 || sh.Depth > merkle.MaxDepth || sh.PurposeBits < 1 || sh.PurposeBits > 64 {
		return fmt.Errorf("%w: registry depth %d, %d purpose bits", ErrShape, sh.Depth, sh.PurposeBits)
	}
	if sh.Layout.Len < 1 || len(sh.CoordMax) != sh.Layout.Len {
		return fmt.Errorf("%w: %d coordinate bounds for a record of %d coordinates", ErrShape, len(sh.CoordMax), sh.Layout.Len)
	}
	return checkHEKey(sh.Key, sh.Layout.Len, slices.Max(sh.CoordMax))
}

// checkHEKey validates key for records of length recordLen whose largest
// coordinate is maxCoord.
func checkHEKey(key HEKey, recordLen int, maxCoord uint64) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: HE key %q: %s", ErrShape, key.ParamSet, fmt.Sprintf(format, args...))
	}
	if key.ParamSet == "" || len(key.ParamSet) > maxParamSetLen {
		return fmt.Errorf("%w: HE key: parameter-set id of %d bytes, want 1..%d", ErrShape, len(key.ParamSet), maxParamSetLen)
	}
	n := key.N
	if n < 1 || n > MaxHEDegree || n&(n-1) != 0 {
		return fail("ring degree %d is not a power of two in 1..%d", n, MaxHEDegree)
	}
	if n < recordLen {
		return fail("ring degree %d below the record length %d", n, recordLen)
	}
	if key.Q == nil || key.Q.Cmp(big.NewInt(2)) < 0 {
		return fail("modulus Q must be at least 2")
	}
	if key.Delta == nil || key.Delta.Sign() <= 0 || key.Delta.Cmp(key.Q) >= 0 {
		return fail("Δ must lie in [1, Q)")
	}
	if key.ErrorBits < 1 || key.ErrorBits > MaxErrorBits {
		return fail("error bits %d, want 1..%d", key.ErrorBits, MaxErrorBits)
	}
	if big.NewInt(1<<(key.ErrorBits-1)).Cmp(key.Q) >= 0 {
		return fail("error bound 2^%d is not below Q", key.ErrorBits-1)
	}
	for j, pk := range [][]*big.Int{key.PK0, key.PK1} {
		if len(pk) != n {
			return fail("PK%d has %d coefficients, want N = %d", j, len(pk), n)
		}
		for i, c := range pk {
			if c == nil || c.Sign() < 0 || c.Cmp(key.Q) >= 0 {
				return fail("PK%d coefficient %d not in [0, Q)", j, i)
			}
		}
	}
	// K0 coefficients reach N + max CoordMax + 2 and travel as int64.
	if sum, carry := bits.Add64(maxCoord, uint64(n)+2, 0); carry != 0 || sum > math.MaxInt64 {
		return fail("quotient bound N + %d + 2 does not fit an int64", maxCoord)
	}
	if err := HEFieldFits(key.Q, n, maxCoord); err != nil {
		return fail("%v", err)
	}
	return nil
}

// HEFieldFits reports whether the HE circuit of a ring of degree n and
// modulus q, over records whose largest coordinate is maxCoord, fits the
// BN254 scalar field: the relation it checks at a random point holds over
// the integers only when 8·Q·N·(1 + maxCoord) < r (docs/design.md §5.4).
// A parameter set that carries a schema's sums but fails this has no HE
// circuit for it; a node checks it before generating a key.
func HEFieldFits(q *big.Int, n int, maxCoord uint64) error {
	if q == nil || q.Sign() <= 0 || n < 1 {
		return fmt.Errorf("%w: modulus and degree must be positive", ErrShape)
	}
	bound := new(big.Int).Add(new(big.Int).SetUint64(maxCoord), big.NewInt(1))
	bound.Mul(bound, q).Mul(bound, big.NewInt(int64(n))).Lsh(bound, 3)
	if bound.Cmp(fr.Modulus()) >= 0 {
		return fmt.Errorf("%w: 8·Q·N·(1 + %d) has %d bits, not below the BN254 scalar field order", ErrShape, maxCoord, bound.BitLen())
	}
	return nil
}

// clone deep-copies the key.
func (k HEKey) clone() HEKey {
	c := k
	c.Q = new(big.Int).Set(k.Q)
	c.Delta = new(big.Int).Set(k.Delta)
	c.PK0 = cloneInts(k.PK0)
	c.PK1 = cloneInts(k.PK1)
	return c
}

func cloneInts(xs []*big.Int) []*big.Int {
	out := make([]*big.Int, len(xs))
	for i, x := range xs {
		out[i] = new(big.Int).Set(x)
	}
	return out
}

// NumPublic is the number of public inputs of the shape's circuit: the
// eight consent inputs, then the 2N ciphertext coefficients.
func (sh HEShape) NumPublic() int { return numConsentPublic + 2*sh.Key.N }

// quotientBound is B_i, the largest |K0_i| honest encryption produces:
// N + CoordMax[i] + 2 on the record's coordinates, N + 2 beyond them (and
// for every K1_i). NewHEShape checked that it fits an int64.
func (sh HEShape) quotientBound(i int) int64 {
	b := int64(sh.Key.N) + 2
	if i < len(sh.CoordMax) {
		b += int64(sh.CoordMax[i])
	}
	return b
}
