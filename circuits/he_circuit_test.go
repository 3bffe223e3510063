package circuits

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/test"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/schema"
)

// Small shapes for the constraint tests: the default schema (25
// coordinates) in a ring of degree 64, registry depth 4.
const (
	heTestDegree = 64
	heTestDepth  = 4
)

// heFixture is one contribution: the integer witness it came from, the
// consent inputs and the field-valued assignment, so that tests can break
// exactly one relation at a time, either by re-encrypting with other
// integers or by assigning field elements no integer witness has.
type heFixture struct {
	sh    HEShape
	w     *HEWitness
	pub   PublicInputs
	f     *heFieldWitness
	tweak func(*HEContribution) // applied to the assignment last
}

func newHEFixture(sh HEShape, w *HEWitness) *heFixture {
	w = cloneHEWitness(w)
	return &heFixture{sh: sh, w: w, pub: w.Public(), f: w.fieldWitness()}
}

// reencrypt recomputes the ciphertext, K and R from the witness's record,
// U and errors, so that the ciphertext truly encrypts them.
func (x *heFixture) reencrypt() {
	x.w.setEncryption(heEncrypt(x.sh.Key, x.w.Record, x.w.U, x.w.E0, x.w.E1))
	x.f = x.w.fieldWitness()
}

func (x *heFixture) assignment() *HEContribution {
	a := assignHE(x.sh, x.pub, x.w.Secret, x.w.Path, x.f)
	if x.tweak != nil {
		x.tweak(a)
	}
	return a
}

func cloneHEWitness(w *HEWitness) *HEWitness {
	c := *w
	c.Path.Siblings = slices.Clone(w.Path.Siblings)
	c.Record = slices.Clone(w.Record)
	c.U, c.E0, c.E1, c.K0, c.K1 = slices.Clone(w.U), slices.Clone(w.E0), slices.Clone(w.E1), slices.Clone(w.K0), slices.Clone(w.K1)
	c.R0, c.R1, c.C0, c.C1 = cloneInts(w.R0), cloneInts(w.R1), cloneInts(w.C0), cloneInts(w.C1)
	return &c
}

// withValue returns a copy of record v of layout l with field set to x and
// the products recomputed.
func withValue(t testing.TB, l schema.Layout, v []uint64, field string, x uint64) []uint64 {
	v = slices.Clone(v)
	c := coord(t, l, field)
	v[c.Index] = x
	for _, p := range l.Products {
		v[p.Index] = v[p.A] * v[p.B]
	}
	return v
}

func addElement(e *fr.Element, x int64) {
	var d fr.Element
	d.SetInt64(x)
	e.Add(e, &d)
}

func bigElement(x *big.Int) fr.Element {
	var e fr.Element
	e.SetBigInt(x)
	return e
}

// shiftByQuotient sets k ← k + d/Q over Fr: then Q·k' = Q·k + d, so a
// change of d elsewhere in the relation is absorbed by a quotient that is
// no longer a small integer.
func shiftByQuotient(k *fr.Element, d *big.Int, q *big.Int) {
	var qe, de fr.Element
	qe.SetBigInt(q)
	de.SetBigInt(d)
	qe.Inverse(&qe)
	de.Mul(&de, &qe)
	k.Add(k, &de)
}

func countElement(v frontend.Variable, d int64) frontend.Variable {
	e := v.(fr.Element)
	addElement(&e, d)
	return e
}

type heTestBase struct {
	sh HEShape
	w  *HEWitness
}

// heBase is the small shape and an honest witness for it, built once;
// tests clone the witness before changing it.
var heBase = sync.OnceValue(func() heTestBase {
	rng := rand.New(rand.NewChaCha8([32]byte{'h', 'e'}))
	sh := heTestShape(nil, heTestDegree, heTestDepth, rng)
	return heTestBase{sh: sh, w: heTestWitness(nil, sh, heTestRecord(nil), rng)}
})

