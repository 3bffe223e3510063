-- Cohort store: the replica that forwards a pending record of this node's
-- own (docs/design.md §3.4) (SQLite). A replica settles at start only its
-- own undecided ingests, and any replica those of a replica whose heartbeat
-- stopped. '' for a record this node did not forward, for a committed one,
-- and for rows written before this migration (settled by the next replica
-- to start, as before).
ALTER TABLE contributions ADD COLUMN replica TEXT NOT NULL DEFAULT ''
    CHECK (length(CAST(replica AS BLOB)) <= 64);
