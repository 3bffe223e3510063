package dataset

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
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

// KeygenStatement is what each node signs for the key in info.
func KeygenStatement(datasetID string, nodes int, info *cohortv1.HEKeyInfo) attest.HEKeygen {
	st := attest.HEKeygen{
		DatasetID: datasetID, ParamSet: info.GetParamSet(), Threshold: info.GetThreshold(), Nodes: uint32(nodes),
		PublicKeyDigest: sha256.Sum256(info.GetPublicKey()),
	}
	copy(st.CRSSeed[:], info.GetCrsSeed())
	return st
}

// checkHE decodes and checks an HE dataset's key info: a known parameter
// set, a threshold in 2..k, valid smudging, a public key that decodes, and
// every node's signature over it.
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
	return &HE{Params: params, Key: key, KeyDigest: st.PublicKeyDigest, Committee: c, Smudging: sm, Budget: budget}, nil
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
