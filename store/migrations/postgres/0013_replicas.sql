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
