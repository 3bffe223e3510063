package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// PeerJobState is the state of a job as a peer records it.
type PeerJobState int32

// Peer job states. The zero value is no state.
const (
	// PeerJobPrepared: the peer checked the job and fixed the contribution
	// set it computes over; it has released nothing yet.
	PeerJobPrepared PeerJobState = 1
	// PeerJobPartialReleased: the peer released its partial (kept in
	// PeerJob.Partial) and answers a repeated request with the same bytes.
	PeerJobPartialReleased PeerJobState = 2
	// PeerJobAborted: the job was aborted; the peer releases nothing more
	// for it.
	PeerJobAborted PeerJobState = 3
)

// Valid reports whether s is one of the peer job states.
func (s PeerJobState) Valid() bool {
	return s == PeerJobPrepared || s == PeerJobPartialReleased || s == PeerJobAborted
}

func (s PeerJobState) String() string {
	switch s {
	case PeerJobPrepared:
		return "PREPARED"
	case PeerJobPartialReleased:
		return "PARTIAL_RELEASED"
	case PeerJobAborted:
		return "ABORTED"
	default:
		return fmt.Sprintf("PeerJobState(%d)", int32(s))
	}
}

// CanMoveTo reports whether a peer job may move from s to next: a prepared
// job is prepared again (the coordinator retries while the nodes' sets
// settle), releases its partial or is aborted, a released one may be
// aborted, and an aborted one stays so. No other state moves to itself.
func (s PeerJobState) CanMoveTo(next PeerJobState) bool {
	switch s {
	case PeerJobPrepared:
		return next == PeerJobPrepared || next == PeerJobPartialReleased || next == PeerJobAborted
	case PeerJobPartialReleased:
		return next == PeerJobAborted
	default:
		return false
	}
}

// MaxPeerJobNoise bounds PeerJob.Noise, in bytes.
const MaxPeerJobNoise = 1 << 20

// PeerJob is what a peer node records about a job another node coordinates:
// what it agreed to compute over, what it is charged to, and what it
// released. Partial is nil while the job is prepared, non-empty once
// released, and kept (or nil, if nothing was released) when aborted; an
// empty Partial, or Noise, is read as nil.
type PeerJob struct {
	JobID       string // 1..MaxJobIDLen bytes of [A-Za-z0-9-], as Job.ID
	Coordinator uint32 // the coordinating node's index
	DatasetID   string // must exist in datasets
	SpecDigest  [32]byte
	JobTime     time.Time
	SetDigest   [32]byte // digest of the contribution set the peer computes over
	Cohort      uint64   // at most math.MaxInt64
	State       PeerJobState
	Partial     []byte // the encoded partial released, nil before
	// Buyer is the buyer the job is charged to (see Buyer.ID), "" for an
	// exact release.
	Buyer string
	// Noise is this node's noise drawn for the job, opaque, at most
	// MaxPeerJobNoise bytes.
	Noise     []byte
	CreatedAt time.Time
	UpdatedAt time.Time
}

// checkPeerPartial checks that p.Partial fits p.State.
func checkPeerPartial(p PeerJob) error {
	if !p.State.Valid() {
		return fmt.Errorf("%w: peer job state %d is none of 1..3", ErrInvalid, int32(p.State))
	}
	switch {
	case p.State == PeerJobPrepared && len(p.Partial) != 0:
		return fmt.Errorf("%w: a %s peer job has no partial yet", ErrInvalid, p.State)
	case p.State == PeerJobPartialReleased && len(p.Partial) == 0:
		return fmt.Errorf("%w: a %s peer job needs its partial", ErrInvalid, p.State)
	}
	return nil
}

// checkPeerCharge checks the buyer and the noise of p.
func checkPeerCharge(p PeerJob) error {
	if p.Buyer != "" {
		if err := checkBuyerID(p.Buyer); err != nil {
			return err
		}
	}
	if len(p.Noise) > MaxPeerJobNoise {
		return fmt.Errorf("%w: noise of %d bytes, at most %d", ErrInvalid, len(p.Noise), MaxPeerJobNoise)
	}
	return nil
}

