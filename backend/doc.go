// Package backend is the one place where Cohort's two ways of protecting a
// record differ: additive secret shares over the BN254 scalar field, one per
// node (MPC), or a BGV ciphertext under the dataset's collective threshold
// key (HE). Everything else — ingest, the job round, transcripts, the audit —
// is written once against Backend, which For chooses from the dataset
// descriptor. No other package branches on the backend.
//
// A Backend is four concerns, each in its own file:
//
//   - Contributor: prove a record and protect it (one share sealed to each
//     node, or a ciphertext under the collective key) into a payload.
//   - Ingest: decode a contribution payload strictly, give the statement its
//     proof must verify against, and open what this node stores of it (its
//     own share, checked against the proof's commitment, or the ciphertext).
//   - Round: which nodes must contribute to a job, a node's partial over the
//     cohort it selected itself at the job's coordinates (a partial sum of
//     shares, or a decryption share of the cohort's aggregate ciphertext),
//     and the combination of the partials into the coordinates' sums.
//   - Audit: the checks an auditor re-runs on a transcript that depend on
//     the backend (the circuit; the partial sums, or the ciphertexts, the
//     aggregate, the decryption set and its decryption), where they go in
//     the audit's one list, the backend's part of the shared checks, and
//     the form a job's transcript must have.
//
// Implementations do no I/O: what a node must persist before it answers (an
// HE decryption share, once per aggregate) is returned to the caller, which
// persists it. See docs/design.md §4.
package backend
