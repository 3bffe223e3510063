-- Cohort store: job transcripts (SQLite). A transcript's id is its job's.

CREATE TABLE transcripts (
    id          TEXT    PRIMARY KEY CHECK (length(CAST(id AS BLOB)) BETWEEN 1 AND 64),
    dataset_id  TEXT    NOT NULL REFERENCES datasets (id),
    digest      BLOB    NOT NULL CHECK (length(digest) = 32),
    released_at INTEGER NOT NULL,
    cohort_size INTEGER NOT NULL CHECK (cohort_size >= 0),
    bundle      BLOB    NOT NULL
) STRICT;
CREATE INDEX transcripts_by_dataset ON transcripts (dataset_id, released_at, id);
