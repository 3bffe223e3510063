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

// HESystem is the compiled HE contribution circuit of one shape, and so of
// one collective key. It is immutable and safe for concurrent use.
type HESystem struct {
	Shape HEShape
	CCS   constraint.ConstraintSystem
}

// CompileHE compiles the HE contribution circuit of shape sh to R1CS over BN254.
func CompileHE(sh HEShape) (*HESystem, error) {
	if err := sh.validate(); err != nil {
		return nil, err
	}
	ccs, err := frontend.Compile(ecc.BN254.ScalarField(), r1cs.NewBuilder, NewHEContribution(sh))
	if err != nil {
		return nil, fmt.Errorf("circuits: compile HE: %w", err)
	}
	return &HESystem{Shape: sh, CCS: ccs}, nil
}

// Prove proves witness w with proving key pk and returns the proof and the
// consent part of the public inputs it proves; the verifier's full vector
// is HEPublicVector(&pub, w.C0, w.C1, N). A witness of the wrong sizes fails
// with ErrShape; an invalid one (a value out of range, a ciphertext that
// does not encrypt the record under the key, a path to another root, …)
// fails with the solver's error.
func (s *HESystem) Prove(pk groth16.ProvingKey, w *HEWitness) (*Proof, PublicInputs, error) {
	if pk == nil || w == nil {
		return nil, PublicInputs{}, fmt.Errorf("circuits: prove: missing proving key or witness")
	}
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