// TestHEContributionConstraints breaks each constraint of the circuit in
// turn, keeping every other relation intact where an attacker could, and
// checks the witness no longer solves; the untouched fixture must solve.
func TestHEContributionConstraints(t *testing.T) {
	base := heBase()
	sh := base.sh
	l := sh.Layout
	n := sh.Key.N
	q := sh.Key.Q
	field := ecc.BN254.ScalarField()
	half := int64(1) << (sh.Key.ErrorBits - 1)
	age := coord(t, l, "age")

	cases := []struct {
		name   string
		mutate func(x *heFixture)
	}{
		// the encryption's witness
		{"U coefficient 2, truly encrypted", func(x *heFixture) { x.w.U[3] = 2; x.reencrypt() }},
		{"U coefficient -2, truly encrypted", func(x *heFixture) { x.w.U[40] = -2; x.reencrypt() }},
		{"E0 at 2^(b-1), truly encrypted", func(x *heFixture) { x.w.E0[5] = half; x.reencrypt() }},
		{"E1 below -2^(b-1), truly encrypted", func(x *heFixture) { x.w.E1[n-1] = -half - 1; x.reencrypt() }},
		{"E0 in the record's span at 2^(b-1), truly encrypted", func(x *heFixture) { x.w.E0[1] = half; x.reencrypt() }},
		{"E0 shifted by Q, K0 compensating", func(x *heFixture) {
			x.f.e0[30].Add(&x.f.e0[30], new(fr.Element).SetBigInt(q))
			addElement(&x.f.k0[30], -1)
		}},
		{"E1 shifted by -Q, K1 compensating", func(x *heFixture) {
			x.f.e1[2].Sub(&x.f.e1[2], new(fr.Element).SetBigInt(q))
			addElement(&x.f.k1[2], 1)
		}},
		{"K0 beyond the record solved over Fr for another error", func(x *heFixture) {
			i := l.Len + 3
			d := int64(1)
			if x.w.E0[i] == half-1 {
				d = -1
			}
			addElement(&x.f.e0[i], d)
			shiftByQuotient(&x.f.k0[i], big.NewInt(-d), q)
		}},
		{"K1 solved over Fr for another error", func(x *heFixture) {
			d := int64(1)
			if x.w.E1[0] == half-1 {
				d = -1
			}
			addElement(&x.f.e1[0], d)
			shiftByQuotient(&x.f.k1[0], big.NewInt(-d), q)
		}},
		{"K0 on the record solved over Fr for another valid record", func(x *heFixture) {
			// The same ciphertext claimed to encrypt age+1: every changed
			// coordinate's Δ·(m_i − m'_i) is absorbed by K0_i over Fr.
			m := x.w.Record
			m2 := withValue(t, l, m, "age", m[age.Index]+1)
			for i := range m2 {
				if m2[i] == m[i] {
					continue
				}
				x.f.record[i].SetUint64(m2[i])
				d := new(big.Int).Sub(new(big.Int).SetUint64(m[i]), new(big.Int).SetUint64(m2[i]))
				shiftByQuotient(&x.f.k0[i], d.Mul(d, sh.Key.Delta), q)
			}
		}},
		{"R0 coefficient + 1", func(x *heFixture) { addElement(&x.f.r0[7], 1) }},
		{"R1 last coefficient + 1", func(x *heFixture) { addElement(&x.f.r1[n-1], 1) }},
		{"R0 and R1 shifted alike", func(x *heFixture) {
			for i := range n {
				addElement(&x.f.r0[i], 1)
				addElement(&x.f.r1[i], 1)
			}
		}},
		{"K0 + 1 on a coefficient", func(x *heFixture) { addElement(&x.f.k0[50], 1) }},
		{"K1 - 1 on a coefficient", func(x *heFixture) { addElement(&x.f.k1[10], -1) }},
		{"public C0 coefficient + 1", func(x *heFixture) { addElement(&x.f.c0[7], 1) }},
		{"public C1 coefficient + 1", func(x *heFixture) { addElement(&x.f.c1[n-1], 1) }},
		{"public C0 coefficient + Q", func(x *heFixture) {
			x.f.c0[0].Add(&x.f.c0[0], new(fr.Element).SetBigInt(q))
		}},
		{"ciphertext of another record", func(x *heFixture) {
			claimed := x.w.Record
			x.w.Record = withValue(t, l, claimed, "steps", 10000)
			x.reencrypt()
			for i, v := range claimed {
				x.f.record[i].SetUint64(v)
			}
		}},
		{"ciphertext under another key", func(x *heFixture) {
			other := heTestKey(n, rand.New(rand.NewChaCha8([32]byte{'o'})))
			x.w.setEncryption(heEncrypt(other, x.w.Record, x.w.U, x.w.E0, x.w.E1))
			x.f = x.w.fieldWitness()
		}},
		// the record, truly encrypted
		{"record above max, truly encrypted", func(x *heFixture) {
			x.w.Record = withValue(t, l, x.w.Record, "age", age.Span+1)
			x.reencrypt()
		}},
		{"record with a wrong product, truly encrypted", func(x *heFixture) {
			x.w.Record[l.Products[1].Index]++
			x.reencrypt()
		}},
		{"record with two categories, truly encrypted", func(x *heFixture) {
			x.w.Record[l.Categories[0].Start] = 1 - x.w.Record[l.Categories[0].Start]
			x.w.Record[l.Categories[0].Start+1] = 1
			x.reencrypt()
		}},
		{"record with leading coordinate 2, truly encrypted", func(x *heFixture) { x.w.Record[0] = 2; x.reencrypt() }},
		// dishonest lookup multiplicities
		{"error count moved between entries", func(x *heFixture) {
			x.tweak = func(a *HEContribution) {
				a.ErrorCount[0] = countElement(a.ErrorCount[0], -1)
				a.ErrorCount[1] = countElement(a.ErrorCount[1], 1)
			}
		}},
		{"ternary count inflated", func(x *heFixture) {
			x.tweak = func(a *HEContribution) { a.TernaryCount[2] = countElement(a.TernaryCount[2], 1) }
		}},
		{"quotient count moved between entries", func(x *heFixture) {
			x.tweak = func(a *HEContribution) {
				j := int(x.w.K1[0] - sh.quotientTable().lo)
				a.QuotientCount[j] = countElement(a.QuotientCount[j], -1)
				a.QuotientCount[0] = countElement(a.QuotientCount[0], 1)
			}
		}},
		// consent
		{"nullifier for another dataset", func(x *heFixture) {
			x.pub.Nullifier = NullifierOf(x.w.Secret, DatasetField("other"), x.pub.Epoch)
		}},
		{"public epoch changed", func(x *heFixture) { x.pub.Epoch++ }},
		{"wrong root", func(x *heFixture) { x.pub.Root = randElement(rand.New(rand.NewChaCha8([32]byte{'r'}))) }},
		{"wrong merkle sibling", func(x *heFixture) { x.w.Path.Siblings[1] = randElement(rand.New(rand.NewChaCha8([32]byte{'s'}))) }},
		{"secret not in registry", func(x *heFixture) {
			x.w.Secret = randElement(rand.New(rand.NewChaCha8([32]byte{'x'})))
			x.pub = x.w.Public()
		}},
		{"purposes beyond schema", func(x *heFixture) { x.pub.Purposes = 1 << len(schema.Default().Purposes) }},
		{"revocation commitment is the token", func(x *heFixture) {
			x.pub.Revocation = RevocationTokenOf(x.w.Secret, x.pub.Dataset, x.pub.Epoch)
		}},
	}

	if err := test.IsSolved(NewHEContribution(sh), newHEFixture(sh, base.w).assignment(), field); err != nil {
		t.Fatalf("valid fixture does not solve: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := newHEFixture(sh, base.w)
			tc.mutate(x)
			if err := test.IsSolved(NewHEContribution(sh), x.assignment(), field); err == nil {
				t.Fatal("broken witness solves")
			}
		})
	}
}

