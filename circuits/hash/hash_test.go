package hash

import (
	"fmt"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
	"github.com/consensys/gnark/test"
)

var allDomains = []Domain{Identity, MerkleLeaf, MerkleNode, Nullifier, RevocationToken, RevocationCommitment, ShareCommitment, DatasetID, PublicInputs, ClaimLeaf, Claim, JobID}

type sumCircuit struct {
	domain Domain
	In     []frontend.Variable
	Out    frontend.Variable `gnark:",public"`
}

func (c *sumCircuit) Define(api frontend.API) error {
	h, err := NewHasher(api)
	if err != nil {
		return err
	}
	api.AssertIsEqual(h.Sum(c.domain, c.In...), c.Out)
	return nil
}

func randomElements(t testing.TB, n int) []fr.Element {
	xs := make([]fr.Element, n)
	for i := range xs {
		if _, err := xs[i].SetRandom(); err != nil {
			t.Fatal(err)
		}
	}
	return xs
}

// TestGadgetMatchesNative checks, for every domain and input lengths around
// block boundaries, that the circuit accepts the native digest and rejects a
// digest off by one.
func TestGadgetMatchesNative(t *testing.T) {
	assert := test.NewAssert(t)
	for _, d := range allDomains {
		lengths := []int{0, 1, 2, 3, 5}
		if d.width == 16 && !testing.Short() {
			lengths = append(lengths, 14, 15, 16, 31)
		}
		for _, n := range lengths {
			xs := randomElements(t, n)
			want := Sum(d, xs...)
			in := make([]frontend.Variable, n)
			for i := range xs {
				in[i] = xs[i]
			}
			var wrong fr.Element
			wrong.SetOne()
			wrong.Add(&wrong, &want)
			assert.Run(func(assert *test.Assert) {
				assert.CheckCircuit(&sumCircuit{domain: d, In: make([]frontend.Variable, n)},
					test.WithValidAssignment(&sumCircuit{In: in, Out: want}),
					test.WithInvalidAssignment(&sumCircuit{In: in, Out: wrong}),
					test.WithCurves(ecc.BN254), test.NoFuzzing(), test.NoSerializationChecks(), test.NoProverChecks())
			}, fmt.Sprintf("%s/n=%d", d.name, n))
		}
	}
}

func TestDomainsSeparate(t *testing.T) {
	xs := randomElements(t, 2)
	seen := map[fr.Element]string{}
	for _, d := range allDomains {
		for n := 0; n <= 2; n++ {
			h := Sum(d, xs[:n]...)
			key := fmt.Sprintf("%s/%d", d.name, n)
			if prev, ok := seen[h]; ok {
				t.Fatalf("%s and %s collide", prev, key)
			}
			seen[h] = key
		}
	}
	// Appending a zero changes the digest (length is in the IV).
	var zero fr.Element
	if Sum(Nullifier, xs[0]) == Sum(Nullifier, xs[0], zero) {
		t.Fatal("zero padding is not length-separated")
	}
}

func TestTagsUnique(t *testing.T) {
	tags := map[uint32]string{}
	for _, d := range allDomains {
		if prev, ok := tags[d.tag]; ok {
			t.Fatalf("domains %s and %s share tag %d", prev, d.name, d.tag)
		}
		tags[d.tag] = d.name
	}
}

func TestSumBytes(t *testing.T) {
	a := SumBytes(DatasetID, []byte("ab"))
	b := SumBytes(DatasetID, []byte("ab\x00"))
	c := SumBytes(DatasetID, []byte("\x00ab"))
	if a == b || a == c || b == c {
		t.Fatal("byte strings of different length or content collide")
	}
	long := make([]byte, 100)
	if SumBytes(DatasetID, long) == SumBytes(DatasetID, long[:99]) {
		t.Fatal("length not bound")
	}
}

// TestConstraintCounts pins the cost model stated in the package doc.
func TestConstraintCounts(t *testing.T) {
	for _, tc := range []struct {
		d    Domain
		n    int
		want int
	}{
		{Nullifier, 3, 2 * 240},
		{MerkleNode, 2, 240},
		{ShareCommitment, 15, 555},
		{ShareCommitment, 27, 2 * 555},
	} {
		cs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, &sumCircuit{domain: tc.d, In: make([]frontend.Variable, tc.n)})
		if err != nil {
			t.Fatal(err)
		}
		// One extra constraint is the final equality with the public output.
		if got := cs.GetNbConstraints() - 1; got > tc.want {
			t.Errorf("%s with %d inputs: %d constraints, want ≤ %d", tc.d.name, tc.n, got, tc.want)
		} else {
			t.Logf("%s with %d inputs: %d constraints", tc.d.name, tc.n, got)
		}
	}
}

func BenchmarkSumNative(b *testing.B) {
	for _, tc := range []struct {
		d Domain
		n int
	}{{Nullifier, 3}, {ShareCommitment, 27}, {ShareCommitment, 155}} {
		xs := randomElements(b, tc.n)
		b.Run(fmt.Sprintf("%s/n=%d", tc.d.name, tc.n), func(b *testing.B) {
			for b.Loop() {
				Sum(tc.d, xs...)
			}
		})
	}
}
