-- Cohort store: what this node records, as a peer, about jobs another node
-- coordinates (SQLite), so that it answers once per job id from durable
-- state. partial is NULL until the peer releases it, never empty.

CREATE TABLE peer_jobs (
    job_id      TEXT    PRIMARY KEY CHECK (length(CAST(job_id AS BLOB)) BETWEEN 1 AND 64),
    coordinator INTEGER NOT NULL CHECK (coordinator BETWEEN 0 AND 4294967295),
    dataset_id  TEXT    NOT NULL REFERENCES datasets (id),
    spec_digest BLOB    NOT NULL CHECK (length(spec_digest) = 32),
    job_time    INTEGER NOT NULL,
    set_digest  BLOB    NOT NULL CHECK (length(set_digest) = 32),
    cohort      INTEGER NOT NULL CHECK (cohort >= 0),
    state       INTEGER NOT NULL CHECK (state BETWEEN 1 AND 2147483647),
    partial     BLOB    CHECK (partial IS NULL OR length(partial) > 0),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
