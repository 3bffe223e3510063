package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Sentinel errors. Every error a Store returns wraps at most one of them;
// callers branch with errors.Is.
var (
	// ErrNotFound: the row asked for does not exist (a dataset, keys, an
	// invite, a member, a root, a contribution, a contribution carrying a
	// revocation commitment, a buyer, a job, a peer job or a privacy
	// debit).
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a row with the same identity exists and cannot be
	// replaced (a dataset id, dataset keys, an invite, a registered identity
	// commitment, a nullifier already used with another payload, a buyer id
	// or token hash, a job id, or a job's privacy debit).
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: the row exists but is in a state that refuses the change
	// (an invite used or expired, a registry version that moved on, a member
	// already removed, a revocation with another token, a job or a peer job
	// in another state).
	ErrConflict = errors.New("store: conflict")
	// ErrLimit: a limit the caller set is reached, so the row is not
	// written (a buyer's active jobs at the cap of AdmitJob, an epoch's
	// spent ρ too long to store, MaxSpentLen).
	ErrLimit = errors.New("store: limit reached")
	// ErrInvalid: an argument the store refuses before touching the database
	// (empty id, zero nullifier, value out of the range the schema holds).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrOverspend: a privacy debit would take the ρ spent on an epoch, by
	// all buyers or by one, above its total; nothing is written. The error
	// DebitPrivacy returns holds an [*OverspendError] saying which budget.
	ErrOverspend = errors.New("store: privacy budget overspent")
	// ErrInsufficientFunds: an escrow would hold more than the buyer's
	// available balance; nothing is written. The error HoldEscrow returns
	// holds an [*InsufficientFundsError] naming the balance.
	ErrInsufficientFunds = errors.New("store: insufficient funds")
)

// MaxPageSize bounds every list: a limit ≤ 0 or above it is read as
// MaxPageSize.
const MaxPageSize = 1000

// MaxDatasetIDLen bounds a dataset id in bytes.
const MaxDatasetIDLen = 128

// Store is a Cohort node's durable state: every data method of [Tx], each
// run as a transaction of its own, and InTx to run several in one.
// Implementations are safe for concurrent use; every method that changes
// state has committed durably when it returns nil.
type Store interface {
	Tx

	// InTx runs fn in one write transaction and commits it if fn returns
	// nil: every data method on tx runs inside it and sees what fn wrote
	// before; the commit is all or nothing. If fn returns an error, or
	// panics, the transaction is rolled back (and the panic goes on up)
	// and nothing fn wrote is visible; InTx returns fn's error as is. A
	// method that fails inside fn has changed nothing (it runs under a
	// savepoint) and tx stays usable, so fn may handle a sentinel and go
	// on; errors fn does not return are not InTx's to report.
	//
	// Isolation. SQLite runs one write transaction at a time (one writer
	// connection, BEGIN IMMEDIATE): InTx transactions are serial, and a
	// long fn delays every write of the node, so fn should do no slow work
	// (no network calls). PostgreSQL runs fn at READ COMMITTED, like every
	// write of this package: each statement sees what was committed before
	// it began, rows fn writes (and the registry head or buyer rows a
	// method locks) stay locked until the commit, and unique keys hold;
	// nothing else is locked, so two transactions reading the same row do
	// not exclude each other. Where PostgreSQL aborts fn's transaction as a
	// deadlock victim (40P01) or a serialization failure (40001), InTx runs
	// fn again, at most 4 times in all: fn must be safe to re-run, touching
	// only tx and values it sets afresh on each run.
	//
	// tx is valid only while fn runs, in fn's goroutine; used afterwards its
	// methods fail. Transactions do not nest: tx has no InTx, and fn must
	// not call the Store itself for writes, which (on SQLite) would wait
	// for the writer connection fn's transaction holds until ctx ends.
	InTx(ctx context.Context, fn func(tx Tx) error) error
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Close releases the database; the Store must not be used afterwards.
	Close() error
}

// Tx is the data of a Store, grouped by concern. A Store is a Tx whose
// every method is its own transaction; the Tx that InTx hands its function
// runs them all in one.
type Tx interface {
	Datasets
	Keys
	Invites
	Registry
	Contributions
	Buyers
	Jobs
	Leases
	Transcripts
	PeerJobs
	Ledger
	Payments
	Claims
}

// Datasets holds datasets: an id and an opaque descriptor.
type Datasets interface {
	// PutDataset records a dataset; ErrAlreadyExists if its id is taken.
	PutDataset(ctx context.Context, d Dataset) error
	// GetDataset returns a dataset or ErrNotFound.
	GetDataset(ctx context.Context, id string) (Dataset, error)
	// UpdateDataset replaces a dataset's descriptor (its state changes as
	// setup runs); ErrNotFound if the dataset does not exist.
	UpdateDataset(ctx context.Context, id string, descriptor []byte) error
	// ListDatasets returns up to limit datasets ordered by id, starting after
	// pageToken ("" for the first page), and the token of the next page, ""
	// when there is none.
	ListDatasets(ctx context.Context, pageToken string, limit int) ([]Dataset, string, error)
}

