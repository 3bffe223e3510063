package dp

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// BenchmarkDiscreteGaussian is the cost of one sample from crypto/rand.
func BenchmarkDiscreteGaussian(b *testing.B) {
	for _, bc := range []struct {
		name   string
		sigma2 *big.Rat
	}{
		{"sigma=10", big.NewRat(100, 1)},
		{"sigma=1e3", big.NewRat(1_000_000, 1)},
		{"sigma=1e6", big.NewRat(1_000_000_000_000, 1)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			v, err := NewVariance(bc.sigma2)
			if err != nil {
				b.Fatal(err)
			}
			s, err := NewSampler(rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.DiscreteGaussian(v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
