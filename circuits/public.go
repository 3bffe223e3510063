package circuits

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/hash"
	"github.com/cohort-dev/cohort/wire"
)

// ErrMalformed reports bytes that do not decode.
var ErrMalformed = errors.New("circuits: malformed encoding")

// PublicInputs are the public inputs of a contribution proof: who may count it
// (registry root, nullifier), on which terms (dataset, epoch, purposes, expiry,
// minimum cohort, revocation commitment) and, for the MPC backend, what
// exactly was uploaded (one commitment per node share). For the HE backend
// they are the consent part only, with no share commitments: the ciphertext
// joins them in the proof's public vector (HEPublicVector).
type PublicInputs struct {
	Dataset          fr.Element // DatasetField(dataset id)
	Epoch            uint64
	Root             fr.Element // registry root the membership was proven against
	Nullifier        fr.Element
	Purposes         uint64 // bitmask over the schema's purposes
	Expiry           uint64 // Unix seconds; the record may not be used after
	MinCohort        uint32 // the contributor's own minimum cohort
	Revocation       fr.Element
	ShareCommitments []fr.Element // C_j, one per node (MPC); none (HE)
}

// Vector is the public witness in circuit order.
func (p *PublicInputs) Vector() []fr.Element {
	v := make([]fr.Element, numConsentPublic, numConsentPublic+len(p.ShareCommitments))
	v[0] = p.Dataset
	v[1].SetUint64(p.Epoch)
	v[2] = p.Root
	v[3] = p.Nullifier
	v[4].SetUint64(p.Purposes)
	v[5].SetUint64(p.Expiry)
	v[6].SetUint64(uint64(p.MinCohort))
	v[7] = p.Revocation
	return append(v, p.ShareCommitments...)
}

// Digest binds all public inputs in one element; sealed shares carry its bytes
// as associated data, so a share cannot be moved to another proof.
func (p *PublicInputs) Digest() [32]byte {
	d := hash.Sum(hash.PublicInputs, p.Vector()...)
	return d.Bytes()
}

const publicVersion = 1

// publicFixedLen is the encoded size without share commitments.
const publicFixedLen = 2 + 4*fr.Bytes + 3*8 + 4

// MarshalBinary encodes p: version, k, Dataset, Epoch, Root, Nullifier,
// Purposes, Expiry, MinCohort, Revocation, C_0..C_{k−1}; integers big-endian,
// field elements as 32-byte canonical big-endian.
func (p *PublicInputs) MarshalBinary() ([]byte, error) {
	if len(p.ShareCommitments) > MaxNodes {
		return nil, fmt.Errorf("circuits: %d share commitments, at most %d", len(p.ShareCommitments), MaxNodes)
	}
	w := wire.NewWriter(wire.BigEndian, publicFixedLen+fr.Bytes*len(p.ShareCommitments))
	w.Uint8(publicVersion)
	w.Uint8(byte(len(p.ShareCommitments)))
	writeElement(w, &p.Dataset)
	w.Uint64(p.Epoch)
	writeElement(w, &p.Root)
	writeElement(w, &p.Nullifier)
	w.Uint64(p.Purposes)
	w.Uint64(p.Expiry)
	w.Uint32(p.MinCohort)
	writeElement(w, &p.Revocation)
	for i := range p.ShareCommitments {
		writeElement(w, &p.ShareCommitments[i])
	}
	return w.Bytes()
}

// UnmarshalBinary decodes what MarshalBinary wrote; it refuses any other
// length, version, node count or a non-canonical field element. A count of
// zero share commitments is the HE form (ShareCommitments nil); a single
// commitment is refused, as no federation has one node.
func (p *PublicInputs) UnmarshalBinary(b []byte) error {
	k, err := publicShape(b)
	if err != nil {
		return err
	}
	r := wire.NewReader(wire.BigEndian, b[2:])
	var q PublicInputs
	readElement(r, &q.Dataset)
	q.Epoch = r.Uint64()
	readElement(r, &q.Root)
	readElement(r, &q.Nullifier)
	q.Purposes = r.Uint64()
	q.Expiry = r.Uint64()
	q.MinCohort = r.Uint32()
	readElement(r, &q.Revocation)
	if k > 0 {
		q.ShareCommitments = make([]fr.Element, k)
	}
	for i := range q.ShareCommitments {
		readElement(r, &q.ShareCommitments[i])
	}
	if err := r.End(); err != nil {
		return fmt.Errorf("%w: public inputs: %v", ErrMalformed, err)
	}
	*p = q
	return nil
}

// publicShape checks the version, node count and length of an encoding
// of public inputs and returns its node count.
func publicShape(b []byte) (int, error) {
	if len(b) < publicFixedLen {
		return 0, fmt.Errorf("%w: public inputs: %d bytes, want at least %d", ErrMalformed, len(b), publicFixedLen)
	}
	if b[0] != publicVersion {
		return 0, fmt.Errorf("%w: public inputs: version %d", ErrMalformed, b[0])
	}
	k := int(b[1])
	if (k != 0 && k < MinNodes) || k > MaxNodes {
		return 0, fmt.Errorf("%w: public inputs: %d nodes", ErrMalformed, k)
	}
	if want := publicFixedLen + k*fr.Bytes; len(b) != want {
		return 0, fmt.Errorf("%w: public inputs: %d bytes, want %d", ErrMalformed, len(b), want)
	}
	return k, nil
}

// publicRootOffset is where Root starts in the encoding: after the
// version, the node count, Dataset and Epoch.
const publicRootOffset = 2 + fr.Bytes + 8

// RootOf returns the registry root of an encoding of public inputs,
// checking its shape and the root as UnmarshalBinary does but no other
// field: a job's transcript lists the roots of its records, read from rows
// whose inputs were decoded whole when they were stored (docs/design.md
// §7.7). Anything that decodes whole should use UnmarshalBinary.
func RootOf(b []byte) ([32]byte, error) {
	if _, err := publicShape(b); err != nil {
		return [32]byte{}, err
	}
	root := [32]byte(b[publicRootOffset : publicRootOffset+fr.Bytes])
	if bytes.Compare(root[:], frModulus[:]) >= 0 {
		return [32]byte{}, fmt.Errorf("%w: public inputs: root: not a canonical field element (%x is not below the modulus)", ErrMalformed, root)
	}
	return root, nil
}

// frModulus is r, big-endian: a 32-byte big-endian value is a canonical
// element exactly when it is below it, which RootOf checks by comparing
// bytes, where SetBytesCanonical would also convert the value to
// Montgomery form (a job reads the root of every record of its cohort).
var frModulus = [fr.Bytes]byte(fr.Modulus().FillBytes(make([]byte, fr.Bytes)))

func writeElement(w *wire.Writer, e *fr.Element) {
	x := e.Bytes()
	w.Raw(x[:])
}

// readElement reads a 32-byte canonical big-endian element; a value ≥ r
// is the reader's failure, never reduced.
func readElement(r *wire.Reader, e *fr.Element) {
	b := r.Fixed(fr.Bytes)
	if b == nil {
		return
	}
	if err := e.SetBytesCanonical(b); err != nil {
		r.Fail(err)
	}
}
