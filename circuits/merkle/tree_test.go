package merkle

import (
	"errors"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/test"

	"github.com/cohort-dev/cohort/circuits/hash"
)

func randomIC(t testing.TB) fr.Element {
	var e fr.Element
	if _, err := e.SetRandom(); err != nil {
		t.Fatal(err)
	}
	return e
}

// naiveRoot rebuilds the root from all leaves, level by level.
func naiveRoot(depth int, leaves []fr.Element) fr.Element {
	level := make([]fr.Element, 1<<depth)
	copy(level, leaves)
	for len(level) > 1 {
		next := make([]fr.Element, len(level)/2)
		for i := range next {
			next[i] = Node(level[2*i], level[2*i+1])
		}
		level = next
	}
	return level[0]
}

func TestTreeMatchesNaive(t *testing.T) {
	const depth = 4
	tr, err := New(depth)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Root() != naiveRoot(depth, nil) {
		t.Fatal("empty root differs")
	}
	var leaves, ics []fr.Element
	for i := 0; i < 1<<depth; i++ {
		ic := randomIC(t)
		ics = append(ics, ic)
		leaves = append(leaves, Leaf(ic))
		if _, err := tr.Append(ic); err != nil {
			t.Fatal(err)
		}
		if tr.Root() != naiveRoot(depth, leaves) {
			t.Fatalf("root after %d appends differs", i+1)
		}
		for j := range ics {
			p, err := tr.Path(uint64(j))
			if err != nil {
				t.Fatal(err)
			}
			if p.Root(ics[j]) != tr.Root() {
				t.Fatalf("path %d does not reach the root", j)
			}
		}
	}
	if _, err := tr.Append(randomIC(t)); !errors.Is(err, ErrFull) {
		t.Fatalf("append to full tree: %v", err)
	}
	if err := tr.Remove(3); err != nil {
		t.Fatal(err)
	}
	leaves[3] = fr.Element{}
	if tr.Root() != naiveRoot(depth, leaves) {
		t.Fatal("root after removal differs")
	}
	p, _ := tr.Path(3)
	if p.Root(ics[3]) == tr.Root() {
		t.Fatal("removed member still proves membership")
	}
	if _, err := tr.Path(99); !errors.Is(err, ErrIndex) {
		t.Fatalf("path out of range: %v", err)
	}
}

func TestNewRefusesDepth(t *testing.T) {
	for _, d := range []int{-1, 0, MaxDepth + 1} {
		if _, err := New(d); err == nil {
			t.Errorf("depth %d accepted", d)
		}
	}
}

func TestLeafAndNodeSeparated(t *testing.T) {
	a, b := randomIC(t), randomIC(t)
	if Leaf(a) == hash.Sum(hash.MerkleNode, a) || Node(a, b) == hash.Sum(hash.MerkleLeaf, a, b) {
		t.Fatal("leaf and node hashes coincide")
	}
}

type membershipCircuit struct {
	Root     frontend.Variable `gnark:",public"`
	IC       frontend.Variable
	Index    frontend.Variable
	Siblings []frontend.Variable
}

func (c *membershipCircuit) Define(api frontend.API) error {
	h, err := hash.NewHasher(api)
	if err != nil {
		return err
	}
	AssertMembership(api, h, c.Root, c.IC, c.Index, c.Siblings)
	return nil
}

func assignment(root, ic fr.Element, p Path) *membershipCircuit {
	c := &membershipCircuit{Root: root, IC: ic, Index: p.Index, Siblings: make([]frontend.Variable, len(p.Siblings))}
	for i := range p.Siblings {
		c.Siblings[i] = p.Siblings[i]
	}
	return c
}

func TestGadget(t *testing.T) {
	const depth = 5
	tr, _ := New(depth)
	var ics []fr.Element
	for i := 0; i < 11; i++ {
		ic := randomIC(t)
		ics = append(ics, ic)
		if _, err := tr.Append(ic); err != nil {
			t.Fatal(err)
		}
	}
	root := tr.Root()
	p, _ := tr.Path(6)
	valid := assignment(root, ics[6], p)

	wrongRoot := assignment(randomIC(t), ics[6], p)
	wrongIC := assignment(root, ics[5], p)
	wrongIndex := assignment(root, ics[6], p)
	wrongIndex.Index = 7
	wrongSibling := assignment(root, ics[6], p)
	wrongSibling.Siblings[2] = randomIC(t)
	tooBigIndex := assignment(root, ics[6], p)
	tooBigIndex.Index = p.Index + 1<<depth // same low bits, must not pass the bit decomposition

	assert := test.NewAssert(t)
	assert.CheckCircuit(&membershipCircuit{Siblings: make([]frontend.Variable, depth)},
		test.WithValidAssignment(valid),
		test.WithInvalidAssignment(wrongRoot),
		test.WithInvalidAssignment(wrongIC),
		test.WithInvalidAssignment(wrongIndex),
		test.WithInvalidAssignment(wrongSibling),
		test.WithInvalidAssignment(tooBigIndex),
		test.WithCurves(ecc.BN254), test.NoFuzzing(), test.NoSerializationChecks())
}

func TestGadgetConstraintCount(t *testing.T) {
	cs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, &membershipCircuit{Siblings: make([]frontend.Variable, DefaultDepth)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("depth %d membership: %d constraints", DefaultDepth, cs.GetNbConstraints())
	if n := cs.GetNbConstraints(); n > 5300 {
		t.Errorf("depth-20 membership costs %d constraints, doc says about 5.1k", n)
	}
}

func BenchmarkAppend(b *testing.B) {
	tr, _ := New(DefaultDepth)
	ic := randomIC(b)
	for b.Loop() {
		if _, err := tr.Append(ic); err != nil {
			b.Fatal(err)
		}
	}
}
