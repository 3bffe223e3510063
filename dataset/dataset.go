package dataset

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"regexp"
	"sync"

	"github.com/consensys/gnark/backend/groth16"
	"github.com/consensys/gnark/constraint"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// Parameter set ids of the MPC backend.
const (
	// ParamGroth16 names the proof system: Groth16 over BN254 with gnark's
	// BSB22 commitment extension.
	ParamGroth16 = "groth16-bn254-bsb22"
	// ParamHash names the in-circuit hash: Poseidon2 over BN254, domain-tagged.
	ParamHash = "poseidon2-bn254-tagged-v1"
	// ParamSealXWing names the share sealing suite: HPKE X-Wing, HKDF-SHA256,
	// AES-256-GCM.
	ParamSealXWing = "hpke-xwing-hkdfsha256-aes256gcm"
	// ParamShares names additive sharing over the BN254 scalar field.
	ParamShares = "additive-shares-bn254-fr"
)

// ParamsMPC are the parameter set ids of an MPC dataset.
var ParamsMPC = []string{ParamGroth16, ParamHash, ParamSealXWing, ParamShares}

// Limits on descriptor contents.
const (
	MinNodes           = 2
	MaxNodes           = 16
	MaxRegistryDepth   = 32
	MaxVerifyingKey    = 64 << 20
	MaxNodeNameLen     = 64
	MaxNodeAddressLen  = 256
	MaxParameterSetIDs = 16
)

// ErrInvalid is wrapped by every error From returns for a descriptor that
// contradicts itself or the limits.
var ErrInvalid = errors.New("dataset: invalid descriptor")

var idPattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// ValidID reports whether id is a well-formed dataset id: 1..64 bytes of
// [a-z0-9-].
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Dataset is a checked descriptor with its parts decoded.
type Dataset struct {
	Desc    *cohortv1.DatasetDescriptor
	Schema  *schema.Schema
	Seal    []*seal.PublicKey    // by node index
	Signing []ed25519.PublicKey  // by node index
	VK      groth16.VerifyingKey // nil while the dataset is in SETUP
	Policy  enclave.Policy       // how jobs' results are released

	HE *HE // the collective key of an HE dataset; nil for MPC

	once sync.Once
	sys  *circuits.MPCSystem
	err  error

	heOnce sync.Once
	heSys  *circuits.HESystem
	heErr  error
}

// From checks d and decodes its parts. It does not compile the circuit.
func From(d *cohortv1.DatasetDescriptor) (*Dataset, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: missing", ErrInvalid)
	}
	if !ValidID(d.GetId()) {
		return nil, fmt.Errorf("%w: id %q is not 1..64 bytes of [a-z0-9-]", ErrInvalid, d.GetId())
	}
	cs := d.GetSchema()
	if cs == nil {
		return nil, fmt.Errorf("%w: schema missing", ErrInvalid)
	}
	s, err := schema.Parse(cs.GetCanonical())
	if err != nil {
		return nil, fmt.Errorf("%w: schema: %w", ErrInvalid, err)
	}
	if s.ID != d.GetId() {
		return nil, fmt.Errorf("%w: schema id %q differs from dataset id %q", ErrInvalid, s.ID, d.GetId())
	}
	if dg := s.Digest(); !bytes.Equal(dg[:], cs.GetDigest()) {
		return nil, fmt.Errorf("%w: schema digest does not match its canonical bytes", ErrInvalid)
	}
	if !bytes.Equal(s.Canonical(), cs.GetCanonical()) {
		return nil, fmt.Errorf("%w: schema bytes are not canonical", ErrInvalid)
	}
	switch d.GetBackend() {
	case cohortv1.Backend_BACKEND_MPC:
		if d.GetHe() != nil {
			return nil, fmt.Errorf("%w: an MPC dataset carries no HE key", ErrInvalid)
		}
	case cohortv1.Backend_BACKEND_HE:
	default:
		return nil, fmt.Errorf("%w: backend %s is not supported", ErrInvalid, d.GetBackend())
	}
	k := int(d.GetNodeCount())
	if k < MinNodes || k > MaxNodes {
		return nil, fmt.Errorf("%w: node_count %d outside %d..%d", ErrInvalid, k, MinNodes, MaxNodes)
	}
	if dep := d.GetRegistryDepth(); dep < 1 || dep > MaxRegistryDepth {
		return nil, fmt.Errorf("%w: registry_depth %d outside 1..%d", ErrInvalid, dep, MaxRegistryDepth)
	}
	if len(d.GetParameterSetIds()) > MaxParameterSetIDs {
		return nil, fmt.Errorf("%w: %d parameter set ids, at most %d", ErrInvalid, len(d.GetParameterSetIds()), MaxParameterSetIDs)
	}
	if len(d.GetNodes()) != k {
		return nil, fmt.Errorf("%w: %d nodes listed, node_count is %d", ErrInvalid, len(d.GetNodes()), k)
	}
	if len(d.GetCircuitDigest()) != 32 {
		return nil, fmt.Errorf("%w: circuit digest of %d bytes, want 32", ErrInvalid, len(d.GetCircuitDigest()))
	}
	policy, err := enclave.PolicyOf(d.GetPrivacy())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	ds := &Dataset{Desc: d, Schema: s, Policy: policy, Seal: make([]*seal.PublicKey, k), Signing: make([]ed25519.PublicKey, k)}
	for i, n := range d.GetNodes() {
		if n.GetIndex() != uint32(i) {
			return nil, fmt.Errorf("%w: node %d listed at position %d", ErrInvalid, n.GetIndex(), i)
		}
		if len(n.GetName()) > MaxNodeNameLen || len(n.GetAddress()) > MaxNodeAddressLen {
			return nil, fmt.Errorf("%w: node %d: name or address too long", ErrInvalid, i)
		}
		if ds.Seal[i], err = seal.ParsePublicKey(n.GetSealPublicKey()); err != nil {
			return nil, fmt.Errorf("%w: node %d sealing key: %w", ErrInvalid, i, err)
		}
		if n.GetSigningScheme() != cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519 || len(n.GetSigningPublicKey()) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: node %d: signing key is not a 32-byte Ed25519 key", ErrInvalid, i)
		}
		ds.Signing[i] = ed25519.PublicKey(bytes.Clone(n.GetSigningPublicKey()))
	}
	if d.GetBackend() == cohortv1.Backend_BACKEND_HE {
		if ds.HE, err = checkHE(d, s, func(i int) ed25519.PublicKey { return ds.Signing[i] }); err != nil {
			return nil, err
		}
	}
	switch d.GetState() {
	case cohortv1.DatasetState_DATASET_STATE_READY:
		if len(d.GetVerifyingKey()) == 0 || len(d.GetVerifyingKey()) > MaxVerifyingKey {
			return nil, fmt.Errorf("%w: READY without a verifying key", ErrInvalid)
		}
		if ds.VK, err = setup.UnmarshalVerifyingKey(d.GetVerifyingKey()); err != nil {
			return nil, fmt.Errorf("%w: verifying key: %w", ErrInvalid, err)
		}
		switch d.GetSetupKind() {
		case cohortv1.SetupKind_SETUP_KIND_CEREMONY:
			if len(d.GetCeremonyTranscriptDigest()) != 32 {
				return nil, fmt.Errorf("%w: ceremony setup without a transcript digest", ErrInvalid)
			}
		case cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV:
		default:
			return nil, fmt.Errorf("%w: setup kind %s", ErrInvalid, d.GetSetupKind())
		}
	case cohortv1.DatasetState_DATASET_STATE_SETUP, cohortv1.DatasetState_DATASET_STATE_FAILED:
	default:
		return nil, fmt.Errorf("%w: state %s", ErrInvalid, d.GetState())
	}
	return ds, nil
}

