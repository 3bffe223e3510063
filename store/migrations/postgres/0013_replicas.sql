-- Cohort store: replicas of one node sharing the store (docs/design.md
-- §3.4) (PostgreSQL). A job's lease names the replica that coordinates it
-- and until when; lease_claims counts the claims, so a replica taking over
-- a job can tell one never started (0) from one another replica began. A
-- replica's row is its heartbeat.

ALTER TABLE jobs ADD COLUMN lease_holder TEXT COLLATE "C" NOT NULL DEFAULT ''
    CHECK (octet_length(lease_holder) <= 64);
ALTER TABLE jobs ADD COLUMN lease_expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN lease_claims BIGINT NOT NULL DEFAULT 0 CHECK (lease_claims >= 0);
-- The active jobs a replica may claim, by state.
CREATE INDEX jobs_by_lease ON jobs (state, lease_expires_at);

CREATE TABLE replicas (
    id         TEXT   COLLATE "C" PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 64),
    version    TEXT   NOT NULL CHECK (octet_length(version) <= 64),
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL
);
CREATE INDEX replicas_by_seen ON replicas (seen_at, id);

-- A dataset setup (key generation and ceremony) this node coordinates, and
-- the replica running it: its progress is in that process's memory, so a
-- setup whose replica stopped beating its heartbeat is failed by another.
CREATE TABLE setup_runs (
    dataset_id  TEXT   PRIMARY KEY REFERENCES datasets (id),
    ceremony_id TEXT   NOT NULL CHECK (octet_length(ceremony_id) BETWEEN 1 AND 128),
    replica_id  TEXT   COLLATE "C" NOT NULL CHECK (octet_length(replica_id) BETWEEN 1 AND 64),
    started_at  BIGINT NOT NULL
);
