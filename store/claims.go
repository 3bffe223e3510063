package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Reward claims (docs/design.md §6.8): the claim circuit's keys, one per
// federation; each released job's reward; every claim nullifier used; and
// the payout accounts the claims credited. A claim locks its job's reward
// row, then its payout row (SELECT … FOR UPDATE in PostgreSQL; SQLite's
// write lock), so concurrent claims never lose a credit nor exceed a
// job's counted records.

// ClaimKeys are the claim circuit's Groth16 keys, as package circuits/setup
// encodes them, and how they were made (setup.SetupKind: 1 ceremony, 2
// insecure development setup). Keys of a ceremony come with its record
// (Ceremony: a cohort.v1.ClaimCeremony's encoding, signed by every node)
// and its transcript, stored with them in one transaction; development
// keys have neither. GetClaimKeys returns the record, never the
// transcript (GetClaimTranscript).
type ClaimKeys struct {
	SetupKind    uint8
	ProvingKey   []byte
	VerifyingKey []byte
	Ceremony     []byte
	Transcript   []byte
	CreatedAt    time.Time
}

// JobReward is what a released job pays per claim: Reward micro-credits to
// each of at most Counted claims proved against ClaimRoot, the root of its
// nullifier tree. Claims counts those made.
type JobReward struct {
	JobID      string // as Job.ID
	DatasetID  string // a stored dataset
	ClaimRoot  [32]byte
	Reward     uint64 // 0..MaxAmount
	Counted    uint64 // the job's released cohort
	Claims     uint64
	RecordedAt time.Time
}

// Claim is one reward claim: the claim nullifier, used once in all, the job
// it claimed and the payout key credited Amount, with the claim's proof
// (empty for a claim recorded before proofs were kept).
type Claim struct {
	Nullifier [32]byte
	JobID     string
	PayoutKey [32]byte
	Amount    uint64
	Proof     []byte
	ClaimedAt time.Time
}

// Payout is a payout account: what its key was credited in all and by how
// many claims, and what it transferred to buyers' balances
// (Transferred ≤ Credited).
type Payout struct {
	Key         [32]byte
	Credited    uint64
	Claims      uint64
	Transferred uint64
}

// Balance is what the account holds: Credited - Transferred.
func (p Payout) Balance() uint64 { return p.Credited - p.Transferred }

