-- Cohort store: transcript chunks in a rowid table (docs/design.md §7.7)
-- (SQLite).
--
-- Migration 0019 made transcript_chunks a WITHOUT ROWID table, whose rows
-- live in the b-tree of their key. A chunk is up to 1 MiB, far beyond a
-- page, and SQLite compares a new key against a cell whose payload
-- overflows by reading that cell's whole payload: every chunk inserted
-- read several chunks back, a twelfth of a job's work at 100,000 records.
-- Here the chunks live in a rowid table and their key in an index of its
-- own, whose cells are small. The chunks stored so far are copied over.

CREATE TABLE transcript_chunks_rowid (
    transcript_id TEXT    NOT NULL REFERENCES transcripts (id),
    seq           INTEGER NOT NULL CHECK (seq >= 0),
    data          BLOB    NOT NULL CHECK (length(data) BETWEEN 1 AND 1048576),
    PRIMARY KEY (transcript_id, seq)
) STRICT;

INSERT INTO transcript_chunks_rowid (transcript_id, seq, data)
SELECT transcript_id, seq, data FROM transcript_chunks ORDER BY transcript_id, seq;

DROP TABLE transcript_chunks;

ALTER TABLE transcript_chunks_rowid RENAME TO transcript_chunks;
