package backend

import (
	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits"
)

// Contributor is the part of a Backend used by a contributor: it builds
// the payload of one record.
type Contributor interface {
	// Prove compiles the dataset's contribution circuit (once per
	// Dataset; its digest must be the descriptor's), proves c with pk and
	// protects the record (MPC: one additive share sealed to each node;
	// HE: a ciphertext under the collective key). It returns the
	// statement, to verify before anything is sent, and the encoded
	// payload. An error of proving itself (an invalid record, a path to
	// another root) reads "proving: …".
	Prove(pk groth16.ProvingKey, c circuits.Contribution) (circuits.Statement, []byte, error)
}
