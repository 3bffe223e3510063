-- Cohort store: transcript bundles in chunks (docs/design.md §7.6)
-- (PostgreSQL). A bundle written since this migration is stored as
-- consecutive chunks of at most 1 MiB beside its row, whose bundle column
-- is then empty; its size and SHA-256, and those of the bundle without its
-- ceremony (the bytes before ceremony_offset and a zero length), are kept
-- so that a node can announce either before streaming it. A row from
-- before keeps its whole bundle in the bundle column (bundle_size 0).

ALTER TABLE transcripts ADD COLUMN bundle_size BIGINT NOT NULL DEFAULT 0 CHECK (bundle_size >= 0);
ALTER TABLE transcripts ADD COLUMN bundle_sha256 BYTEA CHECK (bundle_sha256 IS NULL OR octet_length(bundle_sha256) = 32);
ALTER TABLE transcripts ADD COLUMN ceremony_offset BIGINT NOT NULL DEFAULT 0 CHECK (ceremony_offset >= 0);
ALTER TABLE transcripts ADD COLUMN light_sha256 BYTEA CHECK (light_sha256 IS NULL OR octet_length(light_sha256) = 32);

CREATE TABLE transcript_chunks (
    transcript_id TEXT    COLLATE "C" NOT NULL REFERENCES transcripts (id),
    seq           INTEGER NOT NULL CHECK (seq >= 0),
    data          BYTEA   NOT NULL CHECK (octet_length(data) BETWEEN 1 AND 1048576),
    PRIMARY KEY (transcript_id, seq)
);
