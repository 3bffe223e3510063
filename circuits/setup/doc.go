// Package setup produces Cohort's Groth16 (BN254) proving and verifying keys
// by a multi-party ceremony among the federation's nodes, and lets anyone
// re-verify that ceremony offline. It wraps gnark's mpcsetup (the protocol of
// Bowe, Gabizon and Miers, eprint 2017/1050, with gnark's extension for the
// BSB22 commitments that std/rangecheck uses) as steps that take and return
// bytes or values: no I/O, no goroutines of its own, so that nodes can run
// them over any transport.
//
// # Why a ceremony
//
// Groth16 keys are derived from secrets τ, α, β, δ (and σᵢ, one per
// commitment). Whoever knows them can forge a proof for any public inputs: a
// record out of its schema's range, a consent that was never given. The
// ceremony makes these secrets products of contributions from every
// participant, so that nobody learns them unless every participant of a phase
// colludes or is compromised. One honest participant per phase — one who
// drew its contribution at random and kept no copy — is enough for the keys
// to be sound.
//
// # Phase 1: powers of τ (circuit-independent)
//
// The state holds [τⁱ]₁ for i < 2N−1, [τⁱ]₂, [ατⁱ]₁, [βτⁱ]₁ for i < N, and
// [β]₂, for a domain of N points (a power of two in [MinDomainSize,
// MaxDomainSize]; N bounds the constraint count of every circuit built on
// it). It starts at τ = α = β = 1 (NewPhase1). Each participant takes the
// previous state, multiplies in fresh secrets τ', α', β' (Phase1.Contribute)
// and attaches a proof of knowledge of each, bound to the SHA-256 of the
// previous state (the challenge). The next participant checks, before
// contributing on top of it (VerifyPhase1Step): the challenge is the hash of
// the state it followed, the proofs of knowledge verify, [τ]₁, [α]₁, [β]₁,
// [β]₂ moved by exactly the proven secrets, and every vector is a geometric
// sequence of one common ratio (pairing checks on random linear
// combinations). SealPhase1 re-verifies the whole chain from the initial
// state and applies the beacon; the result, an SRS, serves every circuit of
// the federation up to N constraints.
//
// # Phase 2: δ and σ (per circuit)
//
// NewPhase2 derives the initial state from the circuit (a BN254 R1CS,
// compiled with r1cs.NewBuilder) and the SRS, deterministically: the SRS is
// cut to the circuit's own domain (the next power of two at or above its
// constraint count — powers of τ are a prefix, so this is sound, and the
// keys are the size of gnark's own setup), then the wire polynomials are
// evaluated at τ; δ = σᵢ = 1. Each participant multiplies in δ' and σ'ᵢ
// (Phase2.Contribute): [δ] and [σᵢ] are multiplied, the proving-key vectors
// with δ in their denominator are divided by δ', each commitment basis is
// multiplied by σ'ᵢ, with proofs of knowledge bound to the previous state's
// hash. VerifyPhase2Step checks the shape, the challenge, the proofs and
// that every updated vector moved by the proven secret only; SealPhase2
// re-verifies the chain, applies the second beacon and returns the keys.
// The initial state depends on the circuit and the whole phase 1, so a
// phase-2 contribution cannot be moved to another circuit or another SRS.
//
// # Beacon
//
// After the last contribution of each phase, a public random Beacon
// (at least 32 bytes) — fixed in advance, unknown until then, such as a
// drand round or a block hash announced before the phase starts — is hashed
// with the final state into one last contribution that anyone can recompute.
// Without it, the last participant, having seen everything before it, could
// grind its own contribution until the final keys had a property it liked.
// This package checks the beacon's length only; that it is the announced
// public value is for the auditor to check against its source.
//
// # Transcript and audit
//
// A Transcript records the phase-1 domain, every phase-1 contribution,
// beacon 1, the circuit's digest (CircuitDigest: SHA-256 of the constraint
// system's serialization, domain-separated), every phase-2 contribution,
// beacon 2 and the verifying key. Transcript.Verify, given only the
// transcript and the constraint system, re-verifies every contribution in
// order from the public initial states, re-seals both phases and checks that
// the verifying key it obtains is byte for byte the recorded one; an error
// names the step ("phase 1 contribution 2: …", "phase 2 contribution 1: …",
// "verifying key does not match the ceremony"). Transcript.DeriveKeys also
// rebuilds the proving key, so a node needs nothing but the public
// transcript. What an auditor cannot learn from the transcript: whether any
// participant was honest (that is the trust assumption), who each
// participant was (contributions carry no identity; sign them at the
// transport layer), and whether the beacons are the genuine public values.
// Because the initial states are public, any phase-1 (resp. phase-2)
// contribution made on the initial state verifies as contribution 1; a
// spliced chain breaks at the contribution that follows it.
//
// # Insecure development setup
//
// InsecureDevSetup runs gnark's single-party setup: one process draws all
// the secrets, so the machine that ran it held the toxic waste, and anyone
// who obtained it (a memory dump, a swap file, a debugger, a malicious build)
// can forge proofs. It needs an InsecureDevAck, whose zero value is refused
// and whose only source is IUnderstandTheToxicWasteIsKnown; its keys carry
// KeyMeta.Kind InsecureDev, which prints as an explicit warning, and
// dataset descriptors and audits report it (docs/design.md §5.5). RunLocalCeremony
// runs a whole ceremony in one process for tests, benchmarks and demos; its
// participants are one process, so it is no safer than the process.
//
// # Encodings and what decoding checks
//
// Phase1, Phase2, Transcript, KeyMeta and the keys (MarshalProvingKey,
// MarshalVerifyingKey) have stable binary encodings: gnark's own for
// contributions and keys, with compressed points only. gnark's ReadFrom
// methods trust the sizes they read, so every decoder here checks each
// declared size against this package's limits (MaxDomainSize,
// MaxParticipants, MaxCommitments, MaxBeaconSize, MaxVerifyingKeySize) and
// against the bytes actually left before anything is allocated, refuses
// trailing bytes, and accepts only the canonical encoding (the decoded value
// must re-encode to the input). Points are decoded by gnark-crypto's
// Decoder with its default subgroup checks: every point must be on the curve
// and, for G2, pass the prime-order subgroup test (BN254's G1 has cofactor
// one, so on-curve suffices); update proofs are subgroup-checked again when
// verified. A panic inside gnark's decoders is recovered and returned as
// ErrMalformed (a panic in a goroutine gnark starts itself cannot be; its
// parallel point decompression reports failures as errors). Decoding never
// verifies a contribution: use the Verify steps.
//
// # Randomness, memory, concurrency
//
// Contributions draw their secrets from crypto/rand inside gnark-crypto
// (phase 1, UpdateValues) or gnark (phase 2, Contribute); phase 1's
// secrets and their powers are held by this package while they are
// multiplied in and zeroed when the contribution is made. Go does not zero
// freed memory, so a participant wanting stronger erasure contributes from
// a short-lived process. Phase1, Phase2 and SRS values are never modified
// after construction (Contribute returns a copy; Phase1 copies through its
// encoding, Phase2 field by field), so they may be shared between
// goroutines.
//
// # Sizes and costs
//
// A phase-1 contribution is 192·N+265 bytes (3.1 MB at N = 2^14, 3.2 GB at
// MaxDomainSize); a phase-2 contribution about 32 bytes per domain point
// plus 32 per private wire (1.0 MB for the 15339-constraint benchmark
// circuit). Measured on two shared cores at N = 2^14 (BenchmarkCeremony,
// BenchmarkCeremonySteps; ranges over runs under different load):
// contributing to phase 1 takes 5.5–7 s (a fifth of it copying the state
// through its encoding) and verifying it 0.3–0.5 s; the phase-2 initial
// state, which the first participant and every verifier compute once per
// circuit, 17–29 s (nearly all of it gnark's FFTs over G1 and G2 that
// compute the Lagrange basis); contributing to phase 2 0.9–1.1 s and
// verifying it 0.2 s; a whole 3-participant ceremony 54–94 s; re-verifying
// its transcript 27–32 s.
//
// A phase-1 contribution and the beacon's seal multiply the 4N−1 points of
// the state by powers of the secrets; this package makes those scalar
// multiplications in parts, one per CPU, in Jacobian coordinates with one
// batch inversion per part, and gives the points gnark's own (serial,
// affine) update gives (TestPhase1UpdateMatchesGnark). At N = 2^14, under a
// load average of 12 on two cores, a contribution took 34 s of wall time
// and 6.5 s of CPU instead of 53 s and 7.0 s, the seal 27 s and 5.9 s
// instead of 46 s and 6.6 s. For the HE circuit at N = 4096 (56,396
// constraints, a domain of 2^16; BenchmarkHESetupSteps in package
// circuits, two shared cores, load average 5 to 12): compiling 0.5–0.9 s,
// a phase-1 contribution 83–90 s, verifying it 6 s, the seal 70–83 s, the
// phase-2 initial state 215 s (gnark's FFTs over G1 and G2 for the
// Lagrange basis, then one pass over the constraints); every peer repeats
// the verification, the seal and the initial state when it replays the
// transcript.
package setup
