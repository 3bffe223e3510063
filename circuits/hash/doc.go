// Package hash is Cohort's one hash function, Poseidon2 over the BN254 scalar
// field, in two forms that agree bit for bit: a native one (fr.Element) used by
// contributors, nodes and auditors, and a gadget used inside gnark circuits.
//
// # Construction
//
// Every use of the hash has its own [Domain]: a 32-bit tag and a permutation
// width. A digest is a sponge over the Poseidon2 permutation of that width with
// capacity one element and rate width−1:
//
//	state    = (IV, 0, …, 0)            IV = version·2⁴⁸ + tag·2³² + n
//	for each block of width−1 inputs:   state[1..] += block (zero-padded); state = P(state)
//	digest   = state[1]
//
// where n is the number of inputs, so inputs of different lengths or domains
// never share a sponge state; with no input the permutation runs once. Two
// widths are used, both with the round numbers of the Poseidon2 paper for
// BN254 and α = 5 (128-bit security): width 3 (8 full, 56 partial rounds) for
// short inputs — identity commitments, nullifiers, Merkle nodes — and width 16
// (8 full, 57 partial rounds; gnark-crypto's constants) for long vectors such
// as the commitment to one node's share, where it absorbs 15 elements per
// permutation.
//
// # Cost
//
// In an R1CS circuit one width-3 permutation is 240 constraints (each S-box
// x⁵ is three multiplications; linear layers are free) and one width-16
// permutation is 555, i.e. 37 per absorbed element, against 186 per element
// for gnark's default width-2 Merkle–Damgård hash. Sum with n inputs costs
// max(1, ⌈n/(width−1)⌉) permutations.
//
// Native and gadget are tested against each other on random inputs of every
// length up to a few blocks, for every domain.
package hash
