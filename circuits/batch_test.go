package circuits

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
)

const batchN = 6

// batchCache holds, once per test binary, batchN distinct valid statements
// under the test keys and a valid statement under another setup of the
// same circuit.
var batchCache struct {
	sync.Mutex
	good  []Statement
	other Statement
}

func batchStatements(t testing.TB) ([]Statement, Statement) {
	t.Helper()
	batchCache.Lock()
	defer batchCache.Unlock()
	if batchCache.good != nil {
		return batchCache.good, batchCache.other
	}
	k := mustKeys(t)
	prove := func(pk groth16.ProvingKey) Statement {
		f := newFixture(t, k.sys.Shape)
		proof, pub, err := k.sys.Prove(pk, witnessFromFixture(t, f))
		if err != nil {
			t.Fatal(err)
		}
		return Statement{Proof: proof, Public: pub.Vector()}
	}
	var good []Statement
	for range batchN {
		good = append(good, prove(k.pk))
	}
	pk, _, err := groth16.Setup(k.sys.CCS)
	if err != nil {
		t.Fatal(err)
	}
	batchCache.good, batchCache.other = good, prove(pk)
	return batchCache.good, batchCache.other
}

func mustBatch(t testing.TB) (*Verifier, []Statement) {
	t.Helper()
	k := mustKeys(t)
	good, _ := batchStatements(t)
	v, err := NewVerifier(k.vk, k.sys.Shape.NumPublic())
	if err != nil {
		t.Fatal(err)
	}
	return v, good
}

// reference is gnark's verifier on one statement.
func reference(vk groth16.VerifyingKey, s Statement) error {
	if s.Proof == nil {
		return errors.New("no proof")
	}
	return groth16bn254.Verify(&s.Proof.p, vk.(*groth16bn254.VerifyingKey), fr.Vector(s.Public))
}

// tamper returns s with a copy of its proof changed by f.
func tamper(s Statement, f func(p *groth16bn254.Proof)) Statement {
	q := s.Proof.p
	q.Commitments = append([]bn254.G1Affine(nil), q.Commitments...)
	f(&q)
	return Statement{Proof: &Proof{p: q}, Public: s.Public}
}

// shiftG1 adds k times the generator to p.
func shiftG1(p *bn254.G1Affine, k int64) {
	_, _, g, _ := bn254.Generators()
	var x bn254.G1Affine
	x.ScalarMultiplication(&g, big.NewInt(k))
	p.Add(p, &x)
}

// g2OffSubgroup returns a point on the twist y² = x³ + 3/(9+u) that is not
// in G2 (the twist's cofactor is not 1; G1's is, so every point of the
// curve is in G1).
func g2OffSubgroup(t testing.TB) bn254.G2Affine {
	t.Helper()
	var b, nine bn254.G2Affine
	nine.X.A0.SetUint64(9)
	nine.X.A1.SetOne()
	nine.X.Inverse(&nine.X)
	b.Y.A0.SetUint64(3)
	bt := b.Y
	bt.Mul(&bt, &nine.X)
	for x := uint64(1); x < 1000; x++ {
		var p bn254.G2Affine
		p.X.A0.SetUint64(x)
		rhs := p.X
		rhs.Square(&rhs).Mul(&rhs, &p.X).Add(&rhs, &bt)
		if rhs.Legendre() != 1 {
			continue
		}
		p.Y.Sqrt(&rhs)
		if p.IsOnCurve() && !p.IsInSubGroup() {
			return p
		}
	}
	t.Fatal("no point of the twist outside G2 found")
	return b
}

func bump(v []fr.Element, i int) []fr.Element {
	out := append([]fr.Element(nil), v...)
	out[i].Add(&out[i], new(fr.Element).SetOne())
	return out
}

