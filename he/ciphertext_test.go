package he

import (
	"bytes"
	"errors"
	"testing"
)

func TestCiphertextEncoding(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 3, Threshold: 2}, 70)
	ct, _, err := ck.pk.Encrypt(p, []uint64{1, 2, 3}, testRNG(71))
	if err != nil {
		t.Fatal(err)
	}
	decode := func(b []byte) (*Ciphertext, error) { return UnmarshalCiphertext(p, b) }
	b := roundTrip(t, ct, decode)
	if len(b) != EncodedSize(p) {
		t.Fatalf("encoding has %d bytes, EncodedSize %d", len(b), EncodedSize(p))
	}
	if EncodedSize(mustParams(t, BGVN12Q109)) != 3+len(BGVN12Q109)+2+2*2*4096*8 {
		t.Error("EncodedSize(N12) is not header + 2·2·4096·8")
	}
	for name, g := range garbage(b) {
		requireMalformed(t, name, g, decode)
	}
	h := headerSize(p)
	requireMalformed(t, "degree 2", setByte(b, h, 2), decode)
	requireMalformed(t, "3 limbs", setByte(b, h+1, 3), decode)
	// Another set refuses it (different length and id).
	if _, err := UnmarshalCiphertext(mustParams(t, BGVN12Q109), b); !errors.Is(err, ErrMalformed) {
		t.Errorf("decoded under another parameter set: %v", err)
	}

	// One coefficient changed, still below q: decodes, but its digest and
	// integer coefficients (the proof's public inputs) differ.
	first := h + 2
	limb1 := first + p.N()*8 + 5*8 // c0, limb 1, coefficient 5
	changed, err := UnmarshalCiphertext(p, setUint64(b, limb1, 12345))
	if err != nil {
		t.Fatalf("a coefficient below q is refused: %v", err)
	}
	if changed.Digest() == ct.Digest() {
		t.Error("digest did not change")
	}
	c0, c1 := ct.Coefficients()
	d0, d1 := changed.Coefficients()
	if bigEqual(c0, d0) || !bigEqual(c1, d1) {
		t.Error("c0's coefficients did not change, or c1's did")
	}
	// A coefficient equal to q_i (or above) is refused, in every limb of
	// both polynomials.
	for _, tc := range []struct {
		name   string
		offset int
		value  uint64
	}{
		{"c0 limb 0 = q0", first, p.qs[0]},
		{"c0 limb 1 = q1", first + p.N()*8, p.qs[1]},
		{"c1 last = q1", len(b) - 8, p.qs[1]},
		{"c1 limb 0 max", first + polySize(p) + 8, ^uint64(0)},
	} {
		requireMalformed(t, tc.name, setUint64(b, tc.offset, tc.value), decode)
	}
	// The largest value, q_i − 1, is accepted.
	if _, err := UnmarshalCiphertext(p, setUint64(b, first, p.qs[0]-1)); err != nil {
		t.Errorf("q0 − 1 refused: %v", err)
	}
	// A digest is domain-separated from a digest of the same bytes as a key.
	if ct.Digest() == digest("cohort/he/v1/public-key", b) {
		t.Error("digest is not domain-separated")
	}
}

func TestSum(t *testing.T) {
	p := mustParams(t, BGVTestN8)
	ck := runKeygen(t, p, Committee{Nodes: 2, Threshold: 2}, 80)
	a, _, _ := ck.pk.Encrypt(p, []uint64{1}, testRNG(1))
	b, _, _ := ck.pk.Encrypt(p, []uint64{2}, testRNG(2))
	before, _ := a.MarshalBinary()
	s, err := Sum(p, []*Ciphertext{a, b})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := a.MarshalBinary()
	if !bytes.Equal(before, after) {
		t.Error("Sum modified its first operand")
	}
	if got := lattigoDecrypt(t, p, ck.secret(), s); got[0] != 3 {
		t.Errorf("1 + 2 decrypts to %d", got[0])
	}
	one, _ := Sum(p, []*Ciphertext{a})
	if one.Digest() != a.Digest() {
		t.Error("sum of one ciphertext is not that ciphertext")
	}
	other := runKeygen(t, mustParams(t, BGVN12Q109), Committee{Nodes: 2, Threshold: 2}, 81)
	c, _, _ := other.pk.Encrypt(other.p, []uint64{1}, testRNG(3))
	for _, tc := range []struct {
		name string
		cts  []*Ciphertext
		want error
	}{
		{"empty", nil, ErrInvalidArgument},
		{"nil", []*Ciphertext{a, nil}, ErrInvalidArgument},
		{"other set", []*Ciphertext{a, c}, ErrMismatch},
	} {
		if _, err := Sum(p, tc.cts); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func setByte(b []byte, offset int, v byte) []byte {
	out := bytes.Clone(b)
	out[offset] = v
	return out
}

// TestSumLazyReduction compares Sum with a reduced addition loop on
// ciphertexts whose every coefficient is q_i − 1, the worst case for the
// lazy accumulator, over more additions than one lazy run allows.
func TestSumLazyReduction(t *testing.T) {
	for _, tc := range []struct {
		id    ParamSetID
		count int
	}{{BGVTestN8, 1100}, {BGVN13Q218, 40}} {
		p := mustParams(t, tc.id)
		full := &Ciphertext{params: p, c0: p.ringQ.NewPoly(), c1: p.ringQ.NewPoly()}
		for i, q := range p.qs {
			for j := 0; j < p.N(); j++ {
				full.c0.Coeffs[i][j] = q - 1
				full.c1.Coeffs[i][j] = q - 1 - uint64(j)
			}
		}
		cts := make([]*Ciphertext, tc.count)
		for i := range cts {
			cts[i] = full
		}
		for _, n := range []int{1, 2, p.lazyAdds[0], p.lazyAdds[0] + 1, p.lazyAdds[0] + 2, tc.count} {
			got, err := Sum(p, cts[:n])
			if err != nil {
				t.Fatal(err)
			}
			want := &Ciphertext{params: p, c0: *full.c0.CopyNew(), c1: *full.c1.CopyNew()}
			for k := 1; k < n; k++ {
				p.ringQ.Add(want.c0, full.c0, want.c0)
				p.ringQ.Add(want.c1, full.c1, want.c1)
			}
			if got.Digest() != want.Digest() {
				t.Errorf("%s: sum of %d differs from the reduced loop", tc.id, n)
			}
		}
	}
}
