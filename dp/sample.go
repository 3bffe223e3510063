package dp

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
)

// Errors of the samplers.
var (
	// ErrNoRandomness: a sampler was made without a source of randomness.
	ErrNoRandomness = errors.New("dp: no source of randomness")
	// ErrRandomness: the source of randomness failed; no sample is returned.
	ErrRandomness = errors.New("dp: reading randomness")
	// ErrParameter: a sampler's parameter is missing or out of its range.
	ErrParameter = errors.New("dp: invalid sampler parameter")
)

// Sampler draws exact samples from the distributions of this package,
// using only uniform random integers read from its source (docs/design.md
// §6.6). A Sampler is not safe for concurrent use: it buffers up to 256
// bytes of its source, which it never reuses or reveals.
type Sampler struct {
	r   *bufio.Reader
	buf []byte
	u   big.Int // scratch for uniform draws
	// reads counts the reads of the source, one per attempt at a uniform
	// integer, for the tests that measure the cost of a sample.
	reads uint64
}

// NewSampler returns a sampler reading uniform bytes from r, which must be
// crypto/rand.Reader in production (a deterministic source is for tests
// only, package dptest). It refuses a nil r with ErrNoRandomness.
func NewSampler(r io.Reader) (*Sampler, error) {
	if r == nil {
		return nil, ErrNoRandomness
	}
	return &Sampler{r: bufio.NewReaderSize(r, 256)}, nil
}

// read fills n bytes of s.buf from the source.
func (s *Sampler) read(n int) ([]byte, error) {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	s.reads++
	// io.ReadFull would wait forever on a source that returns nothing
	// and no error; give up after a few such reads as bufio does.
	for got, empty := 0, 0; got < n; {
		k, err := s.r.Read(b[got:])
		switch {
		case err == io.EOF && got+k < n:
			err = io.ErrUnexpectedEOF
		case err == io.EOF:
			err = nil
		case k == 0 && err == nil:
			if empty++; empty == 100 {
				err = io.ErrNoProgress
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRandomness, err)
		}
		got += k
	}
	return b, nil
}

// belowUint64 returns a uniform integer in [0, n) for n ≥ 1: it reads the
// fewest whole bytes that hold n−1, masks the excess high bits and rejects
// a value ≥ n, so each attempt succeeds with probability above 1/2 and the
// expected number of attempts is below 2. n = 1 reads nothing.
func (s *Sampler) belowUint64(n uint64) (uint64, error) {
	if n <= 1 {
		return 0, nil
	}
	k := bits.Len64(n - 1)
	nb := (k + 7) / 8
	mask := byte(0xff >> (8*nb - k))
	for {
		b, err := s.read(nb)
		if err != nil {
			return 0, err
		}
		b[0] &= mask
		var x uint64
		for _, c := range b {
			x = x<<8 | uint64(c)
		}
		if x < n {
			return x, nil
		}
	}
}

// below sets z to a uniform integer in [0, n) for n ≥ 1, as belowUint64
// does for any size of n, and returns z.
func (s *Sampler) below(z, n *big.Int) (*big.Int, error) {
	if n.IsUint64() {
		x, err := s.belowUint64(n.Uint64())
		if err != nil {
			return nil, err
		}
		return z.SetUint64(x), nil
	}
	k := new(big.Int).Sub(n, one).BitLen()
	nb := (k + 7) / 8
	mask := byte(0xff >> (8*nb - k))
	for {
		b, err := s.read(nb)
		if err != nil {
			return nil, err
		}
		b[0] &= mask
		z.SetBytes(b)
		if z.Cmp(n) < 0 {
			return z, nil
		}
	}
}

// bernoulli returns true with probability num/den, for 0 ≤ num ≤ den and
// den ≥ 1: one uniform integer u in [0, den), true when u < num. A num of
// 0 returns false without a draw.
func (s *Sampler) bernoulli(num, den *big.Int) (bool, error) {
	if num.Sign() == 0 {
		return false, nil
	}
	if den.IsUint64() {
		u, err := s.belowUint64(den.Uint64())
		if err != nil {
			return false, err
		}
		return u < num.Uint64(), nil
	}
	u, err := s.below(&s.u, den)
	if err != nil {
		return false, err
	}
	return u.Cmp(num) < 0, nil
}

var (
	one = big.NewInt(1)
	two = big.NewInt(2)
)
