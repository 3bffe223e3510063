package he

import (
	"errors"
	"slices"
	"testing"
)

type decryptFixture struct {
	p      *Params
	ck     *committeeKeys
	budget *Budget
	ct     *Ciphertext
	m      []uint64
}

func newDecryptFixture(t *testing.T) *decryptFixture {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 120)
	b, err := p.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: 10, MaxCoord: 1000, Smudging: Smudging{StatisticalBits: 40}})
	if err != nil {
		t.Fatal(err)
	}
	m := randomMessage(p, p.N(), 1000, 121)
	ct, _, err := ck.pk.Encrypt(p, m, testRNG(122))
	if err != nil {
		t.Fatal(err)
	}
	return &decryptFixture{p: p, ck: ck, budget: b, ct: ct, m: m}
}

func TestDecryptionShareArguments(t *testing.T) {
	f := newDecryptFixture(t)
	tk := f.ck.keys[1]
	other3of3, _ := f.p.Check(Capacity{Nodes: 3, Threshold: 3, MaxCohort: 10, MaxCoord: 1000, Smudging: Smudging{StatisticalBits: 40}})
	n12 := mustParams(t, BGVN12Q109)
	n12Budget, _ := n12.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: 10, MaxCoord: 1000, Smudging: Smudging{StatisticalBits: 40}})
	for _, tc := range []struct {
		name   string
		p      *Params
		active []int
		budget *Budget
		want   error
	}{
		{"no budget", f.p, []int{0, 1}, nil, ErrInvalidArgument},
		{"hand-made budget", f.p, []int{0, 1}, &Budget{Params: f.p.ID(), Capacity: f.budget.Capacity}, ErrInvalidArgument},
		{"budget of another committee", f.p, []int{0, 1}, other3of3, ErrMismatch},
		{"budget of another set", f.p, []int{0, 1}, n12Budget, ErrMismatch},
		{"other parameters", n12, []int{0, 1}, n12Budget, ErrMismatch},
		{"self not active", f.p, []int{0, 2}, f.budget, ErrInvalidArgument},
		{"unsorted", f.p, []int{1, 0}, f.budget, ErrInvalidArgument},
		{"repeated", f.p, []int{1, 1}, f.budget, ErrInvalidArgument},
		{"too many", f.p, []int{0, 1, 2}, f.budget, ErrInvalidArgument},
		{"too few", f.p, []int{1}, f.budget, ErrInvalidArgument},
		{"out of range", f.p, []int{1, 3}, f.budget, ErrInvalidArgument},
	} {
		if _, err := tk.DecryptionShare(tc.p, f.ct, tc.active, tc.budget, testRNG(1)); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestRevealAndCombine(t *testing.T) {
	f := newDecryptFixture(t)
	p := f.p
	active := []int{0, 2}
	coords := []int{0, 5, 200}
	shares := make([]*DecryptionShare, 2)
	parts := make([]*PartialDecryption, 2)
	for k, i := range active {
		var err error
		if shares[k], err = f.ck.keys[i].DecryptionShare(p, f.ct, active, f.budget, testRNG(uint64(i))); err != nil {
			t.Fatal(err)
		}
		if parts[k], err = shares[k].Reveal(coords); err != nil {
			t.Fatal(err)
		}
	}
	// Reveal exposes exactly the asked coefficients of the share.
	part := parts[1]
	if part.Party() != 2 || !slices.Equal(part.Coords(), coords) || !slices.Equal(part.Active(), active) || part.Ciphertext() != f.ct.Digest() {
		t.Fatalf("partial decryption of party %d, coords %v, active %v", part.Party(), part.Coords(), part.Active())
	}
	b, _ := part.MarshalBinary()
	if len(b) != partialSize(p, 2, len(coords)) || len(part.values) != len(coords)*p.limbs() {
		t.Fatalf("partial decryption carries %d bytes / %d values for %d coordinates", len(b), len(part.values), len(coords))
	}
	for k, j := range coords {
		for i := 0; i < p.limbs(); i++ {
			if part.values[k*p.limbs()+i] != shares[1].h.Coeffs[i][j] {
				t.Fatal("revealed value is not the share's coefficient")
			}
		}
	}
	got, err := Combine(p, f.ct, parts, []int{200, 0})
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != f.m[200] || got[1] != f.m[0] {
		t.Errorf("Combine = %v, want %v", got, []uint64{f.m[200], f.m[0]})
	}
	// Parts in any order.
	if got, _ := Combine(p, f.ct, []*PartialDecryption{parts[1], parts[0]}, []int{5}); got[0] != f.m[5] {
		t.Error("Combine depends on the order of the parts")
	}

	for _, tc := range []struct {
		name   string
		parts  []*PartialDecryption
		coords []int
		want   error
	}{
		{"coordinate not revealed", parts, []int{1}, ErrInvalidArgument},
		{"repeated coordinate", parts, []int{0, 0}, ErrInvalidArgument},
		{"coordinate out of range", parts, []int{p.N()}, ErrInvalidArgument},
		{"no coordinates", parts, nil, ErrInvalidArgument},
		{"one part", parts[:1], []int{0}, ErrInvalidArgument},
		{"same part twice", []*PartialDecryption{parts[0], parts[0]}, []int{0}, ErrInvalidArgument},
		{"nil part", []*PartialDecryption{parts[0], nil}, []int{0}, ErrInvalidArgument},
		{"no parts", nil, []int{0}, ErrInvalidArgument},
	} {
		if _, err := Combine(p, f.ct, tc.parts, tc.coords); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}

	// A part of another ciphertext or another active set is refused.
	ct2, _, _ := f.ck.pk.Encrypt(p, []uint64{9}, testRNG(5))
	s2, _ := f.ck.keys[2].DecryptionShare(p, ct2, active, f.budget, testRNG(6))
	p2, _ := s2.Reveal(coords)
	if _, err := Combine(p, f.ct, []*PartialDecryption{parts[0], p2}, []int{0}); !errors.Is(err, ErrMismatch) {
		t.Errorf("part of another ciphertext: %v", err)
	}
	s3, _ := f.ck.keys[2].DecryptionShare(p, f.ct, []int{1, 2}, f.budget, testRNG(7))
	p3, _ := s3.Reveal(coords)
	if _, err := Combine(p, f.ct, []*PartialDecryption{parts[0], p3}, []int{0}); !errors.Is(err, ErrMismatch) {
		t.Errorf("part of another active set: %v", err)
	}

	for _, bad := range [][]int{nil, {3, 3}, {5, 4}, {-1}, {p.N()}} {
		if _, err := shares[0].Reveal(bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Reveal(%v): %v", bad, err)
		}
	}
}

// TestSmudgingApplied checks that shares carry fresh noise of the budget's
// size: two shares of one ciphertext with different randomness differ, by
// amounts below B_sm and, for most coefficients, far above the aggregate
// noise they hide.
func TestSmudgingApplied(t *testing.T) {
	f := newDecryptFixture(t)
	p := f.p
	a, _ := f.ck.keys[0].DecryptionShare(p, f.ct, []int{0, 1}, f.budget, testRNG(1))
	b, _ := f.ck.keys[0].DecryptionShare(p, f.ct, []int{0, 1}, f.budget, testRNG(2))
	diff := p.ringQ.NewPoly()
	p.ringQ.Sub(a.h, b.h, diff)
	bound := f.budget.SmudgingBound()
	twice := bound.Lsh(bound, 1)
	large := 0
	for _, d := range p.crtQ.toInts(diff, p.N(), true) {
		if d.CmpAbs(twice) > 0 {
			t.Fatal("difference of two smudgings exceeds 2·B_sm")
		}
		if d.BitLen() > f.budget.AggregateNoiseBits+20 {
			large++
		}
	}
	if large < p.N()*9/10 {
		t.Errorf("only %d of %d coefficients carry smudging well above the aggregate noise", large, p.N())
	}
}

func TestDecryptionShareEncoding(t *testing.T) {
	f := newDecryptFixture(t)
	s, err := f.ck.keys[2].DecryptionShare(f.p, f.ct, []int{1, 2}, f.budget, testRNG(3))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) (*DecryptionShare, error) { return UnmarshalDecryptionShare(f.p, b) }
	b := roundTrip(t, s, decode)
	d, _ := decode(b)
	if d.Party() != 2 || !slices.Equal(d.Active(), []int{1, 2}) || d.Ciphertext() != f.ct.Digest() {
		t.Error("decoded share lost its party, active set or ciphertext")
	}
	for name, g := range garbage(b) {
		requireMalformed(t, name, g, decode)
	}
	h := headerSize(f.p)
	requireMalformed(t, "party not active", setByte(b, h+2, 0), decode)
	requireMalformed(t, "active unsorted", setByte(setByte(b, h+3, 2), h+4, 1), decode)
	requireMalformed(t, "threshold 3", setByte(b, h+1, 3), decode)
	requireMalformed(t, "coefficient = q1", setUint64(b, len(b)-8, f.p.qs[1]), decode)
}