// Keys holds key material: a dataset's Groth16 keys, this node's sealed HE
// key share, and the decryption shares it produced.
type Keys interface {
	// PutDatasetKeys records a dataset's proving key, verifying key and
	// setup transcript, once: ErrNotFound if the dataset does not exist,
	// ErrAlreadyExists if it has keys.
	PutDatasetKeys(ctx context.Context, datasetID string, pk, vk, transcript []byte) error
	// GetDatasetKeys returns all three blobs, or ErrNotFound.
	GetDatasetKeys(ctx context.Context, datasetID string) (DatasetKeys, error)
	// GetVerifyingKey returns only the verifying key and transcript, without
	// reading the (large) proving key; ProvingKey is nil in the result.
	GetVerifyingKey(ctx context.Context, datasetID string) (DatasetKeys, error)

	// PutHEKey records this node's sealed threshold key share of an HE
	// dataset; see the method's doc on the SQL store.
	PutHEKey(ctx context.Context, k HEKey) error
	// GetHEKey returns a dataset's sealed key share, or ErrNotFound.
	GetHEKey(ctx context.Context, datasetID string) (HEKey, error)
	// PutDecryptionShare records the one decryption share of an aggregate
	// ciphertext, or returns the one stored before (non-nil) untouched.
	PutDecryptionShare(ctx context.Context, d DecryptionShare) (*DecryptionShare, error)
	// GetDecryptionShare returns the share stored for an aggregate, or
	// ErrNotFound.
	GetDecryptionShare(ctx context.Context, datasetID string, aggregate [32]byte) (DecryptionShare, error)
}

// Invites holds the hashes of invite tokens and whether they were used.
type Invites interface {
	// PutInvite records the hash of an invite token; ErrAlreadyExists if it
	// is recorded.
	PutInvite(ctx context.Context, tokenHash [32]byte, expires time.Time) error
	// UseInvite consumes an invite exactly once: ErrNotFound if unknown,
	// ErrConflict if already used or if at is not before its expiry.
	UseInvite(ctx context.Context, tokenHash [32]byte, at time.Time) error
}

// Registry holds the registry of identity commitments and its root history.
type Registry interface {
	// RegistryHead returns the registry's current version, size and root.
	// For an empty registry it is the zero RegistryHead (version 0).
	RegistryHead(ctx context.Context) (RegistryHead, error)
	// AppendMember appends ic at index head.Size and records root as the new
	// root, in one transaction, if and only if the registry is still at
	// version; it returns the index. ErrConflict if the version moved on (the
	// caller's tree is stale: reload it and recompute the root);
	// ErrAlreadyExists if ic is registered.
	AppendMember(ctx context.Context, version uint64, ic, root [32]byte, at time.Time) (uint64, error)
	// RemoveMember marks member index removed and records root as the new
	// root, if and only if the registry is still at version. ErrConflict if
	// the version moved on or the member is already removed; ErrNotFound if
	// there is no such index.
	RemoveMember(ctx context.Context, version uint64, index uint64, root [32]byte, at time.Time) error
	// Members returns up to limit members with index ≥ from, in index order,
	// removed members included (with RemovedAt set), to rebuild the tree.
	Members(ctx context.Context, from uint64, limit int) ([]Member, error)
	// FindMember returns the member with identity commitment ic, or
	// ErrNotFound.
	FindMember(ctx context.Context, ic [32]byte) (Member, error)
	// Roots returns up to limit entries of the root history with version >
	// afterVersion, in version order: the registry's change log.
	Roots(ctx context.Context, afterVersion uint64, limit int) ([]RootRecord, error)
	// FindRoot returns the latest time root became the registry root and when
	// it stopped being it, or ErrNotFound if it never was a root.
	FindRoot(ctx context.Context, root [32]byte) (RootRecord, error)
}

