-- Cohort store: buyers' public keys and the signed submission of each job
-- (docs/design.md §8.2) (SQLite). An account created before keys has none
-- and cannot submit jobs; a job submitted before keys has no submission.

-- The buyer's Ed25519 public key (NULL for an account without one).
ALTER TABLE buyers ADD COLUMN public_key BLOB
    CHECK (public_key IS NULL OR length(public_key) = 32);

-- The buyer's signed submission of the job (cohort.v1.JobSubmission,
-- deterministic encoding; NULL for a job stored before submissions).
ALTER TABLE jobs ADD COLUMN submission BLOB
    CHECK (submission IS NULL OR length(submission) BETWEEN 1 AND 4096);
