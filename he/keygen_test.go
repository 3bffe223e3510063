package he

import (
	"errors"
	"math/big"
	"slices"
	"testing"
)

func TestCommitteeValidate(t *testing.T) {
	for _, tc := range []struct {
		c  Committee
		ok bool
	}{
		{Committee{3, 2}, true}, {Committee{2, 2}, true}, {Committee{16, 16}, true}, {Committee{16, 2}, true},
		{Committee{1, 1}, false}, {Committee{3, 1}, false}, {Committee{3, 4}, false}, {Committee{17, 9}, false},
		{Committee{}, false}, {Committee{-1, 2}, false},
	} {
		err := tc.c.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidArgument)) {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

func TestKeygenSteps(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	c := Committee{Nodes: 3, Threshold: 2}
	var crs [32]byte
	if _, err := NewKeygenParty(p, c, crs, 3, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("party 3 of 3: %v", err)
	}
	if _, err := NewKeygenParty(p, Committee{3, 5}, crs, 0, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("bad committee: %v", err)
	}

	parties := make([]*KeygenParty, 3)
	pkShares := make([][]byte, 3)
	shares := make([][][]byte, 3)
	for i := range parties {
		parties[i], _ = NewKeygenParty(p, c, crs, i, testRNG(uint64(i)))
		var err error
		if pkShares[i], shares[i], err = parties[i].Round1(); err != nil {
			t.Fatal(err)
		}
		if len(shares[i]) != 3 {
			t.Fatalf("%d Shamir shares", len(shares[i]))
		}
	}
	if _, _, err := parties[0].Round1(); !errors.Is(err, ErrState) {
		t.Errorf("second Round1: %v", err)
	}

	// The same randomness gives the same shares; other randomness others.
	again, _ := NewKeygenParty(p, c, crs, 0, testRNG(0))
	pk0, sh0, _ := again.Round1()
	if !slices.Equal(pk0, pkShares[0]) || !slices.Equal(sh0[2], shares[0][2]) {
		t.Error("Round1 is not a function of its randomness")
	}

	if _, err := AggregatePublicKey(p, c, crs, pkShares); err != nil {
		t.Fatal(err)
	}
	swapped := [][]byte{pkShares[1], pkShares[0], pkShares[2]}
	var otherCRS [32]byte
	otherCRS[0] = 1
	for _, tc := range []struct {
		name   string
		c      Committee
		crs    [32]byte
		shares [][]byte
		want   error
	}{
		{"swapped", c, crs, swapped, ErrMismatch},
		{"other CRS", c, otherCRS, pkShares, ErrMismatch},
		{"other committee", Committee{3, 3}, crs, pkShares, ErrMismatch},
		{"missing", c, crs, pkShares[:2], ErrInvalidArgument},
		{"truncated", c, crs, [][]byte{pkShares[0], pkShares[1][:10], pkShares[2]}, ErrMalformed},
		{"Shamir share as pk share", c, crs, [][]byte{pkShares[0], shares[1][0], pkShares[2]}, ErrMalformed},
	} {
		if _, err := AggregatePublicKey(p, tc.c, tc.crs, tc.shares); !errors.Is(err, tc.want) {
			t.Errorf("aggregate %s: %v, want %v", tc.name, err, tc.want)
		}
	}

	received := func(to int) [][]byte { return [][]byte{shares[0][to], shares[1][to], shares[2][to]} }
	if _, err := parties[1].Finish(received(1)); err != nil {
		t.Fatal(err)
	}
	// Finish needs nothing from Round1: a fresh party object finishes too.
	fresh, _ := NewKeygenParty(p, c, crs, 1, nil)
	if _, err := fresh.Finish(received(1)); err != nil {
		t.Errorf("Finish on a fresh party: %v", err)
	}
	for _, tc := range []struct {
		name string
		in   [][]byte
		want error
	}{
		{"shares for party 2", received(2), ErrMismatch},
		{"senders swapped", [][]byte{shares[1][1], shares[0][1], shares[2][1]}, ErrMismatch},
		{"missing", received(1)[:2], ErrInvalidArgument},
		{"pk share", [][]byte{pkShares[0], shares[1][1], shares[2][1]}, ErrMalformed},
		{"coefficient ≥ q", [][]byte{setUint64(shares[0][1], shamirShareSize(p)-8, p.qs[1]), shares[1][1], shares[2][1]}, ErrMalformed},
	} {
		if _, err := parties[1].Finish(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("finish %s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestPublicKey(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 90)
	decode := func(b []byte) (*PublicKey, error) { return UnmarshalPublicKey(p, b) }
	b := roundTrip(t, ck.pk, decode)
	for name, g := range garbage(b) {
		requireMalformed(t, name, g, decode)
	}
	requireMalformed(t, "coefficient = q0", setUint64(b, headerSize(p), p.qs[0]), decode)

	again := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 90)
	other := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 91)
	if ck.pk.Digest() != again.pk.Digest() || ck.pk.Digest() == other.pk.Digest() {
		t.Error("digest is not a function of the key")
	}
	decoded, _ := decode(b)
	if decoded.Digest() != ck.pk.Digest() {
		t.Error("digest changed through encoding")
	}

	// Coefficients are in [0, Q), a copy, and pk1 is the CRS polynomial a.
	pk0, pk1 := ck.pk.Coefficients()
	for _, x := range append(slices.Clone(pk0), pk1...) {
		if x.Sign() < 0 || x.Cmp(p.Q()) >= 0 {
			t.Fatal("coefficient outside [0, Q)")
		}
	}
	pk0[0].SetInt64(-1)
	if again0, _ := ck.pk.Coefficients(); again0[0].Sign() < 0 {
		t.Error("Coefficients hands out its own storage")
	}
	if _, otherPk1 := other.pk.Coefficients(); bigEqual(pk1, otherPk1) == (ck.crs != other.crs) {
		t.Error("pk1 does not follow the CRS")
	}

	// pk0 + pk1·s is small: the key is an RLWE sample of the collective secret.
	sk := ck.secret()
	e := p.ringQ.NewPoly()
	p.ringQ.MulCoeffsMontgomery(ck.pk.pk1, sk.Value.Q, e)
	p.ringQ.Add(e, ck.pk.pk0, e)
	for _, x := range integerPoly(p, e, true) {
		if x.CmpAbs(big.NewInt(3*19)) > 0 {
			t.Fatalf("e_pk coefficient %v above 3·19", x)
		}
	}
}

func TestThresholdKeyEncoding(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 95)
	decode := func(b []byte) (*ThresholdKey, error) { return UnmarshalThresholdKey(p, b) }
	b := roundTrip(t, ck.keys[2], decode)
	tk, _ := decode(b)
	if tk.Party() != 2 || tk.Committee() != (Committee{3, 2}) {
		t.Errorf("decoded party %d committee %+v", tk.Party(), tk.Committee())
	}
	for name, g := range garbage(b) {
		requireMalformed(t, name, g, decode)
	}
	h := headerSize(p)
	requireMalformed(t, "party 3 of 3", setByte(b, h+2, 3), decode)
	requireMalformed(t, "threshold 1", setByte(b, h+1, 1), decode)
	requireMalformed(t, "17 nodes", setByte(b, h, 17), decode)
	requireMalformed(t, "coefficient = q1", setUint64(b, len(b)-8, p.qs[1]), decode)
}
