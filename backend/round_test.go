package backend

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/mpc"
)

// The round concern on both backends: each node's partial over its stored
// values, with a mechanism's noise embedded by one node, combines into the
// coordinates' sums plus that noise, negative included; and the partial
// set and quorum each backend needs.

func TestMPCRound(t *testing.T) {
	k := newNodeKeys(t)
	be, err := For(k.dataset(testSchema(), cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	s := testSchema()
	m := s.Layout().Len
	coords := []int{0, 1, 2}
	stored := make([][][]byte, testNodes) // by node, by record
	var vectors [][]uint64
	for i := range 4 {
		v := testVector(s, i)
		vectors = append(vectors, v)
		shares, err := mpc.Split(v, testNodes, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for j := range testNodes {
			b, err := mpc.MarshalShare(shares[j])
			if err != nil {
				t.Fatal(err)
			}
			stored[j] = append(stored[j], b)
		}
	}
	noise := []*big.Int{big.NewInt(-9), big.NewInt(0), big.NewInt(7)}
	parts := map[uint32][]byte{}
	for j := range uint32(testNodes) {
		in := PartialInput{JobID: testJobID, Sum: sumOf(t, be, coords, stored[j]), Cohort: 4, Coords: coords}
		if j == 1 {
			in.Noise = noise
		}
		if parts[j], err = be.Partial(context.Background(), in, nil); err != nil {
			t.Fatal(err)
		}
	}
	comb := be.Combiner(nil, 4, coords)
	got, err := comb.Combine(parts)
	if err != nil {
		t.Fatal(err)
	}
	if agg, err := comb.Aggregate(); agg != nil || err != nil {
		t.Fatalf("an MPC combination publishes an aggregate: %d bytes, %v", len(agg), err)
	}
	if agg, err := be.AggregateOf(nil); agg != nil || err != nil {
		t.Fatalf("an MPC cohort has an aggregate: %d bytes, %v", len(agg), err)
	}
	for i, c := range coords {
		want := int64(noise[i].Int64())
		for _, v := range vectors {
			want += int64(v[c])
		}
		if got[i].Int64() != want {
			t.Errorf("coordinate %d: %v, want %d", c, got[i], want)
		}
	}
	// The count must match the cohort; a node left out is refused.
	if _, err := be.Combiner(nil, 5, coords).Combine(parts); err == nil || !strings.Contains(err.Error(), "summed 4 records") {
		t.Fatalf("a cohort of another size: %v", err)
	}
	if s, err := be.NewSum(coords); err != nil || s.Add([]byte{1, 2}) == nil {
		t.Fatalf("a malformed stored share was summed (%v)", err)
	}
	if _, err := be.NewSum([]int{m}); err == nil {
		t.Fatal("a coordinate out of range was summed")
	}
	if _, err := be.Partial(context.Background(), PartialInput{Sum: sumOf(t, be, coords, stored[0]), Cohort: 5, Coords: coords}, nil); err == nil {
		t.Fatal("a partial over fewer records than the cohort was computed")
	}
	if _, err := be.Partial(context.Background(), PartialInput{Sum: sumOf(t, be, coords[:2], stored[0]), Cohort: 4, Coords: coords}, nil); err == nil {
		t.Fatal("a partial over a sum at other coordinates was computed")
	}
	// A partial leaves its sum as it was: node 1's noised partial again,
	// from the same sum.
	in := PartialInput{JobID: testJobID, Sum: sumOf(t, be, coords, stored[1]), Cohort: 4, Coords: coords, Noise: noise}
	for range 2 {
		if p, err := be.Partial(context.Background(), in, nil); err != nil || string(p) != string(parts[1]) {
			t.Fatalf("node 1's partial again from one sum: %v (same: %v)", err, string(p) == string(parts[1]))
		}
	}
	if q := be.Quorum(); q.Need != testNodes || q.Backend != "MPC" {
		t.Fatalf("quorum %+v", q)
	}
	if set, err := be.CheckPartialSet(nil); err != nil || len(set) != testNodes {
		t.Fatalf("partial set %v, %v", set, err)
	}
	if _, err := be.CheckPartialSet([]uint32{0, 1}); err == nil {
		t.Fatal("a decryption set accepted for MPC")
	}
	if be.DecryptionSet([]uint32{0, 1, 2}) != nil || be.Published([]byte("share")) != nil {
		t.Fatal("MPC publishes a decryption set or a share")
	}
}

// heParty lends a test threshold key to the backend, with no storage.
type heParty struct {
	f     *heFixture
	index uint32
}

func (p heParty) Index() uint32 { return p.index }

func (p heParty) DecryptionShare(_ context.Context, agg *he.Ciphertext, _ string, set []uint32) (*he.DecryptionShare, error) {
	active := make([]int, len(set))
	for i, x := range set {
		active[i] = int(x)
	}
	return p.f.tkeys[p.index].DecryptionShare(p.f.ds.HE.Params, agg, active, p.f.ds.HE.Budget, rand.Reader)
}

func TestHERound(t *testing.T) {
	f := getHEFixture(t)
	be := Backend(f.b)
	var stored [][]byte
	for _, ct := range f.cts {
		b, err := ct.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, b)
	}
	coords := []int{0, 1, 2}
	set := []uint32{0, 1}
	noise := []*big.Int{big.NewInt(0), big.NewInt(-1000), big.NewInt(3)}
	parts := map[uint32][]byte{}
	for _, i := range set {
		in := PartialInput{JobID: testJobID, Sum: sumOf(t, be, coords, stored), Cohort: uint64(len(stored)), Coords: coords, PartialSet: set}
		if i == 0 {
			in.Noise = noise
		}
		var err error
		if parts[i], err = be.Partial(context.Background(), in, heParty{f, i}); err != nil {
			t.Fatal(err)
		}
	}
	comb := be.Combiner(sumOf(t, be, coords, stored), uint64(len(stored)), coords)
	got, err := comb.Combine(parts)
	if err != nil {
		t.Fatal(err)
	}
	if agg, err := comb.Aggregate(); err != nil || string(agg) != string(f.job.Aggregate) {
		t.Fatalf("the combination's aggregate is not the cohort's sum (%v)", err)
	}
	for i, c := range coords {
		want := noise[i].Int64()
		for _, v := range f.vectors {
			want += int64(v[c])
		}
		if got[i].Int64() != want {
			t.Errorf("coordinate %d: %v, want %d", c, got[i], want)
		}
	}
	// Exact release refuses the negative sum the noise made.
	if _, err := (enclave.Exact{}).Release(coords, got); !errors.Is(err, enclave.ErrOutOfRange) {
		t.Fatalf("exact release of a negative sum: %v", err)
	}
	if _, err := be.Partial(context.Background(), PartialInput{Sum: sumOf(t, be, coords, stored), Cohort: uint64(len(stored)), Coords: coords, PartialSet: []uint32{1, 2}}, heParty{f, 0}); err == nil {
		t.Fatal("a node outside the decryption set gave a share")
	}
	if _, err := be.CheckPartialSet([]uint32{0}); err == nil {
		t.Fatal("a decryption set below the threshold accepted")
	}
	if _, err := be.CheckPartialSet([]uint32{1, 0}); err == nil {
		t.Fatal("an unsorted decryption set accepted")
	}
	if q := be.Quorum(); q.Need != testThreshold || q.Backend != "HE" {
		t.Fatalf("quorum %+v", q)
	}
	if got, err := be.PartialSetOf(parts[1]); err != nil || len(got) != 2 || got[0] != 0 || got[1] != 1 {
		t.Fatalf("partial set of a share: %v, %v", got, err)
	}
	if _, err := be.PartialSetOf([]byte{1}); err == nil {
		t.Fatal("the partial set of a malformed share")
	}
	agg, err := be.Aggregate(stored)
	if err != nil || len(agg) == 0 {
		t.Fatalf("aggregate: %d bytes, %v", len(agg), err)
	}
	if string(agg) != string(f.job.Aggregate) {
		t.Fatal("the aggregate is not the fixture's")
	}
	// Summed one record at a time, the aggregate is the same.
	if got, err := be.AggregateOf(sumOf(t, be, coords, stored)); err != nil || string(got) != string(agg) {
		t.Fatalf("aggregate of a running sum: %d bytes, %v", len(got), err)
	}
	if _, err := be.AggregateOf(sumOf(t, be, coords, nil)); err == nil {
		t.Fatal("the aggregate of no record")
	}
}

// sumOf sums stored values at coords as a node reads them.
func sumOf(t *testing.T, be Backend, coords []int, stored [][]byte) Sum {
	t.Helper()
	s, err := be.NewSum(coords)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range stored {
		if err := s.Add(b); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
