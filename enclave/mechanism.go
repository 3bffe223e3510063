package enclave

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Mechanism is how a job's sums are released (docs/design.md §6.5). Each
// node applies it to its own partial before the partial leaves the node
// (Noise: the integers it adds, one per coordinate), and the coordinator
// applies it when it combines the partials (Release). A mechanism that
// adds noise therefore needs no change to the round or to either backend:
// every node's noise stays known to that node only, and the combined sums
// carry the noise of every node.
type Mechanism interface {
	// Name identifies the mechanism in transcripts and reasons.
	Name() string
	// Noise returns the integer noise this node adds to each of the
	// coordinates of its partial (len(coords) values), or nil for none. It
	// is drawn before the round starts, so the time it takes reveals
	// nothing about the data.
	Noise(coords []int) ([]*big.Int, error)
	// Release turns the combined sums (the true sums plus every node's
	// noise) into the sums that are released; it refuses sums no honest
	// round yields.
	Release(coords []int, sums []*big.Int) ([]*big.Int, error)
	// Outputs computes the job's outputs from the released sums, which
	// carry the noise of noising nodes.
	Outputs(s *schema.Schema, coords []int, sums []*big.Int, outputs []*cohortv1.Output, noising int) ([]*cohortv1.OutputValue, error)
}

// ErrOutOfRange: combined sums a mechanism refuses as no honest round's.
var ErrOutOfRange = errors.New("enclave: combined sums out of range")

// Exact releases the true sums: no node adds noise. Exact release lets a
// buyer who runs two jobs whose cohorts differ by one record learn that
// record (docs/design.md §2).
type Exact struct{}

// Name is "exact".
func (Exact) Name() string { return "exact" }

// Noise is none.
func (Exact) Noise([]int) ([]*big.Int, error) { return nil, nil }

// Release returns the sums unchanged after checking that each is a
// non-negative integer: a negative sum is a node's wrong partial.
func (Exact) Release(coords []int, sums []*big.Int) ([]*big.Int, error) {
	if len(coords) != len(sums) {
		return nil, fmt.Errorf("%w: %d sums for %d coordinates", ErrOutOfRange, len(sums), len(coords))
	}
	out := make([]*big.Int, len(sums))
	for i, s := range sums {
		if s == nil || s.Sign() < 0 {
			return nil, fmt.Errorf("%w: the sum at coordinate %d is negative (a node sent a wrong partial)", ErrOutOfRange, coords[i])
		}
		out[i] = new(big.Int).Set(s)
	}
	return out, nil
}

// Outputs are the exact outputs (Release).
func (Exact) Outputs(s *schema.Schema, coords []int, sums []*big.Int, outputs []*cohortv1.Output, _ int) ([]*cohortv1.OutputValue, error) {
	return Release(s, coords, sums, outputs)
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
