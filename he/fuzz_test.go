package he

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzFixture builds, once per fuzz target, valid encodings of every wire
// type under the toy parameter set.
type fuzzFixture struct {
	p         *Params
	ck        *committeeKeys
	ct        []byte
	pk        []byte
	tk        []byte
	share     []byte
	partial   []byte
	pkShares  [][]byte
	shamirTo0 [][]byte
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	p := mustParams(t, BGVTestN8)
	c := Committee{Nodes: 3, Threshold: 2}
	ck := runKeygen(t, p, c, 200)
	f := &fuzzFixture{p: p, ck: ck}
	ct, _, err := ck.pk.Encrypt(p, []uint64{1, 2, 3}, testRNG(201))
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Check(Capacity{Nodes: 3, Threshold: 2, MaxCohort: 10, MaxCoord: 10, Smudging: Smudging{StatisticalBits: 40}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ck.keys[0].DecryptionShare(p, ct, []int{0, 1}, b, testRNG(202))
	if err != nil {
		t.Fatal(err)
	}
	part, _ := s.Reveal([]int{0, 7})
	f.ct, _ = ct.MarshalBinary()
	f.pk, _ = ck.pk.MarshalBinary()
	f.tk, _ = ck.keys[1].MarshalBinary()
	f.share, _ = s.MarshalBinary()
	f.partial, _ = part.MarshalBinary()
	for i := 0; i < c.Nodes; i++ {
		party, _ := NewKeygenParty(p, c, ck.crs, i, testRNG(300+uint64(i)))
		pkShare, shares, err := party.Round1()
		if err != nil {
			t.Fatal(err)
		}
		f.pkShares = append(f.pkShares, pkShare)
		f.shamirTo0 = append(f.shamirTo0, shares[0])
	}
	return f
}

// seeds adds a valid encoding and its standard malformed variants, one
// coefficient set to q_0 at offset, and the encoding under another
// parameter-set id.
func seeds(f *testing.F, valid []byte, coefficientAt int, q uint64) {
	f.Add(valid)
	for _, g := range garbage(valid) {
		f.Add(g)
	}
	if coefficientAt >= 0 {
		f.Add(setUint64(valid, coefficientAt, q))
	}
}

// checkDecode is the property of every decoder: no panic; a refusal wraps
// ErrMalformed; an accepted input re-encodes to itself (canonical).
func checkDecode[T marshaler](t *testing.T, b []byte, v T, err error) {
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("refused without ErrMalformed: %v", err)
		}
		return
	}
	again, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, b) {
		t.Fatal("accepted input does not re-encode to itself")
	}
}

func FuzzUnmarshalCiphertext(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.ct, headerSize(x.p)+2, x.p.qs[0])
	other, _ := Lookup(BGVN12Q109)
	f.Add(append([]byte{1, byte(kindCiphertext), byte(len(other.ID()))}, other.ID()...))
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := UnmarshalCiphertext(x.p, b)
		checkDecode(t, b, ct, err)
	})
}

func FuzzUnmarshalPartialDecryption(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.partial, len(x.partial)-8, x.p.qs[1])
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := UnmarshalPartialDecryption(x.p, b)
		checkDecode(t, b, d, err)
	})
}

func FuzzUnmarshalDecryptionShare(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.share, len(x.share)-8, x.p.qs[1])
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalDecryptionShare(x.p, b)
		checkDecode(t, b, s, err)
	})
}

func FuzzUnmarshalPublicKey(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.pk, headerSize(x.p), x.p.qs[0])
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := UnmarshalPublicKey(x.p, b)
		checkDecode(t, b, pk, err)
	})
}

func FuzzUnmarshalThresholdKey(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.tk, len(x.tk)-8, x.p.qs[1])
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := UnmarshalThresholdKey(x.p, b)
		checkDecode(t, b, tk, err)
	})
}

// FuzzAggregatePublicKey feeds arbitrary bytes as party 1's public-key
// share: no panic, and only ErrMalformed or ErrMismatch refusals.
func FuzzAggregatePublicKey(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.pkShares[1], len(x.pkShares[1])-8, x.p.qs[1])
	f.Add(x.pkShares[0])
	c := x.ck.committee
	f.Fuzz(func(t *testing.T, b []byte) {
		in := [][]byte{x.pkShares[0], b, x.pkShares[2]}
		if _, err := AggregatePublicKey(x.p, c, x.ck.crs, in); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
			t.Fatalf("unexpected refusal: %v", err)
		}
	})
}

// FuzzKeygenFinish feeds arbitrary bytes as the Shamir share from party 1.
func FuzzKeygenFinish(f *testing.F) {
	x := newFuzzFixture(f)
	seeds(f, x.shamirTo0[1], len(x.shamirTo0[1])-8, x.p.qs[1])
	f.Add(x.shamirTo0[0])
	party, err := NewKeygenParty(x.p, x.ck.committee, x.ck.crs, 0, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := [][]byte{x.shamirTo0[0], b, x.shamirTo0[2]}
		if _, err := party.Finish(in); err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
			t.Fatalf("unexpected refusal: %v", err)
		}
	})
}