// Contributions holds accepted contributions and their revocations.
type Contributions interface {
	// PutContribution stores c in one transaction. If (c.DatasetID,
	// c.Nullifier) is stored already with the same PayloadDigest it returns
	// that row and a nil error, changing nothing (an idempotent retry); with
	// another digest it returns ErrAlreadyExists, changing nothing. On a
	// fresh insert it returns (nil, nil). ErrNotFound if the dataset does not
	// exist.
	PutContribution(ctx context.Context, c Contribution) (*Contribution, error)
	// GetContribution returns a contribution or ErrNotFound.
	GetContribution(ctx context.Context, datasetID string, nullifier [32]byte) (Contribution, error)
	// ListContributions returns up to limit complete committed
	// contributions (committed and not Incomplete) of datasetID with
	// epochFrom ≤ epoch ≤ epochTo and nullifier > after, in increasing
	// nullifier order (bytewise); pass the last nullifier of a page as after
	// for the next, the zero value for the first.
	ListContributions(ctx context.Context, datasetID string, epochFrom, epochTo uint64, after [32]byte, limit int) ([]Contribution, error)
	// CountContributions counts the complete committed contributions of datasetID
	// with epochFrom ≤ epoch ≤ epochTo.
	CountContributions(ctx context.Context, datasetID string, epochFrom, epochTo uint64) (uint64, error)
	// ScanContributions calls fn for every committed and complete
	// contribution of datasetID with epochFrom ≤ epoch ≤ epochTo (pending
	// and incomplete ones are never counted, docs/design.md §7.5), in increasing nullifier order (bytewise),
	// from one cursor, so that its memory does not grow with the number of
	// rows (docs/design.md §7.6). Each row carries what eligibility is
	// decided on — nullifier, payload digest, epoch, purposes, expiry, min
	// cohort, revocation commitment and RevokedAt — and only the byte
	// columns fields names (the others are nil; ReceivedAt and Receipt are
	// never read). fn sees one Contribution reused from row to row, whose
	// byte slices alias the driver's buffers: they are valid only during
	// the call, and fn copies what it keeps. fn must not use the store
	// (the scan holds a read connection). An error from fn stops the scan
	// and is returned unwrapped.
	ScanContributions(ctx context.Context, datasetID string, epochFrom, epochTo uint64, fields ContributionFields, fn func(*Contribution) error) error

	// The state of a record through ingest (docs/design.md §7.5): stored
	// pending by PutContribution (c.Pending), then committed or rolled back.

	// CommitContribution marks a contribution committed; nil if it is
	// committed already, ErrNotFound if there is none.
	CommitContribution(ctx context.Context, datasetID string, nullifier [32]byte) error
	// RollBackContribution deletes a pending or Incomplete contribution
	// that forwarder forwarded and, when since is not zero, whose pending
	// state began at since (it was not sent again meanwhile). ErrNotFound
	// if there is none; ErrConflict, deleting nothing, if it is committed
	// and complete, was forwarded by another node or was sent again.
	RollBackContribution(ctx context.Context, datasetID string, nullifier [32]byte, forwarder uint32, since time.Time) error
	// CommitIncomplete marks a pending contribution committed but
	// Incomplete, awaiting node missing (docs/design.md §7.5); nil if it is
	// committed already (changing nothing), ErrNotFound if there is none.
	CommitIncomplete(ctx context.Context, datasetID string, nullifier [32]byte, missing uint32) error
	// CompleteContribution clears a committed contribution's Incomplete
	// state: every node committed it. Nil if it is complete already;
	// ErrNotFound if there is none; ErrConflict if it is pending.
	CompleteContribution(ctx context.Context, datasetID string, nullifier [32]byte) error
	// PutCatchUp holds a payload for a peer that was down when its record
	// was committed; a no-op if it is held.
	PutCatchUp(ctx context.Context, c CatchUp) error
	// ListCatchUps returns up to limit payloads held, oldest first.
	ListCatchUps(ctx context.Context, limit int) ([]CatchUp, error)
	// CountCatchUps counts the payloads held for peer.
	CountCatchUps(ctx context.Context, peer uint32) (uint64, error)
	// DeleteCatchUp forgets a payload held for peer; nil if none.
	DeleteCatchUp(ctx context.Context, datasetID string, nullifier [32]byte, peer uint32) error
	// RenewPending sets a pending contribution's PendingSince to at (its
	// forwarder sent it again); ErrConflict if it is not pending or absent.
	RenewPending(ctx context.Context, datasetID string, nullifier [32]byte, at time.Time) error
	// ListPending returns up to limit pending contributions of every
	// dataset, ordered by dataset id then nullifier, after (afterDataset,
	// afterNullifier); ("", zero) for the first page.
	ListPending(ctx context.Context, afterDataset string, afterNullifier [32]byte, limit int) ([]Contribution, error)
	// TakePending makes replica the replica forwarding a pending
	// contribution and sets its PendingSince to at (a replica sends its
	// node's record again); ErrConflict if it is not pending or absent.
	TakePending(ctx context.Context, datasetID string, nullifier [32]byte, replica string, at time.Time) error
	// OrphanedPending returns up to limit pending contributions forwarded
	// by forwarder whose replica is previous (a replica id whose earlier
	// process is gone; "" for none) or "" (stored before replicas were
	// recorded), or has not beaten its heartbeat since seenBefore (or
	// never did), ordered by dataset id then nullifier, after
	// (afterDataset, afterNullifier).
	OrphanedPending(ctx context.Context, forwarder uint32, previous string, seenBefore time.Time, afterDataset string, afterNullifier [32]byte, limit int) ([]Contribution, error)

	// PutRollback records a rollback owed to a peer; a no-op if it is
	// recorded. ErrInvalid for a reason over MaxRollbackReasonLen.
	PutRollback(ctx context.Context, r Rollback) error
	// ListRollbacks returns up to limit rollbacks owed, oldest first.
	ListRollbacks(ctx context.Context, limit int) ([]Rollback, error)
	// HasRollback reports whether a rollback of the record is owed to peer.
	HasRollback(ctx context.Context, datasetID string, nullifier [32]byte, peer uint32) (bool, error)
	// DeleteRollback forgets a rollback the peer confirmed; nil if none.
	DeleteRollback(ctx context.Context, datasetID string, nullifier [32]byte, peer uint32) error
	// DeleteRollbacks forgets every rollback of a record owed to any peer
	// (a new ingest of the record takes over); nil if none.
	DeleteRollbacks(ctx context.Context, datasetID string, nullifier [32]byte) error

	// The ingest's per-record lock among replicas of this node
	// (docs/design.md §3.4). Times are compared as given, as for job
	// leases.

	// LockRecord takes the lock of a record for replica until until, with
	// a fresh random token, if the record has no lock or its lock expired
	// at now or is replica's own (its earlier process's); of concurrent
	// takes, on any replica, one wins. ErrConflict, changing nothing, when
	// another replica holds a live lock; ErrNotFound for an unknown
	// dataset; ErrInvalid for a malformed replica id or until not after
	// now.
	LockRecord(ctx context.Context, datasetID string, nullifier [32]byte, replica string, now, until time.Time) (RecordLock, error)
	// HoldRecord checks that l is still held — no replica took the lock
	// since, even after it expired — and moves its expiry to until.
	// ErrConflict, changing nothing, otherwise. Run first in a transaction,
	// it makes the transaction's writes conditional on the lock: they
	// commit only if no takeover came first, and a takeover waits for the
	// commit and finds the lock renewed.
	HoldRecord(ctx context.Context, l RecordLock, until time.Time) error
	// UnlockRecord releases l; nil, changing nothing, if another replica
	// holds the lock now or it is released already.
	UnlockRecord(ctx context.Context, l RecordLock) error
	// GetRecordLock returns the lock of a record, or ErrNotFound when none
	// is held.
	GetRecordLock(ctx context.Context, datasetID string, nullifier [32]byte) (RecordLock, error)

	// Revoke records the revocation token of the contribution(s) of datasetID
	// carrying revocationCommitment. The caller has checked that token opens
	// the commitment. ErrNotFound if no contribution carries it; nil if it is
	// already revoked with the same token (idempotent), ErrConflict with
	// another.
	Revoke(ctx context.Context, datasetID string, revocationCommitment, token [32]byte, at time.Time) error
	// FindByRevocation returns the contribution of datasetID carrying
	// revocationCommitment, or ErrNotFound.
	FindByRevocation(ctx context.Context, datasetID string, revocationCommitment [32]byte) (Contribution, error)
	// IsRevoked reports whether revocationCommitment is revoked in datasetID.
	IsRevoked(ctx context.Context, datasetID string, revocationCommitment [32]byte) (bool, error)
	// CountRevocations returns how many revocations datasetID holds. None
	// is ever deleted, so the count changes with every revocation
	// recorded.
	CountRevocations(ctx context.Context, datasetID string) (uint64, error)
}

