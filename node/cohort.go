package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/backend"
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

// selected is a node's cohort for a job: the records' eligibility
// metadata, never their values, which are read when summed
// (docs/design.md §7.6).
type selected struct {
	// sel is the selection; sel.Records is nil when the cohort was
	// checked against a prepared size in one pass (cohortPass), which
	// keeps no record.
	sel      enclave.Selection
	cohort   uint64 // the cohort's size
	digest   [32]byte
	from, to uint64           // the job's epoch range
	at       time.Time        // the job time it was selected at
	ds       *dataset.Dataset // the dataset it was selected from
	priv     enclave.Privacy  // how the job is released under the dataset's policy
	// sum is the cohort's stored values summed at coords, once read.
	sum    backend.Sum
	coords []int
	// witness is the records section a peer's scan wrote of the cohort's
	// rows, for checking the job's transcript (cohortPass, witnessOf); nil
	// when it took nothing.
	witness *recordSpooler
	// marks are the counts a selection that read its cohort's values
	// (selectReading) took before its scan.
	marks readMarks
	// spoolRecords asks the scan that sums the cohort to write the job
	// transcript's records section as well (the coordinator's own MPC
	// cohort, docs/design.md §7.6), so that the coordinator reads its
	// rows once; records holds the section once written, until the
	// transcript takes it.
	spoolRecords bool
	records      *recordSpool
}

// takeRecords hands over the records section the sum's scan wrote (nil
// when there is none); s keeps no reference to it.
func (s *selected) takeRecords() *recordSpool {
	if s == nil {
		return nil
	}
	sp := s.records
	s.records = nil
	return sp
}

// dataset is the dataset s was selected from; nil for a nil s.
func (s *selected) dataset() *dataset.Dataset {
	if s == nil {
		return nil
	}
	return s.ds
}

// recordOf is what eligibility is decided on for a stored contribution.
func recordOf(c *store.Contribution) enclave.Record {
	return enclave.Record{
		Nullifier: c.Nullifier, PayloadDigest: c.PayloadDigest, Epoch: c.Epoch, Purposes: c.Purposes,
		Expiry: c.Expiry, MinCohort: c.MinCohort, Revoked: c.Revoked(),
	}
}

// purposeBit is the bit of the job's purpose in the dataset's purpose mask.
func purposeBit(ds *dataset.Dataset, spec *cohortv1.JobSpec) (uint, error) {
	mask, err := ds.Schema.PurposeMask([]string{spec.GetPurpose()})
	if err != nil {
		return 0, status.Errorf(codes.InvalidArgument, "purpose: %v", err)
	}
	return uint(bits.TrailingZeros64(mask)), nil
}

// selectCohort selects a job's cohort from this node's rows: every record
// of the dataset in the epoch range, filtered by the rules of
// enclave.Select at job time. It reads the records' eligibility metadata
// only, in one scan, and keeps the eligible records' metadata.
func (n *Node) selectCohort(ctx context.Context, ds *dataset.Dataset, jobID string, spec *cohortv1.JobSpec, at time.Time) (*selected, error) {
	return n.selectReading(ctx, ds, jobID, spec, at, nil)
}

// cohortRead is what a selection's scan takes of the records it keeps
// besides their ids: their stored values, summed at coords, and their
// records section (docs/design.md §7.6, one scan per job).
type cohortRead struct {
	sum    backend.Sum
	coords []int
	sp     *recordSpooler
}

// readMarks are what a selection that read its cohort's values compares
// before the values are used: the dataset's committed records in the
// job's epochs and its revocations, both counted before the scan. Neither
// a committed record nor a revocation is ever deleted, so the same counts
// later mean that no record was committed and none revoked since, and a
// selection made then would be the same.
type readMarks struct {
	rows, revocations uint64
}

