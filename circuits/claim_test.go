package circuits

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/test"

	"github.com/cohort-dev/cohort/circuits/merkle"
)

func randElem(t testing.TB) fr.Element {
	t.Helper()
	var e fr.Element
	if _, err := e.SetRandom(); err != nil {
		t.Fatal(err)
	}
	return e
}

// claimFixture is a job that counted 5 records of other people and two
// of the claimant's (epochs 7 and 8), in dataset "fitness".
type claimFixture struct {
	secret fr.Element
	tree   *NullifierTree
	payout fr.Element
}

func newClaimFixture(t testing.TB) claimFixture {
	t.Helper()
	s := randElem(t)
	ds := DatasetField("fitness")
	var nfs []fr.Element
	for i := range 5 {
		nfs = append(nfs, NullifierOf(randElem(t), ds, uint64(7+i%2)))
	}
	nfs = append(nfs[:2], append([]fr.Element{NullifierOf(s, ds, 7)}, nfs[2:]...)...)
	nfs = append(nfs, NullifierOf(s, ds, 8))
	tree, err := NewNullifierTree(nfs)
	if err != nil {
		t.Fatal(err)
	}
	return claimFixture{secret: s, tree: tree, payout: randElem(t)}
}

func (f claimFixture) witness(t testing.TB, epoch uint64) (*ClaimCircuit, ClaimPublic) {
	t.Helper()
	w, pub, err := ClaimWitness(f.tree, f.secret, "fitness", "job-1", epoch, f.payout)
	if err != nil {
		t.Fatal(err)
	}
	return w, pub
}

// TestNullifierTree: the tree's root is the one a full binary tree of the
// leaves padded with zero leaves has, every path leads to it, and a
// nullifier not counted has no path.
func TestNullifierTree(t *testing.T) {
	var nfs []fr.Element
	for range 11 {
		nfs = append(nfs, randElem(t))
	}
	tree, err := NewNullifierTree(nfs)
	if err != nil {
		t.Fatal(err)
	}
	// The naive root: hash the padded level up, all 2^depth leaves at
	// the bottom would be too many, so pad only to the next subtree and
	// use the empty subtrees above it.
	zeros := merkle.Zeros(ClaimDepth)
	level := make([]fr.Element, 16)
	for i := range level {
		if i < len(nfs) {
			level[i] = ClaimLeaf(nfs[i])
		}
	}
	h := 0
	for ; len(level) > 1; h++ {
		next := make([]fr.Element, len(level)/2)
		for i := range next {
			next[i] = merkle.Node(level[2*i], level[2*i+1])
		}
		level = next
	}
	root := level[0]
	for ; h < ClaimDepth; h++ {
		root = merkle.Node(root, zeros[h])
	}
	if got := tree.Root(); got != root {
		t.Fatalf("root %s, want %s", got.String(), root.String())
	}
	for i, nf := range nfs {
		idx, sib, err := tree.Path(nf)
		if err != nil || idx != uint64(i) {
			t.Fatalf("path of %d: %d, %v", i, idx, err)
		}
		if got := pathRoot(ClaimLeaf(nf), idx, sib); got != root {
			t.Fatalf("path of %d leads to another root", i)
		}
	}
	if _, _, err := tree.Path(randElem(t)); !errors.Is(err, ErrClaimTree) {
		t.Fatalf("path of an uncounted nullifier: %v", err)
	}
	if _, err := NewNullifierTree([]fr.Element{nfs[0], nfs[1], nfs[0]}); !errors.Is(err, ErrClaimTree) {
		t.Fatalf("a nullifier twice: %v", err)
	}
	empty, err := NewNullifierTree(nil)
	if err != nil || empty.Root() != zeros[ClaimDepth] {
		t.Fatalf("empty tree: %v", err)
	}
}

// pathRoot climbs from leaf at index along siblings.
func pathRoot(leaf fr.Element, index uint64, siblings []fr.Element) fr.Element {
	cur := leaf
	for h, s := range siblings {
		if index>>h&1 == 1 {
			cur = merkle.Node(s, cur)
		} else {
			cur = merkle.Node(cur, s)
		}
	}
	return cur
}

