-- Cohort store, initial schema (PostgreSQL).
-- Times are Unix microseconds (UTC) in BIGINT columns, as in the SQLite
-- schema, so both engines round-trip the same values; 32-byte values are BYTEA.

CREATE TABLE datasets (
    id         TEXT   PRIMARY KEY,
    descriptor BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE dataset_keys (
    dataset_id    TEXT  PRIMARY KEY REFERENCES datasets (id),
    proving_key   BYTEA NOT NULL,
    verifying_key BYTEA NOT NULL,
    transcript    BYTEA NOT NULL
);

CREATE TABLE invites (
    token_hash BYTEA  PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

-- The single row that serialises registry changes (locked FOR UPDATE).
CREATE TABLE registry_head (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL CHECK (version >= 0),
    size    BIGINT  NOT NULL CHECK (size >= 0)
);
INSERT INTO registry_head (id, version, size) VALUES (1, 0, 0);

CREATE TABLE members (
    idx        BIGINT PRIMARY KEY CHECK (idx >= 0),
    ic         BYTEA  NOT NULL UNIQUE CHECK (octet_length(ic) = 32),
    added_at   BIGINT NOT NULL,
    removed_at BIGINT
);

CREATE TABLE roots (
    version       BIGINT PRIMARY KEY CHECK (version >= 1),
    root          BYTEA  NOT NULL CHECK (octet_length(root) = 32),
    size          BIGINT NOT NULL,
    seen_at       BIGINT NOT NULL,
    superseded_at BIGINT
);
CREATE INDEX roots_by_root ON roots (root, version);

CREATE TABLE contributions (
    dataset_id     TEXT    NOT NULL REFERENCES datasets (id),
    nullifier      BYTEA   NOT NULL CHECK (octet_length(nullifier) = 32),
    epoch          BIGINT  NOT NULL CHECK (epoch >= 0),
    payload_digest BYTEA   NOT NULL CHECK (octet_length(payload_digest) = 32),
    public_inputs  BYTEA   NOT NULL,
    proof          BYTEA   NOT NULL,
    share          BYTEA   NOT NULL,
    purposes       BIGINT  NOT NULL,
    expiry         BIGINT  NOT NULL,
    min_cohort     BIGINT  NOT NULL CHECK (min_cohort >= 0),
    revocation     BYTEA   NOT NULL CHECK (octet_length(revocation) = 32),
    received_at    BIGINT  NOT NULL,
    receipt        BYTEA   NOT NULL,
    PRIMARY KEY (dataset_id, nullifier)
);
CREATE INDEX contributions_by_epoch ON contributions (dataset_id, epoch, nullifier);
CREATE INDEX contributions_by_revocation ON contributions (dataset_id, revocation);

CREATE TABLE revocations (
    dataset_id TEXT   NOT NULL REFERENCES datasets (id),
    revocation BYTEA  NOT NULL CHECK (octet_length(revocation) = 32),
    token      BYTEA  NOT NULL CHECK (octet_length(token) = 32),
    revoked_at BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, revocation)
);
