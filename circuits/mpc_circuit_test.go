package circuits

import (
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/test"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/schema"
)

// testSchemaYAML has every field type: an int with a span that is not
// 2^b−1 (so "above max but within the bit width" is expressible), a fixed
// field, a bool, a category, and products among them.
const testSchemaYAML = `
id: circuit-test
fields:
  - {name: age,    type: int,   min: 18, max: 100}
  - {name: sleep,  type: fixed, min: 0,  max: 16, decimals: 2}
  - {name: smoker, type: bool}
  - {name: region, type: category, values: [north, south, east]}
moments: [age, sleep, smoker]
purposes: [health, research, training]
epoch: weekly
min_cohort: 5
`

const (
	testDepth = 4
	testNodes = 3
)

// testShape returns the shape of testSchemaYAML; it panics on error so that
// it can also serve package-level fixtures (t may be nil).
func testShape(t testing.TB) MPCShape {
	s, err := schema.Parse([]byte(testSchemaYAML))
	if err == nil {
		var sh MPCShape
		if sh, err = NewMPCShape(s, testNodes, testDepth); err == nil {
			return sh
		}
	}
	if t != nil {
		t.Fatal(err)
	}
	panic(err)
}

// fixture is a complete, field-valued description of one contribution, so
// that tests can break exactly one relation at a time.
type fixture struct {
	secret   fr.Element
	root     fr.Element
	index    uint64
	siblings []fr.Element
	record   []fr.Element
	shares   [][]fr.Element
	blinds   []fr.Element
	pub      PublicInputs
}

func rnd(t testing.TB) fr.Element {
	var e fr.Element
	if _, err := e.SetRandom(); err != nil {
		t.Fatal(err)
	}
	return e
}

// validRecord encodes age=42, sleep=7.25, smoker=true, region=east.
func validRecord(t testing.TB, l schema.Layout) []fr.Element {
	vals := map[string]uint64{"age": 42 - 18, "sleep": 725, "smoker": 1}
	v := make([]fr.Element, l.Len)
	v[0].SetOne()
	for _, c := range l.Values {
		v[c.Index].SetUint64(vals[c.Field])
	}
	v[l.Categories[0].Start+2].SetOne()
	for _, p := range l.Products {
		v[p.Index].Mul(&v[p.A], &v[p.B])
	}
	return v
}

func newFixture(t testing.TB, sh MPCShape) *fixture {
	t.Helper()
	f := &fixture{secret: rnd(t)}
	tr, err := merkle.New(sh.Depth)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		ic := rnd(t)
		if i == 2 {
			ic = IdentityCommitment(f.secret)
		}
		if _, err := tr.Append(ic); err != nil {
			t.Fatal(err)
		}
	}
	p, err := tr.Path(2)
	if err != nil {
		t.Fatal(err)
	}
	f.root, f.index, f.siblings = tr.Root(), p.Index, p.Siblings
	f.record = validRecord(t, sh.Layout)
	f.pub = PublicInputs{
		Dataset: DatasetField("circuit-test"), Epoch: 2961, Purposes: 0b011,
		Expiry: 1_900_000_000, MinCohort: 10,
	}
	f.reshare(t, sh.Nodes)
	f.rederive()
	return f
}

// reshare splits the record afresh into consistent shares.
func (f *fixture) reshare(t testing.TB, k int) {
	f.shares = make([][]fr.Element, k)
	f.blinds = make([]fr.Element, k)
	last := make([]fr.Element, len(f.record))
	copy(last, f.record)
	for j := 0; j < k-1; j++ {
		f.shares[j] = make([]fr.Element, len(f.record))
		for i := range f.record {
			f.shares[j][i] = rnd(t)
			last[i].Sub(&last[i], &f.shares[j][i])
		}
	}
	f.shares[k-1] = last
	for j := range f.blinds {
		f.blinds[j] = rnd(t)
	}
	f.recommit()
}

func (f *fixture) recommit() {
	f.pub.ShareCommitments = make([]fr.Element, len(f.shares))
	for j := range f.shares {
		f.pub.ShareCommitments[j] = ShareCommitment(j, f.blinds[j], f.shares[j])
	}
}