// TestClaimConstraints: the valid witness solves, and breaking each
// constraint — membership (secret, dataset, epoch, root, index, a
// sibling, an index past the depth), the epoch's width, the claim
// nullifier (another secret, another job) and the payout key — makes the
// witness fail.
func TestClaimConstraints(t *testing.T) {
	f := newClaimFixture(t)
	field := ecc.BN254.ScalarField()
	for _, epoch := range []uint64{7, 8} {
		valid, _ := f.witness(t, epoch)
		if err := test.IsSolved(NewClaimCircuit(), valid, field); err != nil {
			t.Fatalf("valid claim (epoch %d) does not solve: %v", epoch, err)
		}
	}
	other := randElem(t)
	cases := []struct {
		name   string
		mutate func(w *ClaimCircuit)
	}{
		{"another secret", func(w *ClaimCircuit) { w.Secret = other; w.ClaimNullifier = ClaimNullifierOf(other, JobField("job-1")) }},
		{"another dataset", func(w *ClaimCircuit) { w.Dataset = DatasetField("other") }},
		{"another epoch", func(w *ClaimCircuit) { w.Epoch = 9 }},
		{"another root", func(w *ClaimCircuit) { w.Root = randElem(t) }},
		{"another index", func(w *ClaimCircuit) { w.Index = 3 }},
		{"index past the depth", func(w *ClaimCircuit) { w.Index = uint64(2) + 1<<ClaimDepth }},
		{"a sibling changed", func(w *ClaimCircuit) { w.Siblings[1] = randElem(t) }},
		{"claim nullifier of another job", func(w *ClaimCircuit) { w.Job = JobField("job-2") }},
		{"claim nullifier not H(s, job)", func(w *ClaimCircuit) { w.ClaimNullifier = randElem(t) }},
		{"zero payout key", func(w *ClaimCircuit) { w.Payout = 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := f.witness(t, 7)
			tc.mutate(w)
			if err := test.IsSolved(NewClaimCircuit(), w, field); err == nil {
				t.Fatal("broken claim solves")
			}
		})
	}

	// The epoch's width alone: a tree that counted a nullifier of an
	// epoch past EpochBits, so that only the range check can refuse it.
	t.Run("epoch past its width", func(t *testing.T) {
		const wide = uint64(7) + 1<<EpochBits
		ds := DatasetField("fitness")
		tree, err := NewNullifierTree([]fr.Element{randElem(t), NullifierOf(f.secret, ds, wide)})
		if err != nil {
			t.Fatal(err)
		}
		idx, sib, err := tree.Path(NullifierOf(f.secret, ds, wide))
		if err != nil {
			t.Fatal(err)
		}
		job := JobField("job-1")
		w := &ClaimCircuit{Root: tree.Root(), Job: job, Dataset: ds, ClaimNullifier: ClaimNullifierOf(f.secret, job), Payout: f.payout,
			Secret: f.secret, Epoch: wide, Index: idx, Siblings: make([]frontend.Variable, ClaimDepth)}
		for i := range sib {
			w.Siblings[i] = sib[i]
		}
		if err := test.IsSolved(NewClaimCircuit(), w, field); err == nil {
			t.Fatal("a claim of an epoch past its width solves")
		}
		w.Epoch, w.Index = uint64(7), idx // the same path with the epoch in range is another leaf
		if err := test.IsSolved(NewClaimCircuit(), w, field); err == nil {
			t.Fatal("a claim with the wrong epoch solves")
		}
	})
}

// TestClaimNotCounted: a record the job did not count has no claim.
func TestClaimNotCounted(t *testing.T) {
	f := newClaimFixture(t)
	if _, _, err := ClaimWitness(f.tree, f.secret, "fitness", "job-1", 9, f.payout); !errors.Is(err, ErrClaimTree) {
		t.Fatalf("claim of an epoch not counted: %v", err)
	}
	if _, _, err := ClaimWitness(f.tree, randElem(t), "fitness", "job-1", 7, f.payout); !errors.Is(err, ErrClaimTree) {
		t.Fatalf("claim by someone not counted: %v", err)
	}
	if _, _, err := ClaimWitness(f.tree, f.secret, "other", "job-1", 7, f.payout); !errors.Is(err, ErrClaimTree) {
		t.Fatalf("claim on another dataset: %v", err)
	}
	// Forcing the path of someone else's leaf does not solve either.
	w, _ := f.witness(t, 7)
	w.Secret = randElem(t)
	if err := test.IsSolved(NewClaimCircuit(), w, ecc.BN254.ScalarField()); err == nil {
		t.Fatal("a claim with another's path solves")
	}
}

// claimKeys compiles the claim circuit once and makes throwaway keys.
var claimKeys = sync.OnceValues(func() (*claimKeyed, error) {
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewClaimCircuit())
	if err != nil {
		return nil, err
	}
	pk, vk, err := groth16.Setup(ccs)
	if err != nil {
		return nil, err
	}
	return &claimKeyed{ccs: ccs, pk: pk, vk: vk}, nil
})

type claimKeyed struct {
	ccs constraint.ConstraintSystem
	pk  groth16.ProvingKey
	vk  groth16.VerifyingKey
}

func (k *claimKeyed) prove(t testing.TB, w *ClaimCircuit) groth16.Proof {
	t.Helper()
	full, err := frontend.NewWitness(w, ecc.BN254.ScalarField())
	if err != nil {
		t.Fatal(err)
	}
	proof, err := groth16.Prove(k.ccs, k.pk, full)
	if err != nil {
		t.Fatal(err)
	}
	return proof
}

func (k *claimKeyed) verify(t testing.TB, proof groth16.Proof, pub ClaimPublic) error {
	t.Helper()
	pw, err := frontend.NewWitness(pub.Assignment(), ecc.BN254.ScalarField(), frontend.PublicOnly())
	if err != nil {
		t.Fatal(err)
	}
	return groth16.Verify(proof, k.vk, pw)
}

