-- Cohort store: the HE backend's key shares and decryption shares (PostgreSQL).

-- A node's threshold share of an HE dataset's collective secret key, sealed
-- to the node's own sealing key (never stored in the clear). Written when
-- the key generation finishes, before the dataset row exists on this node.
CREATE TABLE he_keys (
    dataset_id        TEXT   COLLATE "C" PRIMARY KEY CHECK (octet_length(dataset_id) BETWEEN 1 AND 64),
    public_key_digest BYTEA  NOT NULL CHECK (octet_length(public_key_digest) = 32),
    sealed            BYTEA  NOT NULL,
    created_at        BIGINT NOT NULL
);

-- The one decryption share this node produced for an aggregate ciphertext.
-- The primary key makes a second share for the same aggregate impossible.
CREATE TABLE decryption_shares (
    dataset_id     TEXT   COLLATE "C" NOT NULL REFERENCES datasets (id),
    aggregate      BYTEA  NOT NULL CHECK (octet_length(aggregate) = 32),
    decryption_set BYTEA  NOT NULL CHECK (octet_length(decryption_set) BETWEEN 1 AND 16),
    job_id         TEXT   COLLATE "C" NOT NULL CHECK (octet_length(job_id) BETWEEN 1 AND 64),
    share          BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (dataset_id, aggregate)
);
