package hash

import (
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// Sum returns the digest of xs in domain d. It is safe for concurrent use.
func Sum(d Domain, xs ...fr.Element) fr.Element {
	d.check(len(xs))
	p := nativePermutation(d.width)
	state := make([]fr.Element, d.width)
	state[0].SetUint64(d.iv(len(xs)))
	rate := d.width - 1
	for i := 0; ; i += rate {
		for j := 0; j < rate && i+j < len(xs); j++ {
			state[1+j].Add(&state[1+j], &xs[i+j])
		}
		// The permutation only fails on a wrong-sized buffer, which cannot happen.
		if err := p.Permutation(state); err != nil {
			panic(err)
		}
		if i+rate >= len(xs) {
			break
		}
	}
	return state[1]
}

// chunk is the number of bytes packed per field element by SumBytes (< 254 bits).
const chunk = 31

// SumBytes hashes a byte string in domain d: the byte length, then the bytes in
// 31-byte big-endian chunks, each below the field modulus.
func SumBytes(d Domain, b []byte) fr.Element {
	xs := make([]fr.Element, 1, 1+(len(b)+chunk-1)/chunk)
	xs[0].SetUint64(uint64(len(b)))
	for i := 0; i < len(b); i += chunk {
		var e fr.Element
		e.SetBytes(b[i:min(i+chunk, len(b))])
		xs = append(xs, e)
	}
	return Sum(d, xs...)
}
