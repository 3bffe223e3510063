// Package dp is the mathematical core of differentially private release in
// Cohort (docs/design.md §2.3, §6.6): exact discrete Gaussian noise, its
// calibration to the sensitivity a schema implies, and zero-concentrated DP
// accounting in exact rationals. It does no I/O beyond reading randomness
// and knows nothing of the round; a release mechanism builds on it.
//
// # Sampling
//
// Sampler draws exactly from three distributions, after Canonne, Kamath and
// Steinke, "The Discrete Gaussian for Differential Privacy", NeurIPS 2020
// (CKS), using only uniform random integers read from an io.Reader
// (crypto/rand.Reader in production) and integer arithmetic (math/big):
//
//   - BernoulliExp: Bernoulli(exp(−γ)) for rational γ ≥ 0 (CKS Algorithm 1);
//   - DiscreteLaplace: P[X = x] ∝ exp(−|x|/b) on the integers, rational
//     scale b > 0 (CKS Algorithm 2);
//   - DiscreteGaussian: N_Z(0, σ²), P[X = x] ∝ exp(−x²/(2σ²)) on the
//     integers, rational σ² > 0, by rejection from the discrete Laplace of
//     scale ⌊σ⌋+1 (CKS Algorithm 3).
//
// The samples are exact: there is no floating point anywhere in the
// sampling path, which is the sample*.go files (a test parses every
// non-test file of the package and refuses float types, float literals,
// big.Float and package math, and checks that the sample*.go files call
// nothing declared outside them), so the distribution is the one
// stated, with no rounding for an adversary to exploit (Mironov 2012). A
// sample costs about 15 uniform integers in expectation for any σ, each of
// about log2 σ bits; the time a sample takes depends on the randomness,
// which is why a node draws its noise before the round (docs/design.md
// §6.6). Parameters are typed (Variance, LaplaceScale) and their zero
// values are refused, so a missing parameter never means no noise.
//
// # Guarantee and accounting
//
// Adding N_Z(0, σ²) to each coordinate of an integer-valued query of L2
// sensitivity Δ is ρ-zCDP with ρ = Δ²/(2σ²) (CKS Theorem 4); zCDP (Bun and
// Steinke, "Concentrated Differential Privacy: Simplifications, Extensions,
// and Lower Bounds", TCC 2016) composes by adding ρ. Rho is an exact
// non-negative rational; VarianceFor and RhoOf convert between ρ and σ²
// exactly; Budget debits ρ and refuses to overspend (ErrOverspend).
// RhoForApprox returns a ρ whose ρ-zCDP implies a requested (ε, δ)-DP by
// ρ-zCDP ⇒ (ρ + 2√(ρ ln(1/δ)), δ)-DP (Bun and Steinke, Proposition 1.3),
// with the logarithm and square roots bounded by rationals in the
// conservative direction: the ρ returned never exceeds what (ε, δ) allows.
//
// # Sensitivity and calibration
//
// A record encodes to integer coordinates, each in [0, max_c] by the
// schema's bounds, which the contribution proofs enforce (docs/design.md
// §1.3). Neighbouring cohorts have the same members and differ in the
// values of one person's records: a cohort's membership is public (its
// transcript lists the nullifiers counted, which is how contributors see
// and are paid for the use of their records), so the count is released
// exactly and is no coordinate of the noise. Over a job of e epochs a
// person has at most one record per epoch, so changing one person's
// records changes the released sums by a vector of squared L2 norm at most
// e²·Σ_c max_c² (SquaredSensitivity), and less when a category's one-hot
// block is released: each record moves one count from one value to
// another, so a block changes by at most 2e² in squared norm, not e² per
// value. Calibrate spreads a job's ρ over its coordinates, by default in
// equal shares per coordinate (a block counting as one), which gives every
// coordinate the same noise relative to its range; LossOf computes the ρ of
// any per-coordinate variances, and LossOf(Calibrate(ρ)) = ρ exactly.
//
// # Several nodes
//
// Each node adds its own noise to its partial. The guarantee rests on the
// noise of one honest node: each node adds the full N_Z(0, σ²), and the
// other nodes' noise is post-processing. NodeVariance takes the number of
// honest nodes explicitly (1 is the only supported value; 0 is refused,
// not a default) and refuses more than one honest node, because a sum of discrete Gaussians is not a discrete
// Gaussian and the bound CKS give for such sums is not implemented.
package dp
