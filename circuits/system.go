package circuits

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
	"github.com/consensys/gnark/constraint"
	"github.com/consensys/gnark/frontend"
	"github.com/consensys/gnark/frontend/cs/r1cs"
)

// MPCSystem is the compiled contribution circuit of one shape. It is
// immutable and safe for concurrent use.
type MPCSystem struct {
	Shape MPCShape
	CCS   constraint.ConstraintSystem
}

// CompileMPC compiles the contribution circuit of shape sh to R1CS over BN254.
func CompileMPC(sh MPCShape) (*MPCSystem, error) {
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewMPCContribution(sh))
	if err != nil {
		return nil, fmt.Errorf("circuits: compile: %w", err)
	}
	return &MPCSystem{Shape: sh, CCS: ccs}, nil
}

// Prove proves witness w with proving key pk and returns the proof and the
// public inputs it proves. An invalid witness (a value out of range, a path
// to another root, …) fails here with the solver's error.
func (s *MPCSystem) Prove(pk groth16.ProvingKey, w *MPCWitness) (*Proof, PublicInputs, error) {
	pub := w.Public()
	a, err := w.Assignment(s.Shape, pub)
	if err != nil {
		return nil, PublicInputs{}, err
	}
	full, err := frontend.NewWitness(a, ecc.BN254.ScalarField())
	if err != nil {
		return nil, PublicInputs{}, fmt.Errorf("circuits: witness: %w", err)
	}
	p, err := groth16.Prove(s.CCS, pk, full)
	if err != nil {
		return nil, PublicInputs{}, fmt.Errorf("circuits: prove: %w", err)
	}
	bp, ok := p.(*groth16bn254.Proof)
	if !ok {
		return nil, PublicInputs{}, fmt.Errorf("circuits: prove: unexpected proof type %T", p)
	}
	return &Proof{p: *bp}, pub, nil
}