// lookupCircuit exercises assertInTable alone.
type lookupCircuit struct {
	table   interval
	Queries []frontend.Variable
	Counts  []frontend.Variable
}

func (c *lookupCircuit) Define(api frontend.API) error {
	assertInTable(api, c.table, c.Queries, c.Counts)
	return nil
}

// TestHELookupEdges checks the lookup argument at the edges of its table:
// both ends are members, one step beyond either end is not, whatever the
// multiplicities claim.
func TestHELookupEdges(t *testing.T) {
	table := interval{lo: -3, size: 7} // [−3, 3]
	assign := func(qs []int64, counts []int64) *lookupCircuit {
		c := &lookupCircuit{table: table}
		for _, q := range qs {
			c.Queries = append(c.Queries, q)
		}
		if counts == nil {
			counts = make([]int64, table.size)
			for _, q := range qs {
				if j, ok := table.index(q); ok {
					counts[j]++
				}
			}
		}
		for _, m := range counts {
			c.Counts = append(c.Counts, m)
		}
		return c
	}
	field := ecc.BN254.ScalarField()
	blank := func(nq int) *lookupCircuit {
		return &lookupCircuit{table: table, Queries: make([]frontend.Variable, nq), Counts: make([]frontend.Variable, table.size)}
	}
	for _, tc := range []struct {
		name    string
		queries []int64
		counts  []int64 // nil: honest
		ok      bool
	}{
		{"both ends and the middle", []int64{-3, 3, 0, 0}, nil, true},
		{"below the table", []int64{-4, 0, 1, 2}, nil, false},
		{"above the table", []int64{4, 0, 1, 2}, nil, false},
		{"above, counted at the top entry", []int64{4, 0, 1, 2}, []int64{0, 0, 0, 1, 1, 1, 1}, false},
		{"honest queries, counts shifted", []int64{-3, 3, 0, 0}, []int64{1, 0, 0, 1, 0, 0, 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := test.IsSolved(blank(len(tc.queries)), assign(tc.queries, tc.counts), field)
			if tc.ok && err != nil {
				t.Fatalf("valid lookup refused: %v", err)
			}
			if !tc.ok && err == nil {
				t.Fatal("invalid lookup accepted")
			}
		})
	}
}

