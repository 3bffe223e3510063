package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MaxReplicaIDLen bounds a replica id in bytes.
const MaxReplicaIDLen = 64

// JobLease is the hold of one replica of a node on a job it coordinates
// (docs/design.md §3.4): while the lease runs, no other replica sharing the
// store runs or takes over the job.
type JobLease struct {
	JobID string
	// Holder is the replica holding the lease; "" when none ever did or
	// the holder let it go.
	Holder string
	// Expires is when the lease ends unless renewed.
	Expires time.Time
	// Claims counts the claims of the job, this one included: 1 after the
	// first claim of a job never started.
	Claims uint64
}

// JobClaim asks for the lease of a job.
type JobClaim struct {
	JobID  string
	Holder string
	// Now decides expiry: a lease that expires at or before Now is free.
	Now time.Time
	// Until is when the new lease expires; after Now.
	Until time.Time
	// States the job must be in (its active states); 1..MaxJobStateFilter.
	States []int32
}

// Replica is one process serving as this node, as its heartbeat records it.
type Replica struct {
	ID        string
	Version   string
	StartedAt time.Time
	SeenAt    time.Time
}

// checkReplicaID accepts 1..MaxReplicaIDLen bytes of [A-Za-z0-9._-].
func checkReplicaID(id string) error {
	if id == "" || len(id) > MaxReplicaIDLen {
		return fmt.Errorf("%w: replica id must be 1..%d bytes, got %d", ErrInvalid, MaxReplicaIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: replica id has byte %#x at %d, want [A-Za-z0-9._-]", ErrInvalid, c, i)
		}
	}
	return nil
}

// stateList binds states as "$k, $k+1, …" after the args already in args.
func stateList(args []any, states []int32) ([]any, string) {
	in := make([]string, len(states))
	for i, st := range states {
		args = append(args, st)
		in[i] = "$" + strconv.Itoa(len(args))
	}
	return args, strings.Join(in, ", ")
}

func checkStates(states []int32) ([]int32, error) {
	s := distinctStates(states)
	if len(s) == 0 || len(s) > MaxJobStateFilter {
		return nil, fmt.Errorf("%w: %d states, want 1..%d", ErrInvalid, len(s), MaxJobStateFilter)
	}
	return s, nil
}

// ClaimJob is one conditional UPDATE: the lease is taken only if the job
// is in one of c.States and its lease is free, expired at c.Now, or
// c.Holder's own. In PostgreSQL a concurrent claim of the same row waits
// for the row lock and then re-evaluates the condition against the
// committed row, so of two replicas claiming one job only the first gets
// it; in SQLite the write lock orders them.
func (q queries) ClaimJob(ctx context.Context, c JobClaim) (Job, JobLease, error) {
	if checkJobID(c.JobID) != nil {
		return Job{}, JobLease{}, fmt.Errorf("store: claim job: malformed id: %w", ErrNotFound)
	}
	if err := checkReplicaID(c.Holder); err != nil {
		return Job{}, JobLease{}, fmt.Errorf("store: claim job %q: %w", c.JobID, err)
	}
	if !c.Until.After(c.Now) {
		return Job{}, JobLease{}, fmt.Errorf("store: claim job %q: %w: lease ends at or before now", c.JobID, ErrInvalid)
	}
	states, err := checkStates(c.States)
	if err != nil {
		return Job{}, JobLease{}, fmt.Errorf("store: claim job %q: %w", c.JobID, err)
	}
	var (
		j Job
		l JobLease
	)
	err = q.write(ctx, "claim job", func(tx *sql.Tx) error {
		args, in := stateList([]any{c.JobID, c.Holder, micros(c.Until), micros(c.Now)}, states)
		res, err := tx.ExecContext(ctx,
			`UPDATE jobs SET lease_holder = $2, lease_expires_at = $3,
			                 lease_claims = lease_claims + CASE WHEN lease_holder = $2 AND lease_expires_at > $4 THEN 0 ELSE 1 END
			  WHERE id = $1 AND state IN (`+in+`)
			    AND (lease_holder = '' OR lease_holder = $2 OR lease_expires_at <= $4)`, args...)
		if err != nil {
			return fmt.Errorf("store: claim job %q: %w", c.JobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: claim job %q: %w", c.JobID, err)
		}
		row := tx.QueryRowContext(ctx, `SELECT `+jobColumns+` WHERE id = $1`, c.JobID)
		if j, err = scanJob(row); errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: claim job %q: %w", c.JobID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("store: claim job %q: %w", c.JobID, err)
		}
		if l, err = jobLease(ctx, tx, c.JobID); err != nil {
			return fmt.Errorf("store: claim job %q: %w", c.JobID, err)
		}
		if n != 1 {
			return fmt.Errorf("store: claim job %q: state %d, lease held by %q until %s: %w",
				c.JobID, j.State, l.Holder, l.Expires.UTC().Format(time.RFC3339), ErrConflict)
		}
		return nil
	})
	if err != nil {
		return Job{}, JobLease{}, err
	}
	return j, l, nil
}

// jobLease reads a job's lease columns through qr.
func jobLease(ctx context.Context, qr querier, id string) (JobLease, error) {
	var (
		l               JobLease
		expires, claims int64
	)
	err := qr.QueryRowContext(ctx, `SELECT lease_holder, lease_expires_at, lease_claims FROM jobs WHERE id = $1`, id).
		Scan(&l.Holder, &expires, &claims)
	if errors.Is(err, sql.ErrNoRows) {
		return JobLease{}, ErrNotFound
	}
	if err != nil {
		return JobLease{}, err
	}
	if l.Claims, err = unsigned(claims, "lease claims"); err != nil {
		return JobLease{}, err
	}
	l.JobID, l.Expires = id, fromMicros(expires)
	return l, nil
}

