package node

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/mpc"
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
	live   []uint32                         // on the coordinator: the nodes that agreed, ascending
	he     bool                             // rows hold ciphertexts (an HE dataset)
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
	return &selected{sel: sel, digest: enclave.SetDigest(jobID, ds.Desc.GetId(), sel.Records), rows: keep, he: ds.HE != nil}, nil
}

// eligibleSet is the wire form of a selection.
func (s *selected) eligibleSet() *cohortv1.EligibleSet {
	return &cohortv1.EligibleSet{
		Eligible: s.sel.Eligible, Cohort: s.sel.Cohort(), Digest: s.digest[:], Excluded: s.sel.Excluded.Proto(),
	}
}

// setStatement is what a node signs about its selection.
func (n *Node) setStatement(ds *dataset.Dataset, jobID string, spec [32]byte, at time.Time, cohort uint64, digest [32]byte, node uint32) attest.JobEligibleSet {
	return attest.JobEligibleSet{JobID: jobID, DatasetID: ds.Desc.GetId(), SpecDigest: spec, JobTime: at.Unix(), Cohort: cohort, SetDigest: digest, Node: node}
}

// partial sums this node's shares over the cohort, keeping only coords.
func (n *Node) partial(ds *dataset.Dataset, s *selected, coords []int) (*mpc.Partial, error) {
	m := ds.Schema.Layout().Len
	p, err := mpc.NewPartial(len(coords))
	if err != nil {
		return nil, err
	}
	picked := make([]fr.Element, len(coords))
	for _, r := range s.sel.Records {
		sh, err := mpc.UnmarshalShare(s.rows[r.Nullifier].Share, m)
		if err != nil {
			return nil, fmt.Errorf("stored share of a cohort record: %w", err)
		}
		if len(sh.Values) != m {
			return nil, fmt.Errorf("stored share has %d coordinates, want %d", len(sh.Values), m)
		}
		for i, c := range coords {
			picked[i] = sh.Values[c]
		}
		if err := p.Add(picked); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// partialStatement is what a node signs about its partial sum.
func partialStatement(jobID string, digest [32]byte, coords []int, enc []byte, node uint32) attest.JobPartial {
	cs := make([]uint32, len(coords))
	for i, c := range coords {
		cs[i] = uint32(c)
	}
	return attest.JobPartial{JobID: jobID, SetDigest: digest, Coordinates: cs, PartialDigest: sha256.Sum256(enc), Node: node}
}

// peerSelect checks what a coordinator sends with PrepareJob and
// ComputePartial — a valid job id and spec, a READY dataset, a job time
// close to this node's clock — and selects the job's cohort from this
// node's own rows.
func (n *Node) peerSelect(ctx context.Context, jobID string, spec *cohortv1.JobSpec, jobTime int64) (*dataset.Dataset, time.Time, *selected, error) {
	if !validJobID(jobID) {
		return nil, time.Time{}, nil, status.Error(codes.InvalidArgument, "job_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	if spec == nil {
		return nil, time.Time{}, nil, status.Error(codes.InvalidArgument, "spec missing")
	}
	ds, err := n.jobDataset(ctx, spec.GetDatasetId())
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	if err := enclave.ValidateSpec(spec, ds.Schema, ds.Desc.GetBackend()); err != nil {
		return nil, time.Time{}, nil, status.Errorf(codes.InvalidArgument, "spec: %v", err)
	}
	at := time.Unix(jobTime, 0)
	if d := n.now().Sub(at); d > MaxJobClockSkew || d < -MaxJobClockSkew {
		return nil, time.Time{}, nil, status.Errorf(codes.FailedPrecondition, "job time %s is more than %s from node %d's clock", at.UTC().Format(time.RFC3339), MaxJobClockSkew, n.opts.Index)
	}
	sel, err := n.selectCohort(ctx, ds, jobID, spec, at)
	if err != nil {
		return nil, time.Time{}, nil, err
	}
	return ds, at, sel, nil
}

func (s *peerService) PrepareJob(ctx context.Context, req *cohortv1.PrepareJobRequest) (*cohortv1.PrepareJobResponse, error) {
	ds, at, sel, err := s.n.peerSelect(ctx, req.GetJobId(), req.GetSpec(), req.GetJobTime())
	if err != nil {
		return nil, err
	}
	sd, err := audit.SpecDigest(req.GetSpec())
	if err != nil {
		return nil, s.n.internal("spec digest", err)
	}
	st := s.n.setStatement(ds, req.GetJobId(), sd, at, sel.sel.Cohort(), sel.digest, s.n.opts.Index)
	return &cohortv1.PrepareJobResponse{Set: sel.eligibleSet(), Signature: s.n.sign(st.Message())}, nil
}

// ComputePartial releases this node's partial only for a cohort it selected
// itself, whose digest is the agreed one and which meets the job's
// effective minimum: a coordinator cannot obtain a partial over a smaller
// or different set than the policy allows.
func (s *peerService) ComputePartial(ctx context.Context, req *cohortv1.ComputePartialRequest) (*cohortv1.ComputePartialResponse, error) {
	ds, _, sel, err := s.n.peerSelect(ctx, req.GetJobId(), req.GetSpec(), req.GetJobTime())
	if err != nil {
		return nil, err
	}
	if len(req.GetSetDigest()) != sha256.Size || [32]byte(req.GetSetDigest()) != sel.digest {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d selects another cohort (%d records) than the agreed digest", s.n.opts.Index, sel.sel.Cohort())
	}
	if min := enclave.EffectiveMinimum(req.GetSpec(), ds.Schema); sel.sel.Cohort() < min {
		return nil, status.Errorf(codes.FailedPrecondition, "cohort of %d records is below the job's minimum of %d", sel.sel.Cohort(), min)
	}
	coords, err := enclave.Coordinates(ds.Schema.Layout(), req.GetSpec().GetOutputs())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "outputs: %v", err)
	}
	if ds.HE != nil {
		set := req.GetDecryptionSet()
		if err := checkDecryptionSet(set, len(s.n.opts.Members), ds.HE.Committee.Threshold); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "decryption_set: %v", err)
		}
		agg, err := heAggregate(ds, sel)
		if err != nil {
			return nil, s.n.internal("aggregate ciphertexts", err)
		}
		enc, err := s.n.heShare(ctx, ds, agg, req.GetJobId(), coords, set)
		if err != nil {
			return nil, err
		}
		st := partialStatement(req.GetJobId(), sel.digest, coords, enc, s.n.opts.Index)
		s.n.log.Info("decryption share released", "job", req.GetJobId(), "cohort", sel.sel.Cohort(), "coordinates", len(coords), "decryption_set", fmt.Sprint(set))
		return &cohortv1.ComputePartialResponse{Coordinates: st.Coordinates, Partial: enc, Signature: s.n.sign(st.Message())}, nil
	}
	if len(req.GetDecryptionSet()) != 0 {
		return nil, status.Error(codes.InvalidArgument, "decryption_set: only for HE datasets")
	}
	p, err := s.n.partial(ds, sel, coords)
	if err != nil {
		return nil, s.n.internal("partial sum", err)
	}
	enc, err := p.MarshalBinary()
	if err != nil {
		return nil, s.n.internal("encode partial", err)
	}
	st := partialStatement(req.GetJobId(), sel.digest, coords, enc, s.n.opts.Index)
	s.n.log.Info("partial released", "job", req.GetJobId(), "cohort", sel.sel.Cohort(), "coordinates", len(coords))
	return &cohortv1.ComputePartialResponse{Coordinates: st.Coordinates, Partial: enc, Signature: s.n.sign(st.Message())}, nil
}

// errJobStopped ends a job's run when another writer (a cancel) moved it
// to a final state.
var errJobStopped = errors.New("job stopped")