// selectReading is selectCohort; with read set, the same scan reads the
// kept records' values and proofs as well, adds their values to read.sum
// and writes their records section to read.sp, and the selection keeps
// both (sum and witness) when every record kept is in the cohort. When a
// contributor's minimum leaves a record out, whose values were already
// added, or a record's values cannot be read, both are dropped and the
// values are read again when needed.
func (n *Node) selectReading(ctx context.Context, ds *dataset.Dataset, jobID string, spec *cohortv1.JobSpec, at time.Time, read *cohortRead) (*selected, error) {
	// What read took is dropped unless the selection keeps it (the end).
	defer func() { read.discard() }()
	bit, err := purposeBit(ds, spec)
	if err != nil {
		return nil, err
	}
	// Committed records only (docs/design.md §7.5): none of them can be
	// rolled back any more.
	n.settleBeforeSelect(ctx, ds.Desc.GetId())
	sl := enclave.NewSelector(bit, spec.GetEpochFrom(), spec.GetEpochTo(), at)
	// The selection is kept for the job (64 bytes a record, its ids): its
	// room is made once, for the records the scan may pass.
	inRange, countErr := n.store.CountContributions(ctx, ds.Desc.GetId(), spec.GetEpochFrom(), spec.GetEpochTo())
	if countErr == nil && inRange <= math.MaxInt32 {
		sl.Reserve(int(inRange))
	}
	fields := store.ContributionFields(0)
	var marks readMarks
	if read != nil {
		// Without both counts nothing could tell, later, that the
		// selection is still the same: the values are read then.
		if revoked, err := n.store.CountRevocations(ctx, ds.Desc.GetId()); countErr == nil && err == nil {
			marks = readMarks{rows: inRange, revocations: revoked}
			fields = store.WithShare | store.WithProof | store.WithClaimLeaf
		} else {
			read.discard()
			read = nil
		}
	}
	err = n.store.ScanContributions(ctx, ds.Desc.GetId(), spec.GetEpochFrom(), spec.GetEpochTo(), fields, func(c *store.Contribution) error {
		kept, err := sl.Take(recordOf(c))
		if err != nil || !kept || read == nil {
			return err
		}
		if err = read.sp.add(c); err == nil {
			err = read.sum.Add(c.Share)
		}
		if err != nil {
			// The selection goes on without the values; reading them
			// again at ComputePartial refuses the record there, as
			// before.
			n.log.Warn("a stored record's values cannot be read; the cohort is read again for the partial",
				"dataset", ds.Desc.GetId(), "record", fmt.Sprintf("%x…", c.Nullifier[:4]), "error", err)
			read.discard()
			read = nil
		}
		return nil
	})
	if err != nil {
		return nil, n.internal("read eligibility of contributions", err)
	}
	sel := sl.Selection()
	if err := n.countOtherEpochs(ctx, ds, spec.GetEpochFrom(), spec.GetEpochTo(), &sel.Excluded); err != nil {
		return nil, err
	}
	// The records are in nullifier order: digest them without the copy
	// enclave.SetDigest sorts.
	h := enclave.NewSetHasher(jobID, ds.Desc.GetId(), sel.Cohort())
	for _, r := range sel.Records {
		if err := h.Add(r); err != nil {
			return nil, n.internal("set digest", err)
		}
	}
	digest, err := h.Sum()
	if err != nil {
		return nil, n.internal("set digest", err)
	}
	s := &selected{sel: sel, cohort: sel.Cohort(), digest: digest,
		from: spec.GetEpochFrom(), to: spec.GetEpochTo(), at: at, ds: ds}
	if read != nil && sel.Cohort() == sel.Eligible {
		s.sum, s.coords, s.witness, s.marks = read.sum, read.coords, read.sp, marks
		read = nil // kept by the selection
	}
	return s, nil
}

// discard drops what r read; nil does nothing.
func (r *cohortRead) discard() {
	if r != nil {
		r.sp.discard()
	}
}

// countOtherEpochs counts the dataset's records outside the job's epochs
// from and to: they are never read, only counted, and counting them
// reads the eligibility index of the other epochs alone, not the job's.
func (n *Node) countOtherEpochs(ctx context.Context, ds *dataset.Dataset, from, to uint64, ex *enclave.Exclusions) error {
	var other uint64
	if from > 0 {
		before, err := n.store.CountContributions(ctx, ds.Desc.GetId(), 0, from-1)
		if err != nil {
			return n.internal("count contributions", err)
		}
		other += before
	}
	if to < math.MaxInt64 {
		after, err := n.store.CountContributions(ctx, ds.Desc.GetId(), to+1, math.MaxInt64)
		if err != nil {
			return n.internal("count contributions", err)
		}
		other += after
	}
	ex.Epoch += other
	return nil
}

