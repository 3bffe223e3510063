package circuits

import (
	"fmt"
	"math/big"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/frontend"

	"github.com/cohort-dev/cohort/circuits/merkle"
)

// HEWitness is everything a contributor knows when proving one record
// encrypted under a dataset's collective key: the consent part as for the
// MPC backend, the encoded record, and the encryption's witness with
// respect to the shape's key (PK0, PK1 in [0, Q), Δ in [1, Q)): U, E0, E1,
// K0, K1, R0, R1 with N coefficients each, and the ciphertext C0, C1 with N
// coefficients each in [0, Q), such that over Z[X]
//
//	C0 = U·PK0 + E0 + Δ·m + Q·K0 + (X^N+1)·R0
//	C1 = U·PK1 + E1 +       Q·K1 + (X^N+1)·R1
//
// Writing U·PK0 = L + X^N·H (L, H of degree < N), R0 = −H and
// K0 = (C0 − (L − H) − E0 − Δ·m)/Q coefficient-wise; likewise for the
// second component.
type HEWitness struct {
	Secret fr.Element  // identity secret s
	Root   fr.Element  // registry root the path leads to
	Path   merkle.Path // membership of H_id(s)
	Terms  Terms
	Record []uint64 // v, the encoded record

	U, E0, E1, K0, K1 []int64
	R0, R1            []*big.Int
	C0, C1            []*big.Int
}

// Public computes the consent part of the public inputs that the witness
// proves; it carries no share commitments. The full public vector appends
// the ciphertext: HEPublicVector(&p, w.C0, w.C1, N).
func (w *HEWitness) Public() PublicInputs {
	rt := RevocationTokenOf(w.Secret, w.Terms.Dataset, w.Terms.Epoch)
	return PublicInputs{
		Dataset:    w.Terms.Dataset,
		Epoch:      w.Terms.Epoch,
		Root:       w.Root,
		Nullifier:  NullifierOf(w.Secret, w.Terms.Dataset, w.Terms.Epoch),
		Purposes:   w.Terms.Purposes,
		Expiry:     w.Terms.Expiry,
		MinCohort:  w.Terms.MinCohort,
		Revocation: RevocationCommitmentOf(rt),
	}
}

// heFieldWitness is the private and ciphertext part of an assignment as
// field elements, so that tests can assign values no integer witness has.
type heFieldWitness struct {
	record                    []fr.Element
	u, e0, e1, k0, k1, r0, r1 []fr.Element
	c0, c1                    []fr.Element
}

// check refuses a witness whose sizes do not match the valid shape sh, a
// nil coefficient, or a ciphertext coefficient outside [0, Q).
func (w *HEWitness) check(sh HEShape) error {
	n := sh.Key.N
	if len(w.Record) != sh.Layout.Len {
		return fmt.Errorf("%w: record has %d coordinates, layout %d", ErrShape, len(w.Record), sh.Layout.Len)
	}
	if len(w.Path.Siblings) != sh.Depth {
		return fmt.Errorf("%w: membership path of depth %d, registry depth %d", ErrShape, len(w.Path.Siblings), sh.Depth)
	}
	for _, p := range []struct {
		name string
		len  int
	}{{"U", len(w.U)}, {"E0", len(w.E0)}, {"E1", len(w.E1)}, {"K0", len(w.K0)}, {"K1", len(w.K1)}} {
		if p.len != n {
			return fmt.Errorf("%w: %s has %d coefficients, want N = %d", ErrShape, p.name, p.len, n)
		}
	}
	for j, p := range [][]*big.Int{w.R0, w.R1} {
		if len(p) != n {
			return fmt.Errorf("%w: R%d has %d coefficients, want N = %d", ErrShape, j, len(p), n)
		}
		for i, x := range p {
			if x == nil {
				return fmt.Errorf("%w: R%d coefficient %d is nil", ErrShape, j, i)
			}
		}
	}
	for j, p := range [][]*big.Int{w.C0, w.C1} {
		if len(p) != n {
			return fmt.Errorf("%w: C%d has %d coefficients, want N = %d", ErrShape, j, len(p), n)
		}
		for i, x := range p {
			if x == nil || x.Sign() < 0 || x.Cmp(sh.Key.Q) >= 0 {
				return fmt.Errorf("%w: ciphertext coefficient C%d[%d] not in [0, Q)", ErrShape, j, i)
			}
		}
	}
	return nil
}

