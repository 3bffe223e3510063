// Package store is a Cohort node's durable state behind one interface,
// [Store], with two engines: embedded SQLite (the default, pure Go, no cgo)
// and PostgreSQL. It stores datasets and their Groth16 keys, invite tokens
// (their hashes), the registry of identity commitments with its root
// history, accepted contributions (proof, public inputs, this node's opened
// share, receipt), revocations, buyer accounts, jobs, their transcripts, HE
// key and decryption shares, what this node records as a peer of jobs
// other nodes coordinate, and its privacy ledger. It holds bytes and small scalars and decodes none
// of them: it imports no protocol package; services hand it encoded values
// and validate them before they arrive. Stored 32-byte values are
// length-checked when read, and a malformed row is an error, never a panic.
//
// # Concerns
//
// Store is made of small interfaces named after what they hold: [Datasets],
// [Keys] (dataset keys, HE key shares, decryption shares), [Invites],
// [Registry], [Contributions] (with revocations), [Buyers], [Jobs],
// [Transcripts], [PeerJobs] and [Ledger]. [Tx] embeds them all; a Store is a Tx whose
// every method is its own transaction, plus InTx, Ping and Close. Code that
// needs only jobs can take a Jobs, and is then as happy with a Store as
// with the Tx of a transaction.
//
// # Durability
//
// A method that changes state returns nil only after its transaction has
// committed durably (inside InTx: InTx returns nil only then), so a node may
// acknowledge a contribution as soon as PutContribution returns. SQLite runs in WAL mode with synchronous=FULL
// (each commit is fsynced), foreign keys on and a 10 s busy timeout; Open
// checks these settings on its connections and refuses to go on without
// them. PostgreSQL sessions run with synchronous_commit=on whatever the
// server's default; durability then rests on the server (fsync on). A
// commit that fails on a broken connection may or may not have happened:
// the idempotent methods below make the retry safe. Times are stored as Unix
// microseconds and read back in UTC, so they round-trip to the microsecond
// and identically on both engines.
//
// # Transactions
//
// Store.InTx runs a function in one write transaction: every method of the
// Tx it is handed runs inside it and sees what came before, and the commit
// is all or nothing. When the function returns an error or panics, the
// transaction is rolled back and nothing it wrote is visible; so a
// released job's transcript and its move to DONE, put in one InTx, are
// both recorded or neither, even when the job's compare-and-set fails.
// Each write method runs under a savepoint of its own: one that fails has
// changed nothing and the transaction goes on (in PostgreSQL a failed
// statement would otherwise abort it). The Tx is valid only while the
// function runs, and transactions do not nest (a Tx has no InTx).
//
// SQLite runs one write transaction at a time, so InTx transactions are
// serial and a slow function delays every write of the node. PostgreSQL
// runs them at READ COMMITTED, like every write here: each statement sees
// what was committed before it began; the rows a transaction writes, and
// the rows its methods lock (the registry head, an admitted buyer), stay
// locked until it ends; nothing else is locked. A transaction PostgreSQL
// aborts as a deadlock victim (40P01) or serialization failure (40001) is
// run again, up to four times in all, so the function must be safe to
// re-run: it may touch only the Tx and values it sets afresh on each run.
//
// # Idempotency and uniqueness
//
// Every rule is enforced by the database (primary keys, unique indexes,
// conditional updates, row locks), not by locks in Go, so it holds across
// processes. A nullifier is unique per dataset: PutContribution of a
// stored nullifier with the same payload digest returns the stored row and
// changes nothing (the caller answers with the stored receipt), with another
// digest it returns ErrAlreadyExists. An invite is consumed once, by one
// conditional UPDATE. Revoke is idempotent for the same token. Dataset ids,
// dataset keys, invites and identity commitments are written once
// (ErrAlreadyExists).
//
// # The registry
//
// Members are appended at consecutive indices, and every change (append or
// removal) records the new Merkle root with its time and increments the
// registry version. The store cannot compute roots, so the caller computes
// the new root from its copy of the tree and names the version that copy
// reflects: AppendMember and RemoveMember apply only if the registry is still
// at that version, under a lock on the registry's head row (SELECT … FOR
// UPDATE in PostgreSQL; SQLite's write lock). A caller whose copy is stale —
// another replica registered someone — gets ErrConflict, reloads (Members,
// RegistryHead) and retries; so the recorded root always matches the
// recorded members, and no index is skipped or given twice. FindRoot tells
// when a root was current (SeenAt, SupersededAt), which is what the node's
// window of accepted recent roots needs.
//
// # Buyers and jobs
//
// A buyer is an admin-chosen id (1..64 bytes of [A-Za-z0-9._-]) and the
// SHA-256 of its bearer token, both unique; the token itself is never
// stored, and BuyerByToken looks a buyer up by the hash. PutBuyer of an
// identical buyer is a no-op, so peers may replay it. A job row is what its
// coordinating node records: the encoded spec, the JobState wire number, the
// counters, progress and, once set, the encoded result and evidence. Jobs
// are unique by id and by (buyer, request id), the buyer's idempotency key:
// PutJob of a known request writes nothing and returns the stored job, and
// the caller compares specs. A job moves between states only by UpdateJob,
// a compare-and-set on the state in one conditional UPDATE, so of two
// replicas advancing the same job from the same state exactly one succeeds
// and the other gets ErrConflict. AdmitJob is PutJob under a cap on the
// buyer's active jobs: in one transaction that holds the buyer's row locked
// (SELECT … FOR UPDATE in PostgreSQL; SQLite's write lock) it answers a
// known request id with its job, counts the buyer's jobs in the states the
// caller calls active and inserts only below the cap, refusing with
// ErrLimit, so concurrent submissions on any replica never exceed it.
// ListJobs pages newest first by
// (submitted_at, id), with an opaque token naming the last job listed, so
// jobs submitted while a client pages neither repeat nor shift its pages;
// ids compare bytewise on both engines. Text columns take valid UTF-8
// without NUL bytes only (what PostgreSQL's TEXT holds), refused as
// ErrInvalid on both engines.
//
// # Peer jobs
//
// A peer node records each job another node coordinates, by job id: the
// coordinator, dataset, spec digest, job time, the digest of the
// contribution set and cohort it agreed to compute over, the buyer the job
// is charged to and the noise the node drew for it (opaque, at most
// [MaxPeerJobNoise] bytes), its state ([PeerJobPrepared],
// [PeerJobPartialReleased], [PeerJobAborted]) and the partial it released.
// PutPeerJob of a known job id writes nothing and
// returns the stored row, and UpdatePeerJob is a compare-and-set on the
// state, refusing the moves [PeerJobState.CanMoveTo] refuses; so a peer
// releases at most one partial per job id, and answers a repeat from the
// database, across restarts and replicas, not from process memory.
//
// # Privacy ledger
//
// Each node keeps its own privacy ledger (docs/design.md §6.6): for each
// epoch of a dataset, the ρ all buyers spent on it and the ρ each buyer
// spent, exact non-negative rationals stored as text in big.Rat's
// RatString form ("p" or "p/q", lowest terms; never floats, and a stored
// amount in any other form is an error when read). DebitPrivacy takes a
// job's ρ from every epoch of its range, overall and for its buyer, and
// records the debit under the job id with each epoch's amounts before and
// after; it refuses, writing nothing for any epoch, with ErrOverspend (an
// [OverspendError] naming the budget, the epoch, the spent and remaining
// amounts) when one amount would pass the total the caller gives, and with
// ErrAlreadyExists for a job debited before. The node debits in the
// transaction (InTx) that records its partial as released, so the two
// commit together or not at all. Concurrent debits serialise on the
// epochs' rows: in PostgreSQL each debit creates the rows it lacks (INSERT
// … ON CONFLICT DO NOTHING), then locks them with SELECT … FOR UPDATE in
// ascending epoch order, the epochs' rows before the buyer's, so debits
// never wait on each other in a cycle and none reads an amount another is
// changing; in SQLite the write lock orders them. A debit spans at most
// [MaxLedgerEpochs] epochs.
//
// # Concurrency and engines
//
// A Store is safe for concurrent use; the Tx of an InTx is not (use it in
// the goroutine of InTx's function only). With SQLite, writes go through one
// connection in IMMEDIATE transactions, so writers queue in the process
// instead of failing mid-transaction, while a few read-only connections read
// beside them (WAL); a job's scans outside a transaction (ScanContributions)
// run on as many connections of their own, driven through SQLite's C API
// without database/sql (sqlite_scan.go, docs/design.md §7.7). Pick SQLite for a node on one machine: no setup, the
// file lives in the data directory, and one process uses it. Pick PostgreSQL
// for a server deployment, and to run several stateless replicas of one node
// against one database: each replica opens its own Store; write transactions
// are READ COMMITTED and rely on row locks and unique constraints, so the
// replicas agree without talking to each other. Migrations are embedded per
// engine (migrations/<engine>/NNNN_name.sql) and applied on Open, each in
// one transaction with its row in schema_migrations; replicas starting
// together serialise on an advisory lock, and a database migrated by a newer
// binary is refused.
//
// Lists are bounded: a limit ≤ 0 or above [MaxPageSize] reads as
// MaxPageSize.
package store
