package mpc

import (
	"bytes"
	"errors"
	"strings"
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

// TestShareValuesAt decodes chosen coordinates as UnmarshalShare does, and
// refuses what UnmarshalShare refuses of the bytes it reads.
func TestShareValuesAt(t *testing.T) {
	const m = 25
	shares, err := Split(make([]uint64, m), 3, testRand(7))
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalShare(shares[1])
	if err != nil {
		t.Fatal(err)
	}
	coords := []int{24, 0, 7, 7}
	out := make([]fr.Element, len(coords))
	if err := ShareValuesAt(data, m, coords, out); err != nil {
		t.Fatal(err)
	}
	for i, c := range coords {
		if !out[i].Equal(&shares[1].Values[c]) {
			t.Errorf("coordinate %d decoded as %v, want %v", c, out[i], shares[1].Values[c])
		}
	}
	notCanonical := bytes.Clone(data)
	copy(notCanonical[shareHeaderSize+7*fr.Bytes:], bytes.Repeat([]byte{0xFF}, fr.Bytes))
	badVersion := bytes.Clone(data)
	badVersion[0]++
	for _, tc := range []struct {
		name   string
		data   []byte
		m      int
		coords []int
	}{
		{"short", data[:len(data)-1], m, coords},
		{"long", append(bytes.Clone(data), 0), m, coords},
		{"another length", data, m - 1, coords},
		{"version", badVersion, m, coords},
		{"not canonical", notCanonical, m, coords},
		{"coordinate out of range", data, m, []int{0, m, 1, 2}},
		{"negative coordinate", data, m, []int{0, -1, 1, 2}},
	} {
		err := ShareValuesAt(tc.data, tc.m, tc.coords, out)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if strings.HasPrefix(tc.name, "coordinate") || strings.HasPrefix(tc.name, "negative") {
			continue
		}
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", tc.name, err)
		}
	}
}
