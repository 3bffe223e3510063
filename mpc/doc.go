// Package mpc is Cohort's secret-sharing backend: additive sharing of record
// vectors over the BN254 scalar field Fr, the commitments that bind each share
// to a record's proof, partial aggregation, and the sealing of each share to
// its node with HPKE. It does no I/O: callers pass bytes in and take bytes out.
//
// # Additive sharing
//
// A record is a vector v of m non-negative integers, read as elements of Fr
// (r ≈ 2^254). Split draws k−1 vectors uniformly at random from Fr^m, by
// rejection sampling so there is no modular bias, and sets the k-th to v minus
// their sum; share j goes to node j (0-based). Any k−1 shares are uniformly
// distributed and independent of v, so up to k−1 colluding nodes learn nothing
// about a record — information-theoretically, not under an assumption. Each
// node adds up the shares it holds (Partial, Accumulate); the sum of the k
// partials is the sum of the records (Reconstruct), and only such aggregates
// are ever reconstructed. ToUint64 and ToBig turn a reconstructed sum back
// into integers and refuse any coordinate at or above a bound the caller
// states: a dataset's bounds keep honest sums far below r, so a larger value
// means a wrapped sum or a wrong reconstruction. Nodes are assumed
// honest-but-curious: a node that reports a wrong partial is not detected here.
//
// # Commitments and blinding
//
// For each node the contributor publishes, as a public input of the record's
// proof, C_j = H(DST_SH, j, ρ_j, share_j…): Poseidon2 in the domain
// hash.ShareCommitment over the node index, a blinding ρ_j drawn uniformly
// from Fr, and the m values (Share.Commitment). The proof shows that the
// committed shares sum to a valid v; node j, after opening its share, checks
// C_j (Share.CheckCommitment) and so knows it holds exactly the share the
// proof speaks of. The blinding is what makes C_j hiding. Record values are
// small (ages, counts, one-hot bits), so without ρ the k−1 nodes other than j
// could enumerate candidate records v, compute the share_j each would imply
// from their own shares, and test it against the public C_j, recovering v.
// With ρ_j uniform in Fr and known only to node j, C_j is independent of the
// values for anyone who cannot guess ρ_j.
//
// # Sealing
//
// Each share, blinding included, is sealed to its node with package seal
// (HPKE base mode under the node's seal.PublicKey; see that package for the
// suite, the key encodings and what Open validates). A sealed share is
//
//	suite ID (1) ‖ encapsulated key (1120) ‖ AES-256-GCM(MarshalShare(share)) (39 + 32·m + 16)
//
// that is 1176 + 32·m bytes (SealedSize). The HPKE info is
// "cohort/v1/share-seal" followed by the node index as a big-endian uint16,
// so a share sealed for node 1 does not open as node 2's even under the same
// key; the associated data is the caller's digest of the proof's public
// inputs, so a sealed share opens only next to the proof it was made for.
// Base mode does not authenticate the sender — anyone can seal to a node —
// which is why the opened share is checked against C_j.
//
// OpenShare checks, in this order: the suite byte is the key's suite and the
// blob is exactly SealedSize bytes for the expected m (before decrypting or
// allocating); the HPKE decryption succeeds under the node's info and the
// aad; the plaintext has the current version, names the expected node and
// length, and encodes the blinding and every value canonically (< r, never
// reduced). Failures of the first and last kind wrap ErrMalformed; a failed
// decryption wraps ErrOpen and says nothing more.
//
// # Concurrency
//
// Functions of this package are safe for concurrent use on arguments that are
// not being modified. A Share is plain data. A Partial is not safe for
// concurrent use. Split reads the randomness source it is given; crypto/rand.Reader (the
// default) may be shared, other sources need their own synchronization.
//
// Secret buffers this package allocates (encoded shares, randomness) are
// cleared when it is done with them, as far as Go allows; the shares returned
// to the caller are the caller's to clear.
package mpc