func (q queries) PutClaimKeys(ctx context.Context, k ClaimKeys) error {
	if k.SetupKind < 1 || k.SetupKind > 2 || len(k.ProvingKey) == 0 || len(k.VerifyingKey) == 0 {
		return fmt.Errorf("store: put claim keys: %w: setup kind %d, %d-byte proving key, %d-byte verifying key",
			ErrInvalid, k.SetupKind, len(k.ProvingKey), len(k.VerifyingKey))
	}
	if ceremony := k.SetupKind == 1; ceremony != (len(k.Ceremony) > 0) || ceremony != (len(k.Transcript) > 0) {
		return fmt.Errorf("store: put claim keys: %w: setup kind %d with a %d-byte ceremony record and a %d-byte transcript (a ceremony's keys need both, a development setup's neither)",
			ErrInvalid, k.SetupKind, len(k.Ceremony), len(k.Transcript))
	}
	return q.write(ctx, "put claim keys", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO claim_keys (id, setup_kind, proving_key, verifying_key, created_at) VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
			int64(k.SetupKind), k.ProvingKey, k.VerifyingKey, micros(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("store: put claim keys: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put claim keys: %w", err)
		} else if n == 1 {
			if len(k.Ceremony) == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO claim_ceremony (id, record, transcript) VALUES (1, $1, $2)`, k.Ceremony, k.Transcript); err != nil {
				return fmt.Errorf("store: put claim keys: ceremony: %w", err)
			}
			return nil
		}
		var vk []byte
		if err := tx.QueryRowContext(ctx, `SELECT verifying_key FROM claim_keys WHERE id = 1`).Scan(&vk); err != nil {
			return fmt.Errorf("store: put claim keys: read existing: %w", err)
		}
		if !bytes.Equal(vk, k.VerifyingKey) {
			return fmt.Errorf("store: put claim keys: the federation has other claim keys: %w", ErrAlreadyExists)
		}
		return nil
	})
}

func (q queries) GetClaimKeys(ctx context.Context, withProvingKey bool) (ClaimKeys, error) {
	var (
		k       ClaimKeys
		kind    int64
		created int64
	)
	cols := `k.setup_kind, k.verifying_key, k.created_at, x'', c.record`
	if withProvingKey {
		cols = `k.setup_kind, k.verifying_key, k.created_at, k.proving_key, c.record`
	}
	err := q.read().QueryRowContext(ctx, `SELECT `+cols+` FROM claim_keys k LEFT JOIN claim_ceremony c ON c.id = k.id WHERE k.id = 1`).
		Scan(&kind, &k.VerifyingKey, &created, &k.ProvingKey, &k.Ceremony)
	if errors.Is(err, sql.ErrNoRows) {
		return ClaimKeys{}, fmt.Errorf("store: claim keys: %w", ErrNotFound)
	}
	if err != nil {
		return ClaimKeys{}, fmt.Errorf("store: claim keys: %w", err)
	}
	if !withProvingKey {
		k.ProvingKey = nil
	}
	k.SetupKind, k.CreatedAt = uint8(kind), fromMicros(created)
	return k, nil
}

func (q queries) GetClaimTranscript(ctx context.Context) ([]byte, error) {
	var t []byte
	err := q.read().QueryRowContext(ctx, `SELECT transcript FROM claim_ceremony WHERE id = 1`).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: claim ceremony transcript: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim ceremony transcript: %w", err)
	}
	return t, nil
}

func (q queries) PutJobReward(ctx context.Context, r JobReward) error {
	if err := checkJobID(r.JobID); err != nil {
		return fmt.Errorf("store: put job reward: %w", err)
	}
	if err := checkDatasetID(r.DatasetID); err != nil {
		return fmt.Errorf("store: put job reward: %w", err)
	}
	if r.Reward > MaxAmount {
		return fmt.Errorf("store: put job reward %q: %w: reward %d above %d", r.JobID, ErrInvalid, r.Reward, MaxAmount)
	}
	counted, err := signed(r.Counted, "counted records")
	if err != nil {
		return fmt.Errorf("store: put job reward %q: %w", r.JobID, err)
	}
	return q.write(ctx, "put job reward", func(tx *sql.Tx) error {
		fail := func(err error) error { return fmt.Errorf("store: put job reward %q: %w", r.JobID, err) }
		ok, err := datasetExists(ctx, tx, r.DatasetID)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return fail(fmt.Errorf("dataset %q: %w", r.DatasetID, ErrNotFound))
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO job_rewards (job_id, dataset_id, claim_root, reward, counted, recorded_at) VALUES ($1, $2, $3, $4, $5, $6)
			 ON CONFLICT (job_id) DO NOTHING`,
			r.JobID, r.DatasetID, r.ClaimRoot[:], int64(r.Reward), counted, micros(r.RecordedAt))
		if err != nil {
			return fail(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fail(err)
		} else if n == 1 {
			return nil
		}
		old, err := scanJobReward(tx.QueryRowContext(ctx, `SELECT `+jobRewardColumns+` FROM job_rewards WHERE job_id = $1`, r.JobID))
		if err != nil {
			return fail(fmt.Errorf("read existing: %w", err))
		}
		if old.DatasetID != r.DatasetID || old.ClaimRoot != r.ClaimRoot || old.Reward != r.Reward || old.Counted != r.Counted {
			return fail(fmt.Errorf("the job has another reward: %w", ErrAlreadyExists))
		}
		return nil
	})
}

const jobRewardColumns = `job_id, dataset_id, claim_root, reward, counted, claims, recorded_at`

func scanJobReward(sc interface{ Scan(...any) error }) (JobReward, error) {
	var (
		r                       JobReward
		root                    []byte
		reward, counted, claims int64
		at                      int64
	)
	if err := sc.Scan(&r.JobID, &r.DatasetID, &root, &reward, &counted, &claims, &at); err != nil {
		return JobReward{}, err
	}
	var err error
	if r.ClaimRoot, err = bytes32(root, "claim root"); err != nil {
		return JobReward{}, err
	}
	if r.Reward, err = unsigned(reward, "reward"); err != nil {
		return JobReward{}, err
	}
	if r.Counted, err = unsigned(counted, "counted records"); err != nil {
		return JobReward{}, err
	}
	if r.Claims, err = unsigned(claims, "claims"); err != nil {
		return JobReward{}, err
	}
	r.RecordedAt = fromMicros(at)
	return r, nil
}