// heKeys compiles the small test shape once and makes throwaway
// single-party keys (this tests proving and verification, not the ceremony).
var heKeys = sync.OnceValues(func() (*heKeyed, error) {
	base := heBase()
	sys, err := CompileHE(base.sh)
	if err != nil {
		return nil, err
	}
	pk, vk, err := groth16.Setup(sys.CCS)
	if err != nil {
		return nil, err
	}
	return &heKeyed{sys: sys, pk: pk, vk: vk}, nil
})

type heKeyed struct {
	sys *HESystem
	pk  groth16.ProvingKey
	vk  groth16.VerifyingKey
}

func mustHEKeys(t testing.TB) *heKeyed {
	t.Helper()
	k, err := heKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestHEProveVerify proves an honest witness with real Groth16 keys,
// carries proof and public inputs through their encodings, verifies, and
// checks that every public input changed by one, a proof for another
// ciphertext and invalid witnesses are refused.
func TestHEProveVerify(t *testing.T) {
	k := mustHEKeys(t)
	base := heBase()
	n := k.sys.Shape.Key.N
	proof, pub, err := k.sys.Prove(k.pk, base.w)
	if err != nil {
		t.Fatal(err)
	}
	if pub.ShareCommitments != nil || pub.Nullifier != base.w.Public().Nullifier {
		t.Fatal("Prove reports other public inputs than the witness implies")
	}
	v, err := NewVerifier(k.vk, k.sys.Shape.NumPublic())
	if err != nil {
		t.Fatal(err)
	}
	// The single BSB22 commitment, from which γ and the lookup challenges
	// derive, hashes every ciphertext coefficient (public inputs 9 … 8+2N,
	// counted from 1 after the constant wire).
	committed := k.vk.(*groth16bn254.VerifyingKey).PublicAndCommitmentCommitted
	if len(committed) != 1 {
		t.Fatalf("%d commitments, want 1", len(committed))
	}
	for i := numConsentPublic + 1; i <= numConsentPublic+2*n; i++ {
		if !slices.Contains(committed[0], i) {
			t.Fatalf("public input %d is not committed: the challenge does not bind the ciphertext", i)
		}
	}

	pb, err := proof.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var proof2 Proof
	if err := proof2.UnmarshalBinary(pb); err != nil {
		t.Fatal(err)
	}
	ib, err := pub.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var pub2 PublicInputs
	if err := pub2.UnmarshalBinary(ib); err != nil {
		t.Fatal(err)
	}
	vec, err := HEPublicVector(&pub2, base.w.C0, base.w.C1, n)
	if err != nil {
		t.Fatal(err)
	}
	good := Statement{Proof: &proof2, Public: vec}
	if err := v.Verify(good); err != nil {
		t.Fatalf("valid proof refused: %v", err)
	}

	batch := []Statement{good}
	for i := range good.Public {
		pubs := slices.Clone(good.Public)
		addElement(&pubs[i], 1)
		batch = append(batch, Statement{Proof: &proof2, Public: pubs})
	}
	// Another encryption of the same record by the same member: a valid
	// proof, but of another ciphertext.
	w2 := heTestWitness(t, k.sys.Shape, base.w.Record, rand.New(rand.NewChaCha8([32]byte{'2'})))
	other, _, err := k.sys.Prove(k.pk, w2)
	if err != nil {
		t.Fatal(err)
	}
	batch = append(batch, Statement{Proof: other, Public: good.Public})
	errs := v.VerifyBatch(batch)
	if errs[0] != nil {
		t.Fatalf("valid statement refused in batch: %v", errs[0])
	}
	for i, err := range errs[1:] {
		if !errors.Is(err, ErrInvalidProof) {
			t.Errorf("statement %d: got %v, want ErrInvalidProof", i+1, err)
		}
	}

	// Witnesses the real solver must refuse.
	l := k.sys.Shape.Layout
	for _, tc := range []struct {
		name   string
		mutate func(x *heFixture)
	}{
		{"record above max, truly encrypted", func(x *heFixture) {
			x.w.Record = withValue(t, l, x.w.Record, "steps", coord(t, l, "steps").Span+1)
			x.reencrypt()
		}},
		{"U coefficient 2, truly encrypted", func(x *heFixture) { x.w.U[0] = 2; x.reencrypt() }},
		{"E1 at 2^(b-1), truly encrypted", func(x *heFixture) { x.w.E1[9] = 32; x.reencrypt() }},
		{"C0 coefficient + 1", func(x *heFixture) { x.w.C0[3].Add(x.w.C0[3], big.NewInt(1)); x.w.C0[3].Mod(x.w.C0[3], x.sh.Key.Q) }},
		{"R1 coefficient - 1", func(x *heFixture) { x.w.R1[5].Sub(x.w.R1[5], big.NewInt(1)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHEFixture(k.sys.Shape, base.w)
			tc.mutate(x)
			if _, _, err := k.sys.Prove(k.pk, x.w); err == nil {
				t.Fatal("proved an invalid witness")
			}
		})
	}
}

// TestHEProveRefusesMisshapenWitness checks the size and range checks of
// HEWitness.Assignment.
func TestHEProveRefusesMisshapenWitness(t *testing.T) {
	base := heBase()
	sh := base.sh
	for _, tc := range []struct {
		name   string
		mutate func(w *HEWitness)
	}{
		{"short record", func(w *HEWitness) { w.Record = w.Record[1:] }},
		{"short U", func(w *HEWitness) { w.U = w.U[1:] }},
		{"long K1", func(w *HEWitness) { w.K1 = append(w.K1, 0) }},
		{"short R0", func(w *HEWitness) { w.R0 = w.R0[1:] }},
		{"nil R1 coefficient", func(w *HEWitness) { w.R1[2] = nil }},
		{"short C1", func(w *HEWitness) { w.C1 = w.C1[1:] }},
		{"C0 coefficient = Q", func(w *HEWitness) { w.C0[0] = new(big.Int).Set(sh.Key.Q) }},
		{"negative C1 coefficient", func(w *HEWitness) { w.C1[0] = big.NewInt(-1) }},
		{"nil C0 coefficient", func(w *HEWitness) { w.C0[1] = nil }},
		{"short membership path", func(w *HEWitness) { w.Path.Siblings = w.Path.Siblings[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := cloneHEWitness(base.w)
			tc.mutate(w)
			if _, err := w.Assignment(sh, w.Public()); !errors.Is(err, ErrShape) {
				t.Fatalf("got %v, want ErrShape", err)
			}
		})
	}
	w := cloneHEWitness(base.w)
	p := w.Public()
	p.ShareCommitments = make([]fr.Element, 3)
	if _, err := w.Assignment(sh, p); !errors.Is(err, ErrShape) {
		t.Fatalf("share commitments: got %v, want ErrShape", err)
	}
	if _, err := w.Assignment(HEShape{}, w.Public()); !errors.Is(err, ErrShape) {
		t.Fatalf("zero shape: got %v, want ErrShape", err)
	}
	var s HESystem
	if _, _, err := s.Prove(nil, w); err == nil {
		t.Fatal("proved without a proving key")
	}
}

// TestHEContributionDegree4096 compiles the circuit at the real ring
// degree and registry depth, checks that it fits a Groth16 domain of 2^16
// and that an honest witness solves while a changed ciphertext does not.
func TestHEContributionDegree4096(t *testing.T) {
	if testing.Short() {
		t.Skip("N = 4096 in the long tier")
	}
	rng := rand.New(rand.NewChaCha8([32]byte{4, 0, 9, 6}))
	sh := heTestShape(t, 4096, merkle.DefaultDepth, rng)
	sys, err := CompileHE(sh)
	if err != nil {
		t.Fatal(err)
	}
	nc := sys.CCS.GetNbConstraints()
	t.Logf("N = 4096, depth %d, default schema: %d constraints", merkle.DefaultDepth, nc)
	if nc >= 1<<16 {
		t.Fatalf("%d constraints: the Groth16 domain exceeds 2^16", nc)
	}
	w := heTestWitness(t, sh, heTestRecord(t), rng)
	x := newHEFixture(sh, w)
	field := ecc.BN254.ScalarField()
	if err := test.IsSolved(NewHEContribution(sh), x.assignment(), field); err != nil {
		t.Fatalf("honest witness does not solve: %v", err)
	}
	addElement(&x.f.c1[4095], 1)
	if err := test.IsSolved(NewHEContribution(sh), x.assignment(), field); err == nil {
		t.Fatal("changed ciphertext solves")
	}
}

// TestHEFieldFits checks the field bound of the HE circuit on every named
// parameter set with the demo schema's largest coordinate (steps², 60,000²):
// every set up to bgv-n13-q132 has a circuit for it and bgv-n13-q218 has
// none; and on both sides of the exact bound.
func TestHEFieldFits(t *testing.T) {
	maxCoord := schema.Default().Bounds().MaxCoord
	if maxCoord != 60_000*60_000 {
		t.Fatalf("the demo schema's largest coordinate is %d", maxCoord)
	}
	for _, id := range he.ParamSets() {
		p, err := he.Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		err = HEFieldFits(p.Q(), p.N(), maxCoord)
		if want := id != he.BGVN13Q218; (err == nil) != want {
			t.Errorf("%s: HEFieldFits = %v, want fits %v", id, err, want)
		}
		if err != nil && !errors.Is(err, ErrShape) {
			t.Errorf("%s: %v is not ErrShape", id, err)
		}
	}
	// The largest m with 8·Q·N·(1 + m) < r fits, m + 1 does not.
	q, n := new(big.Int).Lsh(big.NewInt(1), 200), 4096
	m := new(big.Int).Sub(fr.Modulus(), big.NewInt(1))
	m.Quo(m, new(big.Int).Lsh(new(big.Int).Mul(q, big.NewInt(int64(n))), 3)).Sub(m, big.NewInt(1))
	if !m.IsUint64() {
		t.Fatalf("bound %v", m)
	}
	if err := HEFieldFits(q, n, m.Uint64()); err != nil {
		t.Errorf("at the bound: %v", err)
	}
	if err := HEFieldFits(q, n, m.Uint64()+1); !errors.Is(err, ErrShape) {
		t.Errorf("above the bound: %v", err)
	}
	if err := HEFieldFits(nil, n, 1); !errors.Is(err, ErrShape) {
		t.Errorf("no modulus: %v", err)
	}
}

// TestNewHEShape checks the validation of keys and shapes, and that a shape
// does not alias its caller's key.
func TestNewHEShape(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'k'}))
	s := schema.Default()
	good := heTestKey(64, rng)
	if _, err := NewHEShape(s, heTestDepth, good); err != nil {
		t.Fatal(err)
	}
	big2 := func(x int64) *big.Int { return big.NewInt(x) }
	for _, tc := range []struct {
		name   string
		depth  int
		mutate func(k *HEKey)
	}{
		{"depth 0", 0, func(*HEKey) {}},
		{"depth beyond max", merkle.MaxDepth + 1, func(*HEKey) {}},
		{"no parameter set", heTestDepth, func(k *HEKey) { k.ParamSet = "" }},
		{"N not a power of two", heTestDepth, func(k *HEKey) { k.N = 48; k.PK0, k.PK1 = k.PK0[:48], k.PK1[:48] }},
		{"N below the record length", heTestDepth, func(k *HEKey) { k.N = 16; k.PK0, k.PK1 = k.PK0[:16], k.PK1[:16] }},
		{"N beyond max", heTestDepth, func(k *HEKey) { k.N = 2 * MaxHEDegree }},
		{"no Q", heTestDepth, func(k *HEKey) { k.Q = nil }},
		{"Q = 1", heTestDepth, func(k *HEKey) { k.Q = big2(1) }},
		{"Δ = 0", heTestDepth, func(k *HEKey) { k.Delta = big2(0) }},
		{"Δ = Q", heTestDepth, func(k *HEKey) { k.Delta = new(big.Int).Set(k.Q) }},
		{"no error bits", heTestDepth, func(k *HEKey) { k.ErrorBits = 0 }},
		{"too many error bits", heTestDepth, func(k *HEKey) { k.ErrorBits = MaxErrorBits + 1 }},
		{"short PK0", heTestDepth, func(k *HEKey) { k.PK0 = k.PK0[1:] }},
		{"PK1 coefficient = Q", heTestDepth, func(k *HEKey) { k.PK1[3] = new(big.Int).Set(k.Q) }},
		{"negative PK0 coefficient", heTestDepth, func(k *HEKey) { k.PK0[0] = big2(-1) }},
		{"nil PK1 coefficient", heTestDepth, func(k *HEKey) { k.PK1[0] = nil }},
		{"Q too large for the field", heTestDepth, func(k *HEKey) {
			k.Q = new(big.Int).Lsh(big.NewInt(1), 220)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := good
			k.PK0, k.PK1 = slices.Clone(good.PK0), slices.Clone(good.PK1)
			tc.mutate(&k)
			if _, err := NewHEShape(s, tc.depth, k); !errors.Is(err, ErrShape) {
				t.Fatalf("got %v, want ErrShape", err)
			}
		})
	}
	// A schema whose products reach 2^64 − 2^33 + 1 overflows the int64 quotients.
	wide, err := schema.Parse([]byte(`
id: wide
fields:
  - {name: x, type: int, min: 0, max: 4294967295}
moments: [x]
purposes: [p]
epoch: weekly
min_cohort: 5
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewHEShape(wide, heTestDepth, good); !errors.Is(err, ErrShape) {
		t.Fatalf("wide schema: got %v, want ErrShape", err)
	}

	k := good
	k.PK0 = slices.Clone(good.PK0)
	sh, err := NewHEShape(s, heTestDepth, k)
	if err != nil {
		t.Fatal(err)
	}
	k.PK0[0].Add(k.PK0[0], big.NewInt(1))
	if sh.Key.PK0[0].Cmp(k.PK0[0]) == 0 {
		t.Fatal("shape aliases the caller's key")
	}
	if got, want := sh.NumPublic(), 8+2*64; got != want {
		t.Fatalf("NumPublic = %d, want %d", got, want)
	}
}

func TestHEPublicVector(t *testing.T) {
	base := heBase()
	w := base.w
	n := base.sh.Key.N
	p := w.Public()
	v, err := HEPublicVector(&p, w.C0, w.C1, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != base.sh.NumPublic() {
		t.Fatalf("%d elements, want %d", len(v), base.sh.NumPublic())
	}
	if !slices.Equal(v[:8], p.Vector()) || v[8] != bigElement(w.C0[0]) || v[8+n] != bigElement(w.C1[0]) || v[7+2*n] != bigElement(w.C1[n-1]) {
		t.Fatal("vector not in circuit order")
	}
	withShares := p
	withShares.ShareCommitments = make([]fr.Element, 2)
	tooBig := cloneInts(w.C1)
	tooBig[5] = fr.Modulus()
	negative := cloneInts(w.C0)
	negative[0] = big.NewInt(-1)
	withNil := cloneInts(w.C0)
	withNil[1] = nil
	for _, tc := range []struct {
		name   string
		p      *PublicInputs
		c0, c1 []*big.Int
		n      int
		want   error
	}{
		{"share commitments", &withShares, w.C0, w.C1, n, ErrShape},
		{"no public inputs", nil, w.C0, w.C1, n, ErrShape},
		{"short C0", &p, w.C0[1:], w.C1, n, ErrShape},
		{"short C1", &p, w.C0, w.C1[1:], n, ErrShape},
		{"wrong N", &p, w.C0, w.C1, n / 2, ErrShape},
		{"N = 0", &p, nil, nil, 0, ErrShape},
		{"coefficient = r", &p, w.C0, tooBig, n, ErrMalformed},
		{"negative coefficient", &p, negative, w.C1, n, ErrMalformed},
		{"nil coefficient", &p, withNil, w.C1, n, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := HEPublicVector(tc.p, tc.c0, tc.c1, tc.n); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

// TestPublicInputsHEForm checks the encoding of consent-only public inputs
// (zero share commitments), that one share commitment stays refused, and
// that the MPC encoding did not change.
func TestPublicInputsHEForm(t *testing.T) {
	p := heBase().w.Public()
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != publicFixedLen || b[1] != 0 {
		t.Fatalf("HE form: %d bytes, count %d", len(b), b[1])
	}
	var q PublicInputs
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if q.ShareCommitments != nil || q.Digest() != p.Digest() {
		t.Fatal("HE form changed in the round trip")
	}
	one := append(bytes.Clone(b), make([]byte, fr.Bytes)...)
	one[1] = 1
	if err := q.UnmarshalBinary(one); !errors.Is(err, ErrMalformed) {
		t.Fatalf("one share commitment: %v", err)
	}
	for _, bad := range [][]byte{b[:len(b)-1], append(bytes.Clone(b), 0)} {
		if err := q.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes: %v", len(bad), err)
		}
	}

	// The MPC encoding of fixed inputs, byte for byte.
	mpc := PublicInputs{
		Dataset: fr.NewElement(1), Epoch: 2, Root: fr.NewElement(3), Nullifier: fr.NewElement(4),
		Purposes: 5, Expiry: 6, MinCohort: 7, Revocation: fr.NewElement(8),
		ShareCommitments: []fr.Element{fr.NewElement(9), fr.NewElement(10), fr.NewElement(11)},
	}
	mb, err := mpc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(mb)
	if got := hex.EncodeToString(sum[:]); got != mpcPublicGolden {
		t.Fatalf("MPC encoding changed: sha256 %s", got)
	}
}

// mpcPublicGolden is the SHA-256 of the MPC encoding in TestPublicInputsHEForm.
const mpcPublicGolden = "42c9614640533c03b9f92978ab5740b34d2ea9818505cd9082724f0cecd9427c"

// TestCompileHERefusesInvalidShape checks that a shape not made by
// NewHEShape fails to compile with ErrShape instead of panicking.
func TestCompileHERefusesInvalidShape(t *testing.T) {
	good := heBase().sh
	for _, tc := range []struct {
		name   string
		mutate func(sh *HEShape)
	}{
		{"zero shape", func(sh *HEShape) { *sh = HEShape{} }},
		{"no key", func(sh *HEShape) { sh.Key = HEKey{} }},
		{"missing coordinate bounds", func(sh *HEShape) { sh.CoordMax = sh.CoordMax[1:] }},
		{"public key shortened", func(sh *HEShape) { sh.Key.PK1 = sh.Key.PK1[1:] }},
		{"N changed alone", func(sh *HEShape) { sh.Key.N = 128 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := good
			tc.mutate(&sh)
			if _, err := CompileHE(sh); !errors.Is(err, ErrShape) {
				t.Fatalf("got %v, want ErrShape", err)
			}
		})
	}
}

// TestCompileHEDeterministic checks that compiling a shape twice gives the
// same constraint system, byte for byte, so that nodes and auditors agree
// on a circuit's digest.
func TestCompileHEDeterministic(t *testing.T) {
	sh := heBase().sh
	var enc [2]bytes.Buffer
	for i := range enc {
		sys, err := CompileHE(sh)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sys.CCS.WriteTo(&enc[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(enc[0].Bytes(), enc[1].Bytes()) {
		t.Fatal("two compilations of one shape differ")
	}
}
