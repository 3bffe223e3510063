-- Cohort store: payout transfers (docs/design.md §6.8) (SQLite): what a
-- payout account moved to buyers' balances, signed by its payout key, once
-- per transfer id. A payout account holds credited - transferred.

ALTER TABLE payouts ADD COLUMN transferred INTEGER NOT NULL DEFAULT 0 CHECK (transferred BETWEEN 0 AND credited);

-- Every transfer, once per transfer id: the primary key is what makes a
-- replayed transfer count once.
CREATE TABLE payout_transfers (
    transfer_id    TEXT    PRIMARY KEY CHECK (length(CAST(transfer_id AS BLOB)) BETWEEN 1 AND 64),
    payout_key     BLOB    NOT NULL REFERENCES payouts (payout_key),
    buyer          TEXT    NOT NULL REFERENCES buyers (id),
    amount         INTEGER NOT NULL CHECK (amount BETWEEN 1 AND 1152921504606846976),
    signature      BLOB    NOT NULL CHECK (length(signature) = 64),
    transferred_at INTEGER NOT NULL
) STRICT;

CREATE INDEX payout_transfers_by_key ON payout_transfers (payout_key);
