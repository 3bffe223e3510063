package mpc

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// appendElements appends the canonical 32-byte big-endian encoding of each
// element of xs to out.
func appendElements(out []byte, xs []fr.Element) []byte {
	var buf [fr.Bytes]byte
	for i := range xs {
		fr.BigEndian.PutElement(&buf, xs[i])
		out = append(out, buf[:]...)
	}
	clear(buf[:])
	return out
}

// decodeElements decodes exactly m canonical 32-byte big-endian elements
// from data, whose length the caller has checked to be m·32. An encoding of
// a value ≥ r is refused with ErrMalformed, never reduced.
func decodeElements(data []byte, m int) ([]fr.Element, error) {
	if len(data) != m*fr.Bytes {
		return nil, fmt.Errorf("%w: %d bytes of elements, want %d", ErrMalformed, len(data), m*fr.Bytes)
	}
	xs := make([]fr.Element, m)
	for i := range xs {
		e, err := fr.BigEndian.Element((*[fr.Bytes]byte)(data[i*fr.Bytes : (i+1)*fr.Bytes]))
		if err != nil {
			clear(xs)
			return nil, fmt.Errorf("%w: element %d is not canonical", ErrMalformed, i)
		}
		xs[i] = e
	}
	return xs, nil
}
