package mpc

import (
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/seal"
	"github.com/cohort-dev/cohort/wire"
)

// Payload is what a contributor uploads for one record of an MPC dataset: the
// proof, the public inputs it proves, and node j's share sealed to node j
// with the digest of the public inputs as associated data.
type Payload struct {
	Public circuits.PublicInputs
	Proof  *circuits.Proof
	Sealed [][]byte // Sealed[j] is for node j
}

// Statement is the proof with its public inputs, for a BatchVerifier.
func (p *Payload) Statement() circuits.Statement {
	return circuits.Statement{Proof: p.Proof, Public: p.Public.Vector()}
}

// Contribution is the contributor's side of one record, as every backend
// takes it (circuits.Contribution).
type Contribution = circuits.Contribution

// Prover builds payloads for one dataset: its compiled circuit, proving key
// and the nodes' sealing keys, in node order. It is safe for concurrent use.
type Prover struct {
	sys   *circuits.MPCSystem
	pk    groth16.ProvingKey
	nodes []*seal.PublicKey
}

// NewProver returns a Prover; it refuses a node list that does not match the
// circuit's node count.
func NewProver(sys *circuits.MPCSystem, pk groth16.ProvingKey, nodes []*seal.PublicKey) (*Prover, error) {
	if len(nodes) != sys.Shape.Nodes {
		return nil, fmt.Errorf("mpc: %d node keys for a circuit of %d nodes", len(nodes), sys.Shape.Nodes)
	}
	for j, n := range nodes {
		if n == nil {
			return nil, fmt.Errorf("mpc: node %d has no key", j)
		}
	}
	return &Prover{sys: sys, pk: pk, nodes: nodes}, nil
}

