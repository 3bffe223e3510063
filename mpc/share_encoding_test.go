package mpc

import (
	"bytes"
	"errors"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

func TestShareRoundTrip(t *testing.T) {
	for _, m := range []int{1, 25, 153} {
		shares, err := Split(make([]uint64, m), 3, testRand(byte(m)))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range shares {
			roundTrip(t, s, MarshalShare, func(b []byte) (Share, error) { return UnmarshalShare(b, m) }, equalShares)
			data, _ := MarshalShare(s)
			if len(data) != shareSize(m) {
				t.Fatalf("encoded %d bytes, want %d", len(data), shareSize(m))
			}
		}
	}
	// The largest node index survives the uint16.
	s := Share{Node: MaxNodes - 1, Values: elementsOf([]uint64{1})}
	roundTrip(t, s, MarshalShare, func(b []byte) (Share, error) { return UnmarshalShare(b, 1) }, equalShares)
}

func TestMarshalShareRefuses(t *testing.T) {
	tests := []struct {
		name string
		s    Share
	}{
		{"negative node", Share{Node: -1, Values: elementsOf([]uint64{1})}},
		{"node too large", Share{Node: MaxNodes, Values: elementsOf([]uint64{1})}},
		{"empty", Share{Node: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := MarshalShare(tt.s); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestUnmarshalShareRefuses(t *testing.T) {
	good, err := MarshalShare(Share{Node: 2, Values: elementsOf([]uint64{7, 8})})
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	rb := modulusBytes()
	allOnes := bytes.Repeat([]byte{0xff}, 32)
	tests := []struct {
		name   string
		data   []byte
		maxLen int
	}{
		{"empty", nil, 2},
		{"header only", good[:shareHeaderSize], 2},
		{"truncated", good[:len(good)-1], 2},
		{"extended", append(bytes.Clone(good), 0), 2},
		{"version 0", edit(func(b []byte) { b[0] = 0 }), 2},
		{"version 2", edit(func(b []byte) { b[0] = 2 }), 2},
		{"length zero", edit(func(b []byte) { b[6] = 0 }), 2},
		{"length above max", good, 1},
		{"length says fewer", edit(func(b []byte) { b[6] = 1 }), 2},
		{"length says more", edit(func(b []byte) { b[6] = 3 }), 5},
		{"huge length", edit(func(b []byte) { b[3] = 0xff }), MaxLen},
		{"blinding = r", edit(func(b []byte) { copy(b[7:], rb[:]) }), 2},
		{"blinding all ones", edit(func(b []byte) { copy(b[7:], allOnes) }), 2},
		{"first value = r", edit(func(b []byte) { copy(b[shareHeaderSize:], rb[:]) }), 2},
		{"last value all ones", edit(func(b []byte) { copy(b[len(b)-32:], allOnes) }), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := UnmarshalShare(tt.data, tt.maxLen); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %+v, %v; want ErrMalformed", s, err)
			}
		})
	}
	for _, maxLen := range []int{0, -1, MaxLen + 1} {
		if _, err := UnmarshalShare(good, maxLen); err == nil {
			t.Errorf("maxLen %d accepted", maxLen)
		}
	}
}

func FuzzUnmarshalShare(f *testing.F) {
	shares, _ := Split([]uint64{1, 2, 3}, 2, testRand(1))
	good, _ := MarshalShare(shares[1])
	f.Add(good, uint16(3))
	f.Add(good, uint16(2))
	f.Add(good[:shareHeaderSize+5], uint16(3))
	rb := modulusBytes()
	bad := bytes.Clone(good)
	copy(bad[shareHeaderSize:], rb[:])
	f.Add(bad, uint16(3))
	f.Add([]byte{1, 0, 0, 0xff, 0xff, 0xff, 0xff}, uint16(0xffff))
	f.Add([]byte{}, uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, maxLen uint16) {
		m := int(maxLen)%64 + 1
		s, err := UnmarshalShare(data, m)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(s.Values) < 1 || len(s.Values) > m || !checkNode(s.Node) {
			t.Fatalf("decoded node %d, length %d (max %d)", s.Node, len(s.Values), m)
		}
		again, err := MarshalShare(s)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs (err %v)", err)
		}
	})
}

// TestShareSum sums chosen coordinates as decoding the shares whole and
// adding them does, and refuses what UnmarshalShare refuses of the bytes
// it reads, changing nothing.
func TestShareSum(t *testing.T) {
	const m = 25
	values := make([]uint64, m)
	for i := range values {
		values[i] = uint64(1000 * i)
	}
	shares, err := Split(values, 3, testRand(7))
	if err != nil {
		t.Fatal(err)
	}
	// A value at r − 1, the largest canonical one, whose sums wrap.
	shares[2].Values[7].SetInt64(-1)
	coords := []int{24, 0, 7, 7}
	s, err := NewShareSum(m, coords)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]fr.Element, len(coords))
	var data []byte
	for _, sh := range []Share{shares[1], shares[2], shares[2]} {
		if data, err = MarshalShare(sh); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(data); err != nil {
			t.Fatal(err)
		}
		for i, c := range coords {
			want[i].Add(&want[i], &sh.Values[c])
		}
	}
	check := func(when string) {
		t.Helper()
		p := s.Partial()
		if s.Count() != 3 || p.Count() != 3 {
			t.Fatalf("%s: counts %d and %d, want 3", when, s.Count(), p.Count())
		}
		for i, c := range coords {
			if got := p.Sum()[i]; !got.Equal(&want[i]) {
				t.Errorf("%s: coordinate %d summed to %v, want %v", when, c, got.String(), want[i].String())
			}
		}
	}
	check("three shares")
	notCanonical := bytes.Clone(data)
	copy(notCanonical[shareHeaderSize+7*fr.Bytes:], bytes.Repeat([]byte{0xFF}, fr.Bytes))
	atR := bytes.Clone(data)
	fr.Modulus().FillBytes(atR[shareHeaderSize : shareHeaderSize+fr.Bytes]) // coordinate 0 = r
	badVersion := bytes.Clone(data)
	badVersion[0]++
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"short", data[:len(data)-1]},
		{"long", append(bytes.Clone(data), 0)},
		{"version", badVersion},
		{"not canonical", notCanonical},
		{"value = r", atR},
	} {
		if err := s.Add(tc.data); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
	other, err := NewShareSum(m-1, []int{0})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Add(data); !errors.Is(err, ErrMalformed) {
		t.Errorf("another length: %v, want ErrMalformed", err)
	}
	check("after the refusals")
	for _, bad := range [][]int{{0, m, 1, 2}, {0, -1, 1, 2}} {
		if _, err := NewShareSum(m, bad); err == nil {
			t.Errorf("coordinates %v: accepted", bad)
		}
	}
	for _, bad := range []int{0, MaxLen + 1} {
		if _, err := NewShareSum(bad, nil); err == nil {
			t.Errorf("length %d: accepted", bad)
		}
	}
}
