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
//  3. verify the Groth16 proof (circuits.BatchVerifier, batched with the
//     proofs of concurrent uploads to the dataset: proofBatcher), open this
//     node's HPKE-sealed share and check it against its commitment C_j, and
//     store the share, pending, with this node's signed acknowledgment
//     (package attest);
//  4. forward the payload to every peer (ForwardContribution), which runs 1–3
//     itself — it trusts nothing the coordinator checked — storing its share
//     pending with the coordinator as the record's forwarder, and answers
//     with its own signed acknowledgment;
//  5. once every node acknowledged, commit its own row, have each peer
//     commit (GetContributionAck from the forwarder), and answer with the
//     receipt. If any node refused or did not answer, delete its own row
//     and record a rollback owed to each peer in one transaction, sent
//     until confirmed, across restarts; the caller gets the refusal's code,
//     or Unavailable. A peer honours AbortContribution only from the
//     record's forwarder and only while the record is pending; jobs count
//     committed records only (pending.go, docs/design.md §7.5).
//
// A retry of the same payload, to any node, gets the same receipt, since
// each node's acknowledgment is stored and deterministic. Revoke records the
// revocation on the coordinator and then on every peer, all signing the
// coordinator's time.
//
// # Jobs
//
// A buyer submits a job to any node, which admits it under the buyer's cap
// of active jobs in one store operation (SUBMITTED, idempotent by the
// buyer's request id) and coordinates it. The round itself is
// enclave.Coordinator, a state machine with no I/O (docs/design.md §6.5);
// round.go only does what each of its Ready asks: persist the job's row by
// compare-and-set, deliver its messages to every node — this one through
// the same peer logic as the others (peer_jobs.go) — arm retry timers,
// build the transcript, and commit the release (release.go). In short:
//
//  1. ADMITTED: every node selects the cohort from its own store by the same
//     rule (enclave.Select) and signs the set's digest; the coordinator never
//     names records to a peer. Digests that differ are selected again, up to
//     three times, then the job FAILS; nothing has been summed.
//  2. Below the effective minimum cohort the job is REJECTED with the counts
//     of what was excluded and why; nothing is summed or reconstructed.
//  3. AGGREGATING: the backend's partial set (every node for MPC, the t
//     lowest live nodes for HE) computes its partials at the coordinates the
//     outputs need. A peer answers only for a job it prepared, over the
//     cohort it selected itself, whose digest is the agreed one and which
//     meets the minimum; it records the partial durably (store.PeerJob)
//     before answering and never releases a different one for the job.
//  4. RELEASING: the coordinator combines the partials through the backend
//     and the release mechanism (exact today), computes the outputs, builds
//     the transcript (package audit) and has every node that took part sign
//     it after checking its own part (SignTranscript). The transcript, the
//     result and the move to DONE then commit in one store transaction.
//
// On MPC a peer that is unreachable or refuses FAILS the job with that
// cause; on HE unreachable nodes are left out while t remain. A buyer may
// cancel until RELEASING; states change by compare-and-set in the store, so
// a cancel and the runner never both win. Jobs a node was running when it
// stopped are FAILED when it starts again; the buyer resubmits. Buyers see
// only their own jobs (NotFound otherwise), and a job lives on its
// coordinator. WatchJob streams the job at each change until a final state,
// re-reading the store on a timer as well.
//
// Two jobs whose cohorts differ by one record release, between them, that
// record's coordinates: the minimum cohort does not prevent differencing.
// docs/design.md §10 plans differential privacy for that; until then a federation
// limits who may be a buyer.
//
// # Files
//
// The files form layers, each using only those below it:
//
//   - server.go: New, which builds a Node and registers its services;
//   - one file per gRPC surface — api_contributor.go, api_buyer.go,
//     api_audit.go, api_admin.go — and the peer protocol by concern —
//     peer_registry.go, peer_ingest.go, peer_setup.go, peer_jobs.go;
//   - the logic they call, as methods of Node: ingest.go, ceremony.go and
//     hekeys.go (setup), cohort.go (selection), round.go (the coordinator's
//     runtime), transcript.go (a peer's check of a transcript), hejobs.go
//     (what a node lends the HE backend), buyers.go, interceptors.go;
//   - node.go: the Node, Serve and Stop;
//   - the parts a Node holds, which hold an env and never the Node:
//     registry.go (the registry tree, a cache of the store's), peers.go
//     (connections to the other nodes, call and fanOut), datasets.go, jobs.go
//     (running jobs and their watchers), ceremony_state.go, keygen_state.go;
//   - env.go (what every part shares: options, logger, store, clock,
//     metrics, lifetime), status.go (the lower layers' errors as statuses,
//     in one place), options.go, metrics.go, api.go.
//
// # Setup
//
// CreateDataset runs, for an HE dataset, the commit-then-reveal key
// generation of docs/design.md §4.3 (hekeys.go, its states in
// keygen_state.go), then the Groth16 ceremony of docs/design.md §5.5 across
// the nodes; see ceremony.go for the protocol and the beacon's limits. Every
// setup step a peer answers comes only from the node that coordinates that
// dataset's creation, for a dataset id the peer does not know yet, in
// order; a sealed ceremony is not aborted.
//
// # Known limits
//
// Two concurrent uploads of payloads with the same nullifier to two
// different nodes can each be refused by the other's peers (both roll back;
// a retry succeeds). A peer that stored a share and then became unreachable
// before the coordinator's roll-back keeps it until the background retry
// reaches it; docs/design.md §6.5 has jobs compare the nodes' accepted sets before
// aggregating, which catches such a difference. A dataset whose setup
// FAILED keeps its id. Ceremony and key-generation state live in memory:
// restarting a node during either fails it.
package node
