package dataset

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/schema"
)

// Parameter set ids an HE dataset adds to the proof system's and hash's.
const (
	// ParamThresholdBGV names the key management: lattigo's collective
	// key generation with Shamir t-of-n shares of the secret, and
	// decryption shares with smudging noise, one per aggregate ciphertext.
	ParamThresholdBGV = "mhe-threshold-bgv-v1"
)

// ParamsHE are the parameter set ids of an HE dataset on BGV set paramSet.
func ParamsHE(paramSet he.ParamSetID) []string {
	return []string{ParamGroth16, ParamHash, string(paramSet), ParamThresholdBGV}
}

// HE is an HE dataset's collective key, decoded and checked.
type HE struct {
	Params    *he.Params
	Key       *he.PublicKey
	KeyDigest [32]byte // SHA-256 of the encoded public key, as the nodes signed it
	Committee he.Committee
	Smudging  he.Smudging
	Budget    *he.Budget // the schema's worst-case noise against the set; sizes the smudging
}

// KeygenStatement is what each node signs for the key in info: its
// CommitmentsDigest is over the commitments to info's public-key shares.
func KeygenStatement(datasetID string, nodes int, info *cohortv1.HEKeyInfo) attest.HEKeygen {
	st := attest.HEKeygen{
		DatasetID: datasetID, ParamSet: info.GetParamSet(), Threshold: info.GetThreshold(), Nodes: uint32(nodes),
		PublicKeyDigest:   sha256.Sum256(info.GetPublicKey()),
		CommitmentsDigest: KeygenCommitmentsDigest(datasetID, info.GetCrsSeed(), info.GetPublicKeyShares()),
	}
	copy(st.CRSSeed[:], info.GetCrsSeed())
	return st
}

// KeygenCommitmentsDigest is SHA-256 over a tag, the number of shares and
// the commitment to each, in index order.
func KeygenCommitmentsDigest(datasetID string, crs []byte, pkShares [][]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagKeygenCommit + "s\x00"))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(pkShares))))
	for i, sh := range pkShares {
		c := KeygenCommitment(datasetID, crs, uint32(i), sh)
		h.Write(c[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// tagKeygenCommit separates a commitment to a public-key share from every
// other hash.
const tagKeygenCommit = "cohort/v1/he-keygen-commit"

// KeygenCommitment is a node's commitment to its encoded public-key share
// pkShare in the key generation of dataset datasetID with CRS seed crs:
// SHA-256(tag ‖ 0 ‖ len(id) ‖ id ‖ len(crs) ‖ crs ‖ node ‖ pkShare),
// lengths and the node as 4-byte big-endian integers. The share is the
// last field and fixed-size for a parameter set.
func KeygenCommitment(datasetID string, crs []byte, node uint32, pkShare []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagKeygenCommit + "\x00"))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(datasetID))))
	h.Write([]byte(datasetID))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(crs))))
	h.Write(crs)
	h.Write(binary.BigEndian.AppendUint32(nil, node))
	h.Write(pkShare)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// KeygenCommitStatement is what node signs for its commitment.
func KeygenCommitStatement(datasetID string, crs []byte, node uint32, commitment [32]byte) attest.HEKeygenCommit {
	st := attest.HEKeygenCommit{DatasetID: datasetID, Node: node, Commitment: commitment}
	copy(st.CRSSeed[:], crs)
	return st
}