func (q queries) GetJobReward(ctx context.Context, jobID string) (JobReward, error) {
	if err := checkJobID(jobID); err != nil {
		return JobReward{}, fmt.Errorf("store: job reward: %w", err)
	}
	r, err := scanJobReward(q.read().QueryRowContext(ctx, `SELECT `+jobRewardColumns+` FROM job_rewards WHERE job_id = $1`, jobID))
	if errors.Is(err, sql.ErrNoRows) {
		return JobReward{}, fmt.Errorf("store: job reward %q: %w", jobID, ErrNotFound)
	}
	if err != nil {
		return JobReward{}, fmt.Errorf("store: job reward %q: %w", jobID, err)
	}
	return r, nil
}

// ClaimExistsError is why RecordClaim refused a claim nullifier already
// used: Stored is the claim recorded under it. It wraps ErrAlreadyExists.
type ClaimExistsError struct{ Stored Claim }

func (e *ClaimExistsError) Error() string {
	return fmt.Sprintf("%v: claim nullifier %x… was used for job %q", ErrAlreadyExists, e.Stored.Nullifier[:4], e.Stored.JobID)
}

// Unwrap makes errors.Is(err, ErrAlreadyExists) hold.
func (e *ClaimExistsError) Unwrap() error { return ErrAlreadyExists }

const claimColumns = `claim_nullifier, job_id, payout_key, amount, claimed_at, proof`

func scanClaim(sc interface{ Scan(...any) error }) (Claim, error) {
	var (
		c          Claim
		nf, key    []byte
		amount, at int64
	)
	if err := sc.Scan(&nf, &c.JobID, &key, &amount, &at, &c.Proof); err != nil {
		return Claim{}, err
	}
	var err error
	if c.Nullifier, err = bytes32(nf, "claim nullifier"); err != nil {
		return Claim{}, err
	}
	if c.PayoutKey, err = bytes32(key, "payout key"); err != nil {
		return Claim{}, err
	}
	if c.Amount, err = unsigned(amount, "claim amount"); err != nil {
		return Claim{}, err
	}
	c.ClaimedAt = fromMicros(at)
	return c, nil
}

