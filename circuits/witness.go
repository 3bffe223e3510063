package circuits

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"github.com/consensys/gnark/frontend"

	"github.com/cohort-dev/cohort/circuits/hash"
	"github.com/cohort-dev/cohort/circuits/merkle"
)

// ShareCommitment is C_j = H_sh(j, ρ_j, share_j…), the public commitment to
// node j's share with blinding ρ_j.
func ShareCommitment(node int, blind fr.Element, share []fr.Element) fr.Element {
	in := make([]fr.Element, 2, 2+len(share))
	in[0].SetUint64(uint64(node))
	in[1] = blind
	return hash.Sum(hash.ShareCommitment, append(in, share...)...)
}

// Terms are the consent terms a contributor attaches to one record.
type Terms struct {
	Dataset   fr.Element // DatasetField(id)
	Epoch     uint64
	Purposes  uint64
	Expiry    uint64 // Unix seconds
	MinCohort uint32
}

// MPCWitness is everything a contributor knows when proving one record.
type MPCWitness struct {
	Secret fr.Element  // identity secret s
	Root   fr.Element  // registry root the path leads to
	Path   merkle.Path // membership of H_id(s)
	Terms  Terms
	Record []uint64       // v, the encoded record
	Shares [][]fr.Element // Shares[j], node j's share of v
	Blinds []fr.Element   // ρ_j
}

// Public computes the public inputs that the witness proves.
func (w *MPCWitness) Public() PublicInputs {
	rt := RevocationTokenOf(w.Secret, w.Terms.Dataset, w.Terms.Epoch)
	p := PublicInputs{
		Dataset:          w.Terms.Dataset,
		Epoch:            w.Terms.Epoch,
		Root:             w.Root,
		Nullifier:        NullifierOf(w.Secret, w.Terms.Dataset, w.Terms.Epoch),
		Purposes:         w.Terms.Purposes,
		Expiry:           w.Terms.Expiry,
		MinCohort:        w.Terms.MinCohort,
		Revocation:       RevocationCommitmentOf(rt),
		ShareCommitments: make([]fr.Element, len(w.Shares)),
	}
	for j := range w.Shares {
		p.ShareCommitments[j] = ShareCommitment(j, w.Blinds[j], w.Shares[j])
	}
	return p
}

// check refuses a witness whose sizes do not match the shape (it does not
// check validity: the circuit does).
func (w *MPCWitness) check(sh MPCShape) error {
	if len(w.Record) != sh.Layout.Len {
		return fmt.Errorf("%w: record has %d coordinates, layout %d", ErrShape, len(w.Record), sh.Layout.Len)
	}
	if len(w.Shares) != sh.Nodes || len(w.Blinds) != sh.Nodes {
		return fmt.Errorf("%w: %d shares and %d blinds for %d nodes", ErrShape, len(w.Shares), len(w.Blinds), sh.Nodes)
	}
	for j, s := range w.Shares {
		if len(s) != sh.Layout.Len {
			return fmt.Errorf("%w: share %d has %d coordinates, layout %d", ErrShape, j, len(s), sh.Layout.Len)
		}
	}
	if len(w.Path.Siblings) != sh.Depth {
		return fmt.Errorf("%w: membership path of depth %d, registry depth %d", ErrShape, len(w.Path.Siblings), sh.Depth)
	}
	return nil
}

// Assignment is the full circuit assignment for w and public inputs p.
// Tests pass a p that differs from w.Public() to exercise the constraints.
func (w *MPCWitness) Assignment(sh MPCShape, p PublicInputs) (*MPCContribution, error) {
	if err := w.check(sh); err != nil {
		return nil, err
	}
	if len(p.ShareCommitments) != sh.Nodes {
		return nil, fmt.Errorf("%w: %d share commitments for %d nodes", ErrShape, len(p.ShareCommitments), sh.Nodes)
	}
	record := make([]fr.Element, len(w.Record))
	for i, x := range w.Record {
		record[i].SetUint64(x)
	}
	return assignMPC(sh, p, w.Secret, w.Path, record, w.Shares, w.Blinds), nil
}

// assignMPC fills a circuit of shape sh; every length must already match it.
// The record is field-valued so that tests can assign values no schema allows.
func assignMPC(sh MPCShape, p PublicInputs, secret fr.Element, path merkle.Path, record []fr.Element, shares [][]fr.Element, blinds []fr.Element) *MPCContribution {
	c := NewMPCContribution(sh)
	c.Dataset, c.Epoch, c.Root, c.Nullifier = p.Dataset, p.Epoch, p.Root, p.Nullifier
	c.Purposes, c.Expiry, c.MinCohort, c.Revocation = p.Purposes, p.Expiry, p.MinCohort, p.Revocation
	for j := range c.ShareCommitments {
		c.ShareCommitments[j] = p.ShareCommitments[j]
	}
	c.Secret, c.Index = secret, path.Index
	for i := range c.Siblings {
		c.Siblings[i] = path.Siblings[i]
	}
	for i := range c.Record {
		c.Record[i] = record[i]
	}
	for j := range c.Shares {
		for i := range c.Shares[j] {
			c.Shares[j][i] = shares[j][i]
		}
		c.Blinds[j] = blinds[j]
	}
	return c
}

var _ frontend.Circuit = (*MPCContribution)(nil)