// badStatements are statements gnark's verifier refuses, one per way a
// statement can be wrong.
func badStatements(t testing.TB, good []Statement) map[string]Statement {
	t.Helper()
	_, other := batchStatements(t)
	off := g2OffSubgroup(t)
	g := good[0]
	return map[string]Statement{
		"A moved":             tamper(g, func(p *groth16bn254.Proof) { shiftG1(&p.Ar, 1) }),
		"C moved":             tamper(g, func(p *groth16bn254.Proof) { shiftG1(&p.Krs, 1) }),
		"B of another proof":  tamper(g, func(p *groth16bn254.Proof) { p.Bs = good[1].Proof.p.Bs }),
		"commitment moved":    tamper(g, func(p *groth16bn254.Proof) { shiftG1(&p.Commitments[0], 1) }),
		"commitment proof":    tamper(g, func(p *groth16bn254.Proof) { shiftG1(&p.CommitmentPok, 1) }),
		"commitment of other": tamper(g, func(p *groth16bn254.Proof) { p.Commitments[0] = good[1].Proof.p.Commitments[0] }),
		"other public inputs": {Proof: g.Proof, Public: good[1].Public},
		"one input changed":   {Proof: g.Proof, Public: bump(g.Public, len(g.Public)-1)},
		"first input changed": {Proof: g.Proof, Public: bump(g.Public, 0)},
		"other key":           other,
		"B off the subgroup":  tamper(g, func(p *groth16bn254.Proof) { p.Bs = off }),
		"A off the curve":     tamper(g, func(p *groth16bn254.Proof) { p.Ar.Y.SetOne() }),
		"no commitment":       tamper(g, func(p *groth16bn254.Proof) { p.Commitments = nil }),
		"too few inputs":      {Proof: g.Proof, Public: g.Public[1:]},
		"all points identity": {Proof: &Proof{p: groth16bn254.Proof{Commitments: make([]bn254.G1Affine, 1)}}, Public: g.Public},
		"no proof":            {Public: g.Public},
	}
}

// agree fails the test unless VerifyBatch's verdict on each statement is
// gnark's.
func agree(t *testing.T, v *Verifier, vk groth16.VerifyingKey, batch []Statement, label string) {
	t.Helper()
	errs := v.VerifyBatch(batch)
	if len(errs) != len(batch) {
		t.Fatalf("%s: %d errors for %d statements", label, len(errs), len(batch))
	}
	for i, s := range batch {
		want := reference(vk, s)
		switch {
		case want == nil && errs[i] != nil:
			t.Errorf("%s: statement %d: refused (%v), gnark accepts", label, i, errs[i])
		case want != nil && errs[i] == nil:
			t.Errorf("%s: statement %d: accepted, gnark refuses (%v)", label, i, want)
		case want != nil && !errors.Is(errs[i], ErrInvalidProof):
			t.Errorf("%s: statement %d: got %v, want ErrInvalidProof", label, i, errs[i])
		}
	}
}

func TestVerifyBatchValid(t *testing.T) {
	v, good := mustBatch(t)
	k := mustKeys(t)
	if errs := v.VerifyBatch(nil); len(errs) != 0 {
		t.Fatalf("empty batch: %v", errs)
	}
	// A verifier that could not be made (a bad verifying key) is given
	// no statement; its empty batch is answered without it.
	var none *Verifier
	if errs := none.VerifyBatch(nil); len(errs) != 0 {
		t.Fatalf("empty batch of no verifier: %v", errs)
	}
	for n := 1; n <= 3*batchN; n++ {
		batch := make([]Statement, n)
		for i := range batch {
			batch[i] = good[i%len(good)]
		}
		agree(t, v, k.vk, batch, fmt.Sprintf("n=%d", n))
	}
}

// TestVerifyBatchDifferential puts each kind of bad statement at each
// place of batches of every size up to batchN+1 and compares every verdict
// with gnark's.
func TestVerifyBatchDifferential(t *testing.T) {
	v, good := mustBatch(t)
	k := mustKeys(t)
	for name, bad := range badStatements(t, good) {
		if reference(k.vk, bad) == nil {
			t.Fatalf("%s: gnark accepts the bad statement", name)
		}
		for n := 1; n <= batchN+1; n++ {
			for pos := range n {
				if testing.Short() && pos != 0 && pos != n-1 {
					continue
				}
				batch := make([]Statement, 0, n)
				for i := range n - 1 {
					batch = append(batch, good[i%len(good)])
				}
				batch = append(batch[:pos], append([]Statement{bad}, batch[pos:]...)...)
				agree(t, v, k.vk, batch, fmt.Sprintf("%s, n=%d, at %d", name, n, pos))
			}
		}
	}
}

