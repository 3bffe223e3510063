package node

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// A node's part in differentially private release (docs/design.md §6.6):
// it checks a job's privacy loss against its dataset's policy, draws its
// own noise for the job once, before the round, and debits its own
// privacy ledger in the same store transaction in which it records that
// it released its noised partial, refusing a debit beyond its ledger
// whatever the coordinator's says.

// jobPrivacy is how the job is released under its dataset's policy; a
// spec the policy refuses is InvalidArgument.
func jobPrivacy(ds *dataset.Dataset, spec *cohortv1.JobSpec) (enclave.Privacy, error) {
	l := ds.Schema.Layout()
	coords, err := enclave.Coordinates(l, spec.GetOutputs())
	if err != nil {
		return enclave.Privacy{}, status.Errorf(codes.InvalidArgument, "outputs: %v", err)
	}
	p, err := enclave.JobPrivacy(ds.Desc.GetPrivacy(), spec, l, coords)
	if err != nil {
		var se *enclave.SpecError
		if errors.As(err, &se) {
			return enclave.Privacy{}, specStatus(err)
		}
		return enclave.Privacy{}, status.Errorf(codes.FailedPrecondition, "dataset %q: %v", ds.Desc.GetId(), err)
	}
	return p, nil
}

// drawNoise draws this node's noise for a job, encoded for its record;
// nil for an exact release.
func drawNoise(p enclave.Privacy) ([]byte, error) {
	if p.Rho.IsZero() {
		return nil, nil
	}
	m, err := p.Mechanism(rand.Reader)
	if err != nil {
		return nil, err
	}
	z, err := m.Noise(p.Coords)
	if err != nil {
		return nil, err
	}
	return enclave.EncodeNoise(z)
}

// ledgerDebit is the store's form of what a job costs this node.
func ledgerDebit(c enclave.Charge, at store.PrivacyDebit) store.PrivacyDebit {
	at.JobID, at.DatasetID, at.Buyer = c.JobID, c.DatasetID, c.Buyer
	at.EpochFrom, at.EpochTo = c.EpochFrom, c.EpochTo
	at.Rho, at.EpochTotal, at.BuyerTotal = c.Rho.Rat(), c.EpochTotal.Rat(), c.BuyerTotal.Rat()
	return at
}

// debitProto is this node's signed debit of a job, from its ledger's
// entries.
func (n *Node) debitProto(c enclave.Charge, entries []store.LedgerEntry) *cohortv1.PrivacyDebit {
	d := &cohortv1.PrivacyDebit{NodeIndex: n.opts.Index, BuyerId: c.Buyer, Rho: c.Rho.String()}
	for _, e := range entries {
		d.Entries = append(d.Entries, &cohortv1.LedgerEntry{Epoch: e.Epoch,
			EpochTotal: e.EpochTotal.RatString(), EpochSpentBefore: e.EpochBefore.RatString(), EpochSpentAfter: e.EpochAfter.RatString(),
			BuyerTotal: e.BuyerTotal.RatString(), BuyerSpentBefore: e.BuyerBefore.RatString(), BuyerSpentAfter: e.BuyerAfter.RatString()})
	}
	d.Signature = n.sign(enclave.DebitStatement(c.JobID, c.DatasetID, d).Message())
	return d
}

// overspendStatus is a debit the ledger refused: FailedPrecondition
// naming the budget; nothing was released or charged.
func (n *Node) overspendStatus(jobID string, err error) error {
	var oe *store.OverspendError
	if errors.As(err, &oe) {
		return status.Errorf(codes.FailedPrecondition,
			"privacy budget: node %d refuses job %s: on epoch %d the %s budget has ρ = %s of %s spent and %s left, less than the job's ρ = %s; nothing was released or charged",
			n.opts.Index, jobID, oe.Epoch, oe.Budget, oe.Spent.RatString(), oe.Total.RatString(), oe.Remaining.RatString(), oe.Rho.RatString())
	}
	return n.internal("debit privacy ledger", err)
}

