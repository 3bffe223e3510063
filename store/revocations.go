package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (q queries) Revoke(ctx context.Context, datasetID string, revocationCommitment, token [32]byte, at time.Time) error {
	return q.write(ctx, "revoke", func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx,
			`SELECT 1 FROM contributions WHERE dataset_id = $1 AND revocation = $2 LIMIT 1`,
			datasetID, revocationCommitment[:]).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: revoke: no contribution carries the commitment: %w", ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO revocations (dataset_id, revocation, token, revoked_at) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (dataset_id, revocation) DO NOTHING`,
			datasetID, revocationCommitment[:], token[:], micros(at)); err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		// Inserted now or before: the stored token decides idempotency.
		var stored []byte
		if err := tx.QueryRowContext(ctx,
			`SELECT token FROM revocations WHERE dataset_id = $1 AND revocation = $2`,
			datasetID, revocationCommitment[:]).Scan(&stored); err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		got, err := bytes32(stored, "revocation token")
		if err != nil {
			return fmt.Errorf("store: revoke: %w", err)
		}
		if got != token {
			return fmt.Errorf("store: revoke: already revoked with another token: %w", ErrConflict)
		}
		return nil
	})
}

func (q queries) IsRevoked(ctx context.Context, datasetID string, revocationCommitment [32]byte) (bool, error) {
	var one int
	err := q.read().QueryRowContext(ctx,
		`SELECT 1 FROM revocations WHERE dataset_id = $1 AND revocation = $2`,
		datasetID, revocationCommitment[:]).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: is revoked: %w", err)
	}
	return true, nil
}

func (q queries) CountRevocations(ctx context.Context, datasetID string) (uint64, error) {
	var n int64
	if err := q.read().QueryRowContext(ctx,
		`SELECT count(*) FROM revocations WHERE dataset_id = $1`, datasetID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count revocations: %w", err)
	}
	return unsigned(n, "count")
}
