-- Cohort store: reward claims (docs/design.md §6.8) (PostgreSQL): the
-- claim circuit's federation-wide keys, each released job's reward, the
-- claim nullifiers used, and the payout accounts they credited. Amounts
-- are micro-credits, integers, at most 2^60. A claim locks its job's
-- reward row, then its payout row.

-- The claim circuit's Groth16 keys, one set per federation.
CREATE TABLE claim_keys (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    setup_kind    INTEGER NOT NULL CHECK (setup_kind BETWEEN 1 AND 2),
    proving_key   BYTEA   NOT NULL CHECK (octet_length(proving_key) >= 1),
    verifying_key BYTEA   NOT NULL CHECK (octet_length(verifying_key) >= 1),
    created_at    BIGINT  NOT NULL
);

-- A released job's reward: the root of its nullifier tree, the reward per
-- claim, its counted records, and the claims made so far (never more
-- than counted).
CREATE TABLE job_rewards (
    job_id      TEXT    COLLATE "C" PRIMARY KEY CHECK (octet_length(job_id) BETWEEN 1 AND 64),
    dataset_id  TEXT    COLLATE "C" NOT NULL REFERENCES datasets (id),
    claim_root  BYTEA   NOT NULL CHECK (octet_length(claim_root) = 32),
    reward      BIGINT  NOT NULL CHECK (reward BETWEEN 0 AND 1152921504606846976),
    counted     BIGINT  NOT NULL CHECK (counted >= 0),
    claims      BIGINT  NOT NULL DEFAULT 0 CHECK (claims BETWEEN 0 AND counted),
    recorded_at BIGINT  NOT NULL
);

-- A payout account, named by its public key.
CREATE TABLE payouts (
    payout_key BYTEA   PRIMARY KEY CHECK (octet_length(payout_key) = 32),
    credited   BIGINT  NOT NULL CHECK (credited BETWEEN 0 AND 1152921504606846976),
    claims     BIGINT  NOT NULL CHECK (claims >= 0)
);

-- Every claim nullifier used, once in all: the primary key is what makes
-- a claim count once.
CREATE TABLE reward_claims (
    claim_nullifier BYTEA   PRIMARY KEY CHECK (octet_length(claim_nullifier) = 32),
    job_id          TEXT    COLLATE "C" NOT NULL REFERENCES job_rewards (job_id),
    payout_key      BYTEA   NOT NULL REFERENCES payouts (payout_key),
    amount          BIGINT  NOT NULL CHECK (amount BETWEEN 0 AND 1152921504606846976),
    claimed_at      BIGINT  NOT NULL
);

CREATE INDEX reward_claims_by_job ON reward_claims (job_id);
