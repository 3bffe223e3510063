package audit

import (
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxReward bounds a transcript's reward per record, micro-credits: the
// bound of every amount of a node's payment ledger (docs/design.md §6.8).
const MaxReward uint64 = 1 << 60

// ClaimRootOf returns the root of the nullifier tree of records, in the
// order given (a transcript's records are in nullifier order): what a
// transcript's ClaimRoot must be. A nullifier that is not a canonical
// field element, or one given twice, is an error.
func ClaimRootOf(records []Record) ([32]byte, error) {
	nfs := make([]fr.Element, len(records))
	for i, r := range records {
		if err := nfs[i].SetBytesCanonical(r.Nullifier[:]); err != nil {
			return [32]byte{}, fmt.Errorf("%s: not a canonical field element", recordName(i, r.Nullifier))
		}
	}
	tree, err := circuits.NewNullifierTree(nfs)
	if err != nil {
		return [32]byte{}, err
	}
	root := tree.Root()
	return root.Bytes(), nil
}

// RewardOf is the reward per counted record of a job of the dataset
// described by d charged to buyer: the dataset's price per record, or 0
// when no buyer was charged (docs/design.md §6.8).
func RewardOf(d *cohortv1.DatasetDescriptor, buyer string) uint64 {
	if buyer == "" {
		return 0
	}
	return d.GetPricePerRecord()
}

// checkRewards recomputes the nullifier tree's root from the records and
// the reward per record from the descriptor's price.
func (v *verification) checkRewards(c *check) {
	if !v.needDataset(c) {
		return
	}
	t := v.t
	p := v.passRecords()
	switch {
	case p.err != nil:
		c.fail("the records could not be read: %v", p.err)
	case p.claimErr != nil:
		c.fail("the nullifier tree cannot be built: %v", p.claimErr)
	case p.claimRoot != t.ClaimRoot:
		c.fail("claim root %x… is not the root %x… of the %d counted nullifiers", t.ClaimRoot[:4], p.claimRoot[:4], v.n)
	}
	if want := RewardOf(v.ds.Desc, t.Buyer); t.RewardPerRecord != want {
		c.fail("reward of %d micro-credits per record, the dataset's price for this job is %d", t.RewardPerRecord, want)
	}
	if c.failed == 0 {
		c.detail = fmt.Sprintf("claim root %x… commits to the %d counted nullifiers; reward %d micro-credits per record",
			t.ClaimRoot[:4], v.n, t.RewardPerRecord)
	}
}
