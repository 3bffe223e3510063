-- Cohort store: the eligibility columns of the committed records, in an
-- index a job's selection reads alone (docs/design.md §7.6, §7.7) (SQLite).
--
-- A job first selects its cohort from each record's nullifier, payload
-- digest, epoch, purposes, expiry, minimum cohort and revocation
-- commitment. In the table those columns sit beside the public inputs,
-- proof and share, several hundred bytes a row, so a scan of them read
-- every page of the rows. This index holds them for the rows a job may
-- count (committed, awaiting no node), in (dataset, epoch, nullifier)
-- order: the selection of one epoch reads it in nullifier order, without
-- the table and without sorting. pending and missing close the key so that
-- SQLite sees the index as covering the selection's query.
CREATE INDEX contributions_eligibility ON contributions
    (dataset_id, epoch, nullifier, payload_digest, purposes, expiry, min_cohort, revocation, pending, missing)
    WHERE pending = 0 AND missing = -1;
