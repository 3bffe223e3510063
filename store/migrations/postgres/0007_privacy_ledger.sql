-- Cohort store: the privacy ledger (docs/design.md §6.6) and what a peer
-- job is charged to (PostgreSQL). Amounts of ρ are exact non-negative
-- rationals in big.Rat's RatString form ("p" or "p/q", lowest terms), as
-- TEXT, never floats. Ledger rows are locked (SELECT … FOR UPDATE) in
-- epoch order, epochs before buyers' shares, so debits serialise per epoch.

-- The buyer a peer job is charged to ('' for an exact release) and this
-- node's noise drawn for it (NULL when none, never empty).
ALTER TABLE peer_jobs ADD COLUMN buyer TEXT NOT NULL DEFAULT ''
    CHECK (octet_length(buyer) <= 64);
ALTER TABLE peer_jobs ADD COLUMN noise BYTEA
    CHECK (noise IS NULL OR octet_length(noise) BETWEEN 1 AND 1048576);

-- The ρ all buyers together spent on each epoch of a dataset.
CREATE TABLE privacy_epochs (
    dataset_id TEXT   NOT NULL REFERENCES datasets (id),
    epoch      BIGINT NOT NULL CHECK (epoch >= 0),
    spent      TEXT   NOT NULL CHECK (octet_length(spent) BETWEEN 1 AND 4096),
    PRIMARY KEY (dataset_id, epoch)
);

-- The ρ each buyer spent on each epoch of a dataset.
CREATE TABLE privacy_buyer_epochs (
    dataset_id TEXT   NOT NULL REFERENCES datasets (id),
    buyer      TEXT   COLLATE "C" NOT NULL CHECK (octet_length(buyer) BETWEEN 1 AND 64),
    epoch      BIGINT NOT NULL CHECK (epoch >= 0),
    spent      TEXT   NOT NULL CHECK (octet_length(spent) BETWEEN 1 AND 4096),
    PRIMARY KEY (dataset_id, buyer, epoch)
);

-- One debit per job: ρ taken from every epoch of [epoch_from, epoch_to]
-- under the totals in force then.
CREATE TABLE privacy_debits (
    job_id      TEXT   COLLATE "C" PRIMARY KEY CHECK (octet_length(job_id) BETWEEN 1 AND 64),
    dataset_id  TEXT   NOT NULL REFERENCES datasets (id),
    buyer       TEXT   COLLATE "C" NOT NULL CHECK (octet_length(buyer) BETWEEN 1 AND 64),
    epoch_from  BIGINT NOT NULL CHECK (epoch_from >= 0),
    epoch_to    BIGINT NOT NULL CHECK (epoch_to - epoch_from BETWEEN 0 AND 4095),
    rho         TEXT   NOT NULL CHECK (octet_length(rho) BETWEEN 1 AND 256),
    epoch_total TEXT   NOT NULL CHECK (octet_length(epoch_total) BETWEEN 1 AND 256),
    buyer_total TEXT   NOT NULL CHECK (octet_length(buyer_total) BETWEEN 1 AND 256),
    debited_at  BIGINT NOT NULL
);

-- What each epoch's spent amounts were before a debit; after is before + ρ.
CREATE TABLE privacy_debit_entries (
    job_id       TEXT   COLLATE "C" NOT NULL REFERENCES privacy_debits (job_id),
    epoch        BIGINT NOT NULL CHECK (epoch >= 0),
    epoch_before TEXT   NOT NULL CHECK (octet_length(epoch_before) BETWEEN 1 AND 4096),
    buyer_before TEXT   NOT NULL CHECK (octet_length(buyer_before) BETWEEN 1 AND 4096),
    PRIMARY KEY (job_id, epoch)
);