// TestVerifyBatchNamesEveryBadStatement: several bad statements at once,
// in a batch split in chunks, are each named and nothing else is.
func TestVerifyBatchNamesEveryBadStatement(t *testing.T) {
	v, good := mustBatch(t)
	k := mustKeys(t)
	bads := badStatements(t, good)
	n := 40
	if !testing.Short() {
		n = maxChunk + 100 // more than one chunk per CPU
	}
	batch := make([]Statement, n)
	for i := range batch {
		batch[i] = good[i%len(good)]
	}
	at := []int{0, 7, 8, n / 2, n - 1}
	batch[0] = bads["C moved"]
	batch[7] = bads["commitment proof"]
	batch[8] = bads["other public inputs"]
	batch[n/2] = bads["other key"]
	batch[n-1] = bads["A moved"]
	errs := v.VerifyBatch(batch)
	for i, err := range errs {
		isBad := false
		for _, j := range at {
			isBad = isBad || i == j
		}
		if isBad != (err != nil) {
			t.Errorf("statement %d: got %v, bad=%v", i, err, isBad)
		}
	}
	agree(t, v, k.vk, batch[:20], "first 20")
}

// TestVerifyBatchCancellingErrors: two proofs wrong by opposite amounts
// would pass an unweighted sum of their equations; the random weights
// catch them.
func TestVerifyBatchCancellingErrors(t *testing.T) {
	v, good := mustBatch(t)
	up := tamper(good[0], func(p *groth16bn254.Proof) { shiftG1(&p.Krs, 5) })
	down := tamper(good[1], func(p *groth16bn254.Proof) { shiftG1(&p.Krs, -5) })
	pokUp := tamper(good[2], func(p *groth16bn254.Proof) { shiftG1(&p.CommitmentPok, 3) })
	pokDown := tamper(good[3], func(p *groth16bn254.Proof) { shiftG1(&p.CommitmentPok, -3) })
	for range 5 {
		errs := v.VerifyBatch([]Statement{up, down, pokUp, pokDown})
		for i, err := range errs {
			if !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("statement %d: got %v, want ErrInvalidProof", i, err)
			}
		}
	}
}

// TestProofDecodeRefusesOffSubgroup: the decoder refuses a B outside G2,
// which gnark's point encoding would otherwise carry.
func TestProofDecodeRefusesOffSubgroup(t *testing.T) {
	_, good := mustBatch(t)
	bad := tamper(good[0], func(p *groth16bn254.Proof) { p.Bs = g2OffSubgroup(t) })
	b, err := bad.Proof.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var p Proof
	if err := p.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("decoding a proof with B outside G2: got %v, want ErrMalformed", err)
	}
}

// FuzzVerifyBatchDecoded: any proof that decodes gets gnark's verdict from
// VerifyBatch, next to valid statements.
func FuzzVerifyBatchDecoded(f *testing.F) {
	v, good := mustBatch(f)
	k := mustKeys(f)
	for _, s := range good[:2] {
		b, err := s.Proof.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		b[len(b)-1] ^= 1
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
			return
		}
		agree(t, v, k.vk, []Statement{good[0], {Proof: &p, Public: good[1].Public}, good[2]}, "fuzzed")
	})
}

// TestBatchEquation checks the batch equation itself (VerifyBatch falls
// back to gnark's verifier for single statements, which would hide a batch
// equation that always fails): it holds for valid statements and fails as
// soon as one statement that passes the pre-pairing checks is wrong.
func TestBatchEquation(t *testing.T) {
	v, good := mustBatch(t)
	items := func(stmts ...Statement) []batchItem {
		var out []batchItem
		for i, s := range stmts {
			it, err := v.check(s)
			if err != nil {
				t.Fatalf("statement %d: %v", i, err)
			}
			it.index = i
			out = append(out, it)
		}
		return out
	}
	for n := 1; n <= len(good); n++ {
		ok, err := v.batchHolds(items(good[:n]...), 1)
		if err != nil || !ok {
			t.Fatalf("n=%d valid statements: holds=%v, %v", n, ok, err)
		}
	}
	for name, bad := range badStatements(t, good) {
		if _, err := v.check(bad); err != nil {
			continue // refused before the pairing
		}
		for n := 1; n <= len(good); n++ {
			batch := append(append([]Statement(nil), good[:n-1]...), bad)
			ok, err := v.batchHolds(items(batch...), 1)
			if err != nil || ok {
				t.Errorf("%s, n=%d: holds=%v, %v", name, n, ok, err)
			}
		}
	}
}

