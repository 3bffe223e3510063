-- Cohort store: each record's leaf in a job's claim tree, H_claim-leaf of
-- its nullifier, hashed once when the record is stored (docs/design.md
-- §5.9, §7.6) (PostgreSQL). Every job that counts the record puts this
-- leaf in its claim tree; hashing it at ingest takes one of the two
-- hashes a record costs every node in every job out of the job. NULL for
-- rows written before this migration: a job hashes those itself.
ALTER TABLE contributions ADD COLUMN claim_leaf BYTEA
    CHECK (claim_leaf IS NULL OR octet_length(claim_leaf) = 32);
