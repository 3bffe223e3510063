package he

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tuneinsight/lattigo/v5/ring"

	"github.com/cohort-dev/cohort/wire"
)

// Every encoding of this package starts with the same header:
//
//	version (1) ‖ kind (1) ‖ len(id) (1) ‖ parameter-set id
//
// followed by the fields of the kind, fixed-width and little-endian, and
// polynomials as their RNS limbs: for each q_i in order, N coefficients as
// uint64, each < q_i. Decoders check the exact length before they allocate
// and every coefficient against its modulus before they build a lattigo
// object.
const encodingVersion = 1

type kind byte

const (
	kindCiphertext kind = iota + 1
	kindPublicKey
	kindPublicKeyShare
	kindShamirShare
	kindThresholdKey
	kindDecryptionShare
	kindPartialDecryption
)

func (k kind) String() string {
	switch k {
	case kindCiphertext:
		return "ciphertext"
	case kindPublicKey:
		return "public key"
	case kindPublicKeyShare:
		return "public-key share"
	case kindShamirShare:
		return "Shamir share"
	case kindThresholdKey:
		return "threshold key"
	case kindDecryptionShare:
		return "decryption share"
	case kindPartialDecryption:
		return "partial decryption"
	}
	return fmt.Sprintf("kind %d", byte(k))
}

func headerSize(p *Params) int { return 3 + len(p.id) }

// polySize is the encoded size of one polynomial over Q.
func polySize(p *Params) int { return p.limbs() * p.n * 8 }

// encoder writes an encoding: the header, then the kind's fields through
// the embedded wire.Writer and its polynomials through poly.
type encoder struct{ *wire.Writer }

func newEncoder(p *Params, k kind, size int) *encoder {
	e := &encoder{wire.NewWriter(wire.LittleEndian, size)}
	e.Uint8(encodingVersion)
	e.Uint8(byte(k))
	e.Bytes8([]byte(p.id))
	return e
}

func (e *encoder) poly(p ring.Poly) {
	for _, limb := range p.Coeffs {
		for _, c := range limb {
			e.Uint64(c)
		}
	}
}

// decoder reads an encoding through the embedded wire.Reader; the first
// failure sticks and every later read returns zero values.
type decoder struct {
	*wire.Reader
	p *Params
	k kind
}

// newDecoder checks the header of b against p and k. Callers check the
// total length themselves, before any allocation.
func newDecoder(p *Params, k kind, b []byte) *decoder {
	d := &decoder{Reader: wire.NewReader(wire.LittleEndian, b), p: p, k: k}
	if len(b) < headerSize(p) {
		d.fail("%d bytes, shorter than the header", len(b))
		return d
	}
	if v := d.Uint8(); v != encodingVersion {
		d.fail("version %d, want %d", v, encodingVersion)
	} else if got := kind(d.Uint8()); got != k {
		d.fail("encodes a %v", got)
	} else if id := d.Bytes8(math.MaxUint8); string(id) != string(p.id) {
		d.fail("not for parameter set %q", p.id)
	}
	return d
}

// fail records a failure of the kind's own checks.
func (d *decoder) fail(format string, args ...any) {
	d.Fail(fmt.Errorf(format, args...))
}

// poly reads a polynomial over Q, refusing any coefficient ≥ q_i. It checks
// every coefficient before it allocates the polynomial.
func (d *decoder) poly() ring.Poly {
	raw := d.Fixed(polySize(d.p))
	if raw == nil {
		return ring.Poly{}
	}
	n := d.p.n
	for i, q := range d.p.moduli() {
		for j := 0; j < n; j++ {
			if c := binary.LittleEndian.Uint64(raw[(i*n+j)*8:]); c >= q {
				d.fail("coefficient %d of limb %d is %d ≥ q_%d", j, i, c, i)
				return ring.Poly{}
			}
		}
	}
	out := d.p.ringQ.NewPoly()
	for i, limb := range out.Coeffs {
		for j := range limb {
			limb[j] = binary.LittleEndian.Uint64(raw[(i*n+j)*8:])
		}
	}
	return out
}

// finish reports trailing bytes and returns the first error.
func (d *decoder) finish() error {
	if err := d.End(); err != nil {
		return fmt.Errorf("he: %v: %v: %w", d.k, err, ErrMalformed)
	}
	return nil
}