func TestPartialDecryptionEncoding(t *testing.T) {
	f := newDecryptFixture(t)
	s, _ := f.ck.keys[0].DecryptionShare(f.p, f.ct, []int{0, 1}, f.budget, testRNG(3))
	part, _ := s.Reveal([]int{1, 2, 250})
	decode := func(b []byte) (*PartialDecryption, error) { return UnmarshalPartialDecryption(f.p, b) }
	b := roundTrip(t, part, decode)
	for name, g := range garbage(b) {
		requireMalformed(t, name, g, decode)
	}
	h := headerSize(f.p)
	countAt := h + 3 + 2 + 32
	coordsAt := countAt + 4
	valuesAt := coordsAt + 3*4
	requireMalformed(t, "count 0", setUint32(b, countAt, 0), decode)
	requireMalformed(t, "count 4", setUint32(b, countAt, 4), decode)
	requireMalformed(t, "count huge", setUint32(b, countAt, 1<<31), decode)
	requireMalformed(t, "coordinates unsorted", setUint32(b, coordsAt, 2), decode)
	requireMalformed(t, "coordinate ≥ N", setUint32(b, coordsAt+8, uint32(f.p.N())), decode)
	requireMalformed(t, "value = q0", setUint64(b, valuesAt, f.p.qs[0]), decode)
	requireMalformed(t, "value = q1", setUint64(b, len(b)-8, f.p.qs[1]), decode)
	requireMalformed(t, "party not active", setByte(b, h+2, 2), decode)
}

func setUint32(b []byte, offset int, v uint32) []byte {
	out := slices.Clone(b)
	out[offset], out[offset+1], out[offset+2], out[offset+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	return out
}
