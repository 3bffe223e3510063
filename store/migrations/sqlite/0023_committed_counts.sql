-- Cohort store: the committed records of each dataset and epoch, counted
-- as they change (docs/design.md §7.7) (SQLite).
--
-- A job counts a dataset's committed records (pending = 0, missing = -1)
-- in its epochs when it prepares, and again before it sums, to tell that
-- nothing was committed since (§7.6). A count(*) walks every entry of the
-- eligibility index in the range: tens of milliseconds at 100,000 records,
-- on every node, twice per job. Here the count of each (dataset, epoch) is
-- kept by triggers in the transaction that changes a row, so that a count
-- reads one row per epoch. SQLite has one writer: the counts are no point
-- of contention. A committed record is never deleted, but the triggers
-- count every change, so the counts stay those of the table whatever
-- writes it.

CREATE TABLE committed_counts (
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    records    INTEGER NOT NULL CHECK (records >= 0),
    PRIMARY KEY (dataset_id, epoch)
) STRICT, WITHOUT ROWID;

INSERT INTO committed_counts (dataset_id, epoch, records)
SELECT dataset_id, epoch, count(*) FROM contributions
 WHERE pending = 0 AND missing = -1
 GROUP BY dataset_id, epoch;

CREATE TRIGGER committed_counts_insert AFTER INSERT ON contributions
WHEN NEW.pending = 0 AND NEW.missing = -1
BEGIN
    INSERT INTO committed_counts (dataset_id, epoch, records) VALUES (NEW.dataset_id, NEW.epoch, 1)
        ON CONFLICT (dataset_id, epoch) DO UPDATE SET records = records + 1;
END;

CREATE TRIGGER committed_counts_delete AFTER DELETE ON contributions
WHEN OLD.pending = 0 AND OLD.missing = -1
BEGIN
    UPDATE committed_counts SET records = records - 1
     WHERE dataset_id = OLD.dataset_id AND epoch = OLD.epoch;
END;

CREATE TRIGGER committed_counts_update AFTER UPDATE OF dataset_id, epoch, pending, missing ON contributions
WHEN (OLD.pending = 0 AND OLD.missing = -1) OR (NEW.pending = 0 AND NEW.missing = -1)
BEGIN
    UPDATE committed_counts SET records = records - 1
     WHERE OLD.pending = 0 AND OLD.missing = -1 AND dataset_id = OLD.dataset_id AND epoch = OLD.epoch;
    INSERT INTO committed_counts (dataset_id, epoch, records)
    SELECT NEW.dataset_id, NEW.epoch, 1 WHERE NEW.pending = 0 AND NEW.missing = -1
        ON CONFLICT (dataset_id, epoch) DO UPDATE SET records = records + 1;
END;