// Build splits the record into shares, proves the contribution and seals each
// share to its node. rnd supplies the sharing randomness (nil: crypto/rand).
// An invalid record or a path to another root fails in proving.
func (p *Prover) Build(c Contribution, rnd io.Reader) (*Payload, error) {
	shares, err := Split(c.Record, len(p.nodes), rnd)
	if err != nil {
		return nil, err
	}
	defer wipeShares(shares)
	w := &circuits.MPCWitness{
		Secret: c.Secret, Root: c.Root, Path: c.Path, Terms: c.Terms, Record: c.Record,
		Shares: make([][]fr.Element, len(shares)),
		Blinds: make([]fr.Element, len(shares)),
	}
	for j, s := range shares {
		w.Shares[j], w.Blinds[j] = s.Values, s.Blind
	}
	proof, pub, err := p.sys.Prove(p.pk, w)
	if err != nil {
		return nil, fmt.Errorf("mpc: %w", err)
	}
	aad := pub.Digest()
	out := &Payload{Public: pub, Proof: proof, Sealed: make([][]byte, len(shares))}
	for j, s := range shares {
		if out.Sealed[j], err = SealShare(p.nodes[j], s, aad[:]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OpenPayload is node j's side: it opens Sealed[j] with key, against the
// payload's public inputs, and checks the share against C_j. It does not
// verify the proof (batch that with a circuits.BatchVerifier); a caller
// stores the share only if both pass. m is the dataset's vector length.
func OpenPayload(key *seal.PrivateKey, node, m int, p *Payload) (Share, error) {
	if node < 0 || node >= len(p.Sealed) || node >= len(p.Public.ShareCommitments) {
		return Share{}, fmt.Errorf("mpc: payload has no share for node %d: %w", node, ErrMalformed)
	}
	aad := p.Public.Digest()
	s, err := OpenShare(key, node, m, p.Sealed[node], aad[:])
	if err != nil {
		return Share{}, err
	}
	if err := s.CheckCommitment(p.Public.ShareCommitments[node]); err != nil {
		wipeShares([]Share{s})
		return Share{}, err
	}
	return s, nil
}

// payloadVersion is the first byte of an encoded payload.
const payloadVersion = 1

// MarshalBinary encodes the payload: version, then length-prefixed (uint32
// big-endian) public inputs and proof, then the node count and each sealed
// share length-prefixed.
func (p *Payload) MarshalBinary() ([]byte, error) {
	if p.Proof == nil {
		return nil, fmt.Errorf("mpc: payload without proof")
	}
	if len(p.Sealed) != len(p.Public.ShareCommitments) {
		return nil, fmt.Errorf("mpc: %d sealed shares for %d commitments", len(p.Sealed), len(p.Public.ShareCommitments))
	}
	pub, err := p.Public.MarshalBinary()
	if err != nil {
		return nil, err
	}
	proof, err := p.Proof.MarshalBinary()
	if err != nil {
		return nil, err
	}
	w := wire.NewWriter(wire.BigEndian, 0)
	w.Uint8(payloadVersion)
	w.Bytes32(pub)
	w.Bytes32(proof)
	w.Uint8(byte(len(p.Sealed)))
	for _, s := range p.Sealed {
		w.Bytes32(s)
	}
	return w.Bytes()
}

// PayloadLimits are what a node expects of a payload for one dataset.
type PayloadLimits struct {
	Nodes int // k
	Len   int // m, the dataset's vector length
}

// UnmarshalPayload decodes a payload for a dataset with the given limits. It
// checks every length against the limits before using it: exactly k sealed
// shares, each of the exact sealed size for m coordinates, and k share
// commitments in the public inputs.
func UnmarshalPayload(b []byte, lim PayloadLimits) (*Payload, error) {
	if lim.Nodes < 2 || lim.Nodes > circuits.MaxNodes || !checkLen(lim.Len) {
		return nil, fmt.Errorf("mpc: payload limits %+v: %w", lim, ErrMalformed)
	}
	sealedSize, err := SealedSize(seal.DefaultSuite, lim.Len)
	if err != nil {
		return nil, err
	}
	r := wire.NewReader(wire.BigEndian, b)
	if v := r.Uint8(); v != payloadVersion {
		return nil, fmt.Errorf("mpc: payload version %d: %w", v, ErrMalformed)
	}
	var p Payload
	if err := p.Public.UnmarshalBinary(r.Bytes32(1 << 12)); err != nil {
		return nil, fmt.Errorf("mpc: payload: %w: %w", ErrMalformed, err)
	}
	if len(p.Public.ShareCommitments) != lim.Nodes {
		return nil, fmt.Errorf("mpc: payload for %d nodes, want %d: %w", len(p.Public.ShareCommitments), lim.Nodes, ErrMalformed)
	}
	p.Proof = new(circuits.Proof)
	if err := p.Proof.UnmarshalBinary(r.Bytes32(1 << 10)); err != nil {
		return nil, fmt.Errorf("mpc: payload: %w: %w", ErrMalformed, err)
	}
	if k := int(r.Uint8()); k != lim.Nodes {
		return nil, fmt.Errorf("mpc: payload carries %d sealed shares, want %d: %w", k, lim.Nodes, ErrMalformed)
	}
	p.Sealed = make([][]byte, lim.Nodes)
	for j := range p.Sealed {
		s := r.Bytes32(sealedSize)
		if r.Err() == nil && len(s) != sealedSize {
			return nil, fmt.Errorf("mpc: payload: sealed share %d has %d bytes, want %d: %w", j, len(s), sealedSize, ErrMalformed)
		}
		p.Sealed[j] = s
	}
	if err := r.End(); err != nil {
		return nil, fmt.Errorf("mpc: payload: %v: %w", err, ErrMalformed)
	}
	return &p, nil
}

// Digest identifies a payload: SHA-256 over a domain tag and its encoding.
// Ingest uses it to recognise a retried upload.
func (p *Payload) Digest() ([32]byte, error) {
	b, err := p.MarshalBinary()
	if err != nil {
		return [32]byte{}, err
	}
	h := sha256.New()
	h.Write([]byte("cohort/v1/mpc-payload\x00"))
	h.Write(b)
	var d [32]byte
	h.Sum(d[:0])
	return d, nil
}
