-- Cohort store: the ingest's per-record lock (docs/design.md §3.4)
-- (PostgreSQL). A replica of this node holds a record's lock while it
-- ingests the record, decides its rollback or sends a rollback owed for
-- it; every decision it then writes is conditional on the lock's token, in
-- the decision's transaction, so that a replica paused past the lock's
-- expiry writes nothing once another replica took the lock. A row exists
-- while the lock is held (or its holder died holding it).
CREATE TABLE record_locks (
    dataset_id TEXT   NOT NULL REFERENCES datasets (id),
    nullifier  BYTEA  NOT NULL CHECK (octet_length(nullifier) = 32),
    replica    TEXT   COLLATE "C" NOT NULL CHECK (octet_length(replica) BETWEEN 1 AND 64),
    -- Random, drawn at each acquisition: the fence.
    token      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, nullifier)
);