// rederive recomputes the secret-derived public inputs.
func (f *fixture) rederive() {
	f.pub.Root = f.root
	f.pub.Nullifier = NullifierOf(f.secret, f.pub.Dataset, f.pub.Epoch)
	f.pub.Revocation = RevocationCommitmentOf(RevocationTokenOf(f.secret, f.pub.Dataset, f.pub.Epoch))
}

func (f *fixture) assignment(sh MPCShape) *MPCContribution {
	return assignMPC(sh, f.pub, f.secret, merkle.Path{Index: f.index, Siblings: f.siblings}, f.record, f.shares, f.blinds)
}

func coord(t testing.TB, l schema.Layout, field string) schema.ValueCoord {
	for _, c := range l.Values {
		if c.Field == field {
			return c
		}
	}
	t.Fatalf("no field %s", field)
	return schema.ValueCoord{}
}

func neg(x uint64) fr.Element {
	var e fr.Element
	e.SetUint64(x)
	e.Neg(&e)
	return e
}

func elem(x uint64) fr.Element { return fr.NewElement(x) }

// setValue sets a value coordinate and keeps products and shares consistent,
// so that only the range constraint on the value can fail.
func (f *fixture) setValue(t testing.TB, sh MPCShape, field string, x fr.Element) {
	c := coord(t, sh.Layout, field)
	f.record[c.Index] = x
	for _, p := range sh.Layout.Products {
		f.record[p.Index].Mul(&f.record[p.A], &f.record[p.B])
	}
	f.reshare(t, sh.Nodes)
}

