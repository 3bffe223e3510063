package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

func (q queries) PutInvite(ctx context.Context, tokenHash [32]byte, expires time.Time) error {
	return q.write(ctx, "put invite", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO invites (token_hash, expires_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING`,
			tokenHash[:], micros(expires))
		if err != nil {
			return fmt.Errorf("store: put invite: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: put invite: %w", err)
		} else if n == 0 {
			return fmt.Errorf("store: put invite: %w", ErrAlreadyExists)
		}
		return nil
	})
}

// UseInvite consumes the invite with one conditional UPDATE, so two
// concurrent uses (on any replica) cannot both succeed: the row lock makes
// the second re-evaluate the condition against the first's write.
func (q queries) UseInvite(ctx context.Context, tokenHash [32]byte, at time.Time) error {
	return q.write(ctx, "use invite", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE invites SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2`,
			tokenHash[:], micros(at))
		if err != nil {
			return fmt.Errorf("store: use invite: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: use invite: %w", err)
		}
		if n == 1 {
			return nil
		}
		var expires int64
		var used sql.NullInt64
		err = tx.QueryRowContext(ctx, `SELECT expires_at, used_at FROM invites WHERE token_hash = $1`, tokenHash[:]).
			Scan(&expires, &used)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: use invite: %w", ErrNotFound)
		case err != nil:
			return fmt.Errorf("store: use invite: %w", err)
		case used.Valid:
			return fmt.Errorf("store: use invite: already used: %w", ErrConflict)
		default:
			return fmt.Errorf("store: use invite: expired at %s: %w", fromMicros(expires).Format(time.RFC3339), ErrConflict)
		}
	})
}
