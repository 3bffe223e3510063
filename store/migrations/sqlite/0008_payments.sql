-- Cohort store: buyers' balances and jobs' escrows (docs/design.md §6.8)
-- (SQLite). Amounts are micro-credits, integers, never floats; every
-- amount and every sum stays at most 2^60 (the store refuses more), so
-- no sum overflows.

-- A buyer's account: available = credited - charged - held.
CREATE TABLE buyer_balances (
    buyer    TEXT    PRIMARY KEY REFERENCES buyers (id),
    credited INTEGER NOT NULL CHECK (credited BETWEEN 0 AND 1152921504606846976),
    charged  INTEGER NOT NULL CHECK (charged >= 0),
    held     INTEGER NOT NULL CHECK (held >= 0),
    CHECK (charged + held <= credited)
) STRICT;

-- Every credit, once per credit id, so a replayed one is applied once.
CREATE TABLE buyer_credits (
    credit_id   TEXT    PRIMARY KEY CHECK (length(CAST(credit_id AS BLOB)) BETWEEN 1 AND 64),
    buyer       TEXT    NOT NULL REFERENCES buyers (id),
    amount      INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 1152921504606846976),
    credited_at INTEGER NOT NULL
) STRICT;

-- One escrow per job: held = price * max_cohort + fee while state is 1
-- (held); charged = price * cohort + fee once 2 (settled); nothing once 3
-- (refunded).
CREATE TABLE escrows (
    job_id     TEXT    PRIMARY KEY CHECK (length(CAST(job_id AS BLOB)) BETWEEN 1 AND 64),
    buyer      TEXT    NOT NULL REFERENCES buyers (id),
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    price      INTEGER NOT NULL CHECK (price >= 0),
    fee        INTEGER NOT NULL CHECK (fee >= 0),
    max_cohort INTEGER NOT NULL CHECK (max_cohort >= 0),
    held       INTEGER NOT NULL CHECK (held BETWEEN 1 AND 1152921504606846976),
    state      INTEGER NOT NULL CHECK (state BETWEEN 1 AND 3),
    cohort     INTEGER NOT NULL DEFAULT 0 CHECK (cohort BETWEEN 0 AND max_cohort),
    charged    INTEGER NOT NULL DEFAULT 0 CHECK (charged BETWEEN 0 AND held),
    held_at    INTEGER NOT NULL,
    ended_at   INTEGER
) STRICT;

CREATE INDEX escrows_by_buyer ON escrows (buyer, held_at);
