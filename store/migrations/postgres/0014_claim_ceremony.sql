-- Cohort store: the claim keys' ceremony (docs/design.md §5.9) and the
-- proofs of recorded claims (§9.5) (PostgreSQL).

-- The ceremony that made the federation's claim keys: its record, signed
-- by every node (a cohort.v1.ClaimCeremony, deterministic encoding), and
-- its transcript (circuits/setup). Absent for keys of a development setup.
CREATE TABLE claim_ceremony (
    id         INTEGER PRIMARY KEY CHECK (id = 1) REFERENCES claim_keys (id),
    record     BYTEA   NOT NULL CHECK (octet_length(record) >= 1),
    transcript BYTEA   NOT NULL CHECK (octet_length(transcript) >= 1)
);

-- A claim's Groth16 proof, kept for the audit of rewards; NULL for claims
-- recorded before proofs were kept.
ALTER TABLE reward_claims ADD COLUMN proof BYTEA;