// RenewJobLease moves the lease's expiry to until if holder still holds
// it; ErrConflict when another replica took it (or holder let it go),
// ErrNotFound when there is no such job.
func (q queries) RenewJobLease(ctx context.Context, jobID, holder string, until time.Time) error {
	if checkJobID(jobID) != nil {
		return fmt.Errorf("store: renew job lease: malformed id: %w", ErrNotFound)
	}
	if err := checkReplicaID(holder); err != nil {
		return fmt.Errorf("store: renew job lease %q: %w", jobID, err)
	}
	return q.write(ctx, "renew job lease", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET lease_expires_at = $3 WHERE id = $1 AND lease_holder = $2`,
			jobID, holder, micros(until))
		if err != nil {
			return fmt.Errorf("store: renew job lease %q: %w", jobID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: renew job lease %q: %w", jobID, err)
		}
		if n == 1 {
			return nil
		}
		l, err := jobLease(ctx, tx, jobID)
		if err != nil {
			return fmt.Errorf("store: renew job lease %q: %w", jobID, err)
		}
		return fmt.Errorf("store: renew job lease %q: held by %q: %w", jobID, l.Holder, ErrConflict)
	})
}

// GetJobLease returns a job's lease; ErrNotFound when there is no such job.
func (q queries) GetJobLease(ctx context.Context, jobID string) (JobLease, error) {
	if checkJobID(jobID) != nil {
		return JobLease{}, fmt.Errorf("store: get job lease: malformed id: %w", ErrNotFound)
	}
	l, err := jobLease(ctx, q.read(), jobID)
	if err != nil {
		return JobLease{}, fmt.Errorf("store: get job lease %q: %w", jobID, err)
	}
	return l, nil
}

// ClaimableJobs returns up to limit jobs in one of states whose lease is
// free, expired at now or holder's, oldest submission first.
func (q queries) ClaimableJobs(ctx context.Context, holder string, states []int32, now time.Time, limit int) ([]JobLease, error) {
	if err := checkReplicaID(holder); err != nil {
		return nil, fmt.Errorf("store: claimable jobs: %w", err)
	}
	st, err := checkStates(states)
	if err != nil {
		return nil, fmt.Errorf("store: claimable jobs: %w", err)
	}
	args, in := stateList([]any{micros(now), pageSize(limit), holder}, st)
	rows, err := q.read().QueryContext(ctx,
		`SELECT id, lease_holder, lease_expires_at, lease_claims FROM jobs
		  WHERE state IN (`+in+`) AND (lease_holder = '' OR lease_holder = $3 OR lease_expires_at <= $1)
		  ORDER BY submitted_at, id LIMIT $2`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: claimable jobs: %w", err)
	}
	defer rows.Close()
	var out []JobLease
	for rows.Next() {
		var (
			l               JobLease
			expires, claims int64
		)
		if err := rows.Scan(&l.JobID, &l.Holder, &expires, &claims); err != nil {
			return nil, fmt.Errorf("store: claimable jobs: %w", err)
		}
		if l.Claims, err = unsigned(claims, "lease claims"); err != nil {
			return nil, fmt.Errorf("store: claimable jobs: %w", err)
		}
		l.Expires = fromMicros(expires)
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claimable jobs: %w", err)
	}
	return out, nil
}

// PutReplica records a replica's heartbeat: its row is inserted or, when
// the id is known, its version, start and last-seen times replaced.
func (q queries) PutReplica(ctx context.Context, r Replica) error {
	if err := checkReplicaID(r.ID); err != nil {
		return fmt.Errorf("store: put replica: %w", err)
	}
	if len(r.Version) > 64 {
		return fmt.Errorf("store: put replica %q: %w: version of %d bytes, at most 64", r.ID, ErrInvalid, len(r.Version))
	}
	if err := checkText(r.Version, "version"); err != nil {
		return fmt.Errorf("store: put replica %q: %w", r.ID, err)
	}
	return q.write(ctx, "put replica", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO replicas (id, version, started_at, seen_at) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (id) DO UPDATE SET version = excluded.version, started_at = excluded.started_at, seen_at = excluded.seen_at`,
			r.ID, r.Version, micros(r.StartedAt), micros(r.SeenAt)); err != nil {
			return fmt.Errorf("store: put replica %q: %w", r.ID, err)
		}
		return nil
	})
}

// ListReplicas returns up to limit replicas, the most recently seen first.
func (q queries) ListReplicas(ctx context.Context, limit int) ([]Replica, error) {
	rows, err := q.read().QueryContext(ctx,
		`SELECT id, version, started_at, seen_at FROM replicas ORDER BY seen_at DESC, id LIMIT $1`, pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list replicas: %w", err)
	}
	defer rows.Close()
	var out []Replica
	for rows.Next() {
		var (
			r             Replica
			started, seen int64
		)
		if err := rows.Scan(&r.ID, &r.Version, &started, &seen); err != nil {
			return nil, fmt.Errorf("store: list replicas: %w", err)
		}
		r.StartedAt, r.SeenAt = fromMicros(started), fromMicros(seen)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list replicas: %w", err)
	}
	return out, nil
}
