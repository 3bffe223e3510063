package circuits

import (
	"errors"
	"fmt"

	"github.com/cohort-dev/cohort/circuits/merkle"
	"github.com/cohort-dev/cohort/schema"
)

// Limits on circuit shapes.
const (
	MinNodes = 2
	MaxNodes = 16
)

// ErrShape reports a circuit shape that cannot be built.
var ErrShape = errors.New("circuits: invalid shape")

// MPCShape fixes everything a contribution circuit for the MPC backend depends
// on: the record layout, the number of nodes k and the registry depth. One
// Groth16 setup exists per shape (and so per dataset schema and federation size).
type MPCShape struct {
	Layout      schema.Layout
	Nodes       int // k, one share per node
	Depth       int // registry Merkle depth
	PurposeBits int // width of the purposes bitmask (the schema's purpose count)
}

// NewMPCShape returns the shape for schema s, k nodes and a registry of the given depth.
func NewMPCShape(s *schema.Schema, nodes, depth int) (MPCShape, error) {
	if nodes < MinNodes || nodes > MaxNodes {
		return MPCShape{}, fmt.Errorf("%w: %d nodes, want %d..%d", ErrShape, nodes, MinNodes, MaxNodes)
	}
	if depth < 1 || depth > merkle.MaxDepth {
		return MPCShape{}, fmt.Errorf("%w: registry depth %d, want 1..%d", ErrShape, depth, merkle.MaxDepth)
	}
	if len(s.Purposes) < 1 || len(s.Purposes) > 64 {
		return MPCShape{}, fmt.Errorf("%w: %d purposes, want 1..64", ErrShape, len(s.Purposes))
	}
	return MPCShape{Layout: s.Layout(), Nodes: nodes, Depth: depth, PurposeBits: len(s.Purposes)}, nil
}

// NumPublic is the number of public inputs of the shape's circuit.
func (sh MPCShape) NumPublic() int { return numConsentPublic + sh.Nodes }

// numConsentPublic counts Dataset, Epoch, Root, Nullifier, Purposes, Expiry,
// MinCohort and Revocation.
const numConsentPublic = 8