// Ready reports whether the dataset accepts contributions.
func (d *Dataset) Ready() bool { return d.Desc.GetState() == cohortv1.DatasetState_DATASET_STATE_READY }

// Shape is the contribution circuit's shape.
func (d *Dataset) Shape() (circuits.MPCShape, error) {
	return circuits.NewMPCShape(d.Schema, int(d.Desc.GetNodeCount()), int(d.Desc.GetRegistryDepth()))
}

// Compile compiles the MPC contribution circuit once and checks its digest
// against the descriptor's. For an HE dataset use CompileHE.
func (d *Dataset) Compile() (*circuits.MPCSystem, error) {
	if d.HE != nil {
		return nil, fmt.Errorf("dataset %s: an HE dataset has no MPC circuit", d.Desc.GetId())
	}
	d.once.Do(func() {
		sh, err := d.Shape()
		if err != nil {
			d.err = fmt.Errorf("dataset %s: %w", d.Desc.GetId(), err)
			return
		}
		sys, err := circuits.CompileMPC(sh)
		if err != nil {
			d.err = fmt.Errorf("dataset %s: compile: %w", d.Desc.GetId(), err)
			return
		}
		dg, err := setup.CircuitDigest(sys.CCS)
		if err != nil {
			d.err = fmt.Errorf("dataset %s: %w", d.Desc.GetId(), err)
			return
		}
		if !bytes.Equal(dg[:], d.Desc.GetCircuitDigest()) {
			d.err = fmt.Errorf("%w: circuit digest %x differs from the compiled circuit's %x", ErrInvalid, d.Desc.GetCircuitDigest(), dg)
			return
		}
		d.sys = sys
	})
	return d.sys, d.err
}

// CCS compiles the dataset's contribution circuit, whichever the backend,
// and returns its constraint system (for the setup ceremony).
func (d *Dataset) CCS() (constraint.ConstraintSystem, error) {
	if d.HE != nil {
		sys, err := d.CompileHE()
		if err != nil {
			return nil, err
		}
		return sys.CCS, nil
	}
	sys, err := d.Compile()
	if err != nil {
		return nil, err
	}
	return sys.CCS, nil
}

// NumPublic is the number of public inputs of the contribution circuit.
func (d *Dataset) NumPublic() int {
	if d.HE != nil {
		return 8 + 2*d.HE.Params.N()
	}
	return circuits.MPCShape{Nodes: int(d.Desc.GetNodeCount())}.NumPublic()
}

// PayloadLimits are the bounds a payload for this dataset must meet.
func (d *Dataset) PayloadLimits() mpc.PayloadLimits {
	return mpc.PayloadLimits{Nodes: int(d.Desc.GetNodeCount()), Len: d.Schema.Layout().Len}
}
