-- Cohort store: job transcripts (PostgreSQL). A transcript's id is its job's.

CREATE TABLE transcripts (
    id          TEXT   COLLATE "C" PRIMARY KEY CHECK (octet_length(id) BETWEEN 1 AND 64),
    dataset_id  TEXT   NOT NULL REFERENCES datasets (id),
    digest      BYTEA  NOT NULL CHECK (octet_length(digest) = 32),
    released_at BIGINT NOT NULL,
    cohort_size BIGINT NOT NULL CHECK (cohort_size >= 0),
    bundle      BYTEA  NOT NULL
);
CREATE INDEX transcripts_by_dataset ON transcripts (dataset_id, released_at, id);
