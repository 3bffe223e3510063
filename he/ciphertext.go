package he

import (
	"fmt"
	"math/big"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// Ciphertext is a degree-1 BGV ciphertext (c0, c1) over Q, coefficient
// encoding, at the top level, in NTT form as lattigo stores it. It is
// immutable.
type Ciphertext struct {
	params *Params
	c0, c1 ring.Poly
}

// EncodedSize is the exact length of a ciphertext's encoding under p:
// header, degree (1), limb count (1), then c0 and c1 as 2·L·N uint64.
func EncodedSize(p *Params) int { return headerSize(p) + 2 + 2*polySize(p) }

// MarshalBinary encodes the ciphertext: header (version, kind, parameter-set
// id), degree 1, number of limbs L, then c0 and c1 in NTT form as RNS limbs
// of N fixed-width little-endian uint64 each. The encoding is canonical:
// every coefficient is < q_i, so equal ciphertexts have equal encodings.
func (c *Ciphertext) MarshalBinary() ([]byte, error) {
	if c == nil || c.params == nil {
		return nil, fmt.Errorf("he: encoding a zero Ciphertext: %w", ErrInvalidArgument)
	}
	e := newEncoder(c.params, kindCiphertext, EncodedSize(c.params))
	e.Uint8(1)
	e.Uint8(uint8(c.params.limbs()))
	e.poly(c.c0)
	e.poly(c.c1)
	return e.Bytes()
}

// UnmarshalCiphertext decodes a ciphertext encoded for p. It checks, before
// building any lattigo object, the exact length, the header (version, kind,
// parameter set), the degree and limb count, and that every coefficient is
// below its modulus; any failure wraps ErrMalformed. It cannot check that
// the ciphertext is a fresh encryption: that is what the record's proof is
// for, and the proof binds the integer coefficients (Coefficients).
func UnmarshalCiphertext(p *Params, b []byte) (*Ciphertext, error) {
	if p == nil {
		return nil, fmt.Errorf("he: ciphertext: nil parameters: %w", ErrInvalidArgument)
	}
	if len(b) != EncodedSize(p) {
		return nil, fmt.Errorf("he: ciphertext: %d bytes, want %d: %w", len(b), EncodedSize(p), ErrMalformed)
	}
	d := newDecoder(p, kindCiphertext, b)
	if degree, limbs := int(d.Uint8()), int(d.Uint8()); d.Err() == nil && (degree != 1 || limbs != p.limbs()) {
		d.fail("degree %d with %d limbs, want degree 1 with %d", degree, limbs, p.limbs())
	}
	c0, c1 := d.poly(), d.poly()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return &Ciphertext{params: p, c0: c0, c1: c1}, nil
}

// Params returns the ciphertext's parameter set.
func (c *Ciphertext) Params() *Params { return c.params }

// Digest is SHA-256 over a domain tag and the canonical encoding.
func (c *Ciphertext) Digest() [32]byte {
	b, _ := c.MarshalBinary() // fails only for a zero Ciphertext
	return digest("cohort/he/v1/ciphertext", b)
}

// Coefficients returns the integer coefficients of c0 and c1 in [0, Q):
// out of NTT form, CRT-combined. They are the public inputs of the record's
// proof.
func (c *Ciphertext) Coefficients() (c0, c1 []*big.Int) {
	p := c.params
	tmp := p.ringQ.NewPoly()
	p.ringQ.INTT(c.c0, tmp)
	c0 = p.crtQ.toInts(tmp, p.n, false)
	p.ringQ.INTT(c.c1, tmp)
	c1 = p.crtQ.toInts(tmp, p.n, false)
	return c0, c1
}

// rlwe returns the ciphertext as a lattigo ciphertext (sharing its
// polynomials) with the metadata of a coefficient-encoded BGV ciphertext.
func (c *Ciphertext) rlwe() *rlwe.Ciphertext {
	return &rlwe.Ciphertext{Element: rlwe.Element[ring.Poly]{
		Value: []ring.Poly{c.c0, c.c1},
		MetaData: &rlwe.MetaData{
			PlaintextMetaData:  rlwe.PlaintextMetaData{Scale: rlwe.NewScaleModT(1, c.params.t)},
			CiphertextMetaData: rlwe.CiphertextMetaData{IsNTT: true},
		},
	}}
}

// Sum returns the homomorphic sum of cts, which must all belong to p: the
// coefficient-wise sum modulo each q_i. It allocates the result only. The
// noise of a sum is the sum of the noises: Params.Check bounds it for at most
// Capacity.MaxCohort ciphertexts, which the caller enforces.
func Sum(p *Params, cts []*Ciphertext) (*Ciphertext, error) {
	if p == nil {
		return nil, fmt.Errorf("he: sum: nil parameters: %w", ErrInvalidArgument)
	}
	if len(cts) == 0 {
		return nil, fmt.Errorf("he: sum of no ciphertexts: %w", ErrInvalidArgument)
	}
	for i, ct := range cts {
		if ct == nil {
			return nil, fmt.Errorf("he: sum: ciphertext %d is nil: %w", i, ErrInvalidArgument)
		}
		if !p.same(ct.params) {
			return nil, fmt.Errorf("he: sum: ciphertext %d is for %q, not %q: %w", i, ct.params.name(), p.id, ErrMismatch)
		}
	}
	out := &Ciphertext{params: p, c0: *cts[0].c0.CopyNew(), c1: *cts[0].c1.CopyNew()}
	// Lazy additions: an accumulator limb below k·q_i takes further
	// unreduced additions while it stays below 2^64, then one Barrett
	// reduction brings it back below q_i.
	var pending [8]int
	limbs := p.ringQ.SubRings[:p.limbs()]
	for _, ct := range cts[1:] {
		for i, s := range limbs {
			s.AddLazy(out.c0.Coeffs[i], ct.c0.Coeffs[i], out.c0.Coeffs[i])
			s.AddLazy(out.c1.Coeffs[i], ct.c1.Coeffs[i], out.c1.Coeffs[i])
			if pending[i]++; pending[i] == p.lazyAdds[i] {
				s.Reduce(out.c0.Coeffs[i], out.c0.Coeffs[i])
				s.Reduce(out.c1.Coeffs[i], out.c1.Coeffs[i])
				pending[i] = 0
			}
		}
	}
	for i, s := range limbs {
		if pending[i] > 0 {
			s.Reduce(out.c0.Coeffs[i], out.c0.Coeffs[i])
			s.Reduce(out.c1.Coeffs[i], out.c1.Coeffs[i])
		}
	}
	return out, nil
}
