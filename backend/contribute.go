package backend

import (
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/merkle"
)

// Contribution is the contributor's side of one record, whichever the
// backend: identity, membership, consent terms and the encoded record.
type Contribution struct {
	Secret fr.Element // identity secret s
	Root   fr.Element // registry root the path leads to
	Path   merkle.Path
	Terms  circuits.Terms
	Record []uint64 // v, encoded by the dataset's schema
}

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
	Prove(pk groth16.ProvingKey, c Contribution) (circuits.Statement, []byte, error)
}
