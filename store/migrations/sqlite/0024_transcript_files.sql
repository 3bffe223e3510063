-- Cohort store: transcript bundles as files beside the database
-- (docs/design.md §7.6, §7.7) (SQLite).
--
-- A bundle is hundreds of megabytes at a million records. Stored in
-- transcript_chunks it went through the WAL (written and synced), was
-- copied into the database file by a checkpoint (written and synced
-- again), and every read transaction that began before the copy ended
-- searched the WAL for each page it read: a job's scans, when jobs follow
-- one another. A bundle stored since this migration is a file in the
-- directory beside the database (its path with "-bundles" appended),
-- written and synced before its row commits, and the row names it here.
-- Bundles stored before keep their chunks (bundle_file NULL).
ALTER TABLE transcripts ADD COLUMN bundle_file TEXT
    CHECK (bundle_file IS NULL OR (length(bundle_file) BETWEEN 1 AND 128 AND instr(bundle_file, '/') = 0));