// Buyers holds buyer accounts.
type Buyers interface {
	// PutBuyer records a buyer. Putting an identical buyer (same id,
	// token hash and public key) again is a no-op returning nil, whatever its CreatedAt
	// (peers replay it); ErrAlreadyExists when the id exists with another
	// token hash or the token hash belongs to another id; ErrInvalid for a
	// bad id or a zero hash.
	PutBuyer(ctx context.Context, b Buyer) error
	// BuyerByToken returns the buyer whose token hashes to tokenHash;
	// ErrNotFound otherwise.
	BuyerByToken(ctx context.Context, tokenHash [32]byte) (Buyer, error)
	// GetBuyer returns the buyer with the id; ErrNotFound otherwise.
	GetBuyer(ctx context.Context, id string) (Buyer, error)
}

// Jobs holds the jobs this node coordinates.
type Jobs interface {
	// PutJob records a new job. When the buyer already has a job with
	// j.RequestID, nothing is written and that job is returned (non-nil)
	// with a nil error: the caller decides whether the specs match. On a
	// fresh insert it returns (nil, nil). ErrAlreadyExists when j.ID is
	// taken; ErrNotFound when the dataset does not exist; ErrInvalid for a
	// bad job id, buyer id or request id, text that is not UTF-8 or holds a
	// NUL byte, or a count above math.MaxInt64.
	PutJob(ctx context.Context, j Job) (*Job, error)
	// AdmitJob is PutJob under a cap on the buyer's active jobs: in one
	// transaction, it returns the buyer's job with j.RequestID if there is
	// one (non-nil, nil error, as PutJob, whatever the cap), else refuses
	// with ErrLimit when the buyer already has limit.Max or more jobs in a
	// state of limit.Active, else records j (nil, nil). The buyer's row is
	// locked for the check and the insert (SELECT … FOR UPDATE in
	// PostgreSQL; SQLite's write lock), so of concurrent AdmitJob calls for
	// one buyer, on any replica, at most limit.Max are admitted; a plain
	// PutJob does not take that lock and is not counted against the cap
	// until it commits. ErrNotFound when the buyer or the dataset does not
	// exist; ErrInvalid as for PutJob, and for limit.Max < 1, an empty
	// limit.Active or one of more than MaxJobStateFilter distinct states.
	AdmitJob(ctx context.Context, j Job, limit JobLimit) (*Job, error)
	// GetJob returns a job by id; ErrNotFound otherwise.
	GetJob(ctx context.Context, id string) (Job, error)
	// UpdateJob writes j's mutable columns (State, Reason, EligibleRecords,
	// CohortSize, Progress, UpdatedAt, Result, Evidence, TranscriptID) only
	// if the stored state equals from: a compare-and-set in one conditional
	// UPDATE, atomic on both engines even across replicas sharing one
	// PostgreSQL. ErrConflict when the state is another (the error message
	// names the stored state number), ErrNotFound when there is no such job,
	// ErrInvalid as for PutJob. Immutable columns in j (Buyer, RequestID,
	// DatasetID, Spec, Coordinator, SubmittedAt) are ignored.
	UpdateJob(ctx context.Context, j Job, from int32) error
	// ListJobs returns a page of jobs matching f, newest first (SubmittedAt
	// descending, then ID descending), at most limit (read as for the other
	// lists), and an opaque token for the next page ("" on the last). A
	// malformed token, or a filter of more than MaxJobStateFilter distinct
	// states, is ErrInvalid.
	ListJobs(ctx context.Context, f JobFilter, pageToken string, limit int) ([]Job, string, error)

	// What a job's coordinator owes the other nodes once the job ended
	// (docs/design.md §7.5): written in the transaction of the final
	// state, forgotten once the node confirmed.

	// PutJobNotice records a notice owed; a no-op if one is recorded for
	// the job and node. ErrInvalid for a bad job id or a state below 1.
	PutJobNotice(ctx context.Context, n JobNotice) error
	// ListJobNotices returns up to limit notices owed, oldest first.
	ListJobNotices(ctx context.Context, limit int) ([]JobNotice, error)
	// DeleteJobNotice forgets the notice of a job owed to peer; nil if none.
	DeleteJobNotice(ctx context.Context, jobID string, peer uint32) error
}

// JobNotice is what a job's coordinator owes one node after the job
// ended: for State DONE the job's transcript, to store; for another final
// state the job's abort, so that the node releases nothing more and
// refunds its escrow.
type JobNotice struct {
	JobID     string
	Peer      uint32
	State     int32
	CreatedAt time.Time
}