// Assignment is the full circuit assignment for w and the consent inputs
// p (the ciphertext inputs come from w). It fails with ErrShape on an
// invalid shape or a witness of other sizes, and on a ciphertext
// coefficient outside [0, Q); it does not check validity (the circuit
// does). Tests pass a p that differs from w.Public() to exercise the
// constraints.
func (w *HEWitness) Assignment(sh HEShape, p PublicInputs) (*HEContribution, error) {
	if err := sh.validate(); err != nil {
		return nil, err
	}
	if err := w.check(sh); err != nil {
		return nil, err
	}
	if len(p.ShareCommitments) != 0 {
		return nil, fmt.Errorf("%w: %d share commitments in HE public inputs", ErrShape, len(p.ShareCommitments))
	}
	return assignHE(sh, p, w.Secret, w.Path, w.fieldWitness()), nil
}

// fieldWitness converts the integers of w to field elements; w.check
// must have passed.
func (w *HEWitness) fieldWitness() *heFieldWitness {
	f := &heFieldWitness{
		record: make([]fr.Element, len(w.Record)),
		u:      smallElements(w.U), e0: smallElements(w.E0), e1: smallElements(w.E1),
		k0: smallElements(w.K0), k1: smallElements(w.K1),
		r0: bigElements(w.R0), r1: bigElements(w.R1),
		c0: bigElements(w.C0), c1: bigElements(w.C1),
	}
	for i, x := range w.Record {
		f.record[i].SetUint64(x)
	}
	return f
}

func smallElements(xs []int64) []fr.Element {
	out := make([]fr.Element, len(xs))
	for i, x := range xs {
		out[i].SetInt64(x)
	}
	return out
}

func bigElements(xs []*big.Int) []fr.Element {
	out := make([]fr.Element, len(xs))
	for i, x := range xs {
		out[i].SetBigInt(x) // reduced modulo r
	}
	return out
}

// assignHE fills a circuit of shape sh; every length must already match it.
// The lookup multiplicities are counted from the values: a value outside
// its table is not counted, and the lookup then fails in the circuit.
func assignHE(sh HEShape, p PublicInputs, secret fr.Element, path merkle.Path, f *heFieldWitness) *HEContribution {
	c := NewHEContribution(sh)
	c.Dataset, c.Epoch, c.Root, c.Nullifier = p.Dataset, p.Epoch, p.Root, p.Nullifier
	c.Purposes, c.Expiry, c.MinCohort, c.Revocation = p.Purposes, p.Expiry, p.MinCohort, p.Revocation
	c.Secret, c.Index = secret, path.Index
	for i := range c.Siblings {
		c.Siblings[i] = path.Siblings[i]
	}
	assign := func(dst []frontend.Variable, src []fr.Element) {
		for i := range dst {
			dst[i] = src[i]
		}
	}
	assign(c.Record, f.record)
	assign(c.C0, f.c0)
	assign(c.C1, f.c1)
	assign(c.U, f.u)
	assign(c.E0, f.e0)
	assign(c.E1, f.e1)
	assign(c.K0, f.k0)
	assign(c.K1, f.k1)
	assign(c.R0, f.r0)
	assign(c.R1, f.r1)
	l := sh.Layout.Len
	assign(c.TernaryCount, countIn(ternaryTable, f.u))
	assign(c.ErrorCount, countIn(sh.errorTable(), f.e0, f.e1))
	assign(c.QuotientCount, countIn(sh.quotientTable(), f.k0[l:], f.k1))
	return c
}

// countIn returns how many of the values equal each entry of table t.
func countIn(t interval, values ...[]fr.Element) []fr.Element {
	counts := make([]uint64, t.size)
	for _, vs := range values {
		for i := range vs {
			if x, ok := smallInt(&vs[i]); ok {
				if j, ok := t.index(x); ok {
					counts[j]++
				}
			}
		}
	}
	out := make([]fr.Element, t.size)
	for i, c := range counts {
		out[i].SetUint64(c)
	}
	return out
}

// smallInt returns the integer x with |x| < 2^62 that e represents, if any.
func smallInt(e *fr.Element) (int64, bool) {
	if e.IsUint64() && e.Uint64() < 1<<62 {
		return int64(e.Uint64()), true
	}
	var n fr.Element
	n.Neg(e)
	if n.IsUint64() && n.Uint64() < 1<<62 {
		return -int64(n.Uint64()), true
	}
	return 0, false
}