// RecordClaim records c's claim nullifier and credits c.PayoutKey the job's
// reward in one transaction, locking the job's reward row, then the payout
// row; c.Amount is ignored and the reward is read from the job. It returns
// the claim as stored and the payout account after it. A nullifier used
// before, by any job or payout key, is refused with a *ClaimExistsError
// (ErrAlreadyExists) naming the stored claim, and nothing changes;
// ErrNotFound when the job has no reward; ErrLimit when the job's counted
// records have all been claimed or the payout's credited total would
// exceed MaxAmount; ErrInvalid for a malformed job id.
func (q queries) RecordClaim(ctx context.Context, c Claim) (Claim, Payout, error) {
	if err := checkJobID(c.JobID); err != nil {
		return Claim{}, Payout{}, fmt.Errorf("store: record claim: %w", err)
	}
	var (
		stored Claim
		out    Payout
	)
	err := q.write(ctx, "record claim", func(tx *sql.Tx) error {
		fail := func(err error) error {
			return fmt.Errorf("store: claim %x… of job %q: %w", c.Nullifier[:4], c.JobID, err)
		}
		r, err := scanJobReward(tx.QueryRowContext(ctx, `SELECT `+jobRewardColumns+` FROM job_rewards WHERE job_id = $1`+q.s.d.forUpdate, c.JobID))
		if errors.Is(err, sql.ErrNoRows) {
			return fail(fmt.Errorf("the job has no reward: %w", ErrNotFound))
		}
		if err != nil {
			return fail(err)
		}
		prev, err := scanClaim(tx.QueryRowContext(ctx, `SELECT `+claimColumns+` FROM reward_claims WHERE claim_nullifier = $1`, c.Nullifier[:]))
		if err == nil {
			return &ClaimExistsError{Stored: prev}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fail(err)
		}
		if r.Claims >= r.Counted {
			return fail(fmt.Errorf("all %d counted records of the job were claimed: %w", r.Counted, ErrLimit))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO payouts (payout_key, credited, claims) VALUES ($1, 0, 0) ON CONFLICT DO NOTHING`, c.PayoutKey[:]); err != nil {
			return fail(fmt.Errorf("add payout: %w", err))
		}
		p, err := scanPayout(tx.QueryRowContext(ctx, `SELECT credited, claims, transferred FROM payouts WHERE payout_key = $1`+q.s.d.forUpdate, c.PayoutKey[:]), c.PayoutKey)
		if err != nil {
			return fail(fmt.Errorf("read payout: %w", err))
		}
		if p.Credited+r.Reward > MaxAmount {
			return fail(fmt.Errorf("payout credited %d + %d exceeds %d micro-credits: %w", p.Credited, r.Reward, MaxAmount, ErrLimit))
		}
		stored = Claim{Nullifier: c.Nullifier, JobID: c.JobID, PayoutKey: c.PayoutKey, Amount: r.Reward, Proof: c.Proof, ClaimedAt: c.ClaimedAt}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reward_claims (`+claimColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			c.Nullifier[:], c.JobID, c.PayoutKey[:], int64(r.Reward), micros(c.ClaimedAt), c.Proof); err != nil {
			return fail(err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE job_rewards SET claims = claims + 1 WHERE job_id = $1`, c.JobID); err != nil {
			return fail(err)
		}
		p.Credited += r.Reward
		p.Claims++
		if _, err := tx.ExecContext(ctx, `UPDATE payouts SET credited = $2, claims = $3 WHERE payout_key = $1`,
			c.PayoutKey[:], int64(p.Credited), int64(p.Claims)); err != nil {
			return fail(err)
		}
		out = p
		return nil
	})
	if err != nil {
		return Claim{}, Payout{}, err
	}
	return stored, out, nil
}

func (q queries) GetClaim(ctx context.Context, nullifier [32]byte) (Claim, error) {
	c, err := scanClaim(q.read().QueryRowContext(ctx, `SELECT `+claimColumns+` FROM reward_claims WHERE claim_nullifier = $1`, nullifier[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Claim{}, fmt.Errorf("store: claim %x…: %w", nullifier[:4], ErrNotFound)
	}
	if err != nil {
		return Claim{}, fmt.Errorf("store: claim %x…: %w", nullifier[:4], err)
	}
	return c, nil
}

func (q queries) GetPayout(ctx context.Context, key [32]byte) (Payout, error) {
	p, err := scanPayout(q.read().QueryRowContext(ctx, `SELECT credited, claims, transferred FROM payouts WHERE payout_key = $1`, key[:]), key)
	if errors.Is(err, sql.ErrNoRows) {
		return Payout{Key: key}, nil
	}
	if err != nil {
		return Payout{}, fmt.Errorf("store: payout %x…: %w", key[:4], err)
	}
	return p, nil
}

func scanPayout(sc interface{ Scan(...any) error }, key [32]byte) (Payout, error) {
	var credited, claims, transferred int64
	if err := sc.Scan(&credited, &claims, &transferred); err != nil {
		return Payout{}, err
	}
	if credited < 0 || claims < 0 || transferred < 0 || transferred > credited {
		return Payout{}, fmt.Errorf("store: stored payout %x… out of bounds (credited %d, transferred %d, claims %d)", key[:4], credited, transferred, claims)
	}
	return Payout{Key: key, Credited: uint64(credited), Claims: uint64(claims), Transferred: uint64(transferred)}, nil
}

// ListClaims returns up to limit (1..1000) of the claims recorded for
// datasetID's jobs, by job id then claim nullifier, after the claim
// (afterJob, afterNullifier); an empty afterJob starts at the first.
func (q queries) ListClaims(ctx context.Context, datasetID, afterJob string, afterNullifier [32]byte, limit int) ([]Claim, error) {
	if err := checkDatasetID(datasetID); err != nil {
		return nil, fmt.Errorf("store: list claims: %w", err)
	}
	if limit < 1 || limit > 1000 {
		return nil, fmt.Errorf("store: list claims: %w: limit %d, want 1..1000", ErrInvalid, limit)
	}
	rows, err := q.read().QueryContext(ctx, `SELECT c.claim_nullifier, c.job_id, c.payout_key, c.amount, c.claimed_at, c.proof
		FROM reward_claims c JOIN job_rewards r ON r.job_id = c.job_id
		WHERE r.dataset_id = $1 AND (c.job_id > $2 OR (c.job_id = $2 AND c.claim_nullifier > $3))
		ORDER BY c.job_id, c.claim_nullifier LIMIT $4`, datasetID, afterJob, afterNullifier[:], limit)
	if err != nil {
		return nil, fmt.Errorf("store: list claims: %w", err)
	}
	defer rows.Close()
	var out []Claim
	for rows.Next() {
		c, err := scanClaim(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list claims: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list claims: %w", err)
	}
	return out, nil
}
