// Package he is Cohort's homomorphic-encryption backend: threshold BGV on
// lattigo v5 with coefficient encoding, encryption that captures the witness
// a contributor's proof needs, homomorphic sums, and threshold decryption that
// reveals only the coordinates a job asks for. It does no I/O: every protocol
// step takes bytes and returns bytes.
//
// # Parameter sets
//
// Parameters are named, validated and immutable (Lookup, ParamSets); the
// ParamSetID travels in every encoding. None has a special modulus P, so
// public-key encryption is the plain relation below. Security is the
// HomomorphicEncryption.org standard bound for ternary secrets, 128 bits
// classical.
//
//	id                    N     log2 Q  primes  t        ciphertext  security
//	bgv-test-n8-insecure  256   109     2       < 2^40   8 217 B     none (tests only; Insecure)
//	bgv-n12-q109          4096  109     2       < 2^40   131 089 B   128-bit
//	bgv-n13-q132          8192  132     3       < 2^48   393 233 B   128-bit
//	bgv-n13-q218          8192  218     4       < 2^60   524 305 B   128-bit
//
// t is a prime ≡ 1 mod 2N. lattigo's BGV encoder scales a plaintext by
// Δ = t⁻¹ mod Q (the noise is not multiplied by t) and decryption multiplies
// by t; ciphertexts are kept in NTT form.
//
// # Encryption and its relation
//
// A record is a plaintext polynomial m (the coordinates of its vector, the
// rest zero). PublicKey.Encrypt draws u uniform ternary and e0, e1 from
// lattigo's discrete Gaussian (σ = 3.2, |e| ≤ 19, inside the proven range
// [−2^(b−1), 2^(b−1)), b = ErrorBits = 6) and computes, as lattigo does,
// c0 = u·pk0 + e0 + Δ·m and c1 = u·pk1 + e1 in R_Q = Z_Q[X]/(X^N+1). It also
// returns the Witness of the relation the circuit proves, over the integers,
// with pk0, pk1 = PublicKey.Coefficients() and C0, C1 =
// Ciphertext.Coefficients() (INTT, CRT, in [0, Q)):
//
//	C0 = U·pk0 + E0 + Δ·M + Q·K0 + (X^N+1)·R0
//	C1 = U·pk1 + E1       + Q·K1 + (X^N+1)·R1
//
// U·pk is the full product (degree ≤ 2N−2, computed exactly by an NTT over
// auxiliary primes whose product exceeds twice N·Q). Writing it P_lo + X^N·P_hi,
// R = −P_hi (so R[N−1] = 0 and |R| < N·Q) and K is the exact quotient by Q
// (|K| < N + t + 1). Witness.Check verifies exactly this identity over Z[X]
// and the proven ranges; it is the contributor's sanity check before proving.
//
// # Collective, threshold key generation
//
// A committee of n ≤ 16 parties (indices 0..n−1, Shamir points i+1) with
// threshold 2 ≤ t_d ≤ n runs one round (KeygenParty.Round1): each party draws
// a ternary secret s_i, publishes −a·s_i + e_i with a derived from the
// committee's public 32-byte CRS (lattigo's mhe.PublicKeyGenProtocol), and
// Shamir-shares s_i with a random polynomial of degree t_d−1 (as
// mhe.Thresholdizer), one sealed share per party; s_i is erased when Round1
// returns. AggregatePublicKey adds the public shares into the collective key
// (Σ(−a·s_i + e_i), a) for s = Σ s_i; Finish adds the shares a party received
// into its ThresholdKey, a share of s that any t_d parties combine. Every
// share names its sender, recipient, committee (and CRS) and is refused
// elsewhere. All randomness of a step comes from a BLAKE2b stream keyed with
// 64 bytes of the caller's rng.
//
// There is no verifiable secret sharing and no proof of correct shares: the
// protocol is secure against passive parties. A dishonest party can send
// Shamir shares that are not on one polynomial, or that do not match its
// public-key share; decryption is then wrong (for some active sets or all),
// which the audit's recomputation detects, not this package.
//
// # Threshold decryption
//
// For one ciphertext and one active set of exactly t_d parties, each active
// party turns its share into an additive share s'_i of s (lattigo's
// mhe.Combiner: Lagrange coefficients at 0) and computes
// h_i = c1·s'_i + e_i in the coefficient domain (ThresholdKey.DecryptionShare,
// the KeySwitch protocol to the zero key, with flooding noise e_i). Reveal
// discloses h_i at the requested coordinates only; Combine computes
// x = c0 + Σ h_i = Δ·m + v (mod Q) there, then t·x = m + t·v (mod Q), centred
// in [−(Q−1)/2, (Q−1)/2], reduced mod t. That is m exactly iff
// |m + t·v| ≤ (Q−1)/2, which for all m ∈ [0, t) and |v| ≤ V is
// t·V + t − 1 ≤ (Q−1)/2.
//
// # Noise budget and smudging
//
// Params.Check bounds the noise in the worst case a proof allows: a malicious
// contributor may pick any ternary u and any errors in the proven range, so
// per record |u·e_pk + e0 + e1·s| ≤ ‖u‖₁‖e_pk‖∞ + 2^(b−1) + ‖e1‖∞‖s‖₁ ≤
// N·n·19 + 32 + 32·N·n, with e_pk the sum of n honest Gaussian errors and s
// the sum of n ternary secrets. An aggregate of up to MaxCohort records has
// B_agg = MaxCohort times that. Smudging{StatisticalBits: λ} is required and
// typed (Validate refuses anything outside 20..80): each party's e_i is uniform
// in [−B_sm, B_sm] with B_sm = 2^λ·B_agg, and V = B_agg + t_d·B_sm. Check
// accepts a capacity iff t·V + t − 1 ≤ (Q−1)/2 and the largest coordinate sum
// MaxCohort·MaxCoord is below t/2, and returns a Budget (sizes in bits, the
// margin); DecryptionShare takes B_sm from a Budget built by Check for its
// parameter set and committee, and refuses any other, so flooding is never
// defaulted or zero. Choose picks the smallest set that fits.
//
// The flooding of a single honest party hides the aggregate noise v (which
// depends on s): the statistical distance between its e_i and e_i + v is at
// most |v|/(2·B_sm+1) < 2^−(λ+1) per revealed coefficient, so k coefficients
// revealed in all cost at most k·2^−(λ+1), against any coalition of fewer than
// t_d parties. This holds only within the capacity: the caller must not sum
// more than MaxCohort ciphertexts, each carrying a verified proof (a
// ciphertext without one can carry any noise).
//
// A party must produce at most one decryption share per ciphertext, for one
// active set, and persist it before answering (lattigo SECURITY.md): two
// shares of one ciphertext with independent flooding let the flooding be
// averaged away, and shares for two active sets are two noisy linear images
// of the same Shamir share, outside what the threshold analysis covers. This package cannot see past calls; the node enforces
// it. Reveal on a persisted share may disclose further coordinates later.
//
// # Encodings
//
// Every type encodes as version ‖ kind ‖ parameter-set id ‖ fixed fields ‖
// polynomials as RNS limbs of N little-endian uint64 (a ciphertext: degree 1,
// limb count, c0 and c1 in NTT form; EncodedSize). Decoders check the exact
// length before allocating, the header, every field's range, and that every
// coefficient is below its modulus before building a lattigo object; any
// failure wraps ErrMalformed, and an accepted encoding is canonical.
// Digests are SHA-256 over a domain tag and the canonical encoding.
//
// # Concurrency and cost
//
// Params, PublicKey, Ciphertext, ThresholdKey, DecryptionShare and
// PartialDecryption are immutable once built and safe for concurrent use; a
// KeygenParty is for one goroutine. On 2 shared cores at N = 4096 (the
// benchmarks in bench_test.go): Encrypt with its witness ≈ 5–6 ms (≈ 16 ms at
// N = 8192), Witness.Check ≈ 3–4 ms, Sum ≈ 90 000 ciphertexts/s against
// ≈ 66 000 for lattigo's Evaluator.Add loop (Sum adds lazily and reduces once
// per 2^64/q_i additions), a whole 2-of-3 threshold decryption of all
// coefficients ≈ 3 ms, Round1 ≈ 1–2 ms.
package he