// budget reads what buyer spent on the epochs of [from, to] of a dataset
// from this node's ledger and, under policy p, the most one job over the
// range could still spend: the least left, over the epochs, of the
// epoch's total and of the buyer's cap (nil for an exact policy).
func budget(ctx context.Context, q store.Tx, datasetID, buyer string, p enclave.Policy, from, to uint64) ([]store.EpochSpent, *big.Rat, error) {
	if p.Exact() {
		return nil, nil, nil
	}
	spent, err := q.PrivacySpent(ctx, datasetID, buyer, from, to)
	if err != nil {
		return nil, nil, err
	}
	var avail *big.Rat
	for _, e := range spent {
		for _, left := range []*big.Rat{new(big.Rat).Sub(p.EpochTotal.Rat(), e.Spent), new(big.Rat).Sub(p.BuyerTotal.Rat(), e.BuyerSpent)} {
			if left.Sign() < 0 {
				left.SetInt64(0)
			}
			if avail == nil || left.Cmp(avail) < 0 {
				avail = left
			}
		}
	}
	return spent, avail, nil
}

// quote refuses a job whose ρ this node's ledger cannot pay on some epoch
// of its range, before anything is stored: FailedPrecondition naming the
// budget. The peers' ledgers decide in the end; this spares a buyer a
// round that would fail.
func (n *Node) quote(ctx context.Context, q store.Tx, datasetID, buyer string, p enclave.Privacy) error {
	if p.Rho.IsZero() {
		return nil
	}
	spent, _, err := budget(ctx, q, datasetID, buyer, p.Policy, p.EpochFrom, p.EpochTo)
	if err != nil {
		return n.internal("read privacy ledger", err)
	}
	for _, e := range spent {
		for _, b := range []struct {
			name         string
			total, spent *big.Rat
		}{
			{"epoch", p.EpochTotal.Rat(), e.Spent},
			{"buyer", p.BuyerTotal.Rat(), e.BuyerSpent},
		} {
			if new(big.Rat).Add(b.spent, p.Rho.Rat()).Cmp(b.total) > 0 {
				return status.Errorf(codes.FailedPrecondition,
					"privacy budget: on epoch %d the %s budget has ρ = %s of %s spent, less than the job's ρ = %s left; nothing was stored or charged",
					e.Epoch, b.name, b.spent.RatString(), b.total.RatString(), p.Rho)
			}
		}
	}
	return nil
}

// GetBudget is BuyerService.GetBudget: the buyer's budget on a dataset's
// epochs in this node's ledger.
func (s *buyerService) GetBudget(ctx context.Context, req *cohortv1.GetBudgetRequest) (*cohortv1.GetBudgetResponse, error) {
	b, err := buyerOf(ctx)
	if err != nil {
		return nil, err
	}
	from, to := req.GetEpochFrom(), req.GetEpochTo()
	if to < from || to-from >= enclave.MaxJobEpochs {
		return nil, status.Errorf(codes.InvalidArgument, "epochs %d..%d: want epoch_from ≤ epoch_to, at most %d epochs", from, to, enclave.MaxJobEpochs)
	}
	ds, err := s.n.jobDataset(ctx, req.GetDatasetId())
	if err != nil {
		return nil, err
	}
	spent, avail, err := budget(ctx, s.n.store, ds.Desc.GetId(), b.ID, ds.Policy, from, to)
	if err != nil {
		return nil, s.n.internal("read privacy ledger", err)
	}
	resp := &cohortv1.GetBudgetResponse{Policy: ds.Desc.GetPrivacy()}
	for _, e := range spent {
		resp.Epochs = append(resp.Epochs, &cohortv1.LedgerEntry{Epoch: e.Epoch,
			EpochTotal: ds.Policy.EpochTotal.String(), EpochSpentBefore: e.Spent.RatString(), EpochSpentAfter: e.Spent.RatString(),
			BuyerTotal: ds.Policy.BuyerTotal.String(), BuyerSpentBefore: e.BuyerSpent.RatString(), BuyerSpentAfter: e.BuyerSpent.RatString()})
	}
	if avail != nil {
		resp.AvailableRho = avail.RatString()
	}
	return resp, nil
}
