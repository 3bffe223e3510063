package circuits

import (
	"fmt"
	"math/big"
	"math/bits"

	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/std/multicommit"
	"github.com/consensys/gnark/std/rangecheck"

	"github.com/cohort-dev/cohort/circuits/hash"
)

// HEContribution is the contribution circuit of the HE backend. It proves,
// for public consent terms and a public BGV ciphertext (C0, C1), knowledge
// of a registry member's secret, of a valid record v, and of integer
// polynomials U, E0, E1, K0, K1, R0, R1 such that over Z[X]
//
//	C0 = U·PK0 + E0 + Δ·m + Q·K0 + (X^N+1)·R0
//	C1 = U·PK1 + E1 +       Q·K1 + (X^N+1)·R1
//
// with m the polynomial whose first len(v) coefficients are v, U ternary,
// every E coefficient in [−2^(b−1), 2^(b−1)) and every K coefficient within
// the bound honest encryption produces; the collective key (PK0, PK1, Q, Δ)
// is a constant of the circuit. See the package doc for the argument.
//
// The public inputs, in this order, are Dataset, Epoch, Root, Nullifier,
// Purposes, Expiry, MinCohort, Revocation, C0[0..N) and C1[0..N) (see
// [HEPublicVector]).
type HEContribution struct {
	shape HEShape

	Dataset    frontend.Variable   `gnark:",public"`
	Epoch      frontend.Variable   `gnark:",public"`
	Root       frontend.Variable   `gnark:",public"`
	Nullifier  frontend.Variable   `gnark:",public"`
	Purposes   frontend.Variable   `gnark:",public"`
	Expiry     frontend.Variable   `gnark:",public"`
	MinCohort  frontend.Variable   `gnark:",public"`
	Revocation frontend.Variable   `gnark:",public"`
	C0         []frontend.Variable `gnark:",public"`
	C1         []frontend.Variable `gnark:",public"`

	Secret   frontend.Variable
	Index    frontend.Variable
	Siblings []frontend.Variable
	Record   []frontend.Variable // v, the first len(v) coefficients of m

	U, E0, E1, K0, K1, R0, R1 []frontend.Variable // N coefficients each

	// Multiplicities of the lookup tables: how many times each entry of
	// the ternary table (U), the error table (E0, E1) and the quotient
	// table (K0 beyond the record, K1) is queried. Any other values make
	// the lookup argument fail.
	TernaryCount, ErrorCount, QuotientCount []frontend.Variable
}

// The lookup tables are integer intervals [lo, lo+size).
type interval struct {
	lo   int64
	size int
}

func (t interval) index(x int64) (int, bool) {
	if x < t.lo || x-t.lo >= int64(t.size) {
		return 0, false
	}
	return int(x - t.lo), true
}

// ternaryTable holds U's coefficients.
var ternaryTable = interval{lo: -1, size: 3}

// errorTable is [−2^(b−1), 2^(b−1)): one b-bit range check of e + 2^(b−1).
// It is empty for an invalid ErrorBits (which compiling refuses).
func (sh HEShape) errorTable() interval {
	b := sh.Key.ErrorBits
	if b < 1 || b > MaxErrorBits {
		return interval{}
	}
	return interval{lo: -(int64(1) << (b - 1)), size: 1 << b}
}

// quotientTable is [−(N+2), N+2], the exact range of K1 and of K0 beyond
// the record's coordinates.
func (sh HEShape) quotientTable() interval {
	n := sh.degree()
	return interval{lo: -(int64(n) + 2), size: 2*n + 5}
}

// degree is N, or 0 when N is out of range (which compiling refuses).
func (sh HEShape) degree() int {
	if sh.Key.N < 1 || sh.Key.N > MaxHEDegree {
		return 0
	}
	return sh.Key.N
}

// NewHEContribution returns an empty circuit of the given shape, for
// compiling. Compiling refuses, with ErrShape, a shape that NewHEShape would.
func NewHEContribution(sh HEShape) *HEContribution {
	n := sh.degree()
	polys := func() []frontend.Variable { return make([]frontend.Variable, n) }
	return &HEContribution{
		shape:         sh,
		C0:            polys(),
		C1:            polys(),
		Siblings:      make([]frontend.Variable, max(sh.Depth, 0)),
		Record:        make([]frontend.Variable, max(sh.Layout.Len, 0)),
		U:             polys(),
		E0:            polys(),
		E1:            polys(),
		K0:            polys(),
		K1:            polys(),
		R0:            polys(),
		R1:            polys(),
		TernaryCount:  make([]frontend.Variable, ternaryTable.size),
		ErrorCount:    make([]frontend.Variable, sh.errorTable().size),
		QuotientCount: make([]frontend.Variable, sh.quotientTable().size),
	}
}

