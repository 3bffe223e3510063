package mpc

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// maxRejections bounds the rejection sampling of one field element. Each
// 254-bit candidate is accepted with probability r/2^254 > 3/4, so a correct
// random source exhausts the bound with probability below 2^-512; reaching it
// means the source is broken (for instance, stuck at all ones).
const maxRejections = 256

var errBadRandomness = errors.New("random source returned no value below the field modulus")

// sampler draws uniformly random field elements from a byte source.
type sampler struct {
	r io.Reader
}

func newSampler(rnd io.Reader) sampler {
	if rnd == nil {
		rnd = rand.Reader
	}
	return sampler{r: rnd}
}

// element returns a uniformly random element of Fr by rejection sampling:
// 32 bytes are read, the top two bits cleared (r < 2^254), and the candidate
// kept only if it is below r. Reducing modulo r instead would bias the result.
func (s sampler) element() (fr.Element, error) {
	var buf [fr.Bytes]byte
	defer clear(buf[:])
	for range maxRejections {
		if _, err := io.ReadFull(s.r, buf[:]); err != nil {
			return fr.Element{}, fmt.Errorf("mpc: reading randomness: %w", err)
		}
		buf[0] &= 0x3f
		e, err := fr.BigEndian.Element(&buf)
		if err == nil {
			return e, nil
		}
	}
	return fr.Element{}, fmt.Errorf("mpc: %w", errBadRandomness)
}

// fill sets every element of dst to a fresh uniformly random element. It
// reads one candidate per element in a single read, then replaces each
// rejected candidate with element's draws.
func (s sampler) fill(dst []fr.Element) error {
	buf := make([]byte, len(dst)*fr.Bytes)
	defer clear(buf)
	if _, err := io.ReadFull(s.r, buf); err != nil {
		return fmt.Errorf("mpc: reading randomness: %w", err)
	}
	for i := range dst {
		c := (*[fr.Bytes]byte)(buf[i*fr.Bytes : (i+1)*fr.Bytes])
		c[0] &= 0x3f
		e, err := fr.BigEndian.Element(c)
		if err != nil {
			if e, err = s.element(); err != nil {
				return err
			}
		}
		dst[i] = e
	}
	return nil
}
