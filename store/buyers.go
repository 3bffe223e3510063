package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// checkBuyerID accepts 1..MaxBuyerIDLen bytes of [A-Za-z0-9._-].
func checkBuyerID(id string) error {
	if id == "" || len(id) > MaxBuyerIDLen {
		return fmt.Errorf("%w: buyer id must be 1..%d bytes, got %d", ErrInvalid, MaxBuyerIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return fmt.Errorf("%w: buyer id has byte %#x at %d, want [A-Za-z0-9._-]", ErrInvalid, c, i)
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// PutBuyer inserts the buyer unless its id or token hash is taken, then
// compares with the row that took it: the unique keys decide, so two
// replicas replaying the same buyer at once both succeed.
func (q queries) PutBuyer(ctx context.Context, b Buyer) error {
	if err := checkBuyerID(b.ID); err != nil {
		return fmt.Errorf("store: put buyer: %w", err)
	}
	if b.TokenHash == ([32]byte{}) {
		return fmt.Errorf("store: put buyer %q: %w: zero token hash", b.ID, ErrInvalid)
	}
	if b.PublicKey != nil && len(b.PublicKey) != 32 {
		return fmt.Errorf("store: put buyer %q: %w: public key of %d bytes, want 32", b.ID, ErrInvalid, len(b.PublicKey))
	}
	return q.write(ctx, "put buyer", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`INSERT INTO buyers (id, token_hash, created_at, public_key) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
			b.ID, b.TokenHash[:], micros(b.CreatedAt), nullableBlob(b.PublicKey))
		if err != nil {
			return fmt.Errorf("store: put buyer %q: %w", b.ID, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: put buyer %q: %w", b.ID, err)
		}
		if n == 1 {
			return nil
		}
		// The id or the token hash is taken (buyers are never deleted, so
		// the row is there).
		var id string
		var hash, key []byte
		err = tx.QueryRowContext(ctx,
			`SELECT id, token_hash, public_key FROM buyers WHERE id = $1 OR token_hash = $2 ORDER BY id LIMIT 1`,
			b.ID, b.TokenHash[:]).Scan(&id, &hash, &key)
		if err != nil {
			return fmt.Errorf("store: put buyer %q: read existing: %w", b.ID, err)
		}
		got, err := bytes32(hash, "buyer token hash")
		if err != nil {
			return fmt.Errorf("store: put buyer %q: %w", b.ID, err)
		}
		switch {
		case id == b.ID && got == b.TokenHash && bytes.Equal(key, b.PublicKey):
			return nil
		case id == b.ID && got == b.TokenHash:
			return fmt.Errorf("store: put buyer %q: id recorded with another public key: %w", b.ID, ErrAlreadyExists)
		case id == b.ID:
			return fmt.Errorf("store: put buyer %q: id recorded with another token: %w", b.ID, ErrAlreadyExists)
		default:
			return fmt.Errorf("store: put buyer %q: token belongs to another buyer: %w", b.ID, ErrAlreadyExists)
		}
	})
}

func (q queries) BuyerByToken(ctx context.Context, tokenHash [32]byte) (Buyer, error) {
	b, err := scanBuyer(q.read().QueryRowContext(ctx, `SELECT `+buyerColumns+` WHERE token_hash = $1`, tokenHash[:]))
	if err != nil {
		return Buyer{}, fmt.Errorf("store: buyer by token: %w", err)
	}
	return b, nil
}

func (q queries) GetBuyer(ctx context.Context, id string) (Buyer, error) {
	b, err := scanBuyer(q.read().QueryRowContext(ctx, `SELECT `+buyerColumns+` WHERE id = $1`, id))
	if err != nil {
		return Buyer{}, fmt.Errorf("store: get buyer %q: %w", id, err)
	}
	return b, nil
}

// buyerColumns are read by scanBuyer.
const buyerColumns = `id, token_hash, created_at, public_key FROM buyers`

func scanBuyer(row *sql.Row) (Buyer, error) {
	var (
		b       Buyer
		hash    []byte
		created int64
	)
	err := row.Scan(&b.ID, &hash, &created, &b.PublicKey)
	if errors.Is(err, sql.ErrNoRows) {
		return Buyer{}, ErrNotFound
	}
	if err != nil {
		return Buyer{}, err
	}
	if b.TokenHash, err = bytes32(hash, "buyer token hash"); err != nil {
		return Buyer{}, err
	}
	if len(b.PublicKey) == 0 {
		b.PublicKey = nil
	}
	b.CreatedAt = fromMicros(created)
	return b, nil
}
