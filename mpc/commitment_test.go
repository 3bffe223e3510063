package mpc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

func cloneShare(s Share) Share {
	s.Values = append([]fr.Element(nil), s.Values...)
	return s
}

func TestCommitmentBindsEverything(t *testing.T) {
	shares, err := Split([]uint64{1, 0, 7, 3}, 3, testRand(4))
	if err != nil {
		t.Fatal(err)
	}
	s := shares[1]
	c := s.Commitment()
	if again := cloneShare(s).Commitment(); !again.Equal(&c) {
		t.Fatal("commitment is not deterministic")
	}
	one := fr.One()
	var changes []struct {
		name string
		s    Share
	}
	add := func(name string, f func(*Share)) {
		x := cloneShare(s)
		f(&x)
		changes = append(changes, struct {
			name string
			s    Share
		}{name, x})
	}
	for i := range s.Values {
		add(fmt.Sprintf("value %d", i), func(x *Share) { x.Values[i].Add(&x.Values[i], &one) })
	}
	add("blinding", func(x *Share) { x.Blind.Add(&x.Blind, &one) })
	add("node index", func(x *Share) { x.Node = 2 })
	add("node index 0", func(x *Share) { x.Node = 0 })
	add("extra coordinate", func(x *Share) { x.Values = append(x.Values, fr.Element{}) })
	add("missing coordinate", func(x *Share) { x.Values = x.Values[:len(x.Values)-1] })
	add("values swapped", func(x *Share) { x.Values[0], x.Values[1] = x.Values[1], x.Values[0] })
	for _, ch := range changes {
		t.Run(ch.name, func(t *testing.T) {
			if got := ch.s.Commitment(); got.Equal(&c) {
				t.Fatal("commitment unchanged")
			}
			if err := ch.s.CheckCommitment(c); !errors.Is(err, ErrCommitment) {
				t.Fatalf("got %v, want ErrCommitment", err)
			}
		})
	}
	if err := s.CheckCommitment(c); err != nil {
		t.Fatal(err)
	}
}

// TestCommitmentBlinded: the blinding makes equal shares commit
// differently, so a commitment cannot be matched against a table of small
// candidate values.
func TestCommitmentBlinded(t *testing.T) {
	a, err := Split([]uint64{1, 2}, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := cloneShare(a[0])
	ca := a[0].Commitment()
	if _, err := s.Blind.SetRandom(); err != nil {
		t.Fatal(err)
	}
	if cb := s.Commitment(); cb.Equal(&ca) {
		t.Fatal("same values with another blinding commit the same")
	}
}

func BenchmarkCommitment(b *testing.B) {
	for _, m := range []int{25, 153} {
		shares, err := Split(make([]uint64, m), 2, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("m=%d", m), func(b *testing.B) {
			for b.Loop() {
				shares[0].Commitment()
			}
		})
	}
}
