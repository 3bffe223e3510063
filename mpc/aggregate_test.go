package mpc

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

func TestAccumulate(t *testing.T) {
	dst := elementsOf([]uint64{1, 2, 3})
	if err := Accumulate(dst, elementsOf([]uint64{10, 20, 30})); err != nil {
		t.Fatal(err)
	}
	if !equalElements(dst, elementsOf([]uint64{11, 22, 33})) {
		t.Fatal("wrong sum")
	}
	err := Accumulate(dst, elementsOf([]uint64{1, 2}))
	if !errors.Is(err, ErrLengthMismatch) {
		t.Fatalf("got %v, want ErrLengthMismatch", err)
	}
	if !equalElements(dst, elementsOf([]uint64{11, 22, 33})) {
		t.Fatal("a refused Accumulate changed dst")
	}
}

func TestReconstructRefuses(t *testing.T) {
	a := elementsOf([]uint64{1, 2})
	tests := []struct {
		name   string
		shares [][]fr.Element
		is     error
	}{
		{"none", nil, nil},
		{"one", [][]fr.Element{a}, nil},
		{"lengths differ", [][]fr.Element{a, elementsOf([]uint64{1})}, ErrLengthMismatch},
		{"empty", [][]fr.Element{{}, {}}, ErrLengthMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum, err := Reconstruct(tt.shares...)
			if err == nil {
				t.Fatalf("accepted, returned %d coordinates", len(sum))
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("got %v, want %v", err, tt.is)
			}
		})
	}
}

// TestPartialAggregation runs the node side: every node sums the shares it
// holds; the k partials reconstruct the sum of all records.
func TestPartialAggregation(t *testing.T) {
	const (
		k       = 3
		m       = 25
		records = 40
	)
	rng := rand.New(rand.NewPCG(5, 6))
	partials := make([]*Partial, k)
	for j := range partials {
		p, err := NewPartial(m)
		if err != nil {
			t.Fatal(err)
		}
		partials[j] = p
	}
	want := make([]uint64, m)
	for range records {
		v := randomVector(rng, m, 40)
		for i := range v {
			want[i] += v[i]
		}
		shares, err := Split(v, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j, s := range shares {
			if err := partials[j].Add(s.Values); err != nil {
				t.Fatal(err)
			}
		}
	}
	sums := make([][]fr.Element, k)
	for j, p := range partials {
		if p.Count() != records || p.Len() != m {
			t.Fatalf("partial %d: count %d, len %d", j, p.Count(), p.Len())
		}
		sums[j] = p.Sum()
	}
	total, err := Reconstruct(sums...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ToUint64(total, records<<40)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("coordinate %d: got %d, want %d", i, got[i], want[i])
		}
	}
	// Merge gives the same as adding one by one.
	merged, _ := NewPartial(m)
	if err := merged.Merge(partials[0]); err != nil {
		t.Fatal(err)
	}
	if err := merged.Merge(partials[1]); err != nil {
		t.Fatal(err)
	}
	if merged.Count() != 2*records {
		t.Fatalf("merged count %d", merged.Count())
	}
	if err := merged.Add(make([]fr.Element, m+1)); !errors.Is(err, ErrLengthMismatch) {
		t.Fatalf("got %v, want ErrLengthMismatch", err)
	}
	// Sum is a copy.
	s := partials[0].Sum()
	s[0].Add(&s[0], &s[0])
	s[0].Add(&s[0], new(fr.Element).SetOne())
	if again := partials[0].Sum(); !again[0].Equal(&sums[0][0]) {
		t.Fatal("Sum exposes the internal buffer")
	}
}

func TestNewPartialRefuses(t *testing.T) {
	for _, m := range []int{-1, 0, MaxLen + 1} {
		if _, err := NewPartial(m); err == nil {
			t.Errorf("NewPartial(%d) accepted", m)
		}
	}
}

func equalPartials(a, b *Partial) bool {
	return a.count == b.count && equalElements(a.sum, b.sum)
}

func TestPartialRoundTrip(t *testing.T) {
	for _, m := range []int{1, 25, 153} {
		p, err := NewPartial(m)
		if err != nil {
			t.Fatal(err)
		}
		shares, err := Split(make([]uint64, m), 2, testRand(byte(m)))
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := p.Add(shares[0].Values); err != nil {
				t.Fatal(err)
			}
		}
		roundTrip(t, p, (*Partial).MarshalBinary, func(b []byte) (*Partial, error) { return UnmarshalPartial(b, m) }, equalPartials)
	}
}

func TestUnmarshalPartialRefuses(t *testing.T) {
	p, _ := NewPartial(2)
	_ = p.Add(elementsOf([]uint64{7, 8}))
	good, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	rb := modulusBytes()
	tests := []struct {
		name   string
		data   []byte
		maxLen int
	}{
		{"empty", nil, 2},
		{"header only", good[:partialHeaderSize], 2},
		{"truncated", good[:len(good)-1], 2},
		{"extended", append(bytes.Clone(good), 0), 2},
		{"version", edit(func(b []byte) []byte { b[0] = 2; return b }), 2},
		{"length zero", edit(func(b []byte) []byte { b[12] = 0; return b }), 2},
		{"length above max", good, 1},
		{"length lies", edit(func(b []byte) []byte { b[12] = 3; return b }), 5},
		{"huge length", edit(func(b []byte) []byte { b[9] = 0xff; return b }), MaxLen},
		{"non-canonical", edit(func(b []byte) []byte { copy(b[partialHeaderSize:], rb[:]); return b }), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := UnmarshalPartial(tt.data, tt.maxLen); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
		})
	}
	for _, maxLen := range []int{0, -1, MaxLen + 1} {
		if _, err := UnmarshalPartial(good, maxLen); err == nil {
			t.Errorf("maxLen %d accepted", maxLen)
		}
	}
}

func FuzzUnmarshalPartial(f *testing.F) {
	p, _ := NewPartial(3)
	_ = p.Add(elementsOf([]uint64{1, 2, 3}))
	good, _ := p.MarshalBinary()
	f.Add(good, uint16(3))
	f.Add(good[:20], uint16(3))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, uint16(100))
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, maxLen uint16) {
		m := int(maxLen)%64 + 1
		p, err := UnmarshalPartial(data, m)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if p.Len() < 1 || p.Len() > m {
			t.Fatalf("decoded length %d, max %d", p.Len(), m)
		}
		again, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs (err %v)", err)
		}
	})
}
