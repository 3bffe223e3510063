package setup

import (
	"crypto/sha256"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc"
	"github.com/consensys/gnark/constraint"
	cs "github.com/consensys/gnark/constraint/bn254"
)

// circuitDigestTag separates circuit digests from every other SHA-256 use.
const circuitDigestTag = "cohort/circuits/setup/circuit-digest/v1\x00"

// CircuitDigest returns SHA-256(tag ‖ ccs's gnark serialization). It names
// the exact constraint system a phase 2 and its keys belong to: compiling the
// same circuit with the same gnark version gives the same digest.
func CircuitDigest(ccs constraint.ConstraintSystem) ([32]byte, error) {
	var d [32]byte
	if ccs == nil {
		return d, fmt.Errorf("setup: circuit digest: %w: nil constraint system", ErrUnsupportedCircuit)
	}
	h := sha256.New()
	h.Write([]byte(circuitDigestTag))
	if _, err := ccs.WriteTo(h); err != nil {
		return d, fmt.Errorf("setup: circuit digest: %w", err)
	}
	copy(d[:], h.Sum(nil))
	return d, nil
}

// bn254R1CS returns ccs as a BN254 R1CS with at most MaxCommitments
// commitments.
func bn254R1CS(ccs constraint.ConstraintSystem) (*cs.R1CS, error) {
	r, ok := ccs.(*cs.R1CS)
	if !ok || r == nil {
		return nil, fmt.Errorf("%w: %T is not a BN254 R1CS", ErrUnsupportedCircuit, ccs)
	}
	commitments, ok := r.CommitmentInfo.(constraint.Groth16Commitments)
	if !ok {
		return nil, fmt.Errorf("%w: commitment info %T", ErrUnsupportedCircuit, r.CommitmentInfo)
	}
	if len(commitments) > MaxCommitments {
		return nil, fmt.Errorf("%w: %d commitments > %d", ErrUnsupportedCircuit, len(commitments), MaxCommitments)
	}
	if r.GetNbConstraints() < 1 {
		return nil, fmt.Errorf("%w: no constraints", ErrUnsupportedCircuit)
	}
	return r, nil
}

// circuitDomain is the size of r's evaluation domain: the next power of two
// at or above its constraint count (at least MinDomainSize), as gnark's
// groth16.Setup chooses.
func circuitDomain(r *cs.R1CS) uint64 {
	return max(MinDomainSize, ecc.NextPowerOfTwo(uint64(r.GetNbConstraints())))
}

// DomainSize is the phase-1 domain a ceremony for ccs runs on: the next
// power of two at or above its constraint count, at least MinDomainSize.
func DomainSize(ccs constraint.ConstraintSystem) (uint64, error) {
	r, err := bn254R1CS(ccs)
	if err != nil {
		return 0, err
	}
	return circuitDomain(r), nil
}
