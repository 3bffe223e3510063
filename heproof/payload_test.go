package heproof

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/he"
)

// testKey makes a 2-of-2 collective key on the insecure test set.
func testKey(t testing.TB) (*he.Params, *he.PublicKey) {
	t.Helper()
	p, err := he.Lookup(he.BGVTestN8)
	if err != nil {
		t.Fatal(err)
	}
	c := he.Committee{Nodes: 2, Threshold: 2}
	var crs [32]byte
	shares := make([][]byte, 2)
	for i := range shares {
		k, err := he.NewKeygenParty(p, c, crs, i, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if shares[i], _, err = k.Round1(); err != nil {
			t.Fatal(err)
		}
	}
	pk, err := he.AggregatePublicKey(p, c, crs, shares)
	if err != nil {
		t.Fatal(err)
	}
	return p, pk
}

// testProof is a well-formed (not verifying) proof: every point at
// infinity, one commitment.
func testProof(t testing.TB) *circuits.Proof {
	t.Helper()
	var g1 bn254.G1Affine
	var g2 bn254.G2Affine
	a, b := g1.Bytes(), g2.Bytes()
	enc := []byte{1, 1}                                         // version, one commitment
	for _, pt := range [][]byte{a[:], b[:], a[:], a[:], a[:]} { // Ar, Bs, Krs, commitment, its proof
		enc = append(enc, pt...)
	}
	p := new(circuits.Proof)
	if err := p.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	return p
}

func testPayload(t testing.TB) (*he.Params, []byte) {
	t.Helper()
	p, pk := testKey(t)
	ct, _, err := pk.Encrypt(p, []uint64{1, 40, 7}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pay := &Payload{Public: circuits.PublicInputs{Epoch: 3, Purposes: 1, Expiry: 1 << 31, MinCohort: 2}, Proof: testProof(t), Ciphertext: ct}
	b, err := pay.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return p, b
}

func TestPayloadRoundTrip(t *testing.T) {
	p, b := testPayload(t)
	got, err := UnmarshalPayload(b, p)
	if err != nil {
		t.Fatal(err)
	}
	again, err := got.MarshalBinary()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs: %v", err)
	}
	if len(b) > EncodedSize(p) {
		t.Fatalf("%d bytes, above the bound %d", len(b), EncodedSize(p))
	}
	st, err := got.Statement(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Public) != 8+2*p.N() {
		t.Fatalf("%d public inputs, want %d", len(st.Public), 8+2*p.N())
	}
}

func TestUnmarshalPayloadRefuses(t *testing.T) {
	p, b := testPayload(t)
	other, err := he.Lookup(he.BGVN12Q109)
	if err != nil {
		t.Fatal(err)
	}
	over := bytes.Clone(b)
	copy(over[len(over)-8:], bytes.Repeat([]byte{0xff}, 8)) // top coefficient of the last limb ≥ q
	cases := map[string]struct {
		b []byte
		p *he.Params
	}{
		"empty":                {nil, p},
		"version":              {append([]byte{2}, b[1:]...), p},
		"truncated":            {b[:len(b)-1], p},
		"trailing":             {append(bytes.Clone(b), 0), p},
		"coefficient above q":  {over, p},
		"other parameter set":  {b, other},
		"huge chunk length":    {append([]byte{1, 0xff, 0xff, 0xff, 0xff}, b[5:]...), p},
		"only the version":     {b[:1], p},
		"ciphertext truncated": {b[:len(b)-100], p},
	}
	for name, tc := range cases {
		if _, err := UnmarshalPayload(tc.b, tc.p); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if _, err := UnmarshalPayload(b, nil); err == nil {
		t.Error("no parameters accepted")
	}
}

func FuzzUnmarshalPayload(f *testing.F) {
	p, b := testPayload(f)
	f.Add(b)
	f.Add(b[:len(b)/2])
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := UnmarshalPayload(data, p)
		if err != nil {
			return
		}
		enc, err := got.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded payload does not encode: %v", err)
		}
		if !bytes.Equal(enc, data) {
			t.Fatal("a non-canonical encoding was accepted")
		}
	})
}
