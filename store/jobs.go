package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// checkJobID accepts 1..MaxJobIDLen bytes of [A-Za-z0-9-].
func checkJobID(id string) error {
	if id == "" || len(id) > MaxJobIDLen {
		return fmt.Errorf("%w: job id must be 1..%d bytes, got %d", ErrInvalid, MaxJobIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '-' {
			return fmt.Errorf("%w: job id has byte %#x at %d, want [A-Za-z0-9-]", ErrInvalid, c, i)
		}
	}
	return nil
}

// checkText refuses what a PostgreSQL TEXT column cannot hold (invalid
// UTF-8, NUL), so both engines accept the same strings.
func checkText(s, what string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalid, what)
	}
	return nil
}

// jobCounts are a job's counters converted for binding.
type jobCounts struct {
	eligible, cohort int64
}

// checkMutable validates the columns UpdateJob writes (PutJob writes them
// too).
func checkMutable(j Job) (jobCounts, error) {
	for _, f := range []struct{ v, what string }{
		{j.Reason, "reason"}, {j.Progress, "progress"}, {j.TranscriptID, "transcript id"},
	} {
		if err := checkText(f.v, f.what); err != nil {
			return jobCounts{}, err
		}
	}
	var r jobCounts
	var err error
	if r.eligible, err = signed(j.EligibleRecords, "eligible records"); err != nil {
		return jobCounts{}, err
	}
	if r.cohort, err = signed(j.CohortSize, "cohort size"); err != nil {
		return jobCounts{}, err
	}
	return r, nil
}

// checkJob validates everything PutJob writes.
func checkJob(j Job) (jobCounts, error) {
	if err := checkJobID(j.ID); err != nil {
		return jobCounts{}, err
	}
	if err := checkBuyerID(j.Buyer); err != nil {
		return jobCounts{}, err
	}
	if j.RequestID == "" || len(j.RequestID) > MaxRequestIDLen {
		return jobCounts{}, fmt.Errorf("%w: request id must be 1..%d bytes, got %d", ErrInvalid, MaxRequestIDLen, len(j.RequestID))
	}
	if err := checkText(j.RequestID, "request id"); err != nil {
		return jobCounts{}, err
	}
	if err := checkDatasetID(j.DatasetID); err != nil {
		return jobCounts{}, err
	}
	if err := checkText(j.DatasetID, "dataset id"); err != nil {
		return jobCounts{}, err
	}
	if j.Submission != nil && (len(j.Submission) == 0 || len(j.Submission) > MaxSubmissionBytes) {
		return jobCounts{}, fmt.Errorf("%w: submission of %d bytes, want 1..%d", ErrInvalid, len(j.Submission), MaxSubmissionBytes)
	}
	return checkMutable(j)
}

// nullableBlob binds an optional BLOB: NULL for nil.
func nullableBlob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// jobColumns are read by scanJob.
const jobColumns = `id, buyer, request_id, dataset_id, spec, state, reason, coordinator, eligible_records,
	cohort_size, progress, submitted_at, updated_at, result, evidence, transcript_id, submission FROM jobs`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var (
		j                                  Job
		state, coordinator, eligible, size int64
		submitted, updated                 int64
		result, evidence, submission       sql.Null[[]byte]
	)
	if err := sc.Scan(&j.ID, &j.Buyer, &j.RequestID, &j.DatasetID, &j.Spec, &state, &j.Reason, &coordinator,
		&eligible, &size, &j.Progress, &submitted, &updated, &result, &evidence, &j.TranscriptID, &submission); err != nil {
		return Job{}, err
	}
	if state < math.MinInt32 || state > math.MaxInt32 {
		return Job{}, fmt.Errorf("store: stored job state %d out of range", state)
	}
	j.State = int32(state)
	if coordinator < 0 || coordinator > math.MaxUint32 {
		return Job{}, fmt.Errorf("store: stored coordinator %d out of range", coordinator)
	}
	j.Coordinator = uint32(coordinator)
	var err error
	if j.EligibleRecords, err = unsigned(eligible, "eligible records"); err != nil {
		return Job{}, err
	}
	if j.CohortSize, err = unsigned(size, "cohort size"); err != nil {
		return Job{}, err
	}
	j.SubmittedAt = fromMicros(submitted)
	j.UpdatedAt = fromMicros(updated)
	j.Result = nullBlob(result)
	j.Evidence = nullBlob(evidence)
	if submission.Valid {
		j.Submission = submission.V
	}
	return j, nil
}

