package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// HEKey is a node's threshold share of an HE dataset's collective secret
// key, sealed by the node to itself: the store never holds it in the clear.
type HEKey struct {
	DatasetID       string
	PublicKeyDigest [32]byte // SHA-256 of the collective public key the share belongs to
	Sealed          []byte
	CreatedAt       time.Time
}

// DecryptionShare is the one decryption share a node produced for an
// aggregate ciphertext of an HE dataset (docs/design.md §4.3): producing a second
// one, for the same ciphertext with another set of nodes, would leak key
// material, so the pair (DatasetID, Aggregate) is unique.
type DecryptionShare struct {
	DatasetID string
	Aggregate [32]byte // digest of the aggregate ciphertext
	Set       []uint32 // the nodes asked to decrypt, ascending
	JobID     string   // the job that asked first
	Share     []byte   // the share, as the node encodes it (sealed to itself)
	CreatedAt time.Time
}

// maxSetNodes bounds a decryption set (one byte per node index).
const maxSetNodes = 16

func encodeSet(set []uint32) ([]byte, error) {
	if len(set) == 0 || len(set) > maxSetNodes {
		return nil, fmt.Errorf("%w: decryption set of %d nodes, want 1..%d", ErrInvalid, len(set), maxSetNodes)
	}
	b := make([]byte, len(set))
	for i, x := range set {
		if x >= maxSetNodes || (i > 0 && x <= set[i-1]) {
			return nil, fmt.Errorf("%w: decryption set %v is not ascending node indices below %d", ErrInvalid, set, maxSetNodes)
		}
		b[i] = byte(x)
	}
	return b, nil
}

func decodeSet(b []byte) []uint32 {
	set := make([]uint32, len(b))
	for i, x := range b {
		set[i] = uint32(x)
	}
	return set
}

