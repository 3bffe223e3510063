-- Cohort store: the privacy ledger (docs/design.md §6.6) and what a peer
-- job is charged to (SQLite). Amounts of ρ are exact non-negative
-- rationals in big.Rat's RatString form ("p" or "p/q", lowest terms), as
-- TEXT, never floats.

-- The buyer a peer job is charged to ('' for an exact release) and this
-- node's noise drawn for it (NULL when none, never empty).
ALTER TABLE peer_jobs ADD COLUMN buyer TEXT NOT NULL DEFAULT ''
    CHECK (length(CAST(buyer AS BLOB)) <= 64);
ALTER TABLE peer_jobs ADD COLUMN noise BLOB
    CHECK (noise IS NULL OR length(noise) BETWEEN 1 AND 1048576);

-- The ρ all buyers together spent on each epoch of a dataset.
CREATE TABLE privacy_epochs (
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    spent      TEXT    NOT NULL CHECK (length(spent) BETWEEN 1 AND 4096),
    PRIMARY KEY (dataset_id, epoch)
) STRICT;

-- The ρ each buyer spent on each epoch of a dataset.
CREATE TABLE privacy_buyer_epochs (
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    buyer      TEXT    NOT NULL CHECK (length(CAST(buyer AS BLOB)) BETWEEN 1 AND 64),
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    spent      TEXT    NOT NULL CHECK (length(spent) BETWEEN 1 AND 4096),
    PRIMARY KEY (dataset_id, buyer, epoch)
) STRICT;

-- One debit per job: ρ taken from every epoch of [epoch_from, epoch_to]
-- under the totals in force then.
CREATE TABLE privacy_debits (
    job_id      TEXT    PRIMARY KEY CHECK (length(CAST(job_id AS BLOB)) BETWEEN 1 AND 64),
    dataset_id  TEXT    NOT NULL REFERENCES datasets (id),
    buyer       TEXT    NOT NULL CHECK (length(CAST(buyer AS BLOB)) BETWEEN 1 AND 64),
    epoch_from  INTEGER NOT NULL CHECK (epoch_from >= 0),
    epoch_to    INTEGER NOT NULL CHECK (epoch_to - epoch_from BETWEEN 0 AND 4095),
    rho         TEXT    NOT NULL CHECK (length(rho) BETWEEN 1 AND 256),
    epoch_total TEXT    NOT NULL CHECK (length(epoch_total) BETWEEN 1 AND 256),
    buyer_total TEXT    NOT NULL CHECK (length(buyer_total) BETWEEN 1 AND 256),
    debited_at  INTEGER NOT NULL
) STRICT;

-- What each epoch's spent amounts were before a debit; after is before + ρ.
CREATE TABLE privacy_debit_entries (
    job_id       TEXT    NOT NULL REFERENCES privacy_debits (job_id),
    epoch        INTEGER NOT NULL CHECK (epoch >= 0),
    epoch_before TEXT    NOT NULL CHECK (length(epoch_before) BETWEEN 1 AND 4096),
    buyer_before TEXT    NOT NULL CHECK (length(buyer_before) BETWEEN 1 AND 4096),
    PRIMARY KEY (job_id, epoch)
) STRICT;
