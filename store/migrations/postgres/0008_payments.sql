-- Cohort store: buyers' balances and jobs' escrows (docs/design.md §6.8)
-- (PostgreSQL). Amounts are micro-credits, integers, never floats; every
-- amount and every sum stays at most 2^60 (the store refuses more), so
-- no sum overflows. A buyer's balance row is locked (SELECT … FOR UPDATE)
-- for every change to it, last, after the rows the change is about.

-- A buyer's account: available = credited - charged - held.
CREATE TABLE buyer_balances (
    buyer    TEXT    COLLATE "C" PRIMARY KEY REFERENCES buyers (id),
    credited BIGINT  NOT NULL CHECK (credited BETWEEN 0 AND 1152921504606846976),
    charged  BIGINT  NOT NULL CHECK (charged >= 0),
    held     BIGINT  NOT NULL CHECK (held >= 0),
    CHECK (charged + held <= credited)
);

-- Every credit, once per credit id, so a replayed one is applied once.
CREATE TABLE buyer_credits (
    credit_id   TEXT    COLLATE "C" PRIMARY KEY CHECK (octet_length(credit_id) BETWEEN 1 AND 64),
    buyer       TEXT    COLLATE "C" NOT NULL REFERENCES buyers (id),
    amount      BIGINT  NOT NULL CHECK (amount BETWEEN 1 AND 1152921504606846976),
    credited_at BIGINT  NOT NULL
);

-- One escrow per job: held = price * max_cohort + fee while state is 1
-- (held); charged = price * cohort + fee once 2 (settled); nothing once 3
-- (refunded).
CREATE TABLE escrows (
    job_id     TEXT    COLLATE "C" PRIMARY KEY CHECK (octet_length(job_id) BETWEEN 1 AND 64),
    buyer      TEXT    COLLATE "C" NOT NULL REFERENCES buyers (id),
    dataset_id TEXT    NOT NULL REFERENCES datasets (id),
    price      BIGINT  NOT NULL CHECK (price >= 0),
    fee        BIGINT  NOT NULL CHECK (fee >= 0),
    max_cohort BIGINT  NOT NULL CHECK (max_cohort >= 0),
    held       BIGINT  NOT NULL CHECK (held BETWEEN 1 AND 1152921504606846976),
    state      BIGINT  NOT NULL CHECK (state BETWEEN 1 AND 3),
    cohort     BIGINT  NOT NULL DEFAULT 0 CHECK (cohort BETWEEN 0 AND max_cohort),
    charged    BIGINT  NOT NULL DEFAULT 0 CHECK (charged BETWEEN 0 AND held),
    held_at    BIGINT  NOT NULL,
    ended_at   BIGINT
);

CREATE INDEX escrows_by_buyer ON escrows (buyer, held_at);