// Leases holds which replica of this node coordinates each job, and the
// replicas' heartbeats (docs/design.md §3.4). Times are compared as given:
// replicas sharing a store must keep their clocks synchronised well within
// a lease's length.
type Leases interface {
	// ClaimJob takes the lease of c.JobID for c.Holder until c.Until, in one
	// conditional UPDATE, if the job is in one of c.States and its lease is
	// free, expired at c.Now or c.Holder's; of concurrent claims, on any
	// replica, one wins. It returns the job and its lease as stored after
	// the claim; Claims grows by one unless c.Holder renewed its own live
	// lease. ErrConflict when the job is in another state or another
	// replica holds a live lease (nothing changes); ErrNotFound when there
	// is no such job; ErrInvalid for a malformed holder, c.Until not after
	// c.Now, or an empty or too long state list.
	ClaimJob(ctx context.Context, c JobClaim) (Job, JobLease, error)
	// RenewJobLease moves the expiry of holder's lease to until;
	// ErrConflict when holder does not hold it (another replica took it
	// over), ErrNotFound when there is no such job.
	RenewJobLease(ctx context.Context, jobID, holder string, until time.Time) error
	// GetJobLease returns a job's lease; ErrNotFound when there is no job.
	GetJobLease(ctx context.Context, jobID string) (JobLease, error)
	// ClaimableJobs returns up to limit jobs (read as for the lists) in
	// one of states whose lease is free, expired at now or holder's,
	// oldest submission first. ErrInvalid for a malformed holder or an
	// empty or too long state list.
	ClaimableJobs(ctx context.Context, holder string, states []int32, now time.Time, limit int) ([]JobLease, error)
	// PutReplica records a replica's heartbeat (insert, or replace the
	// row of a known id); ErrInvalid for a malformed id or a version
	// longer than 64 bytes, not UTF-8 or holding a NUL byte.
	PutReplica(ctx context.Context, r Replica) error
	// ListReplicas returns up to limit replicas (read as for the lists),
	// the most recently seen first.
	ListReplicas(ctx context.Context, limit int) ([]Replica, error)

	// PutSetupRun records that r.Replica runs the setup of r.DatasetID,
	// which this node coordinates; ErrAlreadyExists when one is recorded,
	// ErrNotFound for an unknown dataset, ErrInvalid for a malformed id or
	// a ceremony id outside 1..128 bytes.
	PutSetupRun(ctx context.Context, r SetupRun) error
	// EndSetupRun deletes the dataset's run if replica runs it and reports
	// whether it did; of concurrent calls, one is told true.
	EndSetupRun(ctx context.Context, datasetID, replica string) (bool, error)
	// OrphanedSetupRuns returns up to limit runs whose replica's heartbeat
	// is older than seenBefore or missing, and every run of replica
	// previous ("" for none), oldest first.
	OrphanedSetupRuns(ctx context.Context, previous string, seenBefore time.Time, limit int) ([]SetupRun, error)
}

// Transcripts holds the audit transcripts of released jobs.
type Transcripts interface {
	// PutTranscript records a released job's transcript bundle. Putting
	// one with the same id and digest again is a no-op; ErrAlreadyExists for
	// the id with another digest; ErrNotFound for an unknown dataset.
	PutTranscript(ctx context.Context, t Transcript) error
	// PutTranscriptStream records a released job's transcript with its
	// bundle read from bundle to its end and stored in chunks of
	// TranscriptChunkSize (t.Bundle empty; t.CeremonyOffset the offset of
	// the bundle's ceremony length field, audit.StreamedBundle), in one
	// transaction: what it holds at once is one chunk. Idempotent as
	// PutTranscript (the bundle is then not read); ErrInvalid for an empty
	// bundle or an offset past it.
	PutTranscriptStream(ctx context.Context, t Transcript, bundle io.Reader) error
	// GetTranscript returns a transcript with its whole bundle; ErrNotFound
	// otherwise. ReadTranscriptBundle streams a bundle instead.
	GetTranscript(ctx context.Context, id string) (Transcript, error)
	// GetTranscriptInfo returns a transcript without a chunked bundle's
	// bytes: its size and SHA-256 (BundleSize, BundleSHA256, LightSHA256)
	// are set instead (a bundle stored whole, before chunks, is in Bundle
	// and BundleSize is 0). ErrNotFound for an unknown id.
	GetTranscriptInfo(ctx context.Context, id string) (Transcript, error)
	// ReadTranscriptBundle passes the first limit bytes of a transcript's
	// bundle to fn in order, a chunk at a time (limit 0: the whole bundle;
	// the chunk is valid during the call only). ErrNotFound for an unknown
	// id; fn's error is returned as it is.
	ReadTranscriptBundle(ctx context.Context, id string, limit uint64, fn func(chunk []byte) error) error
	// ListTranscripts returns a page of a dataset's transcripts, newest
	// release first, without their bundles, and the token of the next page
	// ("" on the last). A malformed token is ErrInvalid.
	ListTranscripts(ctx context.Context, datasetID, pageToken string, limit int) ([]Transcript, string, error)
}

// PeerJobs holds what this node records, as a peer, about jobs another node
// coordinates, so that it answers once per job id from durable state.
type PeerJobs interface {
	// PutPeerJob records a new peer job. When p.JobID is recorded already,
	// nothing is written and the stored row is returned (non-nil) with a
	// nil error: the caller compares it with p. On a fresh insert it
	// returns (nil, nil). ErrNotFound when the dataset does not exist;
	// ErrInvalid for a bad job or dataset id, a zero spec or set digest, a
	// cohort above math.MaxInt64, an unknown state, or a Partial that does
	// not fit the state (see PeerJob), a malformed Buyer or a Noise above
	// MaxPeerJobNoise.
	PutPeerJob(ctx context.Context, p PeerJob) (*PeerJob, error)
	// GetPeerJob returns a peer job by job id; ErrNotFound otherwise,
	// ErrInvalid for a malformed id.
	GetPeerJob(ctx context.Context, jobID string) (PeerJob, error)
	// UpdatePeerJob writes p's mutable columns (State, Partial, Buyer,
	// Noise, UpdatedAt; prepared again: SetDigest, Cohort, JobTime, Buyer,
	// Noise, UpdatedAt) only if the stored state equals from: a
	// compare-and-set in one conditional UPDATE, as UpdateJob. Buyer and
	// Noise are written as given, so a caller keeps them by passing them.
	// ErrConflict when the state is another (the error message names the
	// stored state), ErrNotFound when there is no such job; ErrInvalid,
	// before touching the database, for a malformed id, a move from to
	// p.State that [PeerJobState.CanMoveTo] refuses, a Partial that does
	// not fit p.State, a malformed Buyer or a Noise above MaxPeerJobNoise.
	// The other fields of p are ignored.
	UpdatePeerJob(ctx context.Context, p PeerJob, from PeerJobState) error
}