// Define implements frontend.Circuit.
func (c *HEContribution) Define(api frontend.API) error {
	sh := c.shape
	if err := sh.validate(); err != nil {
		return err
	}
	n, l := sh.Key.N, sh.Layout.Len
	for _, p := range [][]frontend.Variable{c.C0, c.C1, c.U, c.E0, c.E1, c.K0, c.K1, c.R0, c.R1} {
		if len(p) != n {
			return fmt.Errorf("%w: circuit polynomials do not match the shape", ErrShape)
		}
	}
	if len(c.Record) != l || len(c.Siblings) != sh.Depth || len(c.TernaryCount) != ternaryTable.size ||
		len(c.ErrorCount) != sh.errorTable().size || len(c.QuotientCount) != sh.quotientTable().size {
		return fmt.Errorf("%w: circuit vectors do not match the shape", ErrShape)
	}
	h, err := hash.NewHasher(api)
	if err != nil {
		return err
	}
	// The range checker must exist before the first multicommit use: its
	// deferred commit adds a callback to the multicommitter, which must
	// still be open then (deferred functions run in order).
	rc := rangecheck.New(api)

	cons := consent{
		Dataset: c.Dataset, Epoch: c.Epoch, Root: c.Root, Nullifier: c.Nullifier,
		Purposes: c.Purposes, Expiry: c.Expiry, MinCohort: c.MinCohort, Revocation: c.Revocation,
		Secret: c.Secret, Index: c.Index, Siblings: c.Siblings,
	}
	cons.define(api, h, rc, sh.PurposeBits)
	assertValid(api, rc, sh.Layout, c.Record)

	assertInTable(api, ternaryTable, c.U, c.TernaryCount)
	assertInTable(api, sh.errorTable(), concat(c.E0, c.E1), c.ErrorCount)
	assertInTable(api, sh.quotientTable(), concat(c.K0[l:], c.K1), c.QuotientCount)
	for i := range l {
		// |K0_i| ≤ B_i: K0_i + B_i and B_i − K0_i both fit bits(2·B_i).
		b := sh.quotientBound(i)
		w := bits.Len64(2 * uint64(b))
		rc.Check(api.Add(c.K0[i], b), w)
		rc.Check(api.Sub(b, c.K0[i]), w)
	}

	committed := concat(c.U, c.E0, c.E1, c.K0, c.K1, c.R0, c.R1, c.Record, c.C0, c.C1)
	multicommit.WithCommitment(api, func(api frontend.API, gamma frontend.Variable) error {
		c.assertEncryption(api, gamma)
		return nil
	}, committed...)
	return nil
}

// assertEncryption checks the two ring relations at gamma:
//
//	W0(γ) = U(γ)·PK0(γ) + (γ^N+1)·R0(γ),  W0 = C0 − E0 − Q·K0 − Δ·m
//	W1(γ) = U(γ)·PK1(γ) + (γ^N+1)·R1(γ),  W1 = C1 − E1 − Q·K1
//
// W0 and W1 are coefficient-wise linear in the witness, so each costs one
// evaluation like any other witness polynomial.
func (c *HEContribution) assertEncryption(api frontend.API, gamma frontend.Variable) {
	sh := c.shape
	n := sh.Key.N
	w0 := make([]frontend.Variable, n)
	w1 := make([]frontend.Variable, n)
	for i := range n {
		w0[i] = api.Sub(c.C0[i], c.E0[i], api.Mul(c.K0[i], sh.Key.Q))
		if i < len(c.Record) {
			w0[i] = api.Sub(w0[i], api.Mul(c.Record[i], sh.Key.Delta))
		}
		w1[i] = api.Sub(c.C1[i], c.E1[i], api.Mul(c.K1[i], sh.Key.Q))
	}
	x := newPowers(api, gamma, n)
	u := x.variable(c.U)
	xn1 := api.Add(x.top, 1) // γ^N + 1
	api.AssertIsEqual(x.variable(w0), api.Add(api.Mul(u, x.constant(sh.Key.PK0)), api.Mul(xn1, x.variable(c.R0))))
	api.AssertIsEqual(x.variable(w1), api.Add(api.Mul(u, x.constant(sh.Key.PK1)), api.Mul(xn1, x.variable(c.R1))))
}