// checkPeerJob validates everything PutPeerJob writes and returns the cohort
// for binding.
func checkPeerJob(p PeerJob) (int64, error) {
	if err := checkJobID(p.JobID); err != nil {
		return 0, err
	}
	if err := checkDatasetID(p.DatasetID); err != nil {
		return 0, err
	}
	if err := checkText(p.DatasetID, "dataset id"); err != nil {
		return 0, err
	}
	if p.SpecDigest == ([32]byte{}) {
		return 0, fmt.Errorf("%w: zero spec digest", ErrInvalid)
	}
	if p.SetDigest == ([32]byte{}) {
		return 0, fmt.Errorf("%w: zero set digest", ErrInvalid)
	}
	if err := checkPeerPartial(p); err != nil {
		return 0, err
	}
	if err := checkPeerCharge(p); err != nil {
		return 0, err
	}
	return signed(p.Cohort, "cohort")
}

// nonEmpty maps an empty blob to nil, bound as NULL.
func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

const peerJobColumns = `job_id, coordinator, dataset_id, spec_digest, job_time, set_digest, cohort, state, partial,
	buyer, noise, created_at, updated_at FROM peer_jobs`

func scanPeerJob(sc interface{ Scan(...any) error }) (PeerJob, error) {
	var (
		p                          PeerJob
		coordinator, cohort, state int64
		jobTime, created, updated  int64
		specDigest, setDigest      []byte
		partial, noise             sql.Null[[]byte]
	)
	if err := sc.Scan(&p.JobID, &coordinator, &p.DatasetID, &specDigest, &jobTime, &setDigest, &cohort, &state,
		&partial, &p.Buyer, &noise, &created, &updated); err != nil {
		return PeerJob{}, err
	}
	if coordinator < 0 || coordinator > math.MaxUint32 {
		return PeerJob{}, fmt.Errorf("store: stored coordinator %d out of range", coordinator)
	}
	p.Coordinator = uint32(coordinator)
	if state < math.MinInt32 || state > math.MaxInt32 {
		return PeerJob{}, fmt.Errorf("store: stored peer job state %d out of range", state)
	}
	p.State = PeerJobState(state)
	var err error
	if p.SpecDigest, err = bytes32(specDigest, "spec digest"); err != nil {
		return PeerJob{}, err
	}
	if p.SetDigest, err = bytes32(setDigest, "set digest"); err != nil {
		return PeerJob{}, err
	}
	if p.Cohort, err = unsigned(cohort, "cohort"); err != nil {
		return PeerJob{}, err
	}
	p.Partial = nonEmpty(partial.V)
	p.Noise = nonEmpty(noise.V)
	p.JobTime, p.CreatedAt, p.UpdatedAt = fromMicros(jobTime), fromMicros(created), fromMicros(updated)
	return p, nil
}