// Ledger is this node's privacy ledger (docs/design.md §6.6): for each
// epoch of a dataset, the ρ all buyers spent on it and the ρ each buyer
// spent, and the debit recorded for each job. Amounts are exact
// non-negative rationals (math/big); the store never changes the *big.Rat
// values it is given, and returns fresh ones.
type Ledger interface {
	// DebitPrivacy adds d.Rho to the ρ spent on every epoch of [d.EpochFrom,
	// d.EpochTo], overall and by d.Buyer, and records the debit under
	// d.JobID, in one transaction; it returns one entry per epoch,
	// ascending. It refuses with ErrOverspend (an *OverspendError naming
	// the budget, the epoch, the spent and remaining amounts), writing
	// nothing, when on some epoch the spent ρ would exceed d.EpochTotal or
	// the buyer's would exceed d.BuyerTotal. The epochs' rows are locked in
	// ascending order (SELECT … FOR UPDATE in PostgreSQL; SQLite's write
	// lock), so concurrent debits, on any replica, never overspend and do
	// not deadlock. ErrAlreadyExists when d.JobID has a debit (nothing
	// changes); ErrNotFound when the dataset does not exist; ErrLimit when
	// a spent amount would no longer fit MaxSpentLen; ErrInvalid, before
	// touching the database, for a malformed job, dataset or buyer id,
	// EpochFrom > EpochTo, EpochTo above math.MaxInt64, a range of more
	// than MaxLedgerEpochs epochs, a nil amount, Rho ≤ 0, a negative total,
	// BuyerTotal > EpochTotal, or an amount longer than MaxRatLen.
	DebitPrivacy(ctx context.Context, d PrivacyDebit) ([]LedgerEntry, error)
	// PrivacyDebitOf returns the debit recorded for a job and its entries,
	// ascending by epoch; ErrNotFound if there is none, ErrInvalid for a
	// malformed id.
	PrivacyDebitOf(ctx context.Context, jobID string) (PrivacyDebit, []LedgerEntry, error)
	// PrivacySpent returns, for each epoch of [from, to] ascending, the ρ
	// spent on it by all buyers and by buyer (zero for an epoch never
	// debited), read in one statement. ErrNotFound when the dataset does
	// not exist; ErrInvalid for a malformed dataset or buyer id, from > to,
	// to above math.MaxInt64 or more than MaxLedgerEpochs epochs.
	PrivacySpent(ctx context.Context, datasetID, buyer string, from, to uint64) ([]EpochSpent, error)
}

// Payments is this node's payment ledger (docs/design.md §6.8): each
// buyer's balance in micro-credits (integers, every amount and sum at most
// MaxAmount), the credits that made it, and one escrow per priced job.
// Every method that changes a balance locks the buyer's balance row
// (SELECT … FOR UPDATE in PostgreSQL; SQLite's write lock) after the
// credit's or escrow's row, so concurrent changes on any replica are
// serial per buyer and never deadlock; run inside InTx, the change commits
// with the caller's state change or not at all.
type Payments interface {
	// CreditBuyer adds c.Amount to c.Buyer's balance once per c.ID and
	// returns the balance after it. The same credit again (same id, buyer
	// and amount) changes nothing and returns the balance; ErrAlreadyExists
	// for the id with another buyer or amount; ErrNotFound for an unknown
	// buyer; ErrLimit when the credited total would exceed MaxAmount;
	// ErrInvalid for a malformed id or buyer, or an amount of 0 or above
	// MaxAmount.
	CreditBuyer(ctx context.Context, c Credit) (Balance, error)
	// BuyerBalance returns a buyer's balance, zero if it has none;
	// ErrInvalid for a malformed buyer id.
	BuyerBalance(ctx context.Context, buyer string) (Balance, error)
	// ListBalances returns up to limit balances ordered by buyer id after
	// pageToken ("" for the first page) and the next page's token, "" on
	// the last. A malformed token is ErrInvalid.
	ListBalances(ctx context.Context, pageToken string, limit int) ([]Balance, string, error)
	// HoldEscrow holds e's quote, Quote(e.Price, e.Fee, e.MaxCohort), from
	// e.Buyer's available balance under e.JobID and returns the escrow as
	// stored (State EscrowHeld, Held the quote). It refuses with
	// ErrInsufficientFunds (an *InsufficientFundsError naming the balance)
	// when the balance has less available, writing nothing;
	// ErrAlreadyExists when the job has an escrow (nothing changes);
	// ErrNotFound for an unknown buyer or dataset; ErrInvalid, before
	// touching the database, for a malformed job, buyer or dataset id, a
	// quote above MaxAmount or a quote of 0.
	HoldEscrow(ctx context.Context, e Escrow) (Escrow, error)
	// GetEscrow returns a job's escrow; ErrNotFound if it has none.
	GetEscrow(ctx context.Context, jobID string) (Escrow, error)
	// SettleEscrow charges a held escrow for a release of cohort records:
	// Price × cohort + Fee is charged, the rest of the quote goes back to
	// the available balance, and the escrow is EscrowSettled. ErrConflict
	// when it is not held; ErrNotFound when there is none; ErrInvalid when
	// cohort exceeds its MaxCohort.
	SettleEscrow(ctx context.Context, jobID string, cohort uint64, at time.Time) (Escrow, error)
	// RefundEscrow gives an escrow back in full: a held one's quote, or a
	// settled one's charge (a release undone), and the escrow is
	// EscrowRefunded. ErrConflict when it is refunded already; ErrNotFound
	// when there is none.
	RefundEscrow(ctx context.Context, jobID string, at time.Time) (Escrow, error)
}