// TestMillerLoopInParts: the product of the Miller loops of the proofs'
// pairs taken in parts, as batchHolds runs them in parallel, is the Miller
// loop of all the pairs at once, and the batch equation holds or fails
// alike whatever the number of parts.
func TestMillerLoopInParts(t *testing.T) {
	v, good := mustBatch(t)
	var items []batchItem
	for i := range 2 * len(good) {
		it, err := v.check(good[i%len(good)])
		if err != nil {
			t.Fatal(err)
		}
		it.index = i
		items = append(items, it)
	}
	r, err := weights(len(items))
	if err != nil {
		t.Fatal(err)
	}
	whole, err := proofPairs(items, r)
	if err != nil {
		t.Fatal(err)
	}
	for parts := 2; parts <= len(items); parts++ {
		var prod bn254.GT
		prod.SetOne()
		for k := range parts {
			lo, hi := k*len(items)/parts, (k+1)*len(items)/parts
			ml, err := proofPairs(items[lo:hi], r[lo:hi])
			if err != nil {
				t.Fatal(err)
			}
			prod.Mul(&prod, &ml)
		}
		if !prod.Equal(&whole) {
			a, b := bn254.FinalExponentiation(&prod), bn254.FinalExponentiation(&whole)
			t.Errorf("%d parts: the product of the parts' Miller loops is not the whole loop (equal after the final exponentiation: %v)", parts, a.Equal(&b))
		}
	}
	bad, err := v.check(tamper(good[0], func(p *groth16bn254.Proof) { shiftG1(&p.Krs, 1) }))
	if err != nil {
		t.Fatal(err)
	}
	for _, tasks := range []int{1, 2, 3, len(items), len(items) + 5} {
		if ok, err := v.batchHolds(items, tasks); err != nil || !ok {
			t.Errorf("%d tasks, valid statements: holds=%v, %v", tasks, ok, err)
		}
		for _, at := range []int{0, len(items) / 2, len(items) - 1} {
			batch := slices.Clone(items)
			batch[at] = bad
			if ok, err := v.batchHolds(batch, tasks); err != nil || ok {
				t.Errorf("%d tasks, C moved at %d: holds=%v, %v", tasks, at, ok, err)
			}
		}
	}
}

// TestVerifyBatchDecoded: proofs that went through their encoding, whose
// points the decoder checked and the batch verifier does not check again,
// get gnark's verdict, valid or not; a proof built otherwise is still
// checked (TestVerifyBatchDifferential's "B off the subgroup").
func TestVerifyBatchDecoded(t *testing.T) {
	v, good := mustBatch(t)
	k := mustKeys(t)
	decode := func(s Statement) Statement {
		b, err := s.Proof.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var p Proof
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if !p.decoded {
			t.Fatal("a decoded proof is not marked decoded")
		}
		return Statement{Proof: &p, Public: s.Public}
	}
	if good[0].Proof.decoded {
		t.Fatal("a proof the prover made is marked decoded")
	}
	bads := badStatements(t, good)
	var batch []Statement
	for i := range 3 * len(good) {
		batch = append(batch, decode(good[i%len(good)]))
	}
	for _, name := range []string{"A moved", "C moved", "commitment proof", "B of another proof", "other public inputs", "other key"} {
		batch = append(batch, decode(bads[name]))
	}
	agree(t, v, k.vk, batch, "decoded")
	n := 0
	for _, err := range v.VerifyBatch(batch) {
		if err != nil {
			n++
		}
	}
	if n != 6 {
		t.Errorf("%d statements refused, want the 6 bad ones", n)
	}
}

