package he

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"

	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// newStream draws a 64-byte key from rng (crypto/rand.Reader when nil) and
// returns lattigo's keyed PRNG (BLAKE2b XOF) on it: every sample of one
// operation comes from that stream, so an operation reads a fixed amount
// from rng.
func newStream(rng io.Reader) (*sampling.KeyedPRNG, error) {
	if rng == nil {
		rng = rand.Reader
	}
	key := make([]byte, 64)
	if _, err := io.ReadFull(rng, key); err != nil {
		return nil, fmt.Errorf("he: reading randomness: %w", err)
	}
	s, err := sampling.NewKeyedPRNG(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("he: keyed PRNG: %w", err)
	}
	return s, nil
}

// sampleTernary returns n values uniform in {−1, 0, 1} (bytes ≥ 255 are
// rejected, so there is no bias).
func sampleTernary(s io.Reader, n int) ([]int64, error) {
	out := make([]int64, 0, n)
	buf := make([]byte, n+n/8+16)
	for len(out) < n {
		if _, err := io.ReadFull(s, buf); err != nil {
			return nil, fmt.Errorf("he: sampling: %w", err)
		}
		for _, b := range buf {
			if b == 255 {
				continue
			}
			out = append(out, int64(b%3)-1)
			if len(out) == n {
				break
			}
		}
	}
	return out, nil
}

// sampleErrors returns count vectors of N values from lattigo's truncated
// discrete Gaussian (σ = 3.2, |e| ≤ 19), checked to lie in the proven range
// [−2^(b−1), 2^(b−1)).
func sampleErrors(p *Params, s sampling.PRNG, count int) ([][]int64, error) {
	g, err := ring.NewSampler(s, p.ringQ, errorDistribution, false)
	if err != nil {
		return nil, fmt.Errorf("he: error sampler: %w", err)
	}
	q0 := p.qs[0]
	poly := p.ringQ.NewPoly()
	out := make([][]int64, count)
	for k := range out {
		g.Read(poly)
		e := make([]int64, p.n)
		for j, c := range poly.Coeffs[0] {
			v := int64(c)
			if c > q0/2 {
				v = -int64(q0 - c)
			}
			if v < -(1<<(ErrorBits-1)) || v >= 1<<(ErrorBits-1) {
				return nil, fmt.Errorf("he: error sample %d outside the proven range", v)
			}
			e[j] = v
		}
		out[k] = e
	}
	return out, nil
}

// addUniform adds to the coefficient-domain polynomial poly (over Q) one
// independent integer uniform in [−bound, bound] per coefficient, drawn by
// rejection sampling from s.
func addUniform(p *Params, s io.Reader, bound *big.Int, poly ring.Poly) error {
	width := new(big.Int).Lsh(bound, 1)
	width.Add(width, big.NewInt(1)) // 2·bound + 1 values
	bitLen := width.BitLen()
	nbytes := (bitLen + 7) / 8
	topMask := byte(0xff >> (8*nbytes - bitLen))
	buf := make([]byte, nbytes)
	var x, r big.Int
	for j := 0; j < p.n; j++ {
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				return fmt.Errorf("he: sampling: %w", err)
			}
			buf[0] &= topMask
			x.SetBytes(buf)
			if x.Cmp(width) < 0 {
				break
			}
		}
		x.Sub(&x, bound)
		for i, qi := range p.qBig {
			v := r.Mod(&x, qi).Uint64()
			c := poly.Coeffs[i][j] + v
			if c >= p.qs[i] {
				c -= p.qs[i]
			}
			poly.Coeffs[i][j] = c
		}
	}
	clear(buf)
	return nil
}
