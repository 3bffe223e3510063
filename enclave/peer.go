package enclave

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A node's side of a job round (docs/design.md §6.4). Every node — the
// coordinator's own included — answers the coordinator's messages through
// these rules, on a record it keeps durably per job id: the runtime reads
// the record, applies a rule, persists the returned record and only then
// answers (persist before send). The rules do no I/O.

// Sentinel errors of the peer rules; each refusal wraps exactly one.
var (
	// ErrNotPrepared: a partial asked for a job this node never prepared.
	ErrNotPrepared = errors.New("enclave: job not prepared on this node")
	// ErrOtherJob: the job id was prepared for another coordinator,
	// dataset or spec.
	ErrOtherJob = errors.New("enclave: job id prepared for another job")
	// ErrOtherCohort: this node selects, or prepared, another cohort than
	// the agreed one.
	ErrOtherCohort = errors.New("enclave: another cohort than the agreed one")
	// ErrBelowMinimum: the cohort is below the job's effective minimum.
	ErrBelowMinimum = errors.New("enclave: cohort below the job's minimum")
	// ErrAboveMaximum: the cohort is above the dataset's max_cohort, the
	// bound its sums were sized for.
	ErrAboveMaximum = errors.New("enclave: cohort above the dataset's maximum")
	// ErrReleased: this node already released a different partial, or
	// prepared another cohort after releasing one, for the job.
	ErrReleased = errors.New("enclave: partial already released for the job")
	// ErrAborted: the job's coordinator ended the job without a release;
	// this node releases nothing more for it.
	ErrAborted = errors.New("enclave: job aborted")
)

// Refusal is a peer rule's refusal: its message is meant for the caller
// as is, and it wraps one of the sentinels above.
type Refusal struct {
	err error
	msg string
}

func (r *Refusal) Error() string { return r.msg }
func (r *Refusal) Unwrap() error { return r.err }

func refuse(sentinel error, format string, args ...any) error {
	return &Refusal{err: sentinel, msg: fmt.Sprintf(format, args...)}
}

// PeerState is where a node stands in a job's round.
type PeerState int32

const (
	// PeerPrepared: the node selected the cohort and signed its digest.
	PeerPrepared PeerState = 1
	// PeerReleased: the node released its partial; it never releases
	// another for the job.
	PeerReleased PeerState = 2
	// PeerAborted: the coordinator ended the job without a release
	// (docs/design.md §6.8); the node releases nothing more for it.
	PeerAborted PeerState = 3
)

// PeerRecord is what a node keeps durably about a job round it takes part
// in.
type PeerRecord struct {
	JobID       string
	Coordinator uint32
	DatasetID   string
	SpecDigest  [32]byte
	JobTime     time.Time
	SetDigest   [32]byte
	Cohort      uint64
	State       PeerState
	Partial     []byte // the partial released, nil before
	// Buyer is the buyer the job is charged to; Noise this node's noise
	// for it (EncodeNoise), drawn before the round and kept so that a
	// retried round reuses it: a node draws its noise once per job.
	Buyer string
	Noise []byte
}

// PeerPrepare is the rule for MsgPrepare: given the stored record (nil if
// none) and the cohort this node just selected for the job, the record to
// persist before answering with the signed set. A coordinator retrying the
// agreement re-prepares (the set may have settled); once the partial is
// released the cohort cannot change.
func PeerPrepare(rec *PeerRecord, job RoundJob, coordinator uint32, set EligibleSet) (PeerRecord, error) {
	if rec == nil {
		return PeerRecord{JobID: job.ID, Coordinator: coordinator, DatasetID: job.DatasetID, SpecDigest: job.SpecDigest,
			JobTime: job.Time, SetDigest: set.Digest, Cohort: set.Cohort, State: PeerPrepared, Buyer: job.Buyer}, nil
	}
	if err := sameJob(rec, job, coordinator); err != nil {
		return PeerRecord{}, err
	}
	next := *rec
	switch rec.State {
	case PeerPrepared:
		next.SetDigest, next.Cohort, next.JobTime = set.Digest, set.Cohort, job.Time
		return next, nil
	case PeerReleased:
		if set.Digest != rec.SetDigest {
			return PeerRecord{}, refuse(ErrReleased, "job %s was released over another cohort", job.ID)
		}
		return next, nil
	case PeerAborted:
		return PeerRecord{}, refuse(ErrAborted, "job %s was aborted by its coordinator", job.ID)
	}
	return PeerRecord{}, fmt.Errorf("enclave: job %s: peer state %d releases nothing", job.ID, rec.State)
}