// TestMPCContributionConstraints breaks each constraint of the circuit in
// turn, keeping every other relation intact, and checks the witness no longer
// solves; the untouched fixture must solve.
func TestMPCContributionConstraints(t *testing.T) {
	sh := testShape(t)
	l := sh.Layout
	cat := l.Categories[0]
	var product schema.ProductCoord
	for _, p := range l.Products {
		if p.A != p.B {
			product = p
			break
		}
	}

	cases := []struct {
		name   string
		mutate func(f *fixture)
	}{
		// validity
		{"int above max within bit width", func(f *fixture) { f.setValue(t, sh, "age", elem(coord(t, l, "age").Span+1)) }},
		{"int at 2^bits", func(f *fixture) { f.setValue(t, sh, "age", elem(1<<coord(t, l, "age").Bits)) }},
		{"int below min", func(f *fixture) { f.setValue(t, sh, "age", neg(1)) }},
		{"fixed above max", func(f *fixture) { f.setValue(t, sh, "sleep", elem(coord(t, l, "sleep").Span+1)) }},
		{"fixed below min", func(f *fixture) { f.setValue(t, sh, "sleep", neg(5)) }},
		{"bool is 2", func(f *fixture) { f.setValue(t, sh, "smoker", elem(2)) }},
		{"category with two ones", func(f *fixture) {
			f.record[cat.Start].SetOne()
			f.reshare(t, sh.Nodes)
		}},
		{"category with no one", func(f *fixture) {
			f.record[cat.Start+2].SetZero()
			f.reshare(t, sh.Nodes)
		}},
		{"category with a 2 balanced by -1", func(f *fixture) {
			f.record[cat.Start+2] = elem(2)
			f.record[cat.Start] = neg(1)
			f.reshare(t, sh.Nodes)
		}},
		{"wrong product", func(f *fixture) {
			f.record[product.Index].Add(&f.record[product.Index], new(fr.Element).SetOne())
			f.reshare(t, sh.Nodes)
		}},
		{"leading coordinate 0", func(f *fixture) {
			f.record[0].SetZero()
			f.reshare(t, sh.Nodes)
		}},
		{"leading coordinate 2", func(f *fixture) {
			f.record[0] = elem(2)
			f.reshare(t, sh.Nodes)
		}},
		// consent
		{"nullifier for another dataset", func(f *fixture) {
			f.pub.Nullifier = NullifierOf(f.secret, DatasetField("other"), f.pub.Epoch)
		}},
		{"nullifier for another epoch", func(f *fixture) {
			f.pub.Nullifier = NullifierOf(f.secret, f.pub.Dataset, f.pub.Epoch+1)
		}},
		{"nullifier of another secret", func(f *fixture) {
			f.pub.Nullifier = NullifierOf(rnd(t), f.pub.Dataset, f.pub.Epoch)
		}},
		{"public dataset changed", func(f *fixture) { f.pub.Dataset = DatasetField("other") }},
		{"public epoch changed", func(f *fixture) { f.pub.Epoch++ }},
		{"wrong merkle sibling", func(f *fixture) { f.siblings[1] = rnd(t) }},
		{"wrong merkle index", func(f *fixture) { f.index = 3 }},
		{"merkle index beyond depth", func(f *fixture) { f.index += 1 << testDepth }},
		{"wrong root", func(f *fixture) { f.root = rnd(t); f.rederive() }},
		{"secret not in registry", func(f *fixture) { f.secret = rnd(t); f.rederive() }},
		{"wrong revocation commitment", func(f *fixture) {
			f.pub.Revocation = RevocationCommitmentOf(RevocationTokenOf(f.secret, f.pub.Dataset, f.pub.Epoch+1))
		}},
		{"revocation commitment is the token", func(f *fixture) {
			f.pub.Revocation = RevocationTokenOf(f.secret, f.pub.Dataset, f.pub.Epoch)
		}},
		{"purposes beyond schema", func(f *fixture) { f.pub.Purposes = 1 << 3 }},
		{"expiry beyond 40 bits", func(f *fixture) { f.pub.Expiry = 1 << ExpiryBits }},
		{"epoch beyond 32 bits", func(f *fixture) { f.pub.Epoch = 1 << EpochBits; f.rederive() }},
		// MPC binding
		{"shares not summing to v", func(f *fixture) {
			f.shares[1][3].Add(&f.shares[1][3], new(fr.Element).SetOne())
			f.recommit()
		}},
		{"commitment not matching its share", func(f *fixture) {
			f.shares[2][0].Add(&f.shares[2][0], new(fr.Element).SetOne())
			f.shares[1][0].Sub(&f.shares[1][0], new(fr.Element).SetOne())
			f.pub.ShareCommitments[1] = ShareCommitment(1, f.blinds[1], f.shares[1])
			// share 2's commitment is left stale: sums hold, commitment 2 does not.
		}},
		{"commitment with another blinding", func(f *fixture) { f.blinds[0] = rnd(t) }},
		{"commitments swapped between nodes", func(f *fixture) {
			f.pub.ShareCommitments[0], f.pub.ShareCommitments[1] = f.pub.ShareCommitments[1], f.pub.ShareCommitments[0]
		}},
	}

	field := ecc.BN254.ScalarField()
	if err := test.IsSolved(NewMPCContribution(sh), newFixture(t, sh).assignment(sh), field); err != nil {
		t.Fatalf("valid fixture does not solve: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, sh)
			tc.mutate(f)
			if err := test.IsSolved(NewMPCContribution(sh), f.assignment(sh), field); err == nil {
				t.Fatal("broken witness solves")
			}
		})
	}
}

// TestMPCContributionProver runs the valid fixture and two broken ones
// through gnark's full test harness (Groth16 prover included).
func TestMPCContributionProver(t *testing.T) {
	if testing.Short() {
		t.Skip("full prover harness in the long tier")
	}
	sh := testShape(t)
	valid := newFixture(t, sh)
	aboveMax := newFixture(t, sh)
	aboveMax.setValue(t, sh, "age", elem(coord(t, sh.Layout, "age").Span+1))
	badShare := newFixture(t, sh)
	badShare.shares[0][0].Add(&badShare.shares[0][0], new(fr.Element).SetOne())
	badShare.recommit()

	assert := test.NewAssert(t)
	assert.CheckCircuit(NewMPCContribution(sh),
		test.WithValidAssignment(valid.assignment(sh)),
		test.WithInvalidAssignment(aboveMax.assignment(sh)),
		test.WithInvalidAssignment(badShare.assignment(sh)),
		test.WithCurves(ecc.BN254), test.WithBackends(backend.GROTH16), test.NoFuzzing(), test.NoSerializationChecks())
}

var _ frontend.Circuit = NewMPCContribution(MPCShape{})
