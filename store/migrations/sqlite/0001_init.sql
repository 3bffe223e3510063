-- Cohort store, initial schema (SQLite).
-- Times are Unix microseconds (UTC) in INTEGER columns; 32-byte values are BLOBs.

CREATE TABLE datasets (
    id         TEXT    PRIMARY KEY,
    descriptor BLOB    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE dataset_keys (
    dataset_id    TEXT PRIMARY KEY REFERENCES datasets (id),
    proving_key   BLOB NOT NULL,
    verifying_key BLOB NOT NULL,
    transcript    BLOB NOT NULL
) STRICT;

CREATE TABLE invites (
    token_hash BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- The single row that serialises registry changes.
CREATE TABLE registry_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL CHECK (version >= 0),
    size    INTEGER NOT NULL CHECK (size >= 0)
) STRICT;
INSERT INTO registry_head (id, version, size) VALUES (1, 0, 0);

CREATE TABLE members (
    idx        INTEGER PRIMARY KEY CHECK (idx >= 0),
    ic         BLOB    NOT NULL UNIQUE CHECK (length(ic) = 32),
    added_at   INTEGER NOT NULL,
    removed_at INTEGER
) STRICT;

CREATE TABLE roots (
    version       INTEGER PRIMARY KEY CHECK (version >= 1),
    root          BLOB    NOT NULL CHECK (length(root) = 32),
    size          INTEGER NOT NULL,
    seen_at       INTEGER NOT NULL,
    superseded_at INTEGER
) STRICT;
CREATE INDEX roots_by_root ON roots (root, version);

CREATE TABLE contributions (
    dataset_id    TEXT    NOT NULL REFERENCES datasets (id),
    nullifier     BLOB    NOT NULL CHECK (length(nullifier) = 32),
    epoch         INTEGER NOT NULL CHECK (epoch >= 0),
    payload_digest BLOB   NOT NULL CHECK (length(payload_digest) = 32),
    public_inputs BLOB    NOT NULL,
    proof         BLOB    NOT NULL,
    share         BLOB    NOT NULL,
    purposes      INTEGER NOT NULL,
    expiry        INTEGER NOT NULL,
    min_cohort    INTEGER NOT NULL CHECK (min_cohort >= 0),
    revocation    BLOB    NOT NULL CHECK (length(revocation) = 32),
    received_at   INTEGER NOT NULL,
    receipt       BLOB    NOT NULL,
    PRIMARY KEY (dataset_id, nullifier)
) STRICT;
CREATE INDEX contributions_by_epoch ON contributions (dataset_id, epoch, nullifier);
CREATE INDEX contributions_by_revocation ON contributions (dataset_id, revocation);

CREATE TABLE revocations (
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    revocation BLOB    NOT NULL CHECK (length(revocation) = 32),
    token      BLOB    NOT NULL CHECK (length(token) = 32),
    revoked_at INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, revocation)
) STRICT;
