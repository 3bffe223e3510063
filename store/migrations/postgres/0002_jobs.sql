-- Cohort store: buyer accounts and jobs (PostgreSQL).
-- Ids are COLLATE "C" (bytewise), as SQLite's BINARY, so both engines list
-- jobs in the same order whatever the database's default collation.

CREATE TABLE buyers (
    id         TEXT   COLLATE "C" PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 64),
    token_hash BYTEA  NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at BIGINT NOT NULL
);

CREATE TABLE jobs (
    id               TEXT    COLLATE "C" PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 64),
    buyer            TEXT    COLLATE "C" NOT NULL CHECK (octet_length(buyer) BETWEEN 1 AND 64),
    request_id       TEXT    COLLATE "C" NOT NULL CHECK (octet_length(request_id) BETWEEN 1 AND 64),
    dataset_id       TEXT    NOT NULL REFERENCES datasets (id),
    spec             BYTEA   NOT NULL,
    state            INTEGER NOT NULL,
    reason           TEXT    NOT NULL,
    coordinator      BIGINT  NOT NULL CHECK (coordinator BETWEEN 0 AND 4294967295),
    eligible_records BIGINT  NOT NULL CHECK (eligible_records >= 0),
    cohort_size      BIGINT  NOT NULL CHECK (cohort_size >= 0),
    progress         TEXT    NOT NULL,
    submitted_at     BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    result           BYTEA,
    evidence         BYTEA,
    transcript_id    TEXT    NOT NULL,
    UNIQUE (buyer, request_id)
);
-- A buyer's jobs newest first, and all jobs newest first.
CREATE INDEX jobs_by_buyer ON jobs (buyer, submitted_at, id);
CREATE INDEX jobs_by_time ON jobs (submitted_at, id);