// TestGLVWeights: φ is the multiplication by λ on G1, a weight's
// multiplication equals the scalar multiplication by r = a + λb (at the
// extremes of a and b too), and the lattice of pairs (x, y) with
// x + λy ≡ 0 mod r has no vector shorter than 2^66, so distinct pairs
// (a, b) below 2^64 give distinct weights.
func TestGLVWeights(t *testing.T) {
	_, _, g, _ := bn254.Generators()
	var lambda big.Int
	glvLambda.BigInt(&lambda)
	var want bn254.G1Affine
	want.ScalarMultiplication(&g, &lambda)
	phi := g
	phi.X.Mul(&phi.X, &glvOmega)
	if !phi.Equal(&want) {
		t.Fatal("φ(G) is not [λ]G")
	}
	var p bn254.G1Affine
	p.ScalarMultiplication(&g, big.NewInt(987654321))
	ws, err := weights(50)
	if err != nil {
		t.Fatal(err)
	}
	ws = append(ws, weight{a: 1}, weight{b: 1}, weight{a: ^uint64(0), b: ^uint64(0)}, weight{a: 1 << 63}, weight{b: 1 << 63})
	for i := range ws {
		w := &ws[i]
		if i >= 50 {
			var a fr.Element
			a.SetUint64(w.a)
			w.r.SetUint64(w.b)
			w.r.Mul(&w.r, &glvLambda).Add(&w.r, &a)
		}
		var e big.Int
		var want bn254.G1Affine
		want.ScalarMultiplication(&p, w.r.BigInt(&e))
		got := w.mul(&p)
		var gotAff bn254.G1Affine
		gotAff.FromJacobian(&got)
		if !gotAff.Equal(&want) {
			t.Fatalf("weight %d (a=%d, b=%d): [a]P + [b]φ(P) is not [a + λb]P", i, w.a, w.b)
		}
		if w.r.IsZero() {
			t.Fatalf("weight %d is zero", i)
		}
	}
	var inf bn254.G1Affine
	if res := ws[0].mul(&inf); !res.Z.IsZero() {
		t.Fatal("a weight times the point at infinity is not the point at infinity")
	}

	// Lagrange–Gauss reduction of the lattice's basis (r, 0), (−λ, 1): the
	// first vector of the reduced basis is a shortest one.
	u := [2]*big.Int{fr.Modulus(), big.NewInt(0)}
	v := [2]*big.Int{new(big.Int).Neg(&lambda), big.NewInt(1)}
	norm := func(x [2]*big.Int) *big.Int {
		n := new(big.Int).Mul(x[0], x[0])
		return n.Add(n, new(big.Int).Mul(x[1], x[1]))
	}
	dot := func(x, y [2]*big.Int) *big.Int {
		n := new(big.Int).Mul(x[0], y[0])
		return n.Add(n, new(big.Int).Mul(x[1], y[1]))
	}
	for {
		if norm(u).Cmp(norm(v)) < 0 {
			u, v = v, u
		}
		// u is the longer: u −= round(<u,v>/<v,v>) v.
		num, den := dot(u, v), norm(v)
		q := new(big.Int).Lsh(num, 1)
		q.Add(q, den).Div(q, new(big.Int).Lsh(den, 1)) // round(num/den) for num ≥ −den/2
		if q.Sign() == 0 {
			break
		}
		u = [2]*big.Int{new(big.Int).Sub(u[0], new(big.Int).Mul(q, v[0])), new(big.Int).Sub(u[1], new(big.Int).Mul(q, v[1]))}
	}
	shortest := norm(v)
	if norm(u).Cmp(shortest) < 0 {
		shortest = norm(u)
	}
	if shortest.BitLen() <= 132 { // |v|² ≤ 2^132: |v| ≤ 2^66
		t.Fatalf("the lattice has a vector of squared length 2^%d", shortest.BitLen()-1)
	}
	t.Logf("shortest vector of the lattice: about 2^%d", (shortest.BitLen()-1)/2)
}
