-- Cohort store: records committed while a node was down, and the payloads
-- held for it until it catches up (docs/design.md §7.5) (SQLite).
--
-- missing is the node a committed record still awaits (-1: none). Such a
-- record is counted by no job, and its forwarder may still roll it back
-- (the missing node refused it).
ALTER TABLE contributions ADD COLUMN missing INTEGER NOT NULL DEFAULT -1
    CHECK (missing BETWEEN -1 AND 4294967295);
CREATE INDEX contributions_incomplete ON contributions (dataset_id, nullifier) WHERE missing >= 0;

-- A payload this node forwarded and committed while peer was down, held
-- until peer acknowledges it. Written in the transaction that commits the
-- forwarder's own row.
CREATE TABLE catchups (
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    nullifier  BLOB    NOT NULL CHECK (length(nullifier) = 32),
    peer       INTEGER NOT NULL CHECK (peer BETWEEN 0 AND 4294967295),
    payload    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, nullifier, peer)
) STRICT;
CREATE INDEX catchups_by_peer ON catchups (peer, created_at);
