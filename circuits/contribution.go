package circuits

import (
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/merkle"
)

// Contribution is the contributor's side of one record, whichever the
// backend: the identity secret, its membership in the registry, the
// consent terms and the encoded record. Both backends' provers (package
// mpc and package heproof) take it.
type Contribution struct {
	Secret fr.Element // identity secret s
	Root   fr.Element // registry root the path leads to
	Path   merkle.Path
	Terms  Terms
	Record []uint64 // v, encoded by the dataset's schema
}
