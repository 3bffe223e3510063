package backend

import (
	"errors"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/seal"
)

// ErrMalformed is matched (errors.Is) by every error of Decode and
// Payload.Statement: the bytes are not a payload of the dataset's exact
// layout. The error reads as the decoder's own (mpc or heproof).
var ErrMalformed = errors.New("backend: malformed payload")

// ErrRefused is matched (errors.Is) by an error of Payload.Accept when the
// payload is well formed but this node cannot accept it: for MPC, the
// share sealed to it does not open or does not match its commitment. Its
// message is meant for the contributor as it is.
var ErrRefused = errors.New("backend: payload refused")

// Ingest is the part of a Backend used by a node's ingest.
type Ingest interface {
	// Prepare does, once per dataset and process, what a node checks
	// before it accepts contributions: an MPC dataset's circuit is
	// compiled to check its digest; an HE dataset's (large, with the
	// public key as constants) was checked when its ceremony ran, and
	// verification needs only the verifying key.
	Prepare() error
	// Decode decodes a payload strictly for the dataset: every length
	// checked before it is used, the exact layout of the dataset (MPC: one
	// sealed share and commitment per node, each of the size of the
	// schema's vector; HE: one ciphertext of the parameter set, in its
	// canonical encoding). It does not check the proof.
	Decode(raw []byte) (Payload, error)
	// Stored names what a node stores of a record ("share",
	// "ciphertext"), for messages.
	Stored() string
}

// Payload is one decoded contribution.
type Payload interface {
	// Public is the record's public inputs (consent terms, nullifier,
	// registry root, and for MPC the share commitments).
	Public() *circuits.PublicInputs
	// Proof is the record's proof.
	Proof() *circuits.Proof
	// Statement is the proof with its full public vector, for a
	// circuits.BatchVerifier.
	Statement() (circuits.Statement, error)
	// Accept returns what node index, holding the sealing key key, stores
	// of the record once its proof verified: for MPC its own share, opened
	// and checked against its commitment, encoded (mpc.MarshalShare); for
	// HE the ciphertext's canonical bytes (every node keeps every
	// ciphertext, so that any t of them can sum and decrypt a cohort on
	// their own). An error that is not ErrRefused is this node's failure.
	Accept(key *seal.PrivateKey, index int) ([]byte, error)
}