// Claims holds reward claims (docs/design.md §6.8): the claim circuit's
// federation-wide keys, each released job's reward, every claim nullifier
// used and the payout accounts credited.
type Claims interface {
	// PutClaimKeys records the federation's claim keys once, a
	// ceremony's with its record and transcript in the same transaction:
	// the same verifying key again is a no-op, another is
	// ErrAlreadyExists; ErrInvalid for an unknown setup kind, an empty key,
	// a ceremony's keys without record or transcript or a development
	// setup's with them.
	PutClaimKeys(ctx context.Context, k ClaimKeys) error
	// GetClaimKeys returns the claim keys with the ceremony's record (nil
	// for a development setup), the proving key only when withProvingKey;
	// ErrNotFound when there are none.
	GetClaimKeys(ctx context.Context, withProvingKey bool) (ClaimKeys, error)
	// GetClaimTranscript returns the claim keys' ceremony transcript;
	// ErrNotFound without claim keys or for a development setup's.
	GetClaimTranscript(ctx context.Context) ([]byte, error)
	// ListClaims: see the method's doc on the SQL store.
	ListClaims(ctx context.Context, datasetID, afterJob string, afterNullifier [32]byte, limit int) ([]Claim, error)
	// PutJobReward records a released job's reward. The same again is a
	// no-op; another for the job is ErrAlreadyExists; ErrNotFound for an
	// unknown dataset; ErrInvalid for a malformed id, a reward above
	// MaxAmount or a count above math.MaxInt64. Claims is ignored.
	PutJobReward(ctx context.Context, r JobReward) error
	// GetJobReward returns a job's reward; ErrNotFound if it has none.
	GetJobReward(ctx context.Context, jobID string) (JobReward, error)
	// RecordClaim: see the method's doc on the SQL store.
	RecordClaim(ctx context.Context, c Claim) (Claim, Payout, error)
	// GetClaim returns the claim of a claim nullifier; ErrNotFound.
	GetClaim(ctx context.Context, nullifier [32]byte) (Claim, error)
	// GetPayout returns a payout account, zero if it was never credited.
	GetPayout(ctx context.Context, key [32]byte) (Payout, error)
	// TransferPayout: see the method's doc on the SQL store.
	TransferPayout(ctx context.Context, t PayoutTransfer) (Payout, Balance, error)
	// GetPayoutTransfer returns the transfer of a transfer id; ErrNotFound.
	GetPayoutTransfer(ctx context.Context, id string) (PayoutTransfer, error)
}

// Dataset is a dataset's identity and its descriptor (schema, parameters),
// stored as opaque bytes.
type Dataset struct {
	ID         string
	Descriptor []byte
	CreatedAt  time.Time
}

// DatasetKeys are a dataset's Groth16 keys and setup transcript, as encoded
// by package circuits.
type DatasetKeys struct {
	ProvingKey   []byte
	VerifyingKey []byte
	Transcript   []byte
}

// RegistryHead is the registry's state: Version counts its changes (appends
// and removals), Size its members (removed ones included: their index stays
// taken), Root the root after the last change, At when it was made.
type RegistryHead struct {
	Version uint64
	Size    uint64
	Root    [32]byte
	At      time.Time
}

// Member is one registry entry.
type Member struct {
	Index     uint64
	IC        [32]byte
	AddedAt   time.Time
	RemovedAt time.Time // zero while the member is active
}

// Removed reports whether the member was removed.
func (m Member) Removed() bool { return !m.RemovedAt.IsZero() }

// RootRecord is one entry of the root history.
type RootRecord struct {
	Root         [32]byte
	Version      uint64 // registry version that produced it
	Size         uint64
	SeenAt       time.Time // when it became the root
	SupersededAt time.Time // when the next change replaced it; zero while current
}

// Current reports whether the root is the registry's latest.
func (r RootRecord) Current() bool { return r.SupersededAt.IsZero() }

// Contribution is an accepted record as one node holds it: the proof and its
// public inputs (identical on every node) and this node's opened share.
type Contribution struct {
	DatasetID            string
	Epoch                uint64 // at most math.MaxInt64
	Nullifier            [32]byte
	PayloadDigest        [32]byte
	Public               []byte // encoded public inputs
	Proof                []byte
	Share                []byte // this node's opened share, encoded
	Purposes             uint64
	Expiry               time.Time
	MinCohort            uint32
	RevocationCommitment [32]byte
	ReceivedAt           time.Time
	Receipt              []byte
	// ClaimLeaf is the record's leaf in a job's claim tree
	// (circuits.ClaimLeaf of its nullifier, docs/design.md §5.9), hashed
	// when the record is stored so that no job hashes it again; zero when
	// it was not stored with the record (a row written before it was, or
	// a caller that did not give it), which a job then hashes itself.
	// ScanContributions reads it with WithClaimLeaf; other reads leave it
	// zero.
	ClaimLeaf [32]byte
	// RevokedAt is set by the store when reading a revoked contribution and
	// ignored by PutContribution.
	RevokedAt time.Time
	// Pending: the record awaits its forwarder's decision (docs/design.md
	// §7.5); false for a committed record. Jobs count only committed ones.
	Pending bool
	// Forwarder is the node that sent the record here: the one that decides
	// whether it is committed or rolled back (this node's own index for a
	// record it received from the contributor).
	Forwarder uint32
	// PendingSince is when the pending state began, renewed each time the
	// forwarder sends the record again; zero for a committed record.
	PendingSince time.Time
	// Replica is the replica of this node that forwards the record while
	// it is pending and this node is its forwarder (docs/design.md §3.4),
	// at most MaxReplicaIDLen bytes; "" otherwise, and for a record
	// stored before replicas were recorded.
	Replica string
	// Incomplete: committed while node Missing was down, and not yet
	// committed by it (docs/design.md §7.5). Jobs do not count it, and its
	// forwarder may still roll it back.
	Incomplete bool
	Missing    uint32
}

