package he

import (
	"crypto/sha256"
	"fmt"
	"math/big"
	"sync"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// PublicKey is the collective encryption key (pk0, pk1) = (−a·s + e_pk, a)
// of a committee, s the sum of the parties' secrets. It is immutable and
// safe for concurrent use.
type PublicKey struct {
	params   *Params
	pk0, pk1 ring.Poly // NTT and Montgomery form, as lattigo stores keys

	once   sync.Once
	coeffs [2][]*big.Int // integer coefficients in [0, Q)
	exact  [2]ring.Poly  // the same in the auxiliary ring, for the witness
}

// publicKeySize is the length of a public key's encoding.
func publicKeySize(p *Params) int { return headerSize(p) + 2*polySize(p) }

// MarshalBinary encodes the key: header, then pk0 and pk1 as RNS limbs in
// lattigo's NTT and Montgomery form.
func (pk *PublicKey) MarshalBinary() ([]byte, error) {
	if pk == nil || pk.params == nil {
		return nil, fmt.Errorf("he: encoding a zero PublicKey: %w", ErrInvalidArgument)
	}
	e := newEncoder(pk.params, kindPublicKey, publicKeySize(pk.params))
	e.poly(pk.pk0)
	e.poly(pk.pk1)
	return e.Bytes()
}

// UnmarshalPublicKey decodes a key encoded by MarshalBinary for p, refusing
// any other length, header or a coefficient not below its modulus.
func UnmarshalPublicKey(p *Params, b []byte) (*PublicKey, error) {
	if p == nil {
		return nil, fmt.Errorf("he: UnmarshalPublicKey: nil parameters: %w", ErrInvalidArgument)
	}
	if len(b) != publicKeySize(p) {
		return nil, fmt.Errorf("he: public key: %d bytes, want %d: %w", len(b), publicKeySize(p), ErrMalformed)
	}
	d := newDecoder(p, kindPublicKey, b)
	pk0, pk1 := d.poly(), d.poly()
	if err := d.finish(); err != nil {
		return nil, err
	}
	return &PublicKey{params: p, pk0: pk0, pk1: pk1}, nil
}

// Params returns the key's parameter set.
func (pk *PublicKey) Params() *Params { return pk.params }

// Digest is SHA-256 over a domain tag and the key's encoding: it names the
// key in descriptors and circuit setups.
func (pk *PublicKey) Digest() [32]byte {
	b, _ := pk.MarshalBinary() // fails only for a zero PublicKey
	return digest("cohort/he/v1/public-key", b)
}

// Coefficients returns copies of the integer coefficients of pk0 and pk1 in
// [0, Q) (coefficient domain, CRT-combined): the constants of the
// encryption relation.
func (pk *PublicKey) Coefficients() (pk0, pk1 []*big.Int) {
	pk.prepare()
	return copyInts(pk.coeffs[0]), copyInts(pk.coeffs[1])
}

func (pk *PublicKey) prepare() {
	pk.once.Do(func() {
		p := pk.params
		tmp := p.ringQ.NewPoly()
		for k, v := range []ring.Poly{pk.pk0, pk.pk1} {
			p.ringQ.IMForm(v, tmp)
			p.ringQ.INTT(tmp, tmp)
			pk.coeffs[k] = p.crtQ.toInts(tmp, p.n, false)
			pk.exact[k] = p.exact.prepare(pk.coeffs[k])
		}
	})
}

// rlwe returns the key as a lattigo public key sharing its polynomials.
func (pk *PublicKey) rlwe() *rlwe.PublicKey {
	out := rlwe.NewPublicKey(pk.params.rlwe())
	out.Value[0].Q = pk.pk0
	out.Value[1].Q = pk.pk1
	return out
}

func copyInts(in []*big.Int) []*big.Int {
	out := make([]*big.Int, len(in))
	for i, x := range in {
		out[i] = new(big.Int).Set(x)
	}
	return out
}

// digest is SHA-256(len(tag) ‖ tag ‖ b): domain-separated, so a digest of
// one kind of object never equals a digest of another.
func digest(tag string, b []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte{byte(len(tag))})
	h.Write([]byte(tag))
	h.Write(b)
	var out [32]byte
	h.Sum(out[:0])
	return out
}
