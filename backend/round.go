package backend

import (
	"context"
	"math/big"

	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/he"
)

// Round is the part of a Backend used by the job round, on coordinator and
// peers alike (docs/design.md §6.4).
type Round interface {
	// Quorum is what the backend needs of the nodes: every node for MPC,
	// the threshold t for HE.
	Quorum() enclave.Quorum
	// CheckPartialSet checks the partial set a coordinator sent (empty
	// means every node) and returns it in full.
	CheckPartialSet(set []uint32) ([]uint32, error)
	// NewSum starts the sum of a cohort's stored values at the job's
	// coordinates, to which a node adds each record as it reads it.
	NewSum(coords []int) (Sum, error)
	// Partial computes this node's partial over its cohort, summed in
	// in.Sum.
	Partial(ctx context.Context, in PartialInput, p Party) ([]byte, error)
	// Combiner returns the coordinator's combination of a job's partials
	// over the cohort it selected itself, summed in own (HE combines the
	// shares against its aggregate; MPC reads nothing of it).
	Combiner(own Sum, cohort uint64, coords []int) Combination
	// Published returns what a transcript publishes of a record's stored
	// value: nothing for a share, the ciphertext itself for HE (anyone
	// may then re-sum the cohort).
	Published(stored []byte) []byte
	// Aggregate returns what a transcript publishes of the cohort as a
	// whole: nil for MPC, the encoded aggregate ciphertext for HE. Peers
	// and auditors recompute it from the published records.
	Aggregate(stored [][]byte) ([]byte, error)
	// AggregateOf is Aggregate of the published values added to s (a Sum
	// of this backend's, to which only what Published returned was
	// added): a node that reads a transcript's records one at a time
	// recomputes the aggregate in memory independent of the cohort.
	AggregateOf(s Sum) ([]byte, error)
	// PartialSetOf reads the partial set a released partial was made for:
	// every node for MPC, the decryption set for HE.
	PartialSetOf(partial []byte) ([]uint32, error)
	// DecryptionSet is what a transcript names as the nodes that decrypted
	// (HE: the partial set); nil for MPC, where every node's partial is
	// published.
	DecryptionSet(partialSet []uint32) []uint32
}

// Combination combines a job's partials on the coordinator and gives what
// its transcript publishes of the cohort as a whole (Aggregate: nil for
// MPC, the encoded aggregate ciphertext for HE), computing the cohort's
// aggregate once for both.
type Combination interface {
	enclave.Combiner
	Aggregate() ([]byte, error)
}

// Sum is a cohort's stored values summed as a node reads them, in one
// pass and in memory independent of the cohort's size (docs/design.md
// §7.6): for MPC the shares' values at the job's coordinates, summed
// coordinate-wise; for HE the ciphertexts, added as they are decoded.
// A Sum is not safe for concurrent use.
type Sum interface {
	// Add adds one record's stored value; stored is not retained (the
	// caller may reuse it once Add returns).
	Add(stored []byte) error
	// Count is the number of records added.
	Count() uint64
}

// PartialInput is what a node computes its partial from: its cohort's
// stored values summed (Sum, over Cohort records), the job's coordinates
// (those Sum was started at), the partial set and the noise the release
// mechanism adds (nil for none).
type PartialInput struct {
	JobID      string
	Sum        Sum
	Cohort     uint64
	Coords     []int
	PartialSet []uint32
	Noise      []*big.Int
}

// Party is what a node lends its backend to compute a partial: who it is
// and, for HE, its once-per-aggregate decryption share, which the node
// keeps durably (stored before it is first answered; the same share for
// the same decryption set, a refusal for any other).
type Party interface {
	Index() uint32
	DecryptionShare(ctx context.Context, agg *he.Ciphertext, jobID string, set []uint32) (*he.DecryptionShare, error)
}
