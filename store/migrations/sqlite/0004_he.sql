-- Cohort store: the HE backend's key shares and decryption shares (SQLite).

-- A node's threshold share of an HE dataset's collective secret key, sealed
-- to the node's own sealing key (never stored in the clear). Written when
-- the key generation finishes, before the dataset row exists on this node.
CREATE TABLE he_keys (
    dataset_id        TEXT    PRIMARY KEY CHECK (length(CAST(dataset_id AS BLOB)) BETWEEN 1 AND 64),
    public_key_digest BLOB    NOT NULL CHECK (length(public_key_digest) = 32),
    sealed            BLOB    NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;

-- The one decryption share this node produced for an aggregate ciphertext.
-- The primary key makes a second share for the same aggregate impossible.
CREATE TABLE decryption_shares (
    dataset_id     TEXT    NOT NULL REFERENCES datasets (id),
    aggregate      BLOB    NOT NULL CHECK (length(aggregate) = 32),
    decryption_set BLOB    NOT NULL CHECK (length(decryption_set) BETWEEN 1 AND 16),
    job_id         TEXT    NOT NULL CHECK (length(CAST(job_id AS BLOB)) BETWEEN 1 AND 64),
    share          BLOB    NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (dataset_id, aggregate)
) STRICT;