// cohortPass selects a job's cohort again and sums it in the same scan,
// for a node that prepared the job with a cohort of m records: each
// record read is checked against the per-record rules at job time and
// counted if eligible with a contributor's minimum ≤ m, its share added
// to sum (nil: nothing is summed) and its id to the set digest as it is
// read. When the digest is the one prepared, the cohort is exactly the
// prepared one — every record in it still eligible at job time and every
// contributor's minimum met — so the node reads each row once per
// ComputePartial and keeps none (docs/design.md §7.6). Any other cohort
// (a record revoked since, or one more eligible) gets another digest: the
// zero digest when its size is not m, which no agreement carries.
func (n *Node) cohortPass(ctx context.Context, ds *dataset.Dataset, jobID string, spec *cohortv1.JobSpec, at time.Time, m uint64,
	sum backend.Sum, coords []int, wb *recordSpooler) (*selected, error) {
	bit, err := purposeBit(ds, spec)
	if err != nil {
		return nil, err
	}
	n.settleBeforeSelect(ctx, ds.Desc.GetId())
	var (
		sl       = enclave.NewSelector(bit, spec.GetEpochFrom(), spec.GetEpochTo(), at)
		h        = enclave.NewSetHasher(jobID, ds.Desc.GetId(), m)
		eligible uint64
		cohort   uint64
		minimum  uint64
	)
	fields := store.ContributionFields(0)
	if sum != nil {
		fields = store.WithShare
	}
	if wb != nil {
		fields |= store.WithProof | store.WithClaimLeaf
	}
	err = n.store.ScanContributions(ctx, ds.Desc.GetId(), spec.GetEpochFrom(), spec.GetEpochTo(), fields, func(c *store.Contribution) error {
		r := recordOf(c)
		ok, err := sl.Eligible(r)
		if err != nil || !ok {
			return err
		}
		eligible++
		if uint64(r.MinCohort) > m {
			minimum++
			return nil
		}
		if cohort++; cohort <= m {
			if err := h.Add(r.Member()); err != nil {
				return err
			}
			if wb != nil {
				if err := wb.add(c); err != nil {
					return fmt.Errorf("record %x…: %w", c.Nullifier[:4], err)
				}
			}
		}
		if sum != nil {
			return sum.Add(c.Share)
		}
		return nil
	})
	if err != nil {
		wb.discard()
		return nil, n.internal("read cohort", err)
	}
	sel := enclave.Selection{Eligible: eligible, Excluded: sl.Excluded()}
	sel.Excluded.ContributorMinimum = minimum
	if err := n.countOtherEpochs(ctx, ds, spec.GetEpochFrom(), spec.GetEpochTo(), &sel.Excluded); err != nil {
		wb.discard()
		return nil, err
	}
	s := &selected{sel: sel, cohort: cohort, from: spec.GetEpochFrom(), to: spec.GetEpochTo(), at: at, ds: ds}
	if d, err := h.Sum(); err == nil && cohort == m {
		s.digest = d
	}
	if sum != nil {
		s.sum, s.coords = sum, coords
	}
	if wb != nil && cohort == m {
		s.witness = wb
	} else {
		wb.discard()
	}
	return s, nil
}

// cohortSum returns s's cohort summed at coords: the sum its selection
// made, or one scan of the stored values, matched against the selected
// records in nullifier order; a record changed or gone since it was
// selected is an error.
func (n *Node) cohortSum(ctx context.Context, be backend.Round, s *selected, coords []int) (backend.Sum, error) {
	if s.sum != nil && slices.Equal(s.coords, coords) {
		return s.sum, nil
	}
	if s.sel.Records == nil && s.cohort > 0 {
		return nil, errors.New("the cohort's records were not kept")
	}
	sum, err := be.NewSum(coords)
	if err != nil {
		return nil, err
	}
	fields := store.WithShare
	var sp *recordSpooler
	if s.spoolRecords && s.records == nil {
		// Without a spool file the transcript reads the rows again.
		if sp, err = n.newRecordSpooler(); err == nil {
			fields |= store.WithProof | store.WithClaimLeaf
		}
	}
	err = n.eachCohortRecord(ctx, s, fields, func(c *store.Contribution) error {
		if sp != nil {
			if err := sp.add(c); err != nil {
				return err
			}
		}
		return sum.Add(c.Share)
	})
	if err != nil {
		sp.discard()
		return nil, err
	}
	if sp != nil {
		if s.records, err = sp.finish(); err != nil {
			return nil, err
		}
	}
	s.sum, s.coords = sum, coords
	return sum, nil
}

