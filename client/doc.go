// Package client is the Go client for Cohort's contributors: it keeps an
// identity, registers it with a federation, builds, proves and uploads
// records, checks the nodes' signed receipts, and revokes records. The
// `cohort contributor` commands are built on it.
//
// # Identity
//
// An identity is a secret s drawn uniformly from the non-zero elements of
// the BN254 scalar field (NewIdentity, by rejection sampling). The registry
// holds only its commitment ic = H(DST_ID, s) (Commitment); a record for
// dataset d and epoch e is named publicly by its nullifier
// nf = H(DST_NF, s, d, e) and revoked by revealing rt = H(DST_RT, s, d, e)
// (Nullifier, RevocationToken). Whoever holds s can contribute in the
// contributor's name and link its records, so s never leaves the identity
// file and is never printed (Identity's fmt verbs show the commitment).
// Losing s loses the power to revoke, so Save never overwrites a file and
// Update only rewrites a file that holds the same secret. The file is JSON
// (version 1; 32-byte big-endian canonical field elements in hex), written
// with mode 0600 from its creation; LoadIdentity refuses a file that other
// users may read or write (mode & 0077 ≠ 0: run chmod 600), a non-regular
// file, one above MaxIdentityFileSize, unknown members, a non-canonical or
// zero secret. An identity holds at most one membership: the same
// commitment in two federations' registries would link its owner's records
// across them, so a contributor uses one identity file per federation.
//
// # Contributing
//
// Contribute fetches the dataset's descriptor (it must be READY), encodes
// the record with the dataset's schema and checks the consent terms,
// compiles the circuit and checks its digest against the descriptor's,
// obtains the proving key (ProvingKey), fetches the identity's Merkle path
// and checks that it leads from ic to the root the node names, splits the
// record into one additive share per node, proves validity and consent and
// seals each share to its node (package mpc), verifies the proof locally,
// uploads, and checks the receipt: one acknowledgment per node, each for
// this dataset, nullifier and SHA-256 of the payload bytes, each signed by
// the node's key from the descriptor (VerifyReceipt, package attest).
//
// # What a dishonest node can do
//
// The node the client talks to serves the descriptor, the proving key and
// the registry path. The descriptor's node keys are checked against the
// federation the client pins (WithFederation, the federation's own
// federation.yaml; Contribute requires it): a node that names seal or
// signing keys of its own, or another node count, is refused with
// federation.ErrNotAnchored before anything is sealed, so it can neither
// open the other nodes' shares nor sign the receipt in their name. The
// rest of the descriptor (verifying key, circuit digest) the client takes
// from the node, which is why a contributor reaches nodes over TLS under
// the federation's CA (WithCA). Within that:
// a wrong path is refused before proving; a proving key that does not
// hash to its stream header, exceeds MaxProvingKeySize, or does not share
// α, β and δ with the descriptor's verifying key is refused; and a proof
// that does not verify under the verifying key is not uploaded. With δ
// checked and the proof verifying, the Groth16 elements A, B, C reveal no
// more than an honest key's would. The BSB22 commitment bases in the
// proving key cannot be checked against the verifying key: a node that
// serves a key with crafted bases could make the proof's commitment leak the
// committed private values. Taking the key from the public ceremony
// transcript instead of the node (setup.Transcript.DeriveKeys) removes that
// trust, at the cost of re-deriving it. A node that refuses to store a
// record, or stores it and withholds the receipt, is detected (no valid
// receipt) but not prevented; a receipt that fails the checks makes
// Contribute fail with ErrBadReceipt although the record may have been
// stored, which Receipt can tell later.
//
// # Proving-key cache
//
// ProvingKey keeps the key's bytes in a cache directory, named after the
// dataset and its circuit digest. Every use reads the header of the node's
// stream first and takes the cached bytes only if their SHA-256 is the one
// the header names, so a key replaced on the node is fetched again and a
// damaged file is ignored; the rest of the stream is then cancelled.
//
// # Buyers and auditors
//
// DialBuyer connects with a buyer's bearer token (created by a node's admin
// with CreateBuyer; valid on every node) and wraps BuyerService: submit a
// job (ParseJobSpec reads the YAML form the CLI uses), follow it with
// WatchJob until it ends, and fetch its Result. Jobs live on the node they
// were submitted to. Transcript and Transcripts download the signed audit
// transcript bundles a node publishes for its released jobs; package audit
// verifies them offline, and nothing a node serves needs to be trusted.
// MyJobs searches those transcripts locally for an identity's nullifiers:
// which released jobs counted the contributor's records.
//
// # Rewards
//
// Rewards lists, from the same local search, the released jobs that counted
// a record of the identity and pay a reward per counted record; ClaimReward
// proves on this machine that one of the job's counted records is the
// identity's and claims the reward for a payout key (NewPayoutKey, a fresh
// Ed25519 key per claim in PayoutsDir beside the identity file). Which jobs
// were claimed is remembered in two places: the node, which refuses a
// second claim of a job by the same identity with AlreadyExists and is the
// authority, and a claim book on this machine (OpenClaimBook at
// ClaimBookPath, "identity.claims.json" beside "identity.json", mode
// 0600), which ClaimInto writes after each credited claim and after each
// AlreadyExists refusal. The book lets Rewards say what is claimed without
// asking the node (asking would need a proof per job); a book lost or
// copied to another machine costs one refused claim per job, after which
// the refusal is recorded. The book links the identity to the jobs that
// counted it, so it is kept as private as the identity file.
//
// # Errors
//
// A refusal by the node is an *RPCError carrying its gRPC status
// ("node refused the contribution: AlreadyExists: …"); status.Code works on
// it, and ExistingReceipt extracts the receipt attached to an AlreadyExists
// refusal. Everything else wraps one of the package's sentinel errors.
// A Client is safe for concurrent use.
package client
