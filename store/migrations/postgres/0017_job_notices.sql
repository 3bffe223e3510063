-- Cohort store: what a job's coordinator still owes the other nodes once
-- the job ended (docs/design.md §7.5) (PostgreSQL).
--
-- One row per (job, node): for a job that ended without a release
-- (REJECTED, FAILED, CANCELLED) the abort the node must hear, so that it
-- refunds its escrow; for a released job (DONE) the transcript the node
-- must store. Written in the transaction that writes the job's final
-- state, deleted once the node confirmed, so a restart of the coordinator
-- loses neither.
CREATE TABLE job_notices (
    job_id     TEXT    NOT NULL REFERENCES jobs (id),
    peer       BIGINT  NOT NULL CHECK (peer BETWEEN 0 AND 4294967295),
    state      INTEGER NOT NULL CHECK (state BETWEEN 1 AND 2147483647),
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (job_id, peer)
);
CREATE INDEX job_notices_by_age ON job_notices (created_at, job_id, peer);