// checkHE decodes and checks an HE dataset's key info: a known parameter
// set, a threshold in 2..k, valid smudging, a public key that decodes,
// every node's signature over it, and that it is the sum of the public-key
// shares listed, each signed by its node as its commitment
// (checkKeyShares).
func checkHE(d *cohortv1.DatasetDescriptor, s *schema.Schema, signing func(i int) ed25519.PublicKey) (*HE, error) {
	info := d.GetHe()
	if info == nil {
		return nil, fmt.Errorf("%w: HE dataset without its collective key", ErrInvalid)
	}
	params, err := he.Lookup(he.ParamSetID(info.GetParamSet()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	k := int(d.GetNodeCount())
	c := he.Committee{Nodes: k, Threshold: int(info.GetThreshold())}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	sm := he.Smudging{StatisticalBits: int(info.GetSmudgingBits())}
	if err := sm.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(info.GetCrsSeed()) != 32 {
		return nil, fmt.Errorf("%w: CRS seed of %d bytes, want 32", ErrInvalid, len(info.GetCrsSeed()))
	}
	budget, err := params.Check(he.Capacity{Nodes: k, Threshold: c.Threshold, MaxCohort: s.MaxCohort, MaxCoord: s.Bounds().MaxCoord, Smudging: sm})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	key, err := he.UnmarshalPublicKey(params, info.GetPublicKey())
	if err != nil {
		return nil, fmt.Errorf("%w: HE public key: %w", ErrInvalid, err)
	}
	if len(info.GetSignatures()) != k {
		return nil, fmt.Errorf("%w: %d key-generation signatures, want one per node (%d)", ErrInvalid, len(info.GetSignatures()), k)
	}
	st := KeygenStatement(d.GetId(), k, info)
	for i, sig := range info.GetSignatures() {
		if sig.GetNodeIndex() != uint32(i) {
			return nil, fmt.Errorf("%w: key-generation signature %d names node %d", ErrInvalid, i, sig.GetNodeIndex())
		}
		if err := attest.Verify(signing(i), st, sig.GetSignature()); err != nil {
			return nil, fmt.Errorf("%w: node %d's key-generation signature: %w", ErrInvalid, i, err)
		}
	}
	if err := checkKeyShares(d.GetId(), params, c, info, signing); err != nil {
		return nil, err
	}
	return &HE{Params: params, Key: key, KeyDigest: st.PublicKeyDigest, Committee: c, Smudging: sm, Budget: budget}, nil
}

// checkKeyShares checks that info's public key is the sum of its
// public-key shares and that each node signed its commitment to its share:
// a key that one node chose, by picking its share after seeing the others',
// does not pass, since no node commits to that share before the others are
// revealed (docs/design.md §4.3).
func checkKeyShares(id string, params *he.Params, c he.Committee, info *cohortv1.HEKeyInfo, signing func(i int) ed25519.PublicKey) error {
	shares, sigs := info.GetPublicKeyShares(), info.GetCommitmentSignatures()
	if len(shares) != c.Nodes || len(sigs) != c.Nodes {
		return fmt.Errorf("%w: %d public-key shares and %d commitment signatures, want one per node (%d)", ErrInvalid, len(shares), len(sigs), c.Nodes)
	}
	for i, sig := range sigs {
		if sig.GetNodeIndex() != uint32(i) {
			return fmt.Errorf("%w: commitment signature %d names node %d", ErrInvalid, i, sig.GetNodeIndex())
		}
		st := KeygenCommitStatement(id, info.GetCrsSeed(), uint32(i), KeygenCommitment(id, info.GetCrsSeed(), uint32(i), shares[i]))
		if err := attest.Verify(signing(i), st, sig.GetSignature()); err != nil {
			return fmt.Errorf("%w: node %d's public-key share is not the one it committed to: %w", ErrInvalid, i, err)
		}
	}
	var crs [32]byte
	copy(crs[:], info.GetCrsSeed())
	sum, err := he.AggregatePublicKey(params, c, crs, shares)
	if err != nil {
		return fmt.Errorf("%w: public-key shares: %w", ErrInvalid, err)
	}
	enc, err := sum.MarshalBinary()
	if err != nil {
		return fmt.Errorf("%w: public-key shares: %w", ErrInvalid, err)
	}
	if !bytes.Equal(enc, info.GetPublicKey()) {
		return fmt.Errorf("%w: the public key is not the sum of the committed public-key shares", ErrInvalid)
	}
	return nil
}

// HEShape is the HE contribution circuit's shape: the schema, the registry
// depth and the collective public key as circuit constants.
func (d *Dataset) HEShape() (circuits.HEShape, error) {
	if d.HE == nil {
		return circuits.HEShape{}, fmt.Errorf("dataset %s: not an HE dataset", d.Desc.GetId())
	}
	return HEShapeOf(d.Schema, int(d.Desc.GetRegistryDepth()), d.HE.Params, d.HE.Key)
}

// HEShapeOf is the circuit shape for schema s, registry depth depth and
// collective key key on parameter set params.
func HEShapeOf(s *schema.Schema, depth int, params *he.Params, key *he.PublicKey) (circuits.HEShape, error) {
	pk0, pk1 := key.Coefficients()
	return circuits.NewHEShape(s, depth, circuits.HEKey{
		ParamSet: string(params.ID()), N: params.N(), Q: params.Q(), Delta: params.Delta(),
		ErrorBits: params.ErrorBits(), PK0: pk0, PK1: pk1,
	})
}

// CompileHE compiles the HE contribution circuit once and checks its
// digest against the descriptor's.
func (d *Dataset) CompileHE() (*circuits.HESystem, error) {
	d.heOnce.Do(func() {
		sh, err := d.HEShape()
		if err != nil {
			d.heErr = err
			return
		}
		sys, err := circuits.CompileHE(sh)
		if err != nil {
			d.heErr = fmt.Errorf("dataset %s: compile: %w", d.Desc.GetId(), err)
			return
		}
		dg, err := setup.CircuitDigest(sys.CCS)
		if err != nil {
			d.heErr = fmt.Errorf("dataset %s: %w", d.Desc.GetId(), err)
			return
		}
		if !bytes.Equal(dg[:], d.Desc.GetCircuitDigest()) {
			d.heErr = fmt.Errorf("%w: circuit digest %x differs from the compiled circuit's %x", ErrInvalid, d.Desc.GetCircuitDigest(), dg)
			return
		}
		d.heSys = sys
	})
	return d.heSys, d.heErr
}

// NewHE builds the descriptor of a new HE dataset in state SETUP, for the
// collective key the nodes generated (info carries it with every node's
// signature), and compiles its circuit: the circuit digest in the
// descriptor is the compiled circuit's.
func NewHE(s *schema.Schema, nodes []Node, depth int, info *cohortv1.HEKeyInfo, now time.Time) (*Dataset, error) {
	if len(nodes) < MinNodes || len(nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes, want %d..%d", ErrInvalid, len(nodes), MinNodes, MaxNodes)
	}
	params, err := he.Lookup(he.ParamSetID(info.GetParamSet()))
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", s.ID, err)
	}
	key, err := he.UnmarshalPublicKey(params, info.GetPublicKey())
	if err != nil {
		return nil, fmt.Errorf("dataset %s: HE public key: %w", s.ID, err)
	}
	sh, err := HEShapeOf(s, depth, params, key)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", s.ID, err)
	}
	sys, err := circuits.CompileHE(sh)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: compile: %w", s.ID, err)
	}
	dg, err := setup.CircuitDigest(sys.CCS)
	if err != nil {
		return nil, err
	}
	d := descriptor(s, nodes, depth, now)
	d.Backend = cohortv1.Backend_BACKEND_HE
	d.ParameterSetIds = ParamsHE(params.ID())
	d.CircuitDigest = dg[:]
	d.He = info
	ds, err := From(d)
	if err != nil {
		return nil, err
	}
	ds.heOnce.Do(func() { ds.heSys = sys })
	return ds, nil
}
