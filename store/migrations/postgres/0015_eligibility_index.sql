-- Cohort store: the eligibility columns of the committed records, in an
-- index a job's selection reads alone (docs/design.md §7.6, §7.7)
-- (PostgreSQL).
--
-- A job first selects its cohort from each record's nullifier, payload
-- digest, epoch, purposes, expiry, minimum cohort and revocation
-- commitment. In the table those columns sit beside the public inputs,
-- proof and share, several hundred bytes a row. This index holds them for
-- the rows a job may count (committed, awaiting no node), in (dataset,
-- epoch, nullifier) order, so that the selection of one epoch is an
-- index-only scan in nullifier order.
CREATE INDEX contributions_eligibility ON contributions (dataset_id, epoch, nullifier)
    INCLUDE (payload_digest, purposes, expiry, min_cohort, revocation)
    WHERE pending = 0 AND missing = -1;