// eachCohortRecord calls fn, in nullifier order, with each record of s's
// cohort as stored, reading fields besides its metadata, in one scan of
// the job's epochs. fn's Contribution is valid only during the call.
func (n *Node) eachCohortRecord(ctx context.Context, s *selected, fields store.ContributionFields, fn func(*store.Contribution) error) error {
	recs := s.sel.Records
	k := 0
	err := n.store.ScanContributions(ctx, s.ds.Desc.GetId(), s.from, s.to, fields, func(c *store.Contribution) error {
		if k == len(recs) || c.Nullifier != recs[k].Nullifier {
			return nil // not in the cohort
		}
		if c.PayloadDigest != recs[k].PayloadDigest {
			return fmt.Errorf("record %x… changed since it was selected", c.Nullifier[:4])
		}
		k++
		return fn(c)
	})
	if err != nil {
		return err
	}
	if k != len(recs) {
		return fmt.Errorf("%d of the cohort's %d records are no longer stored", len(recs)-k, len(recs))
	}
	return nil
}

// eligibleSet is the wire form of a selection.
func (s *selected) eligibleSet() *cohortv1.EligibleSet {
	return &cohortv1.EligibleSet{
		Eligible: s.sel.Eligible, Cohort: s.cohort, Digest: s.digest[:], Excluded: s.sel.Excluded.Proto(),
	}
}

// eligible is the round's form of a selection.
func (s *selected) eligible() enclave.EligibleSet {
	return enclave.EligibleSet{Eligible: s.sel.Eligible, Cohort: s.cohort, Digest: s.digest, Excluded: s.sel.Excluded}
}

// peerCheck checks what a coordinator sends with PrepareJob and
// ComputePartial — a valid job id and spec, a READY dataset, a job time
// close to this node's clock — and returns the dataset, how the job is
// released under its policy and the job time.
func (n *Node) peerCheck(ctx context.Context, jobID string, spec *cohortv1.JobSpec, jobTime int64) (*dataset.Dataset, enclave.Privacy, time.Time, error) {
	if !validJobID(jobID) {
		return nil, enclave.Privacy{}, time.Time{}, status.Error(codes.InvalidArgument, "job_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	if spec == nil {
		return nil, enclave.Privacy{}, time.Time{}, status.Error(codes.InvalidArgument, "spec missing")
	}
	ds, err := n.jobDataset(ctx, spec.GetDatasetId())
	if err != nil {
		return nil, enclave.Privacy{}, time.Time{}, err
	}
	if err := enclave.ValidateSpec(spec, ds.Schema, ds.Desc.GetBackend()); err != nil {
		return nil, enclave.Privacy{}, time.Time{}, status.Errorf(codes.InvalidArgument, "spec: %v", err)
	}
	priv, err := jobPrivacy(ds, spec)
	if err != nil {
		return nil, enclave.Privacy{}, time.Time{}, err
	}
	at := time.Unix(jobTime, 0)
	if d := n.now().Sub(at); d > MaxJobClockSkew || d < -MaxJobClockSkew {
		return nil, enclave.Privacy{}, time.Time{}, status.Errorf(codes.FailedPrecondition, "job time %s is more than %s from node %d's clock",
			at.UTC().Format(time.RFC3339), MaxJobClockSkew, n.opts.Index)
	}
	return ds, priv, at, nil
}

// peerSelect checks a coordinator's request (peerCheck) and selects the
// job's cohort from this node's own rows, reading on MPC its values and
// records section in the same scan (selectReading, reads.go).
func (n *Node) peerSelect(ctx context.Context, jobID string, spec *cohortv1.JobSpec, jobTime int64) (*dataset.Dataset, *selected, error) {
	ds, priv, at, err := n.peerCheck(ctx, jobID, spec, jobTime)
	if err != nil {
		return nil, nil, err
	}
	sel, err := n.selectReading(ctx, ds, jobID, spec, at, n.newCohortRead(ds, spec))
	if err != nil {
		return nil, nil, err
	}
	sel.priv = priv
	return ds, sel, nil
}
