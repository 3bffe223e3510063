-- Cohort store: what this node records, as a peer, about jobs another node
-- coordinates (PostgreSQL), so that it answers once per job id from durable
-- state. partial is NULL until the peer releases it, never empty.

CREATE TABLE peer_jobs (
    job_id      TEXT    COLLATE "C" PRIMARY KEY CHECK (octet_length(job_id) BETWEEN 1 AND 64),
    coordinator BIGINT  NOT NULL CHECK (coordinator BETWEEN 0 AND 4294967295),
    dataset_id  TEXT    NOT NULL REFERENCES datasets (id),
    spec_digest BYTEA   NOT NULL CHECK (octet_length(spec_digest) = 32),
    job_time    BIGINT  NOT NULL,
    set_digest  BYTEA   NOT NULL CHECK (octet_length(set_digest) = 32),
    cohort      BIGINT  NOT NULL CHECK (cohort >= 0),
    state       INTEGER NOT NULL CHECK (state >= 1),
    partial     BYTEA   CHECK (partial IS NULL OR octet_length(partial) > 0),
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
