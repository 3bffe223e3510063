// Package circuits holds Cohort's contribution proofs: the gnark circuits, the
// native computations that mirror them, and proving and batch verification.
//
// # The MPC contribution circuit
//
// One Groth16 (BN254) circuit per (schema, node count k, registry depth) —
// an [MPCShape]. For public inputs
//
//	Dataset, Epoch, Root, Nullifier, Purposes, Expiry, MinCohort, Revocation, C_0 … C_{k−1}
//
// it proves knowledge of an identity secret s, a registry position with its
// Merkle path, a record vector v, and shares share_0 … share_{k−1} with
// blindings ρ_0 … ρ_{k−1} such that:
//
// Consent.
//   - H_leaf(H_id(s)) is a leaf of the registry tree with root Root (package
//     merkle: leaves and inner nodes hashed in distinct domains);
//   - Nullifier = H_nf(s, Dataset, Epoch): one record per person per dataset
//     and epoch, unlinkable across datasets and epochs without s;
//   - Revocation = H_rc(H_rt(s, Dataset, Epoch)): revealing the inner value
//     (the revocation token) later revokes the record, without a proof;
//   - Epoch, Purposes, Expiry, MinCohort fit 32, |purposes|, 40 and 32 bits.
//     They are public and checked by the node against the dataset and the job;
//     the range checks also make every public input appear in a constraint,
//     which Groth16 needs to bind it to the proof.
//
// The proof is the consent: only the holder of s can make it, and it fixes
// the terms. It reveals nothing about which member made it.
//
// Validity (the schema's layout, package schema).
//   - v[0] = 1;
//   - each numeric coordinate x has 0 ≤ x ≤ span: x and span−x are both
//     range-checked to bits(span) bits (gnark's std rangecheck, a lookup
//     argument using the Groth16 commitment extension), so a value above the
//     maximum fails even when it fits the bit width; booleans are 0 or 1;
//   - each category is one-hot: every coordinate a bit, their sum 1;
//   - each product coordinate equals the product of its two factors.
//
// MPC binding.
//   - Σ_j share_j = v coordinate-wise over Fr;
//   - C_j = H_sh(j, ρ_j, share_j…) for every node j ([ShareCommitment]).
//
// Node j receives share_j and ρ_j sealed to it (package mpc), recomputes C_j
// and compares it with the public input, so each node knows its share is the
// one the proof speaks of; every node verifies the same proof, so all agree on
// the accepted set. The blinding ρ_j keeps C_j hiding even though record
// values come from small sets.
//
// Every hash is Poseidon2 with its own domain tag (package hash). The circuit
// uses no hint of its own; the only hints are those of gnark's rangecheck,
// whose outputs it constrains.
//
// # Cost
//
// With L = len(v), d the registry depth and k nodes, the circuit has about
//
//	5.1k (d = 20 membership) + 1.7k (nullifier, revocation) + 555·k·⌈(L+2)/15⌉ (share commitments)
//	+ L·(k−1)+L (sums) + ~3 per range-checked bit-width + one per product
//
// constraints; the share commitments dominate large schemas (≈240k of the
// 253k constraints for 64 fields with all 2,080 products). Two ways to cut
// them, not taken yet: commit to each node's share with its own BSB22
// Pedersen commitment (the node recomputes it with an MSM over the public
// commitment basis, no hash in-circuit), or let nodes hold products of shares
// computed by an MPC multiplication instead of proving every product.
// Measured counts are in benchmarks/ (BenchmarkContributionProve) and the README.
//
// # The HE contribution circuit
//
// One Groth16 circuit per (schema, registry depth, collective key) — an
// [HEShape]. The dataset's collective BGV public key (PK0, PK1), its
// modulus Q and Δ = t⁻¹ mod Q are constants of the circuit: a dataset's
// circuit, and so its Groth16 keys, is tied to its key; rotating the key
// means a new circuit, a new phase-2 ceremony and new keys. For public inputs
//
//	Dataset, Epoch, Root, Nullifier, Purposes, Expiry, MinCohort, Revocation, C0[0..N), C1[0..N)
//
// where C0, C1 are the ciphertext's coefficients (integers in [0, Q)), it
// proves consent and validity exactly as the MPC circuit (no share
// commitments), and knowledge of integer polynomials U, E0, E1, K0, K1, R0,
// R1 of N coefficients with, over Z[X],
//
//	C0 = U·PK0 + E0 + Δ·m + Q·K0 + (X^N+1)·R0
//	C1 = U·PK1 + E1 +       Q·K1 + (X^N+1)·R1
//
// m being the polynomial whose first len(v) coefficients are v, the rest 0.
// Modulo (Q, X^N+1) this says that (C0, C1) is a BGV public-key encryption
// of v in coefficient encoding, with U ternary and every error in
// [−2^(b−1), 2^(b−1)) (b = HEKey.ErrorBits), so it decrypts to v.
//
// The witness constraints:
//   - each U_i ∈ {−1, 0, 1}, each E_i ∈ [−2^(b−1), 2^(b−1)) (the b-bit check
//     of E_i + 2^(b−1)), and each K1_i and each K0_i beyond the record in
//     [−(N+2), N+2]: log-derivative lookups into three constant tables, with
//     the multiplicities as private inputs (a dishonest count fails the
//     argument), one constraint per query and per table entry;
//   - |K0_i| ≤ N + CoordMax_i + 2 on the record's coordinates, by two range
//     checks. Honest encryption stays within these bounds: with
//     |fold(U·PK)_i| ≤ N·(Q−1) (the negacyclic product), C_i ∈ [0, Q),
//     |E_i| ≤ 2^(b−1) < Q and Δ·m_i ∈ [0, (Q−1)·CoordMax_i], the quotient
//     Q·K_i = C_i − fold_i − E_i − Δ·m_i gives −(N + CoordMax_i) ≤ K0_i ≤ N + 1
//     and −N ≤ K1_i ≤ N + 1;
//   - R0, R1 are free field elements.
//
// The relation is checked at one challenge γ: with W0 = C0 − E0 − Q·K0 − Δ·m
// and W1 = C1 − E1 − Q·K1 (coefficient-wise linear, free in R1CS),
//
//	W0(γ) = U(γ)·PK0(γ) + (γ^N+1)·R0(γ),  W1(γ) = U(γ)·PK1(γ) + (γ^N+1)·R1(γ).
//
// Soundness. (1) γ and the lookup challenges derive from the circuit's one
// BSB22 commitment (std/multicommit, shared with std/rangecheck) to every
// witness polynomial, the record, the lookup multiplicities, and the public
// C0, C1, which the verifier hashes into the challenge: γ is fixed only
// after the ciphertext and the whole witness. (2) The lookups and range
// checks make U, E, K, v small integers. (3) Both sides of each relation are
// polynomials of degree ≤ 2N−1 fixed before γ, so by Schwartz–Zippel the
// identity at γ holds for distinct polynomials with probability at most
// 2N/r per relation, and a lookup with an entry outside its table passes
// with probability at most (queries + table)/r; each challenge is a small
// power (at most the fifth) of the commitment's hash, which multiplies
// these by at most 5. Together: below 2^−230 at N = 2^12, per hash
// evaluation an attacker tries. (4) So W0 = U·PK0 +
// (X^N+1)·R0 in Fr[X]; reducing modulo the monic X^N+1 removes (X^N+1)·R0
// whatever R0 is, leaving W0_i ≡ fold(U·PK0)_i (mod r) for every i — which
// is why R needs no bound: it cannot help, being the quotient of a division
// by a monic polynomial. (5) No wrap-around: |W0_i − fold_i| ≤ Q + 2^(b−1)
// + Q·(N + CoordMax_i + 2) + (Q−1)·CoordMax_i + N·(Q−1) < Q·(2N + 2·CoordMax_i
// + 4) ≤ 8·Q·N·(1 + max CoordMax) < r, which NewHEShape requires; a
// multiple of r that small is 0, so W0_i = fold(U·PK0)_i over Z, and with
// R0 = (fold(U·PK0) − U·PK0)/(X^N+1) the relation holds over Z[X]; likewise
// for W1. Step (5) needs C_i < Q: the verifier builds the public vector from the
// ciphertext it holds, whose coefficients are reduced modulo Q
// ([HEPublicVector] only refuses coefficients ≥ r).
//
// What a contributor can still do: the circuit checks bounds, not
// distributions. Picking U = 0 or errors of 0 yields a valid proof of a
// ciphertext that hides the record poorly — it only weakens the secrecy of
// the contributor's own record; the noise of every accepted ciphertext is
// bounded as for honest ones, so aggregates decrypt correctly.
//
// Cost at N = 4096, the default schema and depth 20 (BenchmarkHEContribution):
// 56,396 constraints (a Groth16 domain of 2^16): ≈ 5N for evaluating the
// five witness polynomials U, R0, R1, W0, W1 (baby-step giant-step powers of
// γ, so PK0(γ) and PK1(γ) cost ≈ 2√(8N)), N + 3 for U's lookup, 2N + 2^b
// for E's, (2N − len(v)) + (2N + 5) for K's, ≈ 6.8k for consent and a few
// hundred for validity and the record's K0 range checks. Proving takes
// ≈ 0.8 s on two idle cores, with a 12.8 MB proving key (compressed); the
// proof verifies with a public-input MSM of 8 + 2N points, ≈ 15 ms.
//
// # Proving and verifying
//
// [CompileMPC] compiles a shape; [MPCSystem.Prove] proves an [MPCWitness] with
// a proving key from package circuits/setup; [CompileHE] and [HESystem.Prove]
// do the same for an [HEWitness], whose statement's public vector is
// [HEPublicVector]. A [BatchVerifier] checks many statements under one
// verifying key; [Verifier.VerifyBatch] checks them with one random linear
// combination, one multi-Miller loop and one final exponentiation per chunk
// of up to 512, bisecting a failing chunk down to the statements gnark's
// verifier refuses, and [Verifier.Verify] runs gnark's verifier on one
// (docs/design.md §5.6). [Proof] and [PublicInputs] have fixed-size binary
// encodings whose decoders check the length before anything else and refuse
// points off the curve or outside the subgroup and non-canonical field
// elements.
package circuits