// PeerPartial is the rule for MsgPartial before the partial is computed:
// the job was prepared here for the same coordinator and spec, the cohort
// this node selects now is the agreed one and the one it prepared, and it
// meets the job's minimum and the dataset's maximum.
func PeerPartial(rec *PeerRecord, job RoundJob, coordinator uint32, agreed [32]byte, set EligibleSet, minCohort, maxCohort uint64, self uint32) error {
	if set.Digest != agreed {
		return refuse(ErrOtherCohort, "node %d selects another cohort (%d records) than the agreed digest", self, set.Cohort)
	}
	if rec == nil {
		return refuse(ErrNotPrepared, "node %d did not prepare job %s", self, job.ID)
	}
	if err := sameJob(rec, job, coordinator); err != nil {
		return err
	}
	if rec.State == PeerAborted {
		return refuse(ErrAborted, "job %s was aborted by its coordinator", job.ID)
	}
	if rec.SetDigest != agreed {
		return refuse(ErrOtherCohort, "node %d prepared another cohort than the agreed digest for job %s", self, job.ID)
	}
	if set.Cohort < minCohort {
		return refuse(ErrBelowMinimum, "cohort of %d records is below the job's minimum of %d", set.Cohort, minCohort)
	}
	if set.Cohort > maxCohort {
		return refuse(ErrAboveMaximum, "cohort of %d records is above the dataset's maximum of %d", set.Cohort, maxCohort)
	}
	return nil
}

// PeerRelease is the rule once the partial is computed: the record to
// persist before the partial is answered. A node answers the same partial
// again for the same request; it refuses to release a different one.
func PeerRelease(rec PeerRecord, partial []byte) (PeerRecord, error) {
	if rec.State == PeerAborted {
		return PeerRecord{}, refuse(ErrAborted, "job %s was aborted by its coordinator", rec.JobID)
	}
	if rec.State == PeerReleased && !bytes.Equal(rec.Partial, partial) {
		return PeerRecord{}, refuse(ErrReleased, "a different partial was already released for job %s; a node releases one partial per job", rec.JobID)
	}
	rec.State, rec.Partial = PeerReleased, bytes.Clone(partial)
	return rec, nil
}

// PeerRepeat is the rule for MsgPartial on a job whose partial this node
// already released (after PeerPartial passed): the stored partial is
// answered again, never recomputed — a mechanism's noise is drawn once —
// if it was released to the same partial set; any other set is refused.
func PeerRepeat(rec PeerRecord, released, asked []uint32, self uint32) ([]byte, error) {
	if rec.State != PeerReleased {
		return nil, fmt.Errorf("enclave: job %s: nothing released to repeat", rec.JobID)
	}
	if !slices.Equal(released, asked) {
		return nil, refuse(ErrReleased, "node %d released its partial of job %s to the nodes %v; it gives none for another set (%v)",
			self, rec.JobID, released, asked)
	}
	return bytes.Clone(rec.Partial), nil
}

// sameJob checks that a request is for the job the record was prepared
// for — the same dataset and spec — and comes from the node that prepared
// it: a job id belongs to its coordinator, and no other node may ask for
// its partial or prepare it again.
// PeerAbort is the rule for an abort: only the job's coordinator ends it;
// the record is aborted, whatever it released (an abort repeated is
// answered again).
func PeerAbort(rec PeerRecord, coordinator uint32) (PeerRecord, error) {
	if rec.Coordinator != coordinator {
		return PeerRecord{}, refuse(ErrOtherJob, "job %s was prepared by node %d, not node %d", rec.JobID, rec.Coordinator, coordinator)
	}
	rec.State = PeerAborted
	return rec, nil
}

func sameJob(rec *PeerRecord, job RoundJob, coordinator uint32) error {
	if rec.JobID != job.ID || rec.DatasetID != job.DatasetID || rec.SpecDigest != job.SpecDigest {
		return refuse(ErrOtherJob, "job %s was prepared on dataset %q with another spec", job.ID, rec.DatasetID)
	}
	if rec.Coordinator != coordinator {
		return refuse(ErrOtherJob, "job %s was prepared by node %d, not node %d", job.ID, rec.Coordinator, coordinator)
	}
	if rec.Buyer != job.Buyer {
		return refuse(ErrOtherJob, "job %s was prepared for another buyer", job.ID)
	}
	return nil
}
