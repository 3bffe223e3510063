package audit

import (
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// A hasher that takes its full batches from ClaimSubtrees gives the root
// of one that hashes everything: on a first pass, which fills the cache,
// on a second over the same leaves, which takes every full batch from it,
// and over a cohort with one record more at its start, whose batches all
// shift and miss. A root in the cache is the one used; the cache forgets
// its oldest roots beyond its bound, and the same batch given as
// nullifiers or as their leaves is two keys.
func TestClaimSubtrees(t *testing.T) {
	recs := make([]Record, 3*claimBatch+5)
	for i := range recs {
		var e fr.Element
		if _, err := e.SetRandom(); err != nil {
			t.Fatal(err)
		}
		recs[i] = Record{Nullifier: e.Bytes()}
	}
	leaves := make([][32]byte, len(recs))
	for i, r := range recs {
		if i%2 == 0 {
			leaves[i] = leafOf(t, r.Nullifier)
		}
	}
	root := func(c *ClaimSubtrees, recs []Record, leaves [][32]byte) [32]byte {
		t.Helper()
		h := ClaimRootHasher{Subtrees: c}
		for i, r := range recs {
			if err := h.AddLeaf(r.Nullifier, leaves[i]); err != nil {
				t.Fatal(err)
			}
		}
		return h.Root()
	}
	want, err := ClaimRootOf(recs)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClaimSubtrees(16)
	if got := root(c, recs, leaves); got != want || c.Hits() != 0 || len(c.m) != 3 {
		t.Fatalf("first pass: root %x…, want %x…; %d hits, %d kept", got[:4], want[:4], c.Hits(), len(c.m))
	}
	if got := root(c, recs, leaves); got != want || c.Hits() != 3 {
		t.Fatalf("second pass: root %x…, want %x…; %d hits, want 3", got[:4], want[:4], c.Hits())
	}
	var e fr.Element
	if _, err := e.SetRandom(); err != nil {
		t.Fatal(err)
	}
	more := append([]Record{{Nullifier: e.Bytes()}}, recs...)
	wantMore, err := ClaimRootOf(more)
	if err != nil {
		t.Fatal(err)
	}
	if got := root(c, more, append([][32]byte{{}}, leaves...)); got != wantMore || c.Hits() != 3 {
		t.Fatalf("shifted: root %x…, want %x…; %d hits, want still 3", got[:4], wantMore[:4], c.Hits())
	}
	if got := root(c, recs, make([][32]byte, len(recs))); got != want || c.Hits() != 3 {
		t.Fatalf("as nullifiers: root %x…, want %x…; %d hits, want still 3", got[:4], want[:4], c.Hits())
	}

	// The cache's root is the one used: a wrong one gives another root.
	batch, raw := make([]fr.Element, claimBatch), make([]bool, claimBatch)
	for i := range batch {
		if err := batch[i].SetBytesCanonical(recs[i].Nullifier[:]); err != nil {
			t.Fatal(err)
		}
		if leaves[i] != ([32]byte{}) {
			if err := batch[i].SetBytesCanonical(leaves[i][:]); err != nil {
				t.Fatal(err)
			}
		} else {
			raw[i] = true
		}
	}
	key := subtreeKey(batch, raw)
	if _, ok := c.m[key]; !ok {
		t.Fatal("the first batch's root is not kept under its key")
	}
	c.m[key] = fr.NewElement(7)
	if got := root(c, recs, leaves); got == want {
		t.Fatal("a wrong root in the cache left the claim root unchanged")
	}

	small := NewClaimSubtrees(2)
	root(small, recs, leaves)
	if len(small.m) != 2 || len(small.order) != 2 {
		t.Fatalf("a cache of 2 holds %d roots", len(small.m))
	}
	if _, ok := small.m[key]; ok {
		t.Fatal("the oldest root was kept beyond the bound")
	}
}
