-- Cohort store: the state of each record on this node through ingest
-- (docs/design.md §7.5) and the rollbacks still owed to peers (PostgreSQL).
--
-- A record is pending from the moment it is stored until the node that
-- forwarded it (forwarder; this node itself for a record it received from
-- the contributor) decides: committed (pending = 0) or rolled back (the row
-- deleted). Rows stored before this migration were acknowledged: committed.
ALTER TABLE contributions ADD COLUMN pending SMALLINT NOT NULL DEFAULT 0
    CHECK (pending IN (0, 1));
ALTER TABLE contributions ADD COLUMN forwarder BIGINT NOT NULL DEFAULT 0
    CHECK (forwarder BETWEEN 0 AND 4294967295);
-- When the pending state began, renewed each time the forwarder sends the
-- record again; 0 for a committed row.
ALTER TABLE contributions ADD COLUMN pending_since BIGINT NOT NULL DEFAULT 0;
CREATE INDEX contributions_pending ON contributions (dataset_id, nullifier) WHERE pending = 1;

-- A rollback this node decided and a peer has not yet confirmed.
CREATE TABLE rollbacks (
    dataset_id TEXT   NOT NULL REFERENCES datasets (id),
    nullifier  BYTEA  NOT NULL CHECK (octet_length(nullifier) = 32),
    peer       BIGINT NOT NULL CHECK (peer BETWEEN 0 AND 4294967295),
    reason     TEXT   NOT NULL CHECK (octet_length(reason) <= 1024),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, nullifier, peer)
);
