package he

import (
	"fmt"
	"math/big"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// crtTable turns residues modulo pairwise coprime word-sized moduli into the
// integer they represent (Garner's mixed-radix reconstruction): word
// arithmetic for the digits, then one multiply-add per modulus on a big.Int.
type crtTable struct {
	moduli []uint64
	big    []*big.Int // moduli as big.Int
	inv    [][]uint64 // inv[i][j] = moduli[j]⁻¹ mod moduli[i], j < i
	prod   *big.Int   // product of the moduli
	half   *big.Int   // ⌊prod/2⌋
}

func newCRTTable(moduli []uint64) (*crtTable, error) {
	c := &crtTable{
		moduli: append([]uint64(nil), moduli...),
		big:    make([]*big.Int, len(moduli)),
		inv:    make([][]uint64, len(moduli)),
		prod:   big.NewInt(1),
	}
	for i, m := range moduli {
		c.big[i] = new(big.Int).SetUint64(m)
		c.prod.Mul(c.prod, c.big[i])
		c.inv[i] = make([]uint64, i)
		for j := 0; j < i; j++ {
			x := new(big.Int).ModInverse(new(big.Int).SetUint64(moduli[j]%m), c.big[i])
			if x == nil {
				return nil, fmt.Errorf("he: CRT moduli %d and %d are not coprime", moduli[j], m)
			}
			c.inv[i][j] = x.Uint64()
		}
	}
	c.half = new(big.Int).Rsh(c.prod, 1)
	return c, nil
}

// mulMod returns a·b mod m for a, b < m.
func mulMod(a, b, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	_, r := bits.Div64(hi, lo, m)
	return r
}

// set writes into out the integer in [0, prod) whose residue modulo
// moduli[i] is limbs[i][j]; digits is scratch of len(moduli).
func (c *crtTable) set(out *big.Int, limbs [][]uint64, j int, digits []uint64) {
	for i, m := range c.moduli {
		v := limbs[i][j]
		for k := 0; k < i; k++ {
			// v ← (v − digits[k]) · moduli[k]⁻¹ mod m
			d := digits[k] % m
			if v >= d {
				v -= d
			} else {
				v = v + m - d
			}
			v = mulMod(v, c.inv[i][k], m)
		}
		digits[i] = v
	}
	last := len(c.moduli) - 1
	out.SetUint64(digits[last])
	var w big.Int
	for i := last - 1; i >= 0; i-- {
		out.Mul(out, c.big[i])
		out.Add(out, w.SetUint64(digits[i]))
	}
}

// toInts returns the first n coefficients of p as integers in [0, prod), or
// centred in (−prod/2, prod/2] when centred is set.
func (c *crtTable) toInts(p ring.Poly, n int, centred bool) []*big.Int {
	out := make([]*big.Int, n)
	backing := make([]big.Int, n)
	digits := make([]uint64, len(c.moduli))
	for j := 0; j < n; j++ {
		x := &backing[j]
		c.set(x, p.Coeffs, j, digits)
		if centred && x.Cmp(c.half) > 0 {
			x.Sub(x, c.prod)
		}
		out[j] = x
	}
	return out
}

// setSigned writes x mod moduli[i] into limbs[i][j] for every modulus; x may
// be negative.
func setSigned(limbs [][]uint64, moduli []uint64, j int, x int64) {
	for i, m := range moduli {
		if x >= 0 {
			limbs[i][j] = uint64(x) % m
		} else {
			r := uint64(-x) % m
			if r != 0 {
				r = m - r
			}
			limbs[i][j] = r
		}
	}
}

// setBig writes x mod moduli[i] into limbs[i][j] for every modulus; x may be
// negative.
func setBig(limbs [][]uint64, moduli []*big.Int, j int, x *big.Int, tmp *big.Int) {
	for i, m := range moduli {
		limbs[i][j] = tmp.Mod(x, m).Uint64()
	}
}

// exactRing computes products of polynomials over the integers, without
// reduction modulo X^N+1 or Q: the negacyclic ring of degree 2N over
// auxiliary NTT primes whose product exceeds twice the largest coefficient
// the products can reach, so the centred CRT lift is the integer result.
type exactRing struct {
	n    int // degree of the operands
	ring *ring.Ring
	crt  *crtTable
}

// newExactRing builds the ring for products u·a with ‖u‖∞ ≤ 1, deg < n, and
// a with coefficients in [0, 2^aBits): every coefficient of the product is
// below n·2^aBits in absolute value.
func newExactRing(logN, aBits int) (*exactRing, error) {
	n := 1 << logN
	need := logN + aBits + 2 // bits of 2·(n·2^aBits) plus one
	const primeBits = 60
	count := (need + primeBits - 2) / (primeBits - 1) // each prime exceeds 2^(primeBits−1)
	g := ring.NewNTTFriendlyPrimesGenerator(primeBits, uint64(4*n))
	primes, err := g.NextDownstreamPrimes(count)
	if err != nil {
		return nil, fmt.Errorf("he: auxiliary primes: %w", err)
	}
	r, err := ring.NewRing(2*n, primes)
	if err != nil {
		return nil, fmt.Errorf("he: auxiliary ring: %w", err)
	}
	crt, err := newCRTTable(primes)
	if err != nil {
		return nil, err
	}
	if crt.prod.BitLen() < need {
		return nil, fmt.Errorf("he: auxiliary modulus has %d bits, need %d", crt.prod.BitLen(), need)
	}
	return &exactRing{n: n, ring: r, crt: crt}, nil
}

// prepare maps a (len n, coefficients in [0, 2^aBits)) into the auxiliary
// ring, in NTT and Montgomery form, ready for mulTernary.
func (e *exactRing) prepare(a []*big.Int) ring.Poly {
	p := e.ring.NewPoly()
	var tmp big.Int
	for j, x := range a {
		setBig(p.Coeffs, e.crt.big, j, x, &tmp)
	}
	e.ring.NTT(p, p)
	e.ring.MForm(p, p)
	return p
}

// mulTernary returns the 2n integer coefficients of u·a over Z[X], where a
// was prepared by prepare and u has len n with entries in {−1, 0, 1}.
func (e *exactRing) mulTernary(u []int64, a ring.Poly) []*big.Int {
	p := e.ring.NewPoly()
	for j, x := range u {
		setSigned(p.Coeffs, e.crt.moduli, j, x)
	}
	e.ring.NTT(p, p)
	e.ring.MulCoeffsMontgomery(p, a, p)
	e.ring.INTT(p, p)
	return e.crt.toInts(p, 2*e.n, true)
}
