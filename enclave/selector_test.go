package enclave

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestSelectorMatchesSelect feeds records one at a time, in nullifier
// order, to a Selector and a SetHasher: the selection and the digest are
// Select's and SetDigest's.
func TestSelectorMatchesSelect(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	records := mixedRecords(rng, 400)
	want := selectDefault(records)
	slices.SortFunc(records, compareRecords)
	s := NewSelector(1, 4, 6, jobTime)
	kept := map[[32]byte]bool{}
	for i, r := range records {
		// Add and Take keep the same records; Take says which.
		if i%2 == 0 {
			if err := s.Add(r); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ok, err := s.Take(r)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			kept[r.Nullifier] = true
		}
	}
	got := s.Selection()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Selector = %+v, Select = %+v", got.Excluded, want.Excluded)
	}
	// Take reported kept exactly the eligible records it was given.
	var eligible int
	for i, r := range records {
		if i%2 == 1 && r.Nullifier != records[max(i-1, 0)].Nullifier {
			if e, _ := NewSelector(1, 4, 6, jobTime).Eligible(r); e != kept[r.Nullifier] {
				t.Fatalf("Take(record %d) = %v, Eligible = %v", i, kept[r.Nullifier], e)
			}
			if kept[r.Nullifier] {
				eligible++
			}
		}
	}
	if eligible == 0 {
		t.Fatal("no record taken: the test checks nothing")
	}
	h := NewSetHasher("job-1", "fitness", got.Cohort())
	for _, r := range got.Records {
		if err := h.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	d, err := h.Sum()
	if err != nil || d != SetDigest("job-1", "fitness", want.Records) {
		t.Fatalf("SetHasher = %x, %v; want SetDigest %x", d, err, SetDigest("job-1", "fitness", want.Records))
	}
}

// TestSelectorRefusals: records out of order, a repeated nullifier, more
// or fewer records than a set digest announced.
func TestSelectorRefusals(t *testing.T) {
	s := NewSelector(1, 4, 6, jobTime)
	if err := s.Add(rec(2)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []byte{2, 1} {
		if err := s.Add(rec(id)); !errors.Is(err, ErrOrder) {
			t.Errorf("Selector.Add(%d after 2) = %v, want ErrOrder", id, err)
		}
	}
	h := NewSetHasher("job-1", "fitness", 2)
	if err := h.Add(rec(2).Member()); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(rec(1).Member()); !errors.Is(err, ErrOrder) {
		t.Errorf("SetHasher.Add(out of order) = %v, want ErrOrder", err)
	}
	if _, err := h.Sum(); err == nil {
		t.Error("SetHasher.Sum with 1 of 2 records announced: no error")
	}
	if err := h.Add(rec(3).Member()); err != nil {
		t.Fatal(err)
	}
	if err := h.Add(rec(4).Member()); err == nil {
		t.Error("SetHasher.Add beyond the announced count: no error")
	}
	if _, err := h.Sum(); err != nil {
		t.Errorf("SetHasher.Sum with the announced count: %v", err)
	}
}