// nullBlob reads a nullable BLOB: nil for NULL, non-nil (possibly empty)
// otherwise, so an empty stored value stays distinct from none.
func nullBlob(v sql.Null[[]byte]) []byte {
	if !v.Valid {
		return nil
	}
	if v.V == nil {
		return []byte{}
	}
	return v.V
}

func (q queries) PutJob(ctx context.Context, j Job) (*Job, error) {
	r, err := checkJob(j)
	if err != nil {
		return nil, fmt.Errorf("store: put job: %w", err)
	}
	var existing *Job
	err = q.write(ctx, "put job", func(tx *sql.Tx) error {
		if err := jobDataset(ctx, tx, "put job", j); err != nil {
			return err
		}
		existing, err = insertJob(ctx, tx, "put job", j, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// jobDataset checks, inside tx, that j's dataset exists.
func jobDataset(ctx context.Context, tx *sql.Tx, op string, j Job) error {
	ok, err := datasetExists(ctx, tx, j.DatasetID)
	if err != nil {
		return fmt.Errorf("store: %s %q: %w", op, j.ID, err)
	}
	if !ok {
		return fmt.Errorf("store: %s %q: dataset %q: %w", op, j.ID, j.DatasetID, ErrNotFound)
	}
	return nil
}

// insertJob inserts j inside tx, or returns the buyer's job with
// j.RequestID if there is one; ErrAlreadyExists if j.ID is another job's.
func insertJob(ctx context.Context, tx *sql.Tx, op string, j Job, r jobCounts) (*Job, error) {
	// ON CONFLICT without a target covers both unique keys, the job id
	// and (buyer, request_id); it waits for a concurrent insert of
	// either to commit or roll back, then skips or inserts.
	res, err := tx.ExecContext(ctx,
		`INSERT INTO jobs (id, buyer, request_id, dataset_id, spec, state, reason, coordinator, eligible_records,
		                   cohort_size, progress, submitted_at, updated_at, result, evidence, transcript_id, submission)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
		 ON CONFLICT DO NOTHING`,
		j.ID, j.Buyer, j.RequestID, j.DatasetID, blob(j.Spec), j.State, j.Reason, int64(j.Coordinator),
		r.eligible, r.cohort, j.Progress, micros(j.SubmittedAt), micros(j.UpdatedAt), j.Result, j.Evidence,
		j.TranscriptID, nullableBlob(j.Submission))
	if err != nil {
		return nil, fmt.Errorf("store: %s %q: %w", op, j.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, fmt.Errorf("store: %s %q: %w", op, j.ID, err)
	}
	if n == 1 {
		return nil, nil
	}
	// The request id or the job id is taken; the request id decides
	// first, so a retry that chose a fresh job id still finds its job.
	// In PostgreSQL this statement sees the other transaction's row
	// (READ COMMITTED takes a new snapshot per statement).
	old, err := requestJob(ctx, tx, j)
	if err == nil {
		return &old, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %s %q: read existing: %w", op, j.ID, err)
	}
	return nil, fmt.Errorf("store: %s %q: %w", op, j.ID, ErrAlreadyExists)
}

// requestJob reads, inside tx, the buyer's job with j.RequestID;
// sql.ErrNoRows if there is none.
func requestJob(ctx context.Context, tx *sql.Tx, j Job) (Job, error) {
	return scanJob(tx.QueryRowContext(ctx,
		`SELECT `+jobColumns+` WHERE buyer = $1 AND request_id = $2`, j.Buyer, j.RequestID))
}

// AdmitJob serialises the admissions of one buyer on the buyer's row: in
// PostgreSQL, SELECT … FOR UPDATE makes a concurrent admission of the same
// buyer wait until this transaction ends, and its count, a new snapshot
// taken after the wait (READ COMMITTED), then sees the job inserted here;
// in SQLite the write lock orders them.
func (q queries) AdmitJob(ctx context.Context, j Job, limit JobLimit) (*Job, error) {
	r, err := checkJob(j)
	if err != nil {
		return nil, fmt.Errorf("store: admit job: %w", err)
	}
	if limit.Max < 1 {
		return nil, fmt.Errorf("store: admit job %q: %w: at most %d active jobs, want at least 1", j.ID, ErrInvalid, limit.Max)
	}
	active := distinctStates(limit.Active)
	if len(active) == 0 || len(active) > MaxJobStateFilter {
		return nil, fmt.Errorf("store: admit job %q: %w: %d active states, want 1..%d", j.ID, ErrInvalid, len(active), MaxJobStateFilter)
	}
	var existing *Job
	err = q.write(ctx, "admit job", func(tx *sql.Tx) error {
		if err := jobDataset(ctx, tx, "admit job", j); err != nil {
			return err
		}
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM buyers WHERE id = $1`+q.s.d.forUpdate, j.Buyer).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: admit job %q: buyer %q: %w", j.ID, j.Buyer, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: admit job %q: lock buyer: %w", j.ID, err)
		}
		// A request admitted before is answered whatever the count.
		old, err := requestJob(ctx, tx, j)
		if err == nil {
			existing = &old
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: admit job %q: read existing: %w", j.ID, err)
		}
		args := []any{j.Buyer}
		in := make([]string, len(active))
		for i, st := range active {
			args = append(args, st)
			in[i] = "$" + strconv.Itoa(len(args))
		}
		var n int64
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM jobs WHERE buyer = $1 AND state IN (`+strings.Join(in, ", ")+`)`, args...).
			Scan(&n); err != nil {
			return fmt.Errorf("store: admit job %q: count active jobs: %w", j.ID, err)
		}
		if n >= int64(limit.Max) {
			return fmt.Errorf("store: admit job %q: buyer %q has %d active jobs, at most %d: %w", j.ID, j.Buyer, n, limit.Max, ErrLimit)
		}
		existing, err = insertJob(ctx, tx, "admit job", j, r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

// distinctStates returns states sorted, without repeats.
func distinctStates(states []int32) []int32 {
	out := slices.Clone(states)
	slices.Sort(out)
	return slices.Compact(out)
}

func (q queries) GetJob(ctx context.Context, id string) (Job, error) {
	if checkJobID(id) != nil {
		// No such job can have been put.
		return Job{}, fmt.Errorf("store: get job: malformed id: %w", ErrNotFound)
	}
	j, err := scanJob(q.read().QueryRowContext(ctx, `SELECT `+jobColumns+` WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("store: get job %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("store: get job %q: %w", id, err)
	}
	return j, nil
}

// UpdateJob is one conditional UPDATE: in PostgreSQL a concurrent writer
// of the same row waits for the row lock and then re-evaluates the state
// condition against the committed row, so of two updates from one state
// only the first applies; in SQLite the write lock orders them.
func (q queries) UpdateJob(ctx context.Context, j Job, from int32) error {
	if checkJobID(j.ID) != nil {
		return fmt.Errorf("store: update job: malformed id: %w", ErrNotFound)
	}
	r, err := checkMutable(j)
	if err != nil {
		return fmt.Errorf("store: update job %q: %w", j.ID, err)
	}
	return q.write(ctx, "update job", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE jobs SET state = $3, reason = $4, eligible_records = $5, cohort_size = $6, progress = $7,
			                 updated_at = $8, result = $9, evidence = $10, transcript_id = $11
			  WHERE id = $1 AND state = $2`,
			j.ID, from, j.State, j.Reason, r.eligible, r.cohort, j.Progress, micros(j.UpdatedAt),
			j.Result, j.Evidence, j.TranscriptID)
		if err != nil {
			return fmt.Errorf("store: update job %q: %w", j.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: update job %q: %w", j.ID, err)
		}
		if n == 1 {
			return nil
		}
		var state int64
		err = tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = $1`, j.ID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: update job %q: %w", j.ID, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: update job %q: %w", j.ID, err)
		}
		return fmt.Errorf("store: update job %q: state is %d, not %d: %w", j.ID, state, from, ErrConflict)
	})
}

// A page token of jobs (and of transcripts) is the base64url (unpadded)
// encoding of the last listed row's time, as big-endian Unix microseconds,
// then its id.
var jobTokenEncoding = base64.RawURLEncoding

func encodeJobToken(j Job) string { return encodeTimeIDToken(j.SubmittedAt, j.ID) }

func encodeTimeIDToken(t time.Time, id string) string {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(id)), uint64(micros(t)))
	return jobTokenEncoding.EncodeToString(append(b, id...))
}

func decodeJobToken(token string) (submitted int64, id string, err error) {
	if len(token) > jobTokenEncoding.EncodedLen(8+MaxJobIDLen) {
		return 0, "", fmt.Errorf("%w: page token too long", ErrInvalid)
	}
	b, err := jobTokenEncoding.DecodeString(token)
	if err != nil {
		return 0, "", fmt.Errorf("%w: page token is not base64url", ErrInvalid)
	}
	if len(b) < 8+1 {
		return 0, "", fmt.Errorf("%w: page token too short", ErrInvalid)
	}
	id = string(b[8:])
	if err := checkJobID(id); err != nil {
		return 0, "", fmt.Errorf("page token: %w", err)
	}
	return int64(binary.BigEndian.Uint64(b[:8])), id, nil
}

// ListJobs pages by (submitted_at, id) descending: the token names the last
// job listed, and the next page starts strictly below it, so jobs inserted
// meanwhile neither repeat nor shift a page.
func (q queries) ListJobs(ctx context.Context, f JobFilter, pageToken string, limit int) ([]Job, string, error) {
	states := distinctStates(f.States)
	if len(states) > MaxJobStateFilter {
		return nil, "", fmt.Errorf("store: list jobs: %w: %d states in the filter, at most %d", ErrInvalid, len(states), MaxJobStateFilter)
	}
	if err := checkText(f.Buyer, "buyer filter"); err != nil {
		return nil, "", fmt.Errorf("store: list jobs: %w", err)
	}
	if err := checkText(f.DatasetID, "dataset filter"); err != nil {
		return nil, "", fmt.Errorf("store: list jobs: %w", err)
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if pageToken != "" {
		submitted, id, err := decodeJobToken(pageToken)
		if err != nil {
			return nil, "", fmt.Errorf("store: list jobs: %w", err)
		}
		where = append(where, "(submitted_at, id) < ("+arg(submitted)+", "+arg(id)+")")
	}
	if f.Buyer != "" {
		where = append(where, "buyer = "+arg(f.Buyer))
	}
	if f.DatasetID != "" {
		where = append(where, "dataset_id = "+arg(f.DatasetID))
	}
	if len(states) > 0 {
		in := make([]string, len(states))
		for i, st := range states {
			in[i] = arg(st)
		}
		where = append(where, "state IN ("+strings.Join(in, ", ")+")")
	}
	query := `SELECT ` + jobColumns
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	n := pageSize(limit)
	// One row more than asked tells whether there is a next page.
	query += ` ORDER BY submitted_at DESC, id DESC LIMIT ` + arg(n+1)

	rows, err := q.read().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("store: list jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, "", fmt.Errorf("store: list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("store: list jobs: %w", err)
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		next = encodeJobToken(out[n-1])
	}
	return out, next, nil
}

func (q queries) PutJobNotice(ctx context.Context, n JobNotice) error {
	if err := checkJobID(n.JobID); err != nil {
		return fmt.Errorf("store: put job notice: %w", err)
	}
	if n.State < 1 {
		return fmt.Errorf("store: put job notice: %w: state %d", ErrInvalid, n.State)
	}
	return q.write(ctx, "put job notice", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO job_notices (job_id, peer, state, created_at) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (job_id, peer) DO NOTHING`,
			n.JobID, int64(n.Peer), n.State, micros(n.CreatedAt)); err != nil {
			return fmt.Errorf("store: put job notice: %w", err)
		}
		return nil
	})
}

func (q queries) ListJobNotices(ctx context.Context, limit int) ([]JobNotice, error) {
	rows, err := q.read().QueryContext(ctx,
		`SELECT job_id, peer, state, created_at FROM job_notices ORDER BY created_at, job_id, peer LIMIT $1`, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list job notices: %w", err)
	}
	defer rows.Close()
	var out []JobNotice
	for rows.Next() {
		var (
			n        JobNotice
			peer, at int64
		)
		if err := rows.Scan(&n.JobID, &peer, &n.State, &at); err != nil {
			return nil, fmt.Errorf("store: list job notices: %w", err)
		}
		if peer < 0 || peer > 1<<32-1 {
			return nil, fmt.Errorf("store: list job notices: stored peer %d out of range", peer)
		}
		n.Peer, n.CreatedAt = uint32(peer), fromMicros(at)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list job notices: %w", err)
	}
	return out, nil
}

func (q queries) DeleteJobNotice(ctx context.Context, jobID string, peer uint32) error {
	return q.write(ctx, "delete job notice", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM job_notices WHERE job_id = $1 AND peer = $2`, jobID, int64(peer)); err != nil {
			return fmt.Errorf("store: delete job notice: %w", err)
		}
		return nil
	})
}
