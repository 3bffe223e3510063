package node

import (
	"context"
	"math"
	"math/bits"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// This file holds what the coordinator and its peers do alike for a job:
// select the cohort from their own store and sum their shares over it.
// Every node runs the same deterministic rule on its own rows, so the
// coordinator never tells a peer which records to use, and a peer never
// releases a partial for a cohort it did not select itself.

// MaxJobClockSkew bounds how far a job time may be from a peer's clock: a
// coordinator cannot pick a time before some consent expired or after a
// revocation it wants to ignore.
const MaxJobClockSkew = 5 * time.Minute

// jobDataset returns a READY dataset for a job: NotFound, or
// FailedPrecondition in any other state. Jobs need no circuit, so none is
// compiled.
func (n *Node) jobDataset(ctx context.Context, id string) (*dataset.Dataset, error) {
	desc, err := n.datasets.descriptor(ctx, id)
	if err != nil {
		return nil, err
	}
	if desc.GetState() != cohortv1.DatasetState_DATASET_STATE_READY {
		return nil, status.Errorf(codes.FailedPrecondition, "dataset %q is %s, not READY", id, desc.GetState())
	}
	ds, err := dataset.From(desc)
	if err != nil {
		return nil, n.internal("stored dataset", err)
	}
	return ds, nil
}

// selected is a node's cohort for a job, with the shares it holds for it.
type selected struct {
	sel    enclave.Selection
	digest [32]byte
	rows   map[[32]byte]*store.Contribution // nullifier → row, cohort records only
	at     time.Time                        // the job time it was selected at
	ds     *dataset.Dataset                 // the dataset it was selected from
	priv   enclave.Privacy                  // how the job is released under the dataset's policy
}

// dataset is the dataset s was selected from; nil for a nil s.
func (s *selected) dataset() *dataset.Dataset {
	if s == nil {
		return nil
	}
	return s.ds
}

// selectCohort selects a job's cohort from this node's rows: every record
// of the dataset in the epoch range, filtered by enclave.Select at job
// time.
func (n *Node) selectCohort(ctx context.Context, ds *dataset.Dataset, jobID string, spec *cohortv1.JobSpec, at time.Time) (*selected, error) {
	mask, err := ds.Schema.PurposeMask([]string{spec.GetPurpose()})
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "purpose: %v", err)
	}
	bit := uint(bits.TrailingZeros64(mask))
	// Committed records only (docs/design.md §7.5): none of them can be
	// rolled back any more.
	n.settleBeforeSelect(ctx, ds.Desc.GetId())
	var (
		records []enclave.Record
		rows    = map[[32]byte]*store.Contribution{}
		after   [32]byte
	)
	for {
		page, err := n.store.ListContributions(ctx, ds.Desc.GetId(), spec.GetEpochFrom(), spec.GetEpochTo(), after, store.MaxPageSize)
		if err != nil {
			return nil, n.internal("list contributions", err)
		}
		for _, c := range page {
			records = append(records, enclave.Record{
				Nullifier: c.Nullifier, PayloadDigest: c.PayloadDigest, Epoch: c.Epoch, Purposes: c.Purposes,
				Expiry: c.Expiry, MinCohort: c.MinCohort, Revoked: c.Revoked(),
			})
			rows[c.Nullifier] = &c
		}
		if len(page) < store.MaxPageSize {
			break
		}
		after = page[len(page)-1].Nullifier
	}
	sel := enclave.Select(records, bit, spec.GetEpochFrom(), spec.GetEpochTo(), at)
	// Records of other epochs are never read, only counted.
	all, err := n.store.CountContributions(ctx, ds.Desc.GetId(), 0, math.MaxInt64)
	if err != nil {
		return nil, n.internal("count contributions", err)
	}
	if all > uint64(len(records)) {
		sel.Excluded.Epoch += all - uint64(len(records))
	}
	keep := make(map[[32]byte]*store.Contribution, len(sel.Records))
	for _, r := range sel.Records {
		keep[r.Nullifier] = rows[r.Nullifier]
	}
	return &selected{sel: sel, digest: enclave.SetDigest(jobID, ds.Desc.GetId(), sel.Records), rows: keep, at: at, ds: ds}, nil
}

// eligibleSet is the wire form of a selection.
func (s *selected) eligibleSet() *cohortv1.EligibleSet {
	return &cohortv1.EligibleSet{
		Eligible: s.sel.Eligible, Cohort: s.sel.Cohort(), Digest: s.digest[:], Excluded: s.sel.Excluded.Proto(),
	}
}

// eligible is the round's form of a selection.
func (s *selected) eligible() enclave.EligibleSet {
	return enclave.EligibleSet{Eligible: s.sel.Eligible, Cohort: s.sel.Cohort(), Digest: s.digest, Excluded: s.sel.Excluded}
}

// stored lists the cohort's stored values (shares or ciphertexts) in
// cohort order.
func (s *selected) stored() [][]byte {
	out := make([][]byte, len(s.sel.Records))
	for k, r := range s.sel.Records {
		out[k] = s.rows[r.Nullifier].Share
	}
	return out
}

// peerSelect checks what a coordinator sends with PrepareJob and
// ComputePartial — a valid job id and spec, a READY dataset, a job time
// close to this node's clock — and selects the job's cohort from this
// node's own rows.
func (n *Node) peerSelect(ctx context.Context, jobID string, spec *cohortv1.JobSpec, jobTime int64) (*dataset.Dataset, *selected, error) {
	if !validJobID(jobID) {
		return nil, nil, status.Error(codes.InvalidArgument, "job_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	if spec == nil {
		return nil, nil, status.Error(codes.InvalidArgument, "spec missing")
	}
	ds, err := n.jobDataset(ctx, spec.GetDatasetId())
	if err != nil {
		return nil, nil, err
	}
	if err := enclave.ValidateSpec(spec, ds.Schema, ds.Desc.GetBackend()); err != nil {
		return nil, nil, status.Errorf(codes.InvalidArgument, "spec: %v", err)
	}
	priv, err := jobPrivacy(ds, spec)
	if err != nil {
		return nil, nil, err
	}
	at := time.Unix(jobTime, 0)
	if d := n.now().Sub(at); d > MaxJobClockSkew || d < -MaxJobClockSkew {
		return nil, nil, status.Errorf(codes.FailedPrecondition, "job time %s is more than %s from node %d's clock", at.UTC().Format(time.RFC3339), MaxJobClockSkew, n.opts.Index)
	}
	sel, err := n.selectCohort(ctx, ds, jobID, spec, at)
	if err != nil {
		return nil, nil, err
	}
	sel.priv = priv
	return ds, sel, nil
}
