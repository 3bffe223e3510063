package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// contributionColumns are read by scanContribution, joined with the dataset's
// revocations.
const contributionColumns = `c.dataset_id, c.nullifier, c.epoch, c.payload_digest, c.public_inputs, c.proof, c.share,
	c.purposes, c.expiry, c.min_cohort, c.revocation, c.received_at, c.receipt, r.revoked_at,
	c.pending, c.forwarder, c.pending_since, c.missing, c.replica
	FROM contributions c
	LEFT JOIN revocations r ON r.dataset_id = c.dataset_id AND r.revocation = c.revocation`

func scanContribution(sc interface{ Scan(...any) error }) (Contribution, error) {
	var (
		c                          Contribution
		nf, digest, rc             []byte
		epoch, purposes, minCohort int64
		expiry, received           int64
		revoked                    sql.NullInt64
		pending, forwarder, since  int64
		missing                    int64
	)
	if err := sc.Scan(&c.DatasetID, &nf, &epoch, &digest, &c.Public, &c.Proof, &c.Share,
		&purposes, &expiry, &minCohort, &rc, &received, &c.Receipt, &revoked,
		&pending, &forwarder, &since, &missing, &c.Replica); err != nil {
		return Contribution{}, err
	}
	var err error
	if c.Nullifier, err = bytes32(nf, "nullifier"); err != nil {
		return Contribution{}, err
	}
	if c.PayloadDigest, err = bytes32(digest, "payload digest"); err != nil {
		return Contribution{}, err
	}
	if c.RevocationCommitment, err = bytes32(rc, "revocation commitment"); err != nil {
		return Contribution{}, err
	}
	if c.Epoch, err = unsigned(epoch, "epoch"); err != nil {
		return Contribution{}, err
	}
	if minCohort < 0 || minCohort > 1<<32-1 {
		return Contribution{}, fmt.Errorf("store: stored min cohort %d out of range", minCohort)
	}
	c.MinCohort = uint32(minCohort)
	if forwarder < 0 || forwarder > 1<<32-1 {
		return Contribution{}, fmt.Errorf("store: stored forwarder %d out of range", forwarder)
	}
	c.Forwarder = uint32(forwarder)
	if missing < -1 || missing > 1<<32-1 {
		return Contribution{}, fmt.Errorf("store: stored missing node %d out of range", missing)
	}
	if c.Incomplete = missing >= 0; c.Incomplete {
		c.Missing = uint32(missing)
	}
	if c.Pending = pending != 0; c.Pending {
		c.PendingSince = fromMicros(since)
	}
	c.Purposes = uint64(purposes) // a bitmask stored as its two's complement
	c.Expiry = fromMicros(expiry)
	c.ReceivedAt = fromMicros(received)
	c.RevokedAt = fromNullMicros(revoked)
	return c, nil
}

