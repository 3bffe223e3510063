-- Cohort store: reward claims (docs/design.md §6.8) (SQLite): the claim
-- circuit's federation-wide keys, each released job's reward, the claim
-- nullifiers used, and the payout accounts they credited. Amounts are
-- micro-credits, integers, at most 2^60.

-- The claim circuit's Groth16 keys, one set per federation.
CREATE TABLE claim_keys (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    setup_kind    INTEGER NOT NULL CHECK (setup_kind BETWEEN 1 AND 2),
    proving_key   BLOB    NOT NULL CHECK (length(proving_key) >= 1),
    verifying_key BLOB    NOT NULL CHECK (length(verifying_key) >= 1),
    created_at    INTEGER NOT NULL
) STRICT;

-- A released job's reward: the root of its nullifier tree, the reward per
-- claim, its counted records, and the claims made so far (never more
-- than counted).
CREATE TABLE job_rewards (
    job_id      TEXT    PRIMARY KEY CHECK (length(CAST(job_id AS BLOB)) BETWEEN 1 AND 64),
    dataset_id  TEXT    NOT NULL REFERENCES datasets (id),
    claim_root  BLOB    NOT NULL CHECK (length(claim_root) = 32),
    reward      INTEGER NOT NULL CHECK (reward BETWEEN 0 AND 1152921504606846976),
    counted     INTEGER NOT NULL CHECK (counted >= 0),
    claims      INTEGER NOT NULL DEFAULT 0 CHECK (claims BETWEEN 0 AND counted),
    recorded_at INTEGER NOT NULL
) STRICT;

-- A payout account, named by its public key.
CREATE TABLE payouts (
    payout_key BLOB    PRIMARY KEY CHECK (length(payout_key) = 32),
    credited   INTEGER NOT NULL CHECK (credited BETWEEN 0 AND 1152921504606846976),
    claims     INTEGER NOT NULL CHECK (claims >= 0)
) STRICT;

-- Every claim nullifier used, once in all: the primary key is what makes
-- a claim count once.
CREATE TABLE reward_claims (
    claim_nullifier BLOB    PRIMARY KEY CHECK (length(claim_nullifier) = 32),
    job_id          TEXT    NOT NULL REFERENCES job_rewards (job_id),
    payout_key      BLOB    NOT NULL REFERENCES payouts (payout_key),
    amount          INTEGER NOT NULL CHECK (amount BETWEEN 0 AND 1152921504606846976),
    claimed_at      INTEGER NOT NULL
) STRICT;

CREATE INDEX reward_claims_by_job ON reward_claims (job_id);
