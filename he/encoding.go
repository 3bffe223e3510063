package he

import (
	"encoding/binary"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/ring"
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

type encoder struct{ b []byte }

func newEncoder(p *Params, k kind, size int) *encoder {
	e := &encoder{b: make([]byte, 0, size)}
	e.b = append(e.b, encodingVersion, byte(k), byte(len(p.id)))
	e.b = append(e.b, p.id...)
	return e
}

func (e *encoder) u8(v int)       { e.b = append(e.b, byte(v)) }
func (e *encoder) u32(v int)      { e.b = binary.LittleEndian.AppendUint32(e.b, uint32(v)) }
func (e *encoder) u64(v uint64)   { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) bytes(v []byte) { e.b = append(e.b, v...) }

func (e *encoder) poly(p ring.Poly) {
	for _, limb := range p.Coeffs {
		for _, c := range limb {
			e.u64(c)
		}
	}
}

// decoder reads an encoding; the first failure sticks and every later read
// returns zero values.
type decoder struct {
	p   *Params
	k   kind
	b   []byte
	off int
	err error
}

// newDecoder checks the header of b against p and k. Callers check the
// total length themselves, before any allocation.
func newDecoder(p *Params, k kind, b []byte) *decoder {
	d := &decoder{p: p, k: k, b: b}
	h := headerSize(p)
	switch {
	case len(b) < h:
		d.fail("%d bytes, shorter than the header", len(b))
	case b[0] != encodingVersion:
		d.fail("version %d, want %d", b[0], encodingVersion)
	case kind(b[1]) != k:
		d.fail("encodes a %v", kind(b[1]))
	case int(b[2]) != len(p.id) || string(b[3:h]) != string(p.id):
		d.fail("not for parameter set %q", p.id)
	default:
		d.off = h
	}
	return d
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("he: %v: %s: %w", d.k, fmt.Sprintf(format, args...), ErrMalformed)
	}
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b)-d.off < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[d.off : d.off+n]
	d.off += n
	return v
}

func (d *decoder) u8() int {
	v := d.take(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (d *decoder) u32() int {
	v := d.take(4)
	if v == nil {
		return 0
	}
	return int(binary.LittleEndian.Uint32(v))
}

func (d *decoder) u64() uint64 {
	v := d.take(8)
	if v == nil {
		return 0
	}
	return binary.LittleEndian.Uint64(v)
}

// poly reads a polynomial over Q, refusing any coefficient ≥ q_i. It checks
// every coefficient before it allocates the polynomial.
func (d *decoder) poly() ring.Poly {
	raw := d.take(polySize(d.p))
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
	if d.err == nil && d.off != len(d.b) {
		d.fail("%d trailing bytes", len(d.b)-d.off)
	}
	return d.err
}
