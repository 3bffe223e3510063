// Package enclave is the logic of a job (docs/design.md §6) that the coordinating
// node and its peers run: which transitions a job may take, whether a spec
// is acceptable, which records count, which coordinates of the sufficient
// statistics are reconstructed, and what is released from them — and the
// job round itself, the boundary where a job's shares or ciphertexts become
// released numbers. It does no I/O and sees no record values; its functions
// are pure and safe for concurrent use, and a Coordinator is stepped by one
// goroutine. Package stats holds the statistics themselves.
//
// # The round
//
// A job's round is Coordinator, an explicit state machine with no I/O and
// no clock: Step takes one Event (a node's answer or failure to answer, a
// retry tick, the built transcript, the committed release, an abort or a
// cancel) and returns a Ready saying what the runtime must do, in order —
// persist the job's row, send messages to the nodes (the coordinator's own
// node included), arm a retry timer, build the transcript, commit the
// release. Every decision is the machine's; a message it does not expect
// is refused with ErrUnexpected (ErrRoundOver after the end) and changes
// nothing. The nodes' side is PeerPrepare, PeerPartial and PeerRelease:
// rules over the PeerRecord each node keeps per job id, returning the
// record to persist before the node answers, so that a node releases one
// partial per job. What is released passes through a Mechanism: each node
// adds its Noise to its own partial, the coordinator applies Release to the
// combined sums; Exact adds none. The backend (package backend) supplies
// the Quorum and the Combiner; the round itself is the same for MPC and HE.
//
// # Lifecycle
//
// A job moves SUBMITTED → ADMITTED → AGGREGATING → RELEASING → DONE, one
// step at a time. Policy may reject it (REJECTED) while it is SUBMITTED or
// ADMITTED, that is before any partial aggregate is computed; it FAILS from
// any state that is not final; the buyer may cancel it (CANCELLED) until
// it is RELEASING, from which on reconstructed sums exist and the job can
// only finish or fail. DONE, REJECTED, FAILED and CANCELLED are final.
// Transition says whether a move is legal and names the refusal with one
// sentinel (ErrJobFinal, ErrTooLateToCancel, ErrIllegalTransition).
//
// # Specs
//
// ValidateSpec checks a JobSpec against the dataset's schema and backend
// before a job is admitted, and every refusal is a *SpecError naming the
// offending spec field ("outputs[2].fields[0]") and one sentinel. The
// effective minimum cohort is the largest of the buyer's, the schema's and
// 1 (EffectiveMinimum); contributors' own minimums are applied by Select.
//
// # Eligibility
//
// Select decides the cohort from each stored record's consent metadata. A
// record is eligible when its epoch lies in the job's range, it consented
// to the job's purpose, its consent has not expired at the job time
// (at ≤ expiry: a consent expiring at exactly the job time still counts)
// and it is not revoked; each other record is counted, by number only,
// under the first rule it fails. A contributor may also demand that the
// record only ever be counted in a cohort of at least MinCohort records.
// The final cohort is the largest subset of the eligible records in which
// every record's MinCohort is at most the subset's size: the fixpoint of
// "n = number of records; drop every record with MinCohort > n; repeat",
// since dropping records shrinks n and may drop more (a cascade). Select
// computes it without iterating, as the records with MinCohort ≤ m for the
// largest m such that at least m eligible records have MinCohort ≤ m. The
// result depends only on the set of records, not on their order. Whether
// the final cohort reaches the job's effective minimum is the caller's
// check: below it nothing is reconstructed.
//
// Nodes agree on the cohort by comparing SetDigest, SHA-256 over
//
//	"cohort/v1/job-eligible-set" ‖ u64(len(job id)) ‖ job id
//	‖ u64(len(dataset id)) ‖ dataset id ‖ u64(count)
//	‖ (nullifier ‖ payload digest) for each record in nullifier order
//
// (u64: 8 bytes, big-endian). The length prefixes make the encoding
// injective; the job id keeps one job's agreement from being replayed for
// another; the payload digests make nodes agree on the exact payloads
// summed, not only on which contributors.
//
// # Reconstruction and release
//
// Each encoded vector (schema.Layout) holds a record's count, shifted
// values, category indicators and moment products; their sum over the
// cohort determines every statistic offered. Reconstructing all of it would
// release far more than a buyer asked for (a mean of age would also reveal
// the sums of every other field and their cross-products, from which other
// statistics of the same cohort follow). Coordinates therefore lists only
// the coordinates the requested outputs need, always with the count, and
// only those are reconstructed; the others stay secret-shared or encrypted.
// Release decodes that partial sum exactly (schema.Layout.DecodePartial),
// refuses sums that no cohort of valid records yields, and computes each
// output with package stats, giving exact rationals where the value is
// rational (counts, sums, means, variances, covariances). ReleaseNoisy
// computes the same outputs from sums released with noise on every
// coordinate but the count (docs/design.md §6.7): it clamps the sums into
// what a cohort can sum to, projects centred moments onto the positive
// semidefinite cone, releases no exact value but the count's, and gives
// every other value a standard error and confidence interval.
package enclave