func (q queries) PutContribution(ctx context.Context, c Contribution) (*Contribution, error) {
	if err := checkDatasetID(c.DatasetID); err != nil {
		return nil, fmt.Errorf("store: put contribution: %w", err)
	}
	if c.Nullifier == ([32]byte{}) {
		return nil, fmt.Errorf("store: put contribution: %w: zero nullifier", ErrInvalid)
	}
	epoch, err := signed(c.Epoch, "epoch")
	if err != nil {
		return nil, fmt.Errorf("store: put contribution: %w", err)
	}
	if len(c.Replica) > MaxReplicaIDLen {
		return nil, fmt.Errorf("store: put contribution: %w: replica id longer than %d bytes", ErrInvalid, MaxReplicaIDLen)
	}
	var (
		pending, since int64
		replica        string
	)
	if c.Pending {
		pending, since, replica = 1, micros(c.PendingSince), c.Replica
	}
	var existing *Contribution
	err = q.write(ctx, "put contribution", func(tx *sql.Tx) error {
		ok, err := q.s.datasetExistsInTx(ctx, tx, c.DatasetID)
		if err != nil {
			return fmt.Errorf("store: put contribution: %w", err)
		}
		if !ok {
			return fmt.Errorf("store: put contribution: dataset %q: %w", c.DatasetID, ErrNotFound)
		}
		// ON CONFLICT DO NOTHING waits for a concurrent insert of the same
		// key to commit or roll back, then skips or inserts: the unique key
		// decides, on every engine and replica.
		res, err := q.s.execInTx(ctx, tx,
			`INSERT INTO contributions (dataset_id, nullifier, epoch, payload_digest, public_inputs, proof, share,
			                            purposes, expiry, min_cohort, revocation, received_at, receipt,
			                            pending, forwarder, pending_since, replica, claim_leaf)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
			 ON CONFLICT (dataset_id, nullifier) DO NOTHING`,
			c.DatasetID, c.Nullifier[:], epoch, c.PayloadDigest[:], blob(c.Public), blob(c.Proof), blob(c.Share),
			int64(c.Purposes), micros(c.Expiry), int64(c.MinCohort), c.RevocationCommitment[:],
			micros(c.ReceivedAt), blob(c.Receipt), pending, int64(c.Forwarder), since, replica, optional32(c.ClaimLeaf))
		if err != nil {
			return fmt.Errorf("store: put contribution: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: put contribution: %w", err)
		}
		if n == 1 {
			return nil
		}
		// The nullifier is taken. In PostgreSQL this statement sees the row
		// committed by the other transaction (READ COMMITTED takes a new
		// snapshot per statement); in SQLite the write lock is held.
		old, err := scanContribution(tx.QueryRowContext(ctx,
			`SELECT `+contributionColumns+` WHERE c.dataset_id = $1 AND c.nullifier = $2`,
			c.DatasetID, c.Nullifier[:]))
		if errors.Is(err, sql.ErrNoRows) {
			// Deleted between the two statements (an ingest rolled back).
			return fmt.Errorf("store: put contribution: nullifier changed concurrently, retry: %w", ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("store: put contribution: read existing: %w", err)
		}
		if !bytes.Equal(old.PayloadDigest[:], c.PayloadDigest[:]) {
			return fmt.Errorf("store: put contribution: nullifier used with another payload: %w", ErrAlreadyExists)
		}
		existing = &old
		return nil
	})
	if err != nil {
		return nil, err
	}
	return existing, nil
}

func (q queries) GetContribution(ctx context.Context, datasetID string, nullifier [32]byte) (Contribution, error) {
	c, err := scanContribution(q.queryRowCached(ctx,
		`SELECT `+contributionColumns+` WHERE c.dataset_id = $1 AND c.nullifier = $2`,
		datasetID, nullifier[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Contribution{}, fmt.Errorf("store: get contribution: %w", ErrNotFound)
	}
	if err != nil {
		return Contribution{}, fmt.Errorf("store: get contribution: %w", err)
	}
	return c, nil
}

func (q queries) FindByRevocation(ctx context.Context, datasetID string, revocationCommitment [32]byte) (Contribution, error) {
	c, err := scanContribution(q.read().QueryRowContext(ctx,
		`SELECT `+contributionColumns+` WHERE c.dataset_id = $1 AND c.revocation = $2 ORDER BY c.nullifier LIMIT 1`,
		datasetID, revocationCommitment[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Contribution{}, fmt.Errorf("store: find by revocation: %w", ErrNotFound)
	}
	if err != nil {
		return Contribution{}, fmt.Errorf("store: find by revocation: %w", err)
	}
	return c, nil
}

func (q queries) ListContributions(ctx context.Context, datasetID string, epochFrom, epochTo uint64, after [32]byte, limit int) ([]Contribution, error) {
	if epochFrom > epochTo || epochFrom > 1<<63-1 {
		return nil, nil
	}
	rows, err := q.read().QueryContext(ctx,
		`SELECT `+contributionColumns+`
		  WHERE c.dataset_id = $1 AND c.epoch >= $2 AND c.epoch <= $3 AND c.nullifier > $4 AND c.pending = 0 AND c.missing = -1
		  ORDER BY c.nullifier LIMIT $5`,
		datasetID, int64(epochFrom), clampSigned(epochTo), after[:], pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: list contributions: %w", err)
	}
	defer rows.Close()
	var out []Contribution
	for rows.Next() {
		c, err := scanContribution(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list contributions: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list contributions: %w", err)
	}
	return out, nil
}

func (q queries) CountContributions(ctx context.Context, datasetID string, epochFrom, epochTo uint64) (uint64, error) {
	if epochFrom > epochTo || epochFrom > 1<<63-1 {
		return 0, nil
	}
	var n int64
	if err := q.read().QueryRowContext(ctx, q.s.d.countCommitted,
		datasetID, int64(epochFrom), clampSigned(epochTo)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count contributions: %w", err)
	}
	return unsigned(n, "count")
}

// scanColumns are the eligibility columns ScanContributions always reads,
// joined with the dataset's revocations.
const scanColumns = `c.nullifier, c.epoch, c.payload_digest, c.purposes, c.expiry, c.min_cohort, c.revocation, r.revoked_at`

func (q queries) ScanContributions(ctx context.Context, datasetID string, epochFrom, epochTo uint64, fields ContributionFields,
	fn func(*Contribution) error) error {
	if epochFrom > epochTo || epochFrom > 1<<63-1 {
		return nil
	}
	var r scannedRow
	values, valueDest := r.valueColumns(fields)
	cols := scanColumns + values
	// One epoch is an equality on contributions_by_epoch (dataset_id,
	// epoch, nullifier), whose rows come in nullifier order: the rows
	// stream from the index as they are read. A range of epochs is sorted
	// by the database before the first row comes.
	where, args := `c.epoch >= $2 AND c.epoch <= $3`, []any{datasetID, int64(epochFrom), clampSigned(epochTo)}
	if epochFrom == epochTo {
		where, args = `c.epoch = $2`, args[:2]
	}
	query := `SELECT ` + cols + `
		   FROM contributions c
		   LEFT JOIN revocations r ON r.dataset_id = c.dataset_id AND r.revocation = c.revocation
		  WHERE c.dataset_id = $1 AND ` + where + ` AND c.pending = 0 AND c.missing = -1
		  ORDER BY c.nullifier`
	if q.tx == nil && q.s.scans != nil {
		return q.s.scans.scan(ctx, query, args, fields, datasetID, fn)
	}
	rows, err := q.read().QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: scan contributions: %w", err)
	}
	defer rows.Close()
	var (
		// The byte columns are read as sql.RawBytes, which alias the
		// driver's buffers until the next row: a scan allocates nothing
		// per row for them.
		c    = Contribution{DatasetID: datasetID}
		dest = []any{&r.nullifier, &r.epoch, &r.digest, &r.purposes, &r.expiry, &r.minCohort, &r.revocation, &r.revoked}
	)
	for _, d := range valueDest {
		dest = append(dest, d)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("store: scan contributions: %w", err)
		}
		if err := r.fill(&c); err != nil {
			return fmt.Errorf("store: scan contributions: %w", err)
		}
		if err := fn(&c); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: scan contributions: %w", err)
	}
	return nil
}

// scannedRow is one row of ScanContributions' query as read, before it is
// checked and decoded into a Contribution; its byte fields alias buffers
// that the next row overwrites.
type scannedRow struct {
	nullifier, digest, revocation, share, public, proof, leaf sql.RawBytes
	epoch, purposes, expiry, minCohort                        int64
	revoked                                                   sql.NullInt64
}

// valueColumns are the byte columns ScanContributions reads for fields
// after scanColumns, as its query lists them, and the fields of r each is
// read into, in the same order.
func (r *scannedRow) valueColumns(fields ContributionFields) (string, []*sql.RawBytes) {
	var (
		cols string
		dest []*sql.RawBytes
	)
	if fields&WithShare != 0 {
		cols, dest = cols+`, c.share`, append(dest, &r.share)
	}
	if fields&WithProof != 0 {
		cols, dest = cols+`, c.public_inputs, c.proof`, append(dest, &r.public, &r.proof)
	}
	if fields&WithClaimLeaf != 0 {
		cols, dest = cols+`, c.claim_leaf`, append(dest, &r.leaf)
	}
	return cols, dest
}

// fill decodes r into c, refusing a stored value out of its range; c's byte
// fields alias r's.
func (r *scannedRow) fill(c *Contribution) error {
	var err error
	if c.Nullifier, err = bytes32(r.nullifier, "nullifier"); err != nil {
		return err
	}
	if c.PayloadDigest, err = bytes32(r.digest, "payload digest"); err != nil {
		return err
	}
	if c.RevocationCommitment, err = bytes32(r.revocation, "revocation commitment"); err != nil {
		return err
	}
	if c.Epoch, err = unsigned(r.epoch, "epoch"); err != nil {
		return err
	}
	if r.minCohort < 0 || r.minCohort > 1<<32-1 {
		return fmt.Errorf("stored min cohort %d out of range", r.minCohort)
	}
	c.MinCohort = uint32(r.minCohort)
	c.Purposes = uint64(r.purposes) // a bitmask stored as its two's complement
	c.Expiry = fromMicros(r.expiry)
	c.RevokedAt = fromNullMicros(r.revoked)
	c.Share, c.Public, c.Proof = r.share, r.public, r.proof
	c.ClaimLeaf = [32]byte{}
	if r.leaf != nil {
		if c.ClaimLeaf, err = bytes32(r.leaf, "claim leaf"); err != nil {
			return err
		}
	}
	return nil
}
