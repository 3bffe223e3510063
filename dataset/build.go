package dataset

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// Node is one federation node as a descriptor lists it.
type Node struct {
	Name    string
	Address string
	Seal    *seal.PublicKey
	Signing ed25519.PublicKey
}

// New builds the descriptor of a new MPC dataset in state SETUP and compiles
// its circuit, returning both: the circuit digest in the descriptor is the
// compiled circuit's.
func New(s *schema.Schema, nodes []Node, depth int, now time.Time) (*Dataset, error) {
	if len(nodes) < MinNodes || len(nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes, want %d..%d", ErrInvalid, len(nodes), MinNodes, MaxNodes)
	}
	sh, err := circuits.NewMPCShape(s, len(nodes), depth)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: %w", s.ID, err)
	}
	sys, err := circuits.CompileMPC(sh)
	if err != nil {
		return nil, fmt.Errorf("dataset %s: compile: %w", s.ID, err)
	}
	dg, err := setup.CircuitDigest(sys.CCS)
	if err != nil {
		return nil, err
	}
	d := descriptor(s, nodes, depth, now)
	d.CircuitDigest = dg[:]
	ds, err := From(d)
	if err != nil {
		return nil, err
	}
	ds.once.Do(func() { ds.sys = sys })
	return ds, nil
}

// descriptor is the part of a new dataset's descriptor that does not
// depend on the backend (set to MPC; NewHE changes it), with the default
// privacy policy (enclave.DefaultPolicy), which a caller may replace.
func descriptor(s *schema.Schema, nodes []Node, depth int, now time.Time) *cohortv1.DatasetDescriptor {
	sd := s.Digest()
	d := &cohortv1.DatasetDescriptor{
		Id:              s.ID,
		Schema:          &cohortv1.CanonicalSchema{Canonical: s.Canonical(), Digest: sd[:], Schema: ToProto(s)},
		State:           cohortv1.DatasetState_DATASET_STATE_SETUP,
		Backend:         cohortv1.Backend_BACKEND_MPC,
		NodeCount:       uint32(len(nodes)),
		RegistryDepth:   uint32(depth),
		ParameterSetIds: append([]string(nil), ParamsMPC...),
		CreatedAt:       now.Unix(),
		Privacy:         enclave.DefaultPolicy(),
	}
	for i, n := range nodes {
		d.Nodes = append(d.Nodes, &cohortv1.NodeInfo{
			Index:            uint32(i),
			Name:             n.Name,
			Address:          n.Address,
			SealPublicKey:    n.Seal.Marshal(),
			SigningScheme:    cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
			SigningPublicKey: n.Signing,
		})
	}
	return d
}

// ToProto gives the structured form of s.
func ToProto(s *schema.Schema) *cohortv1.Schema {
	p := &cohortv1.Schema{
		Id:        s.ID,
		Moments:   append([]string(nil), s.Moments...),
		Purposes:  append([]string(nil), s.Purposes...),
		Epoch:     cohortv1.EpochPeriod(int32(s.Epoch)), // schema.Daily..Monthly are 1..3, as in the proto enum
		MinCohort: s.MinCohort,
		MaxCohort: s.MaxCohort,
	}
	for _, f := range s.Fields {
		p.Fields = append(p.Fields, &cohortv1.Field{
			Name:      f.Name,
			Type:      fieldType(f.Type),
			MinScaled: f.Min,
			MaxScaled: f.Max,
			Decimals:  uint32(f.Decimals),
			Values:    append([]string(nil), f.Values...),
		})
	}
	return p
}

func fieldType(t schema.FieldType) cohortv1.FieldType {
	switch t {
	case schema.Int:
		return cohortv1.FieldType_FIELD_TYPE_INT
	case schema.Fixed:
		return cohortv1.FieldType_FIELD_TYPE_FIXED
	case schema.Bool:
		return cohortv1.FieldType_FIELD_TYPE_BOOL
	case schema.Category:
		return cohortv1.FieldType_FIELD_TYPE_CATEGORY
	}
	return cohortv1.FieldType_FIELD_TYPE_UNSPECIFIED
}
