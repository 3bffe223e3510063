package circuits

import (
	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/frontend"

	"github.com/cohort-dev/cohort/circuits/hash"
	"github.com/cohort-dev/cohort/circuits/merkle"
)

// Bit widths of the public consent terms, enforced in-circuit so that every
// public input is constrained (an unconstrained Groth16 public input would not
// be bound to the proof).
const (
	EpochBits     = 32 // epoch index (days/weeks/months since 1970)
	ExpiryBits    = 40 // Unix seconds, good until year 36812
	MinCohortBits = 32
)

// IdentityCommitment is ic = H_id(s), the registry entry of secret s.
func IdentityCommitment(s fr.Element) fr.Element { return hash.Sum(hash.Identity, s) }

// NullifierOf is nf = H_nf(s, dataset, epoch): one per person, dataset and epoch,
// unlinkable across datasets and epochs without s.
func NullifierOf(s, dataset fr.Element, epoch uint64) fr.Element {
	return hash.Sum(hash.Nullifier, s, dataset, fr.NewElement(epoch))
}

// RevocationTokenOf is rt = H_rt(s, dataset, epoch), revealed by the
// contributor to revoke the record; no proof is needed.
func RevocationTokenOf(s, dataset fr.Element, epoch uint64) fr.Element {
	return hash.Sum(hash.RevocationToken, s, dataset, fr.NewElement(epoch))
}

// RevocationCommitmentOf is rc = H_rc(rt), published with the record.
func RevocationCommitmentOf(rt fr.Element) fr.Element { return hash.Sum(hash.RevocationCommitment, rt) }

// DatasetField maps a dataset id to the field element used in proofs.
func DatasetField(id string) fr.Element { return hash.SumBytes(hash.DatasetID, []byte(id)) }

// consent is the consent part shared by every contribution circuit.
type consent struct {
	// public
	Dataset, Epoch, Root, Nullifier, Purposes, Expiry, MinCohort, Revocation frontend.Variable
	// private
	Secret, Index frontend.Variable
	Siblings      []frontend.Variable
}

// define constrains: H_id(Secret) is in the registry under Root; Nullifier and
// Revocation are derived from Secret, Dataset and Epoch; the terms fit their
// widths (purposeBits for the purposes bitmask).
func (c *consent) define(api frontend.API, h *hash.Hasher, rc frontend.Rangechecker, purposeBits int) {
	ic := h.Sum(hash.Identity, c.Secret)
	merkle.AssertMembership(api, h, c.Root, ic, c.Index, c.Siblings)

	api.AssertIsEqual(c.Nullifier, h.Sum(hash.Nullifier, c.Secret, c.Dataset, c.Epoch))
	rt := h.Sum(hash.RevocationToken, c.Secret, c.Dataset, c.Epoch)
	api.AssertIsEqual(c.Revocation, h.Sum(hash.RevocationCommitment, rt))

	rc.Check(c.Epoch, EpochBits)
	rc.Check(c.Purposes, purposeBits)
	rc.Check(c.Expiry, ExpiryBits)
	rc.Check(c.MinCohort, MinCohortBits)
}
