package heproof

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/wire"
)

// ErrMalformed is wrapped by every error of UnmarshalPayload.
var ErrMalformed = errors.New("heproof: malformed payload")

// Payload is what a contributor uploads for one record of an HE dataset.
type Payload struct {
	Public     circuits.PublicInputs // the consent inputs; no share commitments
	Proof      *circuits.Proof
	Ciphertext *he.Ciphertext
}

// Statement is the proof with its full public vector (consent inputs, then
// the ciphertext's coefficients), for a BatchVerifier.
func (p *Payload) Statement(params *he.Params) (circuits.Statement, error) {
	c0, c1 := p.Ciphertext.Coefficients()
	pub, err := circuits.HEPublicVector(&p.Public, c0, c1, params.N())
	if err != nil {
		return circuits.Statement{}, fmt.Errorf("heproof: %w", err)
	}
	return circuits.Statement{Proof: p.Proof, Public: pub}, nil
}

// Contribution is the contributor's side of one record, as every backend
// takes it (circuits.Contribution).
type Contribution = circuits.Contribution

// Prover builds payloads for one HE dataset: its compiled circuit (which
// embeds the collective public key), proving key and the key itself. It is
// safe for concurrent use.
type Prover struct {
	sys    *circuits.HESystem
	pk     groth16.ProvingKey
	params *he.Params
	key    *he.PublicKey
}

// NewProver returns a Prover. It refuses a key whose coefficients are not
// the circuit's constants: a proof made against another key could not
// verify.
func NewProver(sys *circuits.HESystem, pk groth16.ProvingKey, params *he.Params, key *he.PublicKey) (*Prover, error) {
	if sys == nil || pk == nil || params == nil || key == nil {
		return nil, fmt.Errorf("heproof: prover: missing circuit, proving key, parameters or public key")
	}
	k := sys.Shape.Key
	if k.ParamSet != string(params.ID()) || k.N != params.N() {
		return nil, fmt.Errorf("heproof: prover: circuit for %s with N=%d, parameters %s with N=%d", k.ParamSet, k.N, params.ID(), params.N())
	}
	pk0, pk1 := key.Coefficients()
	for i := range k.PK0 {
		if k.PK0[i].Cmp(pk0[i]) != 0 || k.PK1[i].Cmp(pk1[i]) != 0 {
			return nil, fmt.Errorf("heproof: prover: the circuit was compiled for another public key")
		}
	}
	return &Prover{sys: sys, pk: pk, params: params, key: key}, nil
}

// Build encrypts the record, checks the encryption witness against the
// relation the circuit proves and proves the contribution. rnd supplies
// the encryption randomness (nil: crypto/rand). An invalid record or a
// path to another root fails in proving.
func (p *Prover) Build(c Contribution, rnd io.Reader) (*Payload, error) {
	ct, w, err := p.key.Encrypt(p.params, c.Record, rnd)
	if err != nil {
		return nil, fmt.Errorf("heproof: encrypt: %w", err)
	}
	if err := w.Check(p.params, p.key); err != nil {
		return nil, fmt.Errorf("heproof: encryption witness: %w", err)
	}
	hw := &circuits.HEWitness{
		Secret: c.Secret, Root: c.Root, Path: c.Path, Terms: c.Terms, Record: c.Record,
		U: w.U, E0: w.E0, E1: w.E1, K0: w.K0, K1: w.K1, R0: w.R0, R1: w.R1, C0: w.C0, C1: w.C1,
	}
	proof, pub, err := p.sys.Prove(p.pk, hw)
	if err != nil {
		return nil, err
	}
	return &Payload{Public: pub, Proof: proof, Ciphertext: ct}, nil
}

const payloadVersion = 1

// Bounds of the small chunks.
const (
	maxPublicLen = 1 << 12
	maxProofLen  = 1 << 10
)

// MarshalBinary encodes the payload (see the package doc).
func (p *Payload) MarshalBinary() ([]byte, error) {
	if p.Proof == nil || p.Ciphertext == nil {
		return nil, fmt.Errorf("heproof: payload without proof or ciphertext")
	}
	if len(p.Public.ShareCommitments) != 0 {
		return nil, fmt.Errorf("heproof: HE public inputs carry no share commitments")
	}
	pub, err := p.Public.MarshalBinary()
	if err != nil {
		return nil, err
	}
	proof, err := p.Proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	ct, err := p.Ciphertext.MarshalBinary()
	if err != nil {
		return nil, err
	}
	w := wire.NewWriter(wire.BigEndian, 1+12+len(pub)+len(proof)+len(ct))
	w.Uint8(payloadVersion)
	w.Bytes32(pub)
	w.Bytes32(proof)
	w.Bytes32(ct)
	return w.Bytes()
}

// EncodedSize bounds an encoded payload for params: a node refuses larger
// uploads before reading them.
func EncodedSize(params *he.Params) int {
	return 1 + 12 + maxPublicLen + maxProofLen + he.EncodedSize(params)
}

// UnmarshalPayload decodes a payload for a dataset with parameters params.
// Every length is checked before it is used; the ciphertext must have
// exactly the size of params and every coefficient below its modulus; and
// b must be the payload's canonical encoding (MarshalBinary gives it back).
func UnmarshalPayload(b []byte, params *he.Params) (*Payload, error) {
	if params == nil {
		return nil, fmt.Errorf("heproof: no parameters")
	}
	r := wire.NewReader(wire.BigEndian, b)
	if v := r.Uint8(); v != payloadVersion {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, v)
	}
	var p Payload
	pub := r.Bytes32(maxPublicLen)
	proof := r.Bytes32(maxProofLen)
	ctb := r.Bytes32(he.EncodedSize(params))
	if err := r.End(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := p.Public.UnmarshalBinary(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(p.Public.ShareCommitments) != 0 {
		return nil, fmt.Errorf("%w: public inputs carry %d share commitments (an MPC payload?)", ErrMalformed, len(p.Public.ShareCommitments))
	}
	p.Proof = new(circuits.Proof)
	if err := p.Proof.UnmarshalBinary(proof); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ct, err := he.UnmarshalCiphertext(params, ctb)
	if err != nil {
		return nil, fmt.Errorf("%w: ciphertext: %w", ErrMalformed, err)
	}
	p.Ciphertext = ct
	// Auditors rebuild a payload from its parts to check the digest the
	// nodes acknowledged: only the canonical encoding is accepted.
	if enc, err := p.MarshalBinary(); err != nil || !bytes.Equal(enc, b) {
		return nil, fmt.Errorf("%w: not in its canonical encoding", ErrMalformed)
	}
	return &p, nil
}

// Digest identifies a payload: SHA-256 over a domain tag and its encoding.
func (p *Payload) Digest() ([32]byte, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte("cohort/v1/he-payload\x00"))
	h.Write(b)
	var d [32]byte
	h.Sum(d[:0])
	return d, nil
}