// CatchUp is a payload a forwarder holds for a peer that was down when
// the record was committed, until the peer acknowledges it.
type CatchUp struct {
	DatasetID string
	Nullifier [32]byte
	Peer      uint32
	Payload   []byte
	CreatedAt time.Time
}

// Rollback is a rollback this node decided and owes a peer until the peer
// confirms it: the peer's copy of the record is to be deleted.
type Rollback struct {
	DatasetID string
	Nullifier [32]byte
	Peer      uint32
	Reason    string // at most MaxRollbackReasonLen bytes
	CreatedAt time.Time
}

// ContributionFields names the byte columns a scan reads besides a
// record's eligibility metadata.
type ContributionFields uint8

const (
	// WithShare reads the stored share (or ciphertext).
	WithShare ContributionFields = 1 << iota
	// WithProof reads the public inputs and the proof.
	WithProof
	// WithClaimLeaf reads the record's claim leaf (Contribution.ClaimLeaf).
	WithClaimLeaf
)

// Revoked reports whether the contribution was revoked when it was read.
func (c Contribution) Revoked() bool { return !c.RevokedAt.IsZero() }

// Bounds of buyer and job identifiers, in bytes.
const (
	MaxBuyerIDLen   = 64
	MaxJobIDLen     = 64
	MaxRequestIDLen = 64
)

// MaxJobStateFilter bounds the distinct states of a JobFilter.
const MaxJobStateFilter = 64

// Buyer is a buyer account: an id chosen by an admin and the SHA-256 of its
// bearer token (the token itself is never stored).
type Buyer struct {
	ID        string // 1..MaxBuyerIDLen bytes of [A-Za-z0-9._-]
	TokenHash [32]byte
	CreatedAt time.Time
	// PublicKey is the buyer's Ed25519 public key its job submissions are
	// checked against (docs/design.md §8.2): 32 bytes, or nil for an
	// account created before keys, which cannot submit jobs.
	PublicKey []byte
}

// Job is a job as its coordinating node records it. Spec, Result and
// Evidence are opaque encoded bytes; State is the wire number of
// cohort.v1.JobState (stored as is, used for filtering). The text fields
// must be valid UTF-8 without NUL bytes.
type Job struct {
	ID              string // 1..MaxJobIDLen bytes of [A-Za-z0-9-]
	Buyer           string // a buyer id (see Buyer.ID)
	RequestID       string // idempotency key, 1..MaxRequestIDLen bytes, unique per buyer
	DatasetID       string // must exist in datasets
	Spec            []byte
	State           int32
	Reason          string
	Coordinator     uint32
	EligibleRecords uint64 // at most math.MaxInt64
	CohortSize      uint64 // at most math.MaxInt64
	Progress        string
	SubmittedAt     time.Time
	UpdatedAt       time.Time
	Result          []byte // nil until released
	Evidence        []byte // nil until set
	TranscriptID    string
	// Submission is the buyer's signed submission of the job
	// (cohort.v1.JobSubmission encoding), 1..MaxSubmissionBytes bytes; nil
	// for a job stored before submissions were signed. Written once.
	Submission []byte
}

// MaxSubmissionBytes bounds a job's stored submission.
const MaxSubmissionBytes = 4096

// JobLimit is AdmitJob's cap: a buyer may have at most Max jobs whose
// state is one of Active (JobState wire numbers, at most MaxJobStateFilter
// distinct values).
type JobLimit struct {
	Max    int
	Active []int32
}

// JobFilter narrows ListJobs: empty fields match everything. States holds
// at most MaxJobStateFilter distinct values.
type JobFilter struct {
	Buyer     string
	DatasetID string
	States    []int32
}

// Transcript is a released job's audit transcript as its coordinator
// keeps it: the bundle (package audit's encoding) with what lists it.
type Transcript struct {
	ID         string // the job's id
	DatasetID  string
	Digest     [32]byte // the transcript's digest (audit.Transcript.Digest)
	ReleasedAt time.Time
	CohortSize uint64
	Bundle     []byte // nil in listings and for a bundle stored in chunks (GetTranscriptInfo)
	// A bundle stored in chunks (PutTranscriptStream): its size and
	// SHA-256, the offset of its ceremony's length field, and the SHA-256
	// of the bundle without its ceremony (the bytes before the offset and
	// a zero length). Zero for a bundle stored whole.
	BundleSize     uint64
	BundleSHA256   [32]byte
	CeremonyOffset uint64
	LightSHA256    [32]byte
	// bundleFile names the file that holds the bundle, on SQLite
	// (bundleFiles); empty for a bundle in chunks or whole.
	bundleFile string
}

// Drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Config chooses and locates the engine.
type Config struct {
	// Driver is DriverSQLite (the default when empty) or DriverPostgres.
	Driver string
	// Path is the SQLite database file, normally in the node's data
	// directory, which must exist.
	Path string
	// DSN is the PostgreSQL connection string (URL or key=value form).
	DSN string
}

// Open opens the configured engine and applies its pending migrations.
func Open(ctx context.Context, cfg Config) (Store, error) {
	var (
		s   *sqlStore
		err error
	)
	switch cfg.Driver {
	case "", DriverSQLite:
		s, err = openSQLite(ctx, cfg.Path)
	case DriverPostgres:
		s, err = openPostgres(ctx, cfg.DSN)
	default:
		return nil, fmt.Errorf("%w: unknown driver %q (want %q or %q)", ErrInvalid, cfg.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	return s, nil
}