// powers evaluates polynomials of n coefficients at γ by baby and giant
// steps: with n = s·g, P(γ) = Σ_k γ^(s·k)·Σ_j P_(s·k+j)·γ^j. Only the s baby
// and g giant powers are computed; a constant polynomial then costs g−1
// constraints (one per giant step) and a witness polynomial n−1 (one per
// coefficient beyond the first).
type powers struct {
	api   frontend.API
	baby  []frontend.Variable // γ^0 … γ^(s−1)
	giant []frontend.Variable // γ^0, γ^s, …, γ^(s·(g−1))
	top   frontend.Variable   // γ^n
}

// babySteps returns the s, a power of two dividing n, that minimises the
// constraints of the powers and the giant steps of the seven evaluations,
// about s + 8·n/s.
func babySteps(n int) int {
	best, cost := 1, n*8
	for s := 2; s <= n; s *= 2 {
		if c := s + 8*n/s; c < cost {
			best, cost = s, c
		}
	}
	return best
}

func newPowers(api frontend.API, gamma frontend.Variable, n int) *powers {
	s := babySteps(n)
	p := &powers{api: api, baby: make([]frontend.Variable, s), giant: make([]frontend.Variable, n/s)}
	p.baby[0] = 1
	for j := 1; j < s; j++ {
		if j == 1 {
			p.baby[j] = gamma
		} else {
			p.baby[j] = api.Mul(p.baby[j-1], gamma)
		}
	}
	step := gamma // γ^s
	if s > 1 {
		step = api.Mul(p.baby[s-1], gamma)
	}
	p.giant[0] = 1
	for k := 1; k < len(p.giant); k++ {
		if k == 1 {
			p.giant[k] = step
		} else {
			p.giant[k] = api.Mul(p.giant[k-1], step)
		}
	}
	if len(p.giant) == 1 {
		p.top = step
	} else {
		p.top = api.Mul(p.giant[len(p.giant)-1], step)
	}
	return p
}

// variable returns Σ_i coeffs[i]·γ^i for coefficients that are linear
// expressions of the witness.
func (p *powers) variable(coeffs []frontend.Variable) frontend.Variable {
	api, s := p.api, len(p.baby)
	outer := make([]frontend.Variable, len(p.giant))
	inner := make([]frontend.Variable, s)
	for k := range p.giant {
		inner[0] = coeffs[k*s]
		for j := 1; j < s; j++ {
			inner[j] = api.Mul(coeffs[k*s+j], p.baby[j])
		}
		outer[k] = api.Mul(sum(api, inner), p.giant[k])
	}
	return sum(api, outer)
}

// constant returns Σ_i coeffs[i]·γ^i for constant coefficients: each inner
// sum is a free linear combination of the baby steps.
func (p *powers) constant(coeffs []*big.Int) frontend.Variable {
	api, s := p.api, len(p.baby)
	outer := make([]frontend.Variable, len(p.giant))
	inner := make([]frontend.Variable, s)
	for k := range p.giant {
		for j := range s {
			inner[j] = api.Mul(p.baby[j], coeffs[k*s+j])
		}
		outer[k] = api.Mul(sum(api, inner), p.giant[k])
	}
	return sum(api, outer)
}

// assertInTable constrains every query to be an integer in the interval
// t, by a log-derivative lookup argument: for α drawn from the commitment
// to the queries and to the claimed multiplicities counts (one per table
// entry),
//
//	Σ_q 1/(α − q) = Σ_x counts_x/(α − x).
//
// If a query q lies outside the table, the left side has a pole at q that
// the right side lacks (fewer than r queries), so the identity fails at all
// but |queries| + |table| values of α. One constraint per query and per
// table entry, plus one.
func assertInTable(api frontend.API, t interval, queries, counts []frontend.Variable) {
	multicommit.WithCommitment(api, func(api frontend.API, alpha frontend.Variable) error {
		left := make([]frontend.Variable, len(queries))
		for i, q := range queries {
			left[i] = api.Inverse(api.Sub(alpha, q))
		}
		right := make([]frontend.Variable, len(counts))
		for i, m := range counts {
			right[i] = api.DivUnchecked(m, api.Sub(alpha, t.lo+int64(i)))
		}
		api.AssertIsEqual(sum(api, left), sum(api, right))
		return nil
	}, concat(queries, counts)...)
}

// sum adds xs in one linear expression.
func sum(api frontend.API, xs []frontend.Variable) frontend.Variable {
	switch len(xs) {
	case 0:
		return 0
	case 1:
		return xs[0]
	}
	return api.Add(xs[0], xs[1], xs[2:]...)
}

func concat(xs ...[]frontend.Variable) []frontend.Variable {
	var n int
	for _, x := range xs {
		n += len(x)
	}
	out := make([]frontend.Variable, 0, n)
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

var _ frontend.Circuit = (*HEContribution)(nil)
