package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The registry is changed only under the lock of its single head row
// (registry_head): a PostgreSQL row lock (SELECT … FOR UPDATE) or SQLite's
// write lock. Each change checks the version its caller computed the new
// root against, so a replica whose tree is stale gets ErrConflict instead of
// recording a root that does not match the members.

// lockHead reads the head row inside tx, locking it.
func (q queries) lockHead(ctx context.Context, tx *sql.Tx) (version, size uint64, err error) {
	var v, n int64
	if err := tx.QueryRowContext(ctx, `SELECT version, size FROM registry_head WHERE id = 1`+q.s.d.forUpdate).Scan(&v, &n); err != nil {
		return 0, 0, fmt.Errorf("read registry head: %w", err)
	}
	if version, err = unsigned(v, "registry version"); err != nil {
		return 0, 0, err
	}
	if size, err = unsigned(n, "registry size"); err != nil {
		return 0, 0, err
	}
	return version, size, nil
}

// recordRoot closes the current root and records root as the root of the
// next version, and moves the head.
func recordRoot(ctx context.Context, tx *sql.Tx, version, size uint64, root [32]byte, at time.Time) error {
	next := int64(version) + 1
	if _, err := tx.ExecContext(ctx, `UPDATE roots SET superseded_at = $1 WHERE version = $2`, micros(at), int64(version)); err != nil {
		return fmt.Errorf("close root: %w", err)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO roots (version, root, size, seen_at) VALUES ($1, $2, $3, $4)`,
		next, root[:], int64(size), micros(at)); err != nil {
		return fmt.Errorf("record root: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE registry_head SET version = $1, size = $2 WHERE id = 1`, next, int64(size)); err != nil {
		return fmt.Errorf("move registry head: %w", err)
	}
	return nil
}

func (q queries) AppendMember(ctx context.Context, version uint64, ic, root [32]byte, at time.Time) (uint64, error) {
	var index uint64
	err := q.write(ctx, "append member", func(tx *sql.Tx) error {
		v, size, err := q.lockHead(ctx, tx)
		if err != nil {
			return fmt.Errorf("store: append member: %w", err)
		}
		if v != version {
			return fmt.Errorf("store: append member: registry is at version %d, not %d: %w", v, version, ErrConflict)
		}
		if _, err := signed(size+1, "registry size"); err != nil {
			return fmt.Errorf("store: append member: %w", err)
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM members WHERE ic = $1`, ic[:]).Scan(&one)
		switch {
		case err == nil:
			return fmt.Errorf("store: append member: identity commitment: %w", ErrAlreadyExists)
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("store: append member: %w", err)
		}
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO members (idx, ic, added_at) VALUES ($1, $2, $3)`,
			int64(size), ic[:], micros(at)); err != nil {
			return fmt.Errorf("store: append member: %w", err)
		}
		if err := recordRoot(ctx, tx, v, size+1, root, at); err != nil {
			return fmt.Errorf("store: append member: %w", err)
		}
		index = size
		return nil
	})
	if err != nil {
		return 0, err
	}
	return index, nil
}

