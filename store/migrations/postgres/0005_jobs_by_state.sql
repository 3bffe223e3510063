-- Cohort store: a buyer's jobs by state (PostgreSQL), for AdmitJob's count
-- of the buyer's active jobs.

CREATE INDEX jobs_by_buyer_state ON jobs (buyer, state);
