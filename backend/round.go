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
	// Partial computes this node's partial over its cohort.
	Partial(ctx context.Context, in PartialInput, p Party) ([]byte, error)
	// Combiner returns the coordinator's combination of a job's partials
	// over the cohort it selected itself (stored values in cohort order).
	Combiner(stored [][]byte, cohort uint64, coords []int) Combination
	// Published returns what a transcript publishes of a record's stored
	// value: nothing for a share, the ciphertext itself for HE (anyone
	// may then re-sum the cohort).
	Published(stored []byte) []byte
	// Aggregate returns what a transcript publishes of the cohort as a
	// whole: nil for MPC, the encoded aggregate ciphertext for HE. Peers
	// and auditors recompute it from the published records.
	Aggregate(stored [][]byte) ([]byte, error)
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

// PartialInput is what a node computes its partial from: the stored
// values of the cohort it selected itself (in cohort order), the job's
// coordinates, the partial set and the noise the release mechanism adds
// (nil for none).
type PartialInput struct {
	JobID      string
	Stored     [][]byte
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