// PutHEKey records a node's sealed key share for a dataset. Putting the
// same dataset with the same public key digest again replaces the sealed
// bytes (a retried key generation of that key); another digest is
// ErrAlreadyExists.
func (q queries) PutHEKey(ctx context.Context, k HEKey) error {
	if err := checkDatasetID(k.DatasetID); err != nil {
		return fmt.Errorf("store: put HE key: %w", err)
	}
	if len(k.Sealed) == 0 {
		return fmt.Errorf("store: put HE key %q: %w: empty key", k.DatasetID, ErrInvalid)
	}
	return q.write(ctx, "put HE key", func(tx *sql.Tx) error {
		var digest []byte
		err := tx.QueryRowContext(ctx, `SELECT public_key_digest FROM he_keys WHERE dataset_id = $1`, k.DatasetID).Scan(&digest)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			_, err = tx.ExecContext(ctx,
				`INSERT INTO he_keys (dataset_id, public_key_digest, sealed, created_at) VALUES ($1, $2, $3, $4)`,
				k.DatasetID, k.PublicKeyDigest[:], k.Sealed, micros(k.CreatedAt))
		case err != nil:
		case !bytes.Equal(digest, k.PublicKeyDigest[:]):
			return fmt.Errorf("store: put HE key %q: a key share for another public key is stored: %w", k.DatasetID, ErrAlreadyExists)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE he_keys SET sealed = $2, created_at = $3 WHERE dataset_id = $1`,
				k.DatasetID, k.Sealed, micros(k.CreatedAt))
		}
		if err != nil {
			return fmt.Errorf("store: put HE key %q: %w", k.DatasetID, err)
		}
		return nil
	})
}

// GetHEKey returns a dataset's sealed key share, or ErrNotFound.
func (q queries) GetHEKey(ctx context.Context, datasetID string) (HEKey, error) {
	var (
		k       = HEKey{DatasetID: datasetID}
		digest  []byte
		created int64
	)
	err := q.read().QueryRowContext(ctx, `SELECT public_key_digest, sealed, created_at FROM he_keys WHERE dataset_id = $1`, datasetID).
		Scan(&digest, &k.Sealed, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return HEKey{}, fmt.Errorf("store: HE key of dataset %q: %w", datasetID, ErrNotFound)
	}
	if err != nil {
		return HEKey{}, fmt.Errorf("store: HE key of dataset %q: %w", datasetID, err)
	}
	if k.PublicKeyDigest, err = bytes32(digest, "public key digest"); err != nil {
		return HEKey{}, fmt.Errorf("store: HE key of dataset %q: %w", datasetID, err)
	}
	k.CreatedAt = fromMicros(created)
	return k, nil
}

// PutDecryptionShare records d unless a share for (d.DatasetID,
// d.Aggregate) exists: then nothing is written and the stored share is
// returned (non-nil) with a nil error, whatever its set — the caller
// decides whether it may answer with it. On a fresh insert it returns
// (nil, nil). The insert is a single conditional statement, so two
// concurrent callers cannot both write. ErrNotFound for an unknown dataset;
// ErrInvalid for a bad set, job id or an empty share.
func (q queries) PutDecryptionShare(ctx context.Context, d DecryptionShare) (*DecryptionShare, error) {
	if err := checkDatasetID(d.DatasetID); err != nil {
		return nil, fmt.Errorf("store: put decryption share: %w", err)
	}
	if err := checkJobID(d.JobID); err != nil {
		return nil, fmt.Errorf("store: put decryption share: %w", err)
	}
	set, err := encodeSet(d.Set)
	if err != nil {
		return nil, fmt.Errorf("store: put decryption share: %w", err)
	}
	if len(d.Share) == 0 {
		return nil, fmt.Errorf("store: put decryption share: %w: empty share", ErrInvalid)
	}
	var existing *DecryptionShare
	err = q.write(ctx, "put decryption share", func(tx *sql.Tx) error {
		ok, err := datasetExists(ctx, tx, d.DatasetID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("dataset %q: %w", d.DatasetID, ErrNotFound)
		}
		res, err := tx.ExecContext(ctx,
			`INSERT INTO decryption_shares (dataset_id, aggregate, decryption_set, job_id, share, created_at)
			 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dataset_id, aggregate) DO NOTHING`,
			d.DatasetID, d.Aggregate[:], set, d.JobID, d.Share, micros(d.CreatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			return nil
		}
		prev, err := getDecryptionShare(ctx, tx, d.DatasetID, d.Aggregate)
		if err != nil {
			return err
		}
		existing = &prev
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: put decryption share: %w", err)
	}
	return existing, nil
}

// GetDecryptionShare returns the share stored for an aggregate, or ErrNotFound.
func (q queries) GetDecryptionShare(ctx context.Context, datasetID string, aggregate [32]byte) (DecryptionShare, error) {
	d, err := getDecryptionShare(ctx, q.read(), datasetID, aggregate)
	if err != nil {
		return DecryptionShare{}, fmt.Errorf("store: decryption share: %w", err)
	}
	return d, nil
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func getDecryptionShare(ctx context.Context, q queryRower, datasetID string, aggregate [32]byte) (DecryptionShare, error) {
	d := DecryptionShare{DatasetID: datasetID, Aggregate: aggregate}
	var (
		set     []byte
		created int64
	)
	err := q.QueryRowContext(ctx,
		`SELECT decryption_set, job_id, share, created_at FROM decryption_shares WHERE dataset_id = $1 AND aggregate = $2`,
		datasetID, aggregate[:]).Scan(&set, &d.JobID, &d.Share, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return DecryptionShare{}, fmt.Errorf("aggregate %x of dataset %q: %w", aggregate[:8], datasetID, ErrNotFound)
	}
	if err != nil {
		return DecryptionShare{}, err
	}
	d.Set, d.CreatedAt = decodeSet(set), fromMicros(created)
	return d, nil
}

// SameSet reports whether two decryption sets are equal.
func SameSet(a, b []uint32) bool { return slices.Equal(a, b) }