// TestClaimProof proves a claim with Groth16 and checks that the proof
// verifies only for its own public inputs: another payout key, job, root,
// dataset or claim nullifier, or a tampered proof, is refused.
func TestClaimProof(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup and proof of the claim circuit")
	}
	k, err := claimKeys()
	if err != nil {
		t.Fatal(err)
	}
	f := newClaimFixture(t)
	w, pub := f.witness(t, 8)
	start := time.Now()
	proof := k.prove(t, w)
	t.Logf("claim proof at depth %d: %d constraints, proved in %v", ClaimDepth, k.ccs.GetNbConstraints(), time.Since(start))
	if err := k.verify(t, proof, pub); err != nil {
		t.Fatalf("valid claim refused: %v", err)
	}
	tampered := map[string]func(p *ClaimPublic){
		"payout key":     func(p *ClaimPublic) { p.Payout = randElem(t) },
		"job":            func(p *ClaimPublic) { p.Job = JobField("job-2") },
		"root":           func(p *ClaimPublic) { p.Root = randElem(t) },
		"dataset":        func(p *ClaimPublic) { p.Dataset = DatasetField("other") },
		"claim nullifer": func(p *ClaimPublic) { p.ClaimNullifier = randElem(t) },
	}
	for name, mutate := range tampered {
		p := pub
		mutate(&p)
		if err := k.verify(t, proof, p); err == nil {
			t.Errorf("a claim with another %s verifies", name)
		}
	}
	// A proof made with another payout key is another proof: the claim
	// nullifier is the same, so a node refuses the second claim.
	f2 := f
	f2.payout = randElem(t)
	_, pub2 := f2.witness(t, 7)
	if pub2.ClaimNullifier != pub.ClaimNullifier {
		t.Fatal("two claims of one job by one person have different claim nullifiers")
	}

	// A tampered proof: one byte of its encoding flipped.
	var buf bytes.Buffer
	if _, err := proof.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	b[len(b)/2] ^= 1
	bad := groth16.NewProof(ecc.BN254)
	if _, err := bad.ReadFrom(bytes.NewReader(b)); err == nil {
		if err := k.verify(t, bad, pub); err == nil {
			t.Error("a tampered proof verifies")
		}
	}
}

// TestClaimConstraintCount states the claim circuit's size.
func TestClaimConstraintCount(t *testing.T) {
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewClaimCircuit())
	if err != nil {
		t.Fatal(err)
	}
	n := ccs.GetNbConstraints()
	t.Logf("claim circuit at depth %d: %d constraints, %d public inputs", ClaimDepth, n, ccs.GetNbPublicVariables()-1)
	if n > 6500 {
		t.Errorf("claim circuit costs %d constraints, the doc says about 5.9k", n)
	}
}

// BenchmarkClaimProve proves one claim at depth ClaimDepth.
func BenchmarkClaimProve(b *testing.B) {
	k, err := claimKeys()
	if err != nil {
		b.Fatal(err)
	}
	f := newClaimFixture(b)
	w, _ := f.witness(b, 7)
	b.ResetTimer()
	for range b.N {
		k.prove(b, w)
	}
}

// BenchmarkClaimVerify verifies one claim proof.
func BenchmarkClaimVerify(b *testing.B) {
	k, err := claimKeys()
	if err != nil {
		b.Fatal(err)
	}
	f := newClaimFixture(b)
	w, pub := f.witness(b, 7)
	proof := k.prove(b, w)
	b.ResetTimer()
	for range b.N {
		if err := k.verify(b, proof, pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimVerifyParallel verifies one claim proof on every core at
// once, as a node checking claims does, and reports claims verified per
// second.
func BenchmarkClaimVerifyParallel(b *testing.B) {
	k, err := claimKeys()
	if err != nil {
		b.Fatal(err)
	}
	f := newClaimFixture(b)
	w, pub := f.witness(b, 7)
	proof := k.prove(b, w)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := k.verify(b, proof, pub); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "claims/s")
}

// TestClaimSystem proves through ClaimSystem, sends the proof through its
// encoding and verifies it with a Verifier over ClaimPublic.Vector, as
// nodes do; the proof is bound to the payout key's field element.
func TestClaimSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup and proof of the claim circuit")
	}
	k, err := claimKeys()
	if err != nil {
		t.Fatal(err)
	}
	sys, err := CompileClaim()
	if err != nil {
		t.Fatal(err)
	}
	f := newClaimFixture(t)
	f.payout = PayoutField(bytes.Repeat([]byte{7}, 32))
	w, pub := f.witness(t, 7)
	proof, err := sys.Prove(k.pk, w)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := proof.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back Proof
	if err := back.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(k.vk, ClaimPublicInputs)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(Statement{Proof: &back, Public: pub.Vector()}); err != nil {
		t.Fatalf("valid claim refused: %v", err)
	}
	other := pub
	other.Payout = PayoutField(bytes.Repeat([]byte{8}, 32))
	if err := v.Verify(Statement{Proof: &back, Public: other.Vector()}); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("a claim moved to another payout key: %v", err)
	}
	if pf := PayoutField(nil); pf == f.payout {
		t.Fatal("payout fields of two keys collide")
	}
}