func (q queries) RemoveMember(ctx context.Context, version uint64, index uint64, root [32]byte, at time.Time) error {
	idx, err := signed(index, "member index")
	if err != nil {
		return fmt.Errorf("store: remove member: %w", err)
	}
	return q.write(ctx, "remove member", func(tx *sql.Tx) error {
		v, size, err := q.lockHead(ctx, tx)
		if err != nil {
			return fmt.Errorf("store: remove member: %w", err)
		}
		if v != version {
			return fmt.Errorf("store: remove member: registry is at version %d, not %d: %w", v, version, ErrConflict)
		}
		res, err := tx.ExecContext(ctx,
			`UPDATE members SET removed_at = $2 WHERE idx = $1 AND removed_at IS NULL`, idx, micros(at))
		if err != nil {
			return fmt.Errorf("store: remove member %d: %w", index, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: remove member %d: %w", index, err)
		}
		if n == 0 {
			if index < size {
				return fmt.Errorf("store: remove member %d: already removed: %w", index, ErrConflict)
			}
			return fmt.Errorf("store: remove member %d: %w", index, ErrNotFound)
		}
		if err := recordRoot(ctx, tx, v, size, root, at); err != nil {
			return fmt.Errorf("store: remove member %d: %w", index, err)
		}
		return nil
	})
}

func (q queries) RegistryHead(ctx context.Context) (RegistryHead, error) {
	// One statement, so the head and its root are read from one snapshot.
	var (
		v, n int64
		root []byte
		at   sql.NullInt64
	)
	err := q.read().QueryRowContext(ctx,
		`SELECT h.version, h.size, r.root, r.seen_at
		   FROM registry_head h LEFT JOIN roots r ON r.version = h.version
		  WHERE h.id = 1`).Scan(&v, &n, &root, &at)
	if err != nil {
		return RegistryHead{}, fmt.Errorf("store: registry head: %w", err)
	}
	var h RegistryHead
	if h.Version, err = unsigned(v, "registry version"); err != nil {
		return RegistryHead{}, fmt.Errorf("store: registry head: %w", err)
	}
	if h.Size, err = unsigned(n, "registry size"); err != nil {
		return RegistryHead{}, fmt.Errorf("store: registry head: %w", err)
	}
	if h.Version == 0 {
		return h, nil
	}
	if h.Root, err = bytes32(root, "root"); err != nil {
		return RegistryHead{}, fmt.Errorf("store: registry head: %w", err)
	}
	h.At = fromNullMicros(at)
	return h, nil
}

func scanMember(sc interface{ Scan(...any) error }) (Member, error) {
	var (
		idx, added int64
		ic         []byte
		removed    sql.NullInt64
	)
	if err := sc.Scan(&idx, &ic, &added, &removed); err != nil {
		return Member{}, err
	}
	var m Member
	var err error
	if m.Index, err = unsigned(idx, "member index"); err != nil {
		return Member{}, err
	}
	if m.IC, err = bytes32(ic, "identity commitment"); err != nil {
		return Member{}, err
	}
	m.AddedAt = fromMicros(added)
	m.RemovedAt = fromNullMicros(removed)
	return m, nil
}

func (q queries) Members(ctx context.Context, from uint64, limit int) ([]Member, error) {
	if from > 1<<63-1 {
		return nil, nil
	}
	rows, err := q.read().QueryContext(ctx,
		`SELECT idx, ic, added_at, removed_at FROM members WHERE idx >= $1 ORDER BY idx LIMIT $2`,
		int64(from), pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, fmt.Errorf("store: members: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: members: %w", err)
	}
	return out, nil
}

func (q queries) FindMember(ctx context.Context, ic [32]byte) (Member, error) {
	m, err := scanMember(q.read().QueryRowContext(ctx,
		`SELECT idx, ic, added_at, removed_at FROM members WHERE ic = $1`, ic[:]))
	if errors.Is(err, sql.ErrNoRows) {
		return Member{}, fmt.Errorf("store: find member: %w", ErrNotFound)
	}
	if err != nil {
		return Member{}, fmt.Errorf("store: find member: %w", err)
	}
	return m, nil
}

func (q queries) FindRoot(ctx context.Context, root [32]byte) (RootRecord, error) {
	var (
		v, n, seen int64
		superseded sql.NullInt64
	)
	// Once per upload on every node: prepared once (stmtCache).
	err := q.queryRowCached(ctx,
		`SELECT version, size, seen_at, superseded_at FROM roots WHERE root = $1 ORDER BY version DESC LIMIT 1`,
		root[:]).Scan(&v, &n, &seen, &superseded)
	if errors.Is(err, sql.ErrNoRows) {
		return RootRecord{}, fmt.Errorf("store: find root: %w", ErrNotFound)
	}
	if err != nil {
		return RootRecord{}, fmt.Errorf("store: find root: %w", err)
	}
	r := RootRecord{Root: root, SeenAt: fromMicros(seen), SupersededAt: fromNullMicros(superseded)}
	if r.Version, err = unsigned(v, "root version"); err != nil {
		return RootRecord{}, fmt.Errorf("store: find root: %w", err)
	}
	if r.Size, err = unsigned(n, "root size"); err != nil {
		return RootRecord{}, fmt.Errorf("store: find root: %w", err)
	}
	return r, nil
}

func (q queries) Roots(ctx context.Context, afterVersion uint64, limit int) ([]RootRecord, error) {
	if afterVersion > 1<<63-1 {
		return nil, fmt.Errorf("store: roots: version %d: %w", afterVersion, ErrInvalid)
	}
	rows, err := q.read().QueryContext(ctx,
		`SELECT version, root, size, seen_at, superseded_at FROM roots WHERE version > $1 ORDER BY version LIMIT $2`,
		int64(afterVersion), pageSize(limit))
	if err != nil {
		return nil, fmt.Errorf("store: roots: %w", err)
	}
	defer rows.Close()
	var out []RootRecord
	for rows.Next() {
		var (
			v, n, seen int64
			root       []byte
			superseded sql.NullInt64
		)
		if err := rows.Scan(&v, &root, &n, &seen, &superseded); err != nil {
			return nil, fmt.Errorf("store: roots: %w", err)
		}
		r := RootRecord{SeenAt: fromMicros(seen), SupersededAt: fromNullMicros(superseded)}
		if r.Root, err = bytes32(root, "root"); err != nil {
			return nil, fmt.Errorf("store: roots: %w", err)
		}
		if r.Version, err = unsigned(v, "root version"); err != nil {
			return nil, fmt.Errorf("store: roots: %w", err)
		}
		if r.Size, err = unsigned(n, "root size"); err != nil {
			return nil, fmt.Errorf("store: roots: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: roots: %w", err)
	}
	return out, nil
}
