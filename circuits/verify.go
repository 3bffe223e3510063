package circuits

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/consensys/gnark-crypto/ecc/bn254"
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

// Verifier checks proofs under one BN254 verifying key: one at a time with
// gnark's verifier ([Verifier.Verify]) or as a batch with one pairing
// equation per chunk ([Verifier.VerifyBatch], docs/design.md §5.6). It is
// safe for concurrent use.
type Verifier struct {
	vk       *groth16bn254.VerifyingKey
	nbPublic int
	workers  int
	// fixedLines are the Miller loop's lines of β, γ, δ, then each
	// commitment key's −σG and the commitment keys' G.
	fixedLines [][2][len(bn254.LoopCounter)]bn254.LineEvaluationAff
}

// maxChunk bounds the statements of one batch equation: larger batches are
// split in chunks, verified in parallel. A chunk verified while fewer
// chunks than CPUs run splits its Miller loop and MSMs across the CPUs
// left.
const maxChunk = 512

// checkPart is the fewest statements a goroutine of VerifyBatch's
// pre-pairing checks takes.
const checkPart = 8

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
	if len(k.CommitmentKeys) != len(k.PublicAndCommitmentCommitted) {
		return nil, fmt.Errorf("circuits: verifying key has %d commitment keys for %d commitments", len(k.CommitmentKeys), len(k.PublicAndCommitmentCommitted))
	}
	for i := range k.CommitmentKeys {
		if !k.CommitmentKeys[i].G.Equal(&k.CommitmentKeys[0].G) {
			return nil, fmt.Errorf("circuits: verifying key's commitment keys use different G2 generators")
		}
	}
	fixed := []bn254.G2Affine{k.G2.Beta, k.G2.Gamma, k.G2.Delta}
	for i := range k.CommitmentKeys {
		fixed = append(fixed, k.CommitmentKeys[i].GSigmaNeg)
	}
	if len(k.CommitmentKeys) > 0 {
		fixed = append(fixed, k.CommitmentKeys[0].G)
	}
	lines := make([][2][len(bn254.LoopCounter)]bn254.LineEvaluationAff, len(fixed))
	for i := range fixed {
		lines[i] = bn254.PrecomputeLines(fixed[i])
	}
	return &Verifier{vk: k, nbPublic: nbPublic, workers: runtime.GOMAXPROCS(0), fixedLines: lines}, nil
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

// VerifyBatch implements BatchVerifier with batch verification: statements
// that fail the checks gnark's verifier makes before its pairing (counts,
// subgroup membership) are refused one by one; the others are checked in
// chunks of at most maxChunk, one random linear combination and one
// pairing equation per chunk, chunks in parallel across the CPUs and each
// chunk's Miller loop split across the CPUs the other chunks leave. A chunk
// that fails is bisected down to the statements that fail, which gnark's
// verifier settles, so every error names one statement and comes from
// gnark's checks. The answer for each statement equals gnark's Verify
// except with probability at most 2^−128 per chunk, and a valid statement
// is never refused.
func (v *Verifier) VerifyBatch(stmts []Statement) []error {
	errs := make([]error, len(stmts))
	switch len(stmts) {
	case 0:
		return errs
	case 1:
		errs[0] = v.Verify(stmts[0])
		return errs
	}
	checked := make([]batchItem, len(stmts))
	v.parallel(len(stmts), checkPart, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			it, err := v.check(stmts[i])
			if err != nil {
				errs[i] = err
				continue
			}
			it.index = i
			checked[i] = it
		}
	})
	items := make([]batchItem, 0, len(stmts))
	for i := range checked {
		if errs[i] == nil {
			items = append(items, checked[i])
		}
	}
	if len(items) == 0 {
		return errs
	}
	chunks := (len(items) + maxChunk - 1) / maxChunk
	size := (len(items) + chunks - 1) / chunks
	tasks := max(1, v.workers/min(chunks, v.workers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, v.workers/tasks))
	for lo := 0; lo < len(items); lo += size {
		part := items[lo:min(lo+size, len(items))]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			v.bisect(part, errs, tasks, false)
		})
	}
	wg.Wait()
	return errs
}

// parallel runs fn over [0, n) split in at most v.workers parts, each of
// at least least indices unless n is smaller, and waits for them.
func (v *Verifier) parallel(n, least int, fn func(lo, hi int)) {
	parts := max(1, min(v.workers, n/least))
	if parts == 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for k := range parts {
		wg.Go(func() { fn(k*n/parts, (k+1)*n/parts) })
	}
	wg.Wait()
}
