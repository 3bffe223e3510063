-- Cohort store: replicas of one node sharing the store (docs/design.md
-- §3.4) (SQLite). A job's lease names the replica that coordinates it and
-- until when; lease_claims counts the claims, so a replica taking over a
-- job can tell one never started (0) from one another replica began. A
-- replica's row is its heartbeat.

ALTER TABLE jobs ADD COLUMN lease_holder TEXT NOT NULL DEFAULT ''
    CHECK (length(CAST(lease_holder AS BLOB)) <= 64);
ALTER TABLE jobs ADD COLUMN lease_expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_claims INTEGER NOT NULL DEFAULT 0 CHECK (lease_claims >= 0);
-- The active jobs a replica may claim, by state.
CREATE INDEX jobs_by_lease ON jobs (state, lease_expires_at);

CREATE TABLE replicas (
    id         TEXT    PRIMARY KEY CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 64),
    version    TEXT    NOT NULL CHECK (length(CAST(version AS BLOB)) <= 64),
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX replicas_by_seen ON replicas (seen_at, id);

-- A dataset setup (key generation and ceremony) this node coordinates, and
-- the replica running it: its progress is in that process's memory, so a
-- setup whose replica stopped beating its heartbeat is failed by another.
CREATE TABLE setup_runs (
    dataset_id  TEXT    PRIMARY KEY REFERENCES datasets (id),
    ceremony_id TEXT    NOT NULL CHECK (length(CAST(ceremony_id AS BLOB)) BETWEEN 1 AND 128),
    replica_id  TEXT    NOT NULL CHECK (length(CAST(replica_id AS BLOB)) BETWEEN 1 AND 64),
    started_at  INTEGER NOT NULL
) STRICT;