func (q queries) PutPeerJob(ctx context.Context, p PeerJob) (*PeerJob, error) {
	cohort, err := checkPeerJob(p)
	if err != nil {
		return nil, fmt.Errorf("store: put peer job: %w", err)
	}
	var existing *PeerJob
	err = q.write(ctx, "put peer job", func(tx *sql.Tx) error {
		ok, err := datasetExists(ctx, tx, p.DatasetID)
		if err != nil {
			return fmt.Errorf("store: put peer job %q: %w", p.JobID, err)
		}
		if !ok {
			return fmt.Errorf("store: put peer job %q: dataset %q: %w", p.JobID, p.DatasetID, ErrNotFound)
		}
		// ON CONFLICT waits for a concurrent insert of the same job id to
		// commit or roll back, then skips or inserts.
		res, err := tx.ExecContext(ctx,
			`INSERT INTO peer_jobs (job_id, coordinator, dataset_id, spec_digest, job_time, set_digest, cohort, state,
			                        partial, buyer, noise, created_at, updated_at)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
			 ON CONFLICT (job_id) DO NOTHING`,
			p.JobID, int64(p.Coordinator), p.DatasetID, p.SpecDigest[:], micros(p.JobTime), p.SetDigest[:], cohort,
			int32(p.State), nonEmpty(p.Partial), p.Buyer, nonEmpty(p.Noise), micros(p.CreatedAt), micros(p.UpdatedAt))
		if err != nil {
			return fmt.Errorf("store: put peer job %q: %w", p.JobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: put peer job %q: %w", p.JobID, err)
		}
		if n == 1 {
			return nil
		}
		// Peer jobs are never deleted, so the row that took the id is there
		// (READ COMMITTED: this statement sees it once committed).
		old, err := scanPeerJob(tx.QueryRowContext(ctx, `SELECT `+peerJobColumns+` WHERE job_id = $1`, p.JobID))
		if err != nil {
			return fmt.Errorf("store: put peer job %q: read existing: %w", p.JobID, err)
		}
		existing = &old
		return nil
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

func (q queries) GetPeerJob(ctx context.Context, jobID string) (PeerJob, error) {
	if err := checkJobID(jobID); err != nil {
		return PeerJob{}, fmt.Errorf("store: get peer job: %w", err)
	}
	p, err := scanPeerJob(q.read().QueryRowContext(ctx, `SELECT `+peerJobColumns+` WHERE job_id = $1`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return PeerJob{}, fmt.Errorf("store: get peer job %q: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return PeerJob{}, fmt.Errorf("store: get peer job %q: %w", jobID, err)
	}
	return p, nil
}

// UpdatePeerJob is one conditional UPDATE, atomic on both engines as
// UpdateJob's.
func (q queries) UpdatePeerJob(ctx context.Context, p PeerJob, from PeerJobState) error {
	if err := checkJobID(p.JobID); err != nil {
		return fmt.Errorf("store: update peer job: %w", err)
	}
	if err := checkPeerPartial(p); err != nil {
		return fmt.Errorf("store: update peer job %q: %w", p.JobID, err)
	}
	if err := checkPeerCharge(p); err != nil {
		return fmt.Errorf("store: update peer job %q: %w", p.JobID, err)
	}
	if !from.CanMoveTo(p.State) {
		return fmt.Errorf("store: update peer job %q: %w: no move from %s to %s", p.JobID, ErrInvalid, from, p.State)
	}
	return q.write(ctx, "update peer job", func(tx *sql.Tx) error {
		var (
			res sql.Result
			err error
		)
		if from == PeerJobPrepared && p.State == PeerJobPrepared {
			// Prepared again: the set, its size, the job time, the buyer and
			// the noise change.
			if p.SetDigest == ([32]byte{}) || p.Cohort > math.MaxInt64 {
				return fmt.Errorf("store: update peer job %q: %w: a zero set digest or a cohort above 2^63-1", p.JobID, ErrInvalid)
			}
			res, err = tx.ExecContext(ctx,
				`UPDATE peer_jobs SET set_digest = $3, cohort = $4, job_time = $5, buyer = $6, noise = $7, updated_at = $8
				  WHERE job_id = $1 AND state = $2`,
				p.JobID, int32(from), p.SetDigest[:], int64(p.Cohort), micros(p.JobTime), p.Buyer, nonEmpty(p.Noise),
				micros(p.UpdatedAt))
		} else {
			res, err = tx.ExecContext(ctx,
				`UPDATE peer_jobs SET state = $3, partial = $4, buyer = $5, noise = $6, updated_at = $7
				  WHERE job_id = $1 AND state = $2`,
				p.JobID, int32(from), int32(p.State), nonEmpty(p.Partial), p.Buyer, nonEmpty(p.Noise), micros(p.UpdatedAt))
		}
		if err != nil {
			return fmt.Errorf("store: update peer job %q: %w", p.JobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: update peer job %q: %w", p.JobID, err)
		}
		if n == 1 {
			return nil
		}
		var state int64
		err = tx.QueryRowContext(ctx, `SELECT state FROM peer_jobs WHERE job_id = $1`, p.JobID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: update peer job %q: %w", p.JobID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: update peer job %q: %w", p.JobID, err)
		}
		return fmt.Errorf("store: update peer job %q: state is %s, not %s: %w",
			p.JobID, PeerJobState(state), from, ErrConflict)
	})
}
