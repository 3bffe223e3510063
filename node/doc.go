// Package node is a Cohort federation node: its gRPC services, the peer
// protocol between nodes, the registry they share and the ingest pipeline
// that verifies and stores contributions.
//
// # Surfaces
//
// A node serves two gRPC servers. The public API (ContributorService,
// BuyerService, AuditService, AdminService, health, reflection) is TLS with
// the node's certificate from the federation CA; contributors are not
// authenticated (a contribution is authorised by its proof, a registration
// by its invite token, a revocation by its token); admin calls carry
// "authorization: Bearer <admin token>", checked in constant time against
// its SHA-256; buyer calls carry "Bearer cohort-buyer-…", a token an admin
// created with CreateBuyer, replicated (as its SHA-256) to every node so it
// works on any of them. The peer API
// (PeerService) is mutual TLS only: the caller's verified certificate names
// the federation node it is (Options.PeerIdentity), and anything else is
// refused before any handler runs. Every server bounds message size,
// concurrent streams and keepalive (Limits), recovers from handler panics
// (Internal, logged with the stack, never sent), logs each call without its
// payload, and counts it in Prometheus metrics.
//
// # Registry
//
// The registry is one Merkle tree of identity commitments for the whole
// federation (package circuits/merkle). Updates are totally ordered by one
// node, the sequencer: Register on any node is forwarded to it
// (ProposeRegistration), which consumes the invite token, appends the
// member, and pushes the update (sequence number, previous root, new root)
// to every peer (ApplyRegistration). A peer recomputes the root and refuses
// an update that does not follow its own state; one that missed updates
// fetches them from the sequencer (GetRegistryState) first, and every
// non-sequencer node catches up when it starts. Register answers only when
// every node has applied the update; otherwise it is Unavailable and a retry
// (the same commitment is idempotent) completes it. All nodes therefore
// compute the same roots. A proof is accepted against the current root or
// one superseded less than RootWindow ago, so proofs in flight survive new
// registrations.
//
// # Ingest
//
// Contribute may be sent to any node, which coordinates it:
//
//  1. decode the payload against the dataset's exact layout; check that it
//     is bound to this dataset, that its epoch is open (the current one or
//     up to EpochGrace before), that its consent has not expired and that
//     its registry root is valid;
//  2. a payload whose nullifier is stored with the same bytes is a retry:
//     skip to 4; with other bytes it is AlreadyExists (the existing receipt
//     rides in the status details);
//  3. verify the Groth16 proof (circuits.BatchVerifier), open this node's
//     HPKE-sealed share and check it against its commitment C_j, and commit
//     the share with this node's signed acknowledgment (package attest);
//  4. forward the payload to every peer (ForwardContribution), which runs 1–3
//     itself — it trusts nothing the coordinator checked — and answers with
//     its own signed acknowledgment and whether this call stored it;
//  5. answer with the receipt (every node's acknowledgment) only once every
//     node has committed. If any node refused or did not answer, what this
//     call stored is removed again everywhere (AbortContribution; an
//     unreachable peer is retried in the background) and the caller gets the
//     refusal's code, or Unavailable.
//
// A retry of the same payload, to any node, gets the same receipt, since
// each node's acknowledgment is stored and deterministic. Revoke records the
// revocation on the coordinator and then on every peer, all signing the
// coordinator's time.
//
// # Jobs
//
// A buyer submits a job to any node, which records it (SUBMITTED,
// idempotent by the buyer's request id) and coordinates it (jobs.go):
//
//  1. ADMITTED: the spec is checked against the schema (enclave.ValidateSpec)
//     and the job time fixed at submission. Every node — the coordinator
//     from its own store, each peer in PrepareJob from its own — selects the
//     cohort by the same rule (enclave.Select: epoch in range, purpose
//     consented, consent not expired at job time, not revoked, then
//     contributors' own minimum cohorts) and signs the set's digest. The
//     coordinator never names records to a peer. Digests that differ (a
//     record still being forwarded) are selected again, up to three times,
//     then the job FAILS; nothing has been summed.
//  2. Below the effective minimum cohort (the largest of the job's, the
//     schema's and 1) the job is REJECTED with the counts of what was
//     excluded and why; nothing is summed or reconstructed.
//  3. AGGREGATING: each node sums its shares over the cohort, keeping only
//     the coordinates the outputs need (enclave.Coordinates), and signs the
//     partial. A peer (ComputePartial) selects the cohort again and refuses
//     unless its digest is the agreed one and it meets the minimum, so a
//     coordinator cannot obtain a partial over a set the policy forbids; it
//     also refuses a job time more than MaxJobClockSkew from its clock.
//  4. RELEASING: the coordinator checks every signature and count, adds the
//     partials (the sum of the records, and nothing else, for those
//     coordinates), and computes the outputs (enclave.Release). It then
//     builds the job's transcript (package audit: spec, descriptor digest,
//     every counted record's public inputs and proof, every node's signed
//     selection and partial, the released sums and outputs, the policy
//     counts, the registry roots used) and sends it to every peer
//     (SignTranscript), which checks its own part — its statements
//     unchanged, the records those it holds and selected, the roots in its
//     history — before signing the transcript's digest. Only then is the
//     job DONE: the Result names the transcript, which AuditService serves
//     as a bundle that `cohort audit verify` checks offline.
//
// The MPC backend needs every node: a peer that is unreachable or refuses
// FAILS the job with that cause. A buyer may cancel until RELEASING; states
// change by compare-and-set in the store, so a cancel and the runner never
// both win. Jobs a node was running when it stopped are FAILED when it
// starts again (the peers' answers are gone); the buyer resubmits. Buyers
// see only their own jobs (NotFound otherwise), and a job lives on its
// coordinator. WatchJob streams the job at each change until a final state.
//
// Two jobs whose cohorts differ by one record release, between them, that
// record's coordinates: the minimum cohort does not prevent differencing.
// docs/design.md §10 plans differential privacy for that; until then a federation
// limits who may be a buyer.
//
// # Setup
//
// CreateDataset runs the Groth16 ceremony of docs/design.md §5.5 across the nodes;
// see ceremony.go for the protocol and the beacon's limits.
//
// # Known limits
//
// Two concurrent uploads of payloads with the same nullifier to two
// different nodes can each be refused by the other's peers (both roll back;
// a retry succeeds). A peer that stored a share and then became unreachable
// before the coordinator's roll-back keeps it until the background retry
// reaches it; docs/design.md §6.5 has jobs compare the nodes' accepted sets before
// aggregating, which catches such a difference. A dataset whose setup
// FAILED keeps its id. Ceremony state lives in memory: restarting a node
// during a ceremony fails that ceremony.
package node
