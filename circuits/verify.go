package circuits

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"
	groth16bn254 "github.com/consensys/gnark/backend/groth16/bn254"
)

// ErrInvalidProof is the error of a proof that does not verify.
var ErrInvalidProof = errors.New("circuits: proof does not verify")

// Statement is one proof with the public inputs it claims, in circuit order.
type Statement struct {
	Proof  *Proof
	Public []fr.Element
}

// BatchVerifier verifies many proofs under one verifying key. It returns one
// error per statement, in order, nil for those that verify; an implementation
// may check the batch as a whole first and fall back to single checks to
// locate failures.
type BatchVerifier interface {
	VerifyBatch(stmts []Statement) []error
}

// Verifier checks each proof with gnark's Groth16 verifier, in parallel across
// the CPUs. It is safe for concurrent use.
type Verifier struct {
	vk       *groth16bn254.VerifyingKey
	nbPublic int
	workers  int
}

var _ BatchVerifier = (*Verifier)(nil)

// NewVerifier returns a Verifier for a BN254 verifying key with nbPublic public inputs.
func NewVerifier(vk groth16.VerifyingKey, nbPublic int) (*Verifier, error) {
	k, ok := vk.(*groth16bn254.VerifyingKey)
	if !ok {
		return nil, fmt.Errorf("circuits: verifying key of type %T, want BN254", vk)
	}
	// K holds one point per public input, one for the constant wire and one
	// per commitment.
	if got := len(k.G1.K) - 1 - len(k.PublicAndCommitmentCommitted); got != nbPublic {
		return nil, fmt.Errorf("circuits: verifying key has %d public inputs, want %d", got, nbPublic)
	}
	return &Verifier{vk: k, nbPublic: nbPublic, workers: runtime.GOMAXPROCS(0)}, nil
}

// Verify checks one statement.
func (v *Verifier) Verify(s Statement) error {
	if s.Proof == nil {
		return fmt.Errorf("%w: no proof", ErrInvalidProof)
	}
	if len(s.Public) != v.nbPublic {
		return fmt.Errorf("%w: %d public inputs, want %d", ErrInvalidProof, len(s.Public), v.nbPublic)
	}
	if err := groth16bn254.Verify(&s.Proof.p, v.vk, fr.Vector(s.Public)); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidProof, err)
	}
	return nil
}

// VerifyBatch implements BatchVerifier.
func (v *Verifier) VerifyBatch(stmts []Statement) []error {
	errs := make([]error, len(stmts))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(v.workers, len(stmts)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = v.Verify(stmts[i])
			}
		})
	}
	for i := range stmts {
		next <- i
	}
	close(next)
	wg.Wait()
	return errs
}
