package enclave

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cohort-dev/cohort/attest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// This file holds the vocabulary of a job round shared by the coordinator
// and the peers (docs/design.md §6.4): what the coordinator asks, what a
// node answers, and what a state machine hands its runtime to do.

// Sentinel errors of the round's state machines. Step returns them, wrapped,
// for a message it ignores; the state is unchanged and the runtime logs it.
var (
	// ErrUnexpected: a message the machine does not expect now — from a
	// node it did not ask, for an earlier attempt, a duplicate, or after
	// the round ended.
	ErrUnexpected = errors.New("enclave: unexpected round message")
	// ErrRoundOver: the round reached a final state; nothing more is done.
	ErrRoundOver = errors.New("enclave: round is over")
)

// RoundJob is what every node signs about a job: its identity, dataset,
// spec and time.
type RoundJob struct {
	ID         string
	DatasetID  string
	SpecDigest [32]byte
	Time       time.Time // Unix seconds: the job time every node selects at
	Buyer      string    // the buyer charged for it
}

// EligibleSet is a node's answer to MsgPrepare: the cohort it selected from
// its own store, by count and digest (SetDigest).
type EligibleSet struct {
	Eligible uint64
	Cohort   uint64
	Digest   [32]byte
	Excluded Exclusions
}

// Signature is a node's Ed25519 signature over a statement.
type Signature struct {
	Node  uint32
	Bytes []byte
}

// SetStatement is what node signs about the cohort it selected for job.
func SetStatement(job RoundJob, set EligibleSet, node uint32) attest.JobEligibleSet {
	return attest.JobEligibleSet{JobID: job.ID, DatasetID: job.DatasetID, SpecDigest: job.SpecDigest, JobTime: job.Time.Unix(),
		Cohort: set.Cohort, SetDigest: set.Digest, Node: node}
}

// PartialStatement is what node signs about the partial it released for
// a job: the coordinates, the cohort's digest and the partial's digest.
func PartialStatement(jobID string, setDigest [32]byte, coords []int, partial []byte, node uint32) attest.JobPartial {
	cs := make([]uint32, len(coords))
	for i, c := range coords {
		cs[i] = uint32(c)
	}
	return attest.JobPartial{JobID: jobID, SetDigest: setDigest, Coordinates: cs, PartialDigest: sha256Sum(partial), Node: node}
}

// verify checks sig over st as node's, against the federation's keys.
func verify(members []ed25519.PublicKey, node uint32, st attest.Statement, sig Signature) error {
	if int(node) >= len(members) || sig.Node != node {
		return fmt.Errorf("node %d: signature missing or from the wrong signer", node)
	}
	if !ed25519.Verify(members[node], st.Message(), sig.Bytes) {
		return fmt.Errorf("node %d: signature does not verify", node)
	}
	return nil
}

// MsgKind is what the coordinator asks of a node.
type MsgKind int

const (
	// MsgPrepare: select the job's cohort from your own store and sign its
	// digest.
	MsgPrepare MsgKind = iota + 1
	// MsgPartial: compute your partial over the agreed cohort (whose
	// digest you must have selected yourself) at the job's coordinates.
	MsgPartial
	// MsgSign: check the job's transcript against what you hold and sign
	// its digest.
	MsgSign
)

func (k MsgKind) String() string {
	switch k {
	case MsgPrepare:
		return "prepare"
	case MsgPartial:
		return "partial"
	case MsgSign:
		return "sign"
	}
	return fmt.Sprintf("MsgKind(%d)", int(k))
}

// Message is a request of the coordinator to one node, itself included:
// the coordinator's own node answers through the same peer logic.
type Message struct {
	Kind MsgKind
	To   uint32
	// Attempt numbers the agreement attempts (MsgPrepare); an answer for
	// an earlier attempt is ignored.
	Attempt int
	// SetDigest is the agreed cohort (MsgPartial).
	SetDigest [32]byte
	// PartialSet lists the nodes whose partials are combined, ascending
	// (MsgPartial; for HE it is the decryption set).
	PartialSet []uint32
}

// Quorum is what a backend needs of the federation's nodes for a job.
type Quorum struct {
	// Backend names the backend in reasons ("MPC", "HE").
	Backend string
	// Need is the number of nodes that must agree on the cohort and send
	// a partial: every node for MPC, the threshold t for HE. Nodes that do
	// not answer are left out as long as Need remain.
	Need int
	// Partial names a node's partial in reasons ("partial sum",
	// "decryption share").
	Partial string
}

// PartialSet returns the nodes whose partials a job combines: the Need
// lowest of the live nodes (ascending).
func (q Quorum) PartialSet(live []uint32) ([]uint32, error) {
	if q.Need < 1 || len(live) < q.Need {
		return nil, fmt.Errorf("only %d nodes answered; the %s backend needs %d", len(live), q.Backend, q.Need)
	}
	return append([]uint32(nil), live[:q.Need]...), nil
}

// Combiner combines the partials of the partial set (by node) into the
// sums of the job's coordinates. The backend implements it; its errors
// name the node at fault.
type Combiner interface {
	Combine(partials map[uint32][]byte) ([]*big.Int, error)
}

// NodeEvidence is what the coordinator collected from one node: its signed
// cohort and, for a node of the partial set, its signed partial.
type NodeEvidence struct {
	Node             uint32
	Set              EligibleSet
	SetSignature     Signature
	Partial          []byte // nil for a node outside the partial set
	PartialDigest    [32]byte
	PartialSignature Signature
	Debit            *cohortv1.PrivacyDebit // its signed debit; nil for an exact release
}
