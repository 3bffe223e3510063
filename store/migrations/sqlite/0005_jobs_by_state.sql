-- Cohort store: a buyer's jobs by state (SQLite), for AdmitJob's count of
-- the buyer's active jobs.

CREATE INDEX jobs_by_buyer_state ON jobs (buyer, state);
