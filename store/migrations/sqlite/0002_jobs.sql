-- Cohort store: buyer accounts and jobs (SQLite).
-- Ids compare bytewise (BINARY), as the PostgreSQL schema's COLLATE "C", so
-- both engines list jobs in the same order.

CREATE TABLE buyers (
    id         TEXT    PRIMARY KEY CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 64),
    token_hash BLOB    NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 64),
    buyer            TEXT    NOT NULL CHECK (length(CAST(buyer AS BLOB)) BETWEEN 1 AND 64),
    request_id       TEXT    NOT NULL CHECK (length(CAST(request_id AS BLOB)) BETWEEN 1 AND 64),
    dataset_id       TEXT    NOT NULL REFERENCES datasets (id),
    spec             BLOB    NOT NULL,
    state            INTEGER NOT NULL CHECK (state BETWEEN -2147483648 AND 2147483647),
    reason           TEXT    NOT NULL,
    coordinator      INTEGER NOT NULL CHECK (coordinator BETWEEN 0 AND 4294967295),
    eligible_records INTEGER NOT NULL CHECK (eligible_records >= 0),
    cohort_size      INTEGER NOT NULL CHECK (cohort_size >= 0),
    progress         TEXT    NOT NULL,
    submitted_at     INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    result           BLOB,
    evidence         BLOB,
    transcript_id    TEXT    NOT NULL,
    UNIQUE (buyer, request_id)
) STRICT;
-- A buyer's jobs newest first, and all jobs newest first.
CREATE INDEX jobs_by_buyer ON jobs (buyer, submitted_at, id);
CREATE INDEX jobs_by_time ON jobs (submitted_at, id);
