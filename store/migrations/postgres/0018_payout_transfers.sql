-- Cohort store: payout transfers (docs/design.md §6.8) (PostgreSQL): what
-- a payout account moved to buyers' balances, signed by its payout key,
-- once per transfer id. A payout account holds credited - transferred. A
-- transfer locks the payout row, then the buyer's balance row.

ALTER TABLE payouts ADD COLUMN transferred BIGINT NOT NULL DEFAULT 0 CHECK (transferred >= 0 AND transferred <= credited);

-- Every transfer, once per transfer id: the primary key is what makes a
-- replayed transfer count once.
CREATE TABLE payout_transfers (
    transfer_id    TEXT    COLLATE "C" PRIMARY KEY CHECK (octet_length(transfer_id) BETWEEN 1 AND 64),
    payout_key     BYTEA   NOT NULL REFERENCES payouts (payout_key),
    buyer          TEXT    COLLATE "C" NOT NULL REFERENCES buyers (id),
    amount         BIGINT  NOT NULL CHECK (amount BETWEEN 1 AND 1152921504606846976),
    signature      BYTEA   NOT NULL CHECK (octet_length(signature) = 64),
    transferred_at BIGINT  NOT NULL
);

CREATE INDEX payout_transfers_by_key ON payout_transfers (payout_key);
