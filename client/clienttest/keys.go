package clienttest

import (
	"fmt"
	"sync"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/schema"
)

// shapeKey names a contribution circuit: the circuit depends on the schema
// (always the default one here), the node count and the registry depth, not
// on the nodes' keys, so federations of one shape share their Groth16 keys.
type shapeKey struct{ nodes, depth int }

var (
	keysMu    sync.Mutex
	keysCache = map[shapeKey]*setup.Keys{}
	tinyOnce  = sync.OnceValues(tinyKeys)
)

// contributionKeys returns insecure development keys for the default
// schema's contribution circuit of the given shape, made once per process.
func contributionKeys(nodes, depth int) (*setup.Keys, error) {
	keysMu.Lock()
	defer keysMu.Unlock()
	k := shapeKey{nodes, depth}
	if keys, ok := keysCache[k]; ok {
		return keys, nil
	}
	sh, err := circuits.NewMPCShape(schema.Default(), nodes, depth)
	if err != nil {
		return nil, err
	}
	sys, err := circuits.CompileMPC(sh)
	if err != nil {
		return nil, err
	}
	keys, err := setup.InsecureDevSetup(sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		return nil, err
	}
	keysCache[k] = keys
	return keys, nil
}

// stand-in is a small circuit whose keys stand in for a dataset's when a
// test does not prove: they decode and match each other, but no
// contribution verifies under them.
type standIn struct {
	X, Y frontend.Variable `gnark:",public"`
	W    frontend.Variable
}

func (c *standIn) Define(api frontend.API) error {
	x2 := api.Mul(c.X, c.X)
	api.AssertIsEqual(api.Mul(x2, c.W), c.Y)
	return nil
}

func tinyKeys() (*setup.Keys, error) {
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, &standIn{})
	if err != nil {
		return nil, fmt.Errorf("clienttest: stand-in circuit: %w", err)
	}
	return setup.InsecureDevSetup(ccs, setup.IUnderstandTheToxicWasteIsKnown())
}
