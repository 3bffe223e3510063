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
// # Proving and verifying
//
// [CompileMPC] compiles a shape; [MPCSystem.Prove] proves an [MPCWitness] with
// a proving key from package circuits/setup. A [BatchVerifier] checks many
// statements under one verifying key; [Verifier] runs gnark's verifier on
// each, in parallel. [Proof] and [PublicInputs] have fixed-size binary
// encodings whose decoders check the length before anything else and refuse
// points off the curve or outside the subgroup and non-canonical field
// elements.
package circuits
