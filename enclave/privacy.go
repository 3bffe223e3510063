package enclave

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"slices"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave/stats"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// This file decides how a job is released under its dataset's privacy
// policy (docs/design.md §6.6): which mechanism, what ρ the job spends,
// which coordinates take noise and how much, and what a node's signed
// debit of its privacy ledger must say.

// Sentinel errors of the privacy policy and a job's privacy loss.
var (
	// ErrPolicy: a dataset privacy policy that is missing or malformed.
	ErrPolicy = errors.New("enclave: invalid privacy policy")
	// ErrPrivacy: a job's privacy loss that is missing, malformed, or
	// given where the policy is exact.
	ErrPrivacy = errors.New("invalid privacy loss")
	// ErrDebit: a node's privacy debit that is missing, malformed, or not
	// the job's charge.
	ErrDebit = errors.New("enclave: invalid privacy debit")
)

// CountCoordinate is the coordinate of the cohort's size, which no node
// noises: a cohort's membership is public (its transcript lists the
// nullifiers counted), so its size is released exactly (dp.Units).
const CountCoordinate = 0

// MaxJobEpochs bounds the epochs one job spans: a node debits every one of
// them in its ledger.
const MaxJobEpochs = 4096

// DefaultPolicy is the release policy of a dataset created without one:
// the discrete Gaussian mechanism, ρ = 1 per epoch for all buyers, at most
// ρ = 1/2 per epoch for one buyer, one honest node, equal shares.
func DefaultPolicy() *cohortv1.PrivacyPolicy {
	return &cohortv1.PrivacyPolicy{
		Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN,
		EpochRho:  "1", BuyerRho: "1/2", HonestNodes: 1,
		Allocation: cohortv1.NoiseAllocation_NOISE_ALLOCATION_EQUAL_SHARES,
	}
}

// Policy is a checked privacy policy.
type Policy struct {
	Mechanism              cohortv1.ReleaseMechanism
	EpochTotal, BuyerTotal dp.Rho // zero for an exact policy
	Allocation             dp.Allocation
	Honest                 int
}

// Exact reports whether the policy releases exact sums.
func (p Policy) Exact() bool {
	return p.Mechanism == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV
}

// PolicyOf checks a descriptor's policy: a known mechanism; for the
// discrete Gaussian, 0 < buyer_rho ≤ epoch_rho, one honest node and a
// known allocation; for the exact mechanism, nothing else set. A nil
// policy is refused: a dataset releases nothing without one.
func PolicyOf(p *cohortv1.PrivacyPolicy) (Policy, error) {
	if p == nil {
		return Policy{}, fmt.Errorf("%w: the dataset has no privacy policy", ErrPolicy)
	}
	switch p.GetMechanism() {
	case cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV:
		if p.GetEpochRho() != "" || p.GetBuyerRho() != "" || p.GetHonestNodes() != 0 || p.GetAllocation() != cohortv1.NoiseAllocation_NOISE_ALLOCATION_UNSPECIFIED {
			return Policy{}, fmt.Errorf("%w: an exact policy has no budget, honest nodes or allocation", ErrPolicy)
		}
		return Policy{Mechanism: p.GetMechanism()}, nil
	case cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN:
	default:
		return Policy{}, fmt.Errorf("%w: mechanism %v", ErrPolicy, p.GetMechanism())
	}
	out := Policy{Mechanism: p.GetMechanism(), Honest: int(p.GetHonestNodes())}
	var err error
	if out.EpochTotal, err = dp.ParseRho(p.GetEpochRho()); err != nil || out.EpochTotal.IsZero() {
		return Policy{}, fmt.Errorf("%w: epoch_rho %q: want ρ > 0", ErrPolicy, p.GetEpochRho())
	}
	if out.BuyerTotal, err = dp.ParseRho(p.GetBuyerRho()); err != nil || out.BuyerTotal.IsZero() {
		return Policy{}, fmt.Errorf("%w: buyer_rho %q: want ρ > 0", ErrPolicy, p.GetBuyerRho())
	}
	if out.BuyerTotal.Cmp(out.EpochTotal) > 0 {
		return Policy{}, fmt.Errorf("%w: buyer_rho %s exceeds epoch_rho %s", ErrPolicy, out.BuyerTotal, out.EpochTotal)
	}
	if out.Honest != 1 {
		return Policy{}, fmt.Errorf("%w: honest_nodes %d: only 1 is supported (each node adds the full noise)", ErrPolicy, out.Honest)
	}
	switch p.GetAllocation() {
	case cohortv1.NoiseAllocation_NOISE_ALLOCATION_UNSPECIFIED, cohortv1.NoiseAllocation_NOISE_ALLOCATION_EQUAL_SHARES:
		out.Allocation = dp.EqualShares
	case cohortv1.NoiseAllocation_NOISE_ALLOCATION_ONE_VARIANCE:
		out.Allocation = dp.OneVariance
	default:
		return Policy{}, fmt.Errorf("%w: allocation %v", ErrPolicy, p.GetAllocation())
	}
	return out, nil
}

// Privacy is how one job is released: its policy, the ρ it spends from
// every epoch of its range, and each node's noise.
type Privacy struct {
	Policy
	// Rho is charged to every epoch of the job; zero for an exact policy.
	Rho dp.Rho
	// EpochFrom and EpochTo are the job's epochs.
	EpochFrom, EpochTo uint64
	// Coords are the job's coordinates (Coordinates) and Variances the
	// variance each node draws its noise with at each of them: zero at
	// the count, and for an exact policy everywhere.
	Coords    []int
	Variances []dp.Variance
}

// Epochs is the number of epochs the job spans.
func (p Privacy) Epochs() uint64 { return p.EpochTo - p.EpochFrom + 1 }

// JobPrivacy checks a job's privacy loss against its dataset's policy and
// calibrates the noise of its coordinates coords (Coordinates of its
// outputs): the discrete Gaussian needs a ρ, from spec.privacy.rho or
// converted from spec.privacy.approx, of at most the buyer's cap per
// epoch (a larger one could never be charged); an exact policy refuses
// any. A job whose outputs need only the count (public, never noised)
// spends nothing and must state no loss. A job may span at most
// MaxJobEpochs epochs. Spec problems are
// *SpecError wrapping ErrPrivacy, so a caller reports them as the
// buyer's.
func JobPrivacy(policy *cohortv1.PrivacyPolicy, spec *cohortv1.JobSpec, l schema.Layout, coords []int) (Privacy, error) {
	pol, err := PolicyOf(policy)
	if err != nil {
		return Privacy{}, err
	}
	from, to := spec.GetEpochFrom(), spec.GetEpochTo()
	if to < from || to-from >= MaxJobEpochs {
		return Privacy{}, specErr(ErrPrivacy, "epoch_to", "a job spans 1..%d epochs, not %d..%d", MaxJobEpochs, from, to)
	}
	out := Privacy{Policy: pol, EpochFrom: from, EpochTo: to, Coords: slices.Clone(coords), Variances: make([]dp.Variance, len(coords))}
	if pol.Exact() {
		if spec.GetPrivacy() != nil {
			return Privacy{}, specErr(ErrPrivacy, "privacy", "the dataset releases exact sums (development policy); a job spends no privacy loss")
		}
		return out, nil
	}
	var noised []int
	for _, c := range coords {
		if c != CountCoordinate {
			noised = append(noised, c)
		}
	}
	if len(noised) == 0 {
		// Only the count, which is public: nothing to noise, nothing spent.
		if spec.GetPrivacy() != nil {
			return Privacy{}, specErr(ErrPrivacy, "privacy", "the outputs need only the cohort's size, which is released exactly and spends nothing; leave privacy empty")
		}
		return out, nil
	}
	if out.Rho, err = loss(spec.GetPrivacy()); err != nil {
		return Privacy{}, err
	}
	if out.Rho.Cmp(pol.BuyerTotal) > 0 {
		return Privacy{}, specErr(ErrPrivacy, "privacy", "ρ = %s exceeds the dataset's budget per buyer and epoch, ρ = %s", out.Rho, pol.BuyerTotal)
	}
	vs, err := dp.Calibrate(l, noised, out.Epochs(), out.Rho, pol.Allocation)
	if err != nil {
		return Privacy{}, fmt.Errorf("enclave: calibrate: %w", err)
	}
	for i, k := 0, 0; i < len(coords); i++ {
		if coords[i] == CountCoordinate {
			continue
		}
		if out.Variances[i], err = dp.NodeVariance(vs[k], pol.Honest); err != nil {
			return Privacy{}, fmt.Errorf("enclave: %w", err)
		}
		k++
	}
	return out, nil
}

// SpecRho is the ρ a spec asks to spend (its rho, or its (ε, δ)
// converted), zero when it asks none; it does not check the spec against a
// policy (JobPrivacy does).
func SpecRho(spec *cohortv1.JobSpec) (dp.Rho, error) {
	if spec.GetPrivacy() == nil {
		return dp.Rho{}, nil
	}
	return loss(spec.GetPrivacy())
}

// loss reads a job's privacy loss: ρ > 0, or (ε, δ) converted.
func loss(p *cohortv1.Privacy) (dp.Rho, error) {
	switch l := p.GetLoss().(type) {
	case *cohortv1.Privacy_Rho:
		r, err := dp.ParseRho(l.Rho)
		if err != nil || r.IsZero() {
			return dp.Rho{}, specErr(ErrPrivacy, "privacy.rho", "%q: want an exact ρ > 0 such as \"1/8\" or \"0.125\"", l.Rho)
		}
		return r, nil
	case *cohortv1.Privacy_Approx:
		eps, err := dp.ParseAmount(l.Approx.GetEpsilon())
		if err != nil {
			return dp.Rho{}, specErr(ErrPrivacy, "privacy.approx.epsilon", "%v", err)
		}
		delta, err := dp.ParseAmount(l.Approx.GetDelta())
		if err != nil {
			return dp.Rho{}, specErr(ErrPrivacy, "privacy.approx.delta", "%v", err)
		}
		r, err := dp.RhoForApprox(eps, delta)
		if err != nil {
			return dp.Rho{}, specErr(ErrPrivacy, "privacy.approx", "%v", err)
		}
		return r, nil
	}
	return dp.Rho{}, specErr(ErrPrivacy, "privacy", "the dataset adds noise: the job must say what privacy loss it spends (rho, or epsilon and delta)")
}

// NoiseStdDev returns the standard deviation of the total noise on each
// of the job's sums when noising nodes each added their own: √(m·σ²), 0
// at an exact coordinate.
func (p Privacy) NoiseStdDev(noising int) []float64 {
	out := make([]float64, len(p.Coords))
	for i, v := range p.Variances {
		if v.IsZero() {
			continue
		}
		f, _ := new(big.Rat).Mul(v.Rat(), big.NewRat(int64(noising), 1)).Float64()
		out[i] = math.Sqrt(f)
	}
	return out
}

// ReleaseInfo is what a job's result says of its release by noising
// nodes: for the discrete Gaussian the mechanism, ρ, the nodes whose noise
// the sums carry, the intervals' confidence and each sum's noise (its
// per-node variance, empty at the count, and its total standard
// deviation); for an exact release only that it is exact.
func (p Privacy) ReleaseInfo(l schema.Layout, noising int) *cohortv1.ReleaseInfo {
	if p.Rho.IsZero() {
		return &cohortv1.ReleaseInfo{Mechanism: p.Policy.Mechanism}
	}
	info := &cohortv1.ReleaseInfo{Mechanism: p.Policy.Mechanism, Rho: p.Rho.String(), NoisingNodes: uint32(noising), Confidence: Confidence}
	sd := p.NoiseStdDev(noising)
	for i, c := range p.Coords {
		sn := &cohortv1.SumNoise{Coordinate: uint32(c), Name: l.SumName(c), Stddev: sd[i]}
		if !p.Variances[i].IsZero() {
			sn.NodeVariance = p.Variances[i].String()
		}
		info.Sums = append(info.Sums, sn)
	}
	return info
}

// Mechanism returns the job's release mechanism, drawing noise from src
// (crypto/rand.Reader in production).
func (p Privacy) Mechanism(src io.Reader) (Mechanism, error) {
	if p.Rho.IsZero() {
		return Exact{}, nil // an exact policy, or only the public count
	}
	return newGaussian(p, src)
}

// Charge is what a job costs in one node's ledger: the claim a node's
// signed debit must match.
type Charge struct {
	JobID, DatasetID, Buyer string
	Privacy
}

// DebitStatement is the statement of a wire debit, as node signed it.
func DebitStatement(jobID, datasetID string, d *cohortv1.PrivacyDebit) attest.PrivacyDebit {
	st := attest.PrivacyDebit{JobID: jobID, DatasetID: datasetID, Buyer: d.GetBuyerId(), Rho: d.GetRho(), Node: d.GetNodeIndex()}
	for _, e := range d.GetEntries() {
		st.Entries = append(st.Entries, attest.LedgerEntry{Epoch: e.GetEpoch(),
			EpochTotal: e.GetEpochTotal(), EpochBefore: e.GetEpochSpentBefore(), EpochAfter: e.GetEpochSpentAfter(),
			BuyerTotal: e.GetBuyerTotal(), BuyerBefore: e.GetBuyerSpentBefore(), BuyerAfter: e.GetBuyerSpentAfter()})
	}
	return st
}

// Check checks node's debit d for the charge: present, signed by key,
// for this buyer and ρ, one entry per epoch of the job in order, each
// with the policy's totals, spent after = spent before + ρ, and never
// beyond a total. A release that spends no ρ (exact) takes no debit.
func (c Charge) Check(node uint32, d *cohortv1.PrivacyDebit, key ed25519.PublicKey) error {
	if c.Rho.IsZero() {
		if d != nil {
			return fmt.Errorf("%w: node %d charged an exact release", ErrDebit, node)
		}
		return nil
	}
	if d == nil {
		return fmt.Errorf("%w: node %d released a noised partial without debiting its ledger", ErrDebit, node)
	}
	if d.GetNodeIndex() != node || d.GetSignature().GetNodeIndex() != node {
		return fmt.Errorf("%w: node %d sent a debit of node %d", ErrDebit, node, d.GetNodeIndex())
	}
	if err := attest.Verify(key, DebitStatement(c.JobID, c.DatasetID, d), d.GetSignature().GetSignature()); err != nil {
		return fmt.Errorf("%w: node %d: %w", ErrDebit, node, err)
	}
	if d.GetBuyerId() != c.Buyer {
		return fmt.Errorf("%w: node %d charged buyer %q, not %q", ErrDebit, node, d.GetBuyerId(), c.Buyer)
	}
	if d.GetRho() != c.Rho.String() {
		return fmt.Errorf("%w: node %d charged ρ = %q, the job spends %s", ErrDebit, node, d.GetRho(), c.Rho)
	}
	if uint64(len(d.GetEntries())) != c.Epochs() {
		return fmt.Errorf("%w: node %d debited %d epochs, the job spans %d", ErrDebit, node, len(d.GetEntries()), c.Epochs())
	}
	for i, e := range d.GetEntries() {
		if e.GetEpoch() != c.EpochFrom+uint64(i) {
			return fmt.Errorf("%w: node %d: entry %d is epoch %d, want %d", ErrDebit, node, i, e.GetEpoch(), c.EpochFrom+uint64(i))
		}
		if err := c.checkEntry(e); err != nil {
			return fmt.Errorf("%w: node %d, epoch %d: %w", ErrDebit, node, e.GetEpoch(), err)
		}
	}
	return nil
}

func (c Charge) checkEntry(e *cohortv1.LedgerEntry) error {
	for _, b := range []struct {
		name                 string
		total, before, after string
		want                 dp.Rho
	}{
		{"epoch", e.GetEpochTotal(), e.GetEpochSpentBefore(), e.GetEpochSpentAfter(), c.EpochTotal},
		{"buyer", e.GetBuyerTotal(), e.GetBuyerSpentBefore(), e.GetBuyerSpentAfter(), c.BuyerTotal},
	} {
		total, err1 := dp.ParseRho(b.total)
		before, err2 := dp.ParseRho(b.before)
		after, err3 := dp.ParseRho(b.after)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("the %s budget: %w", b.name, err)
		}
		if total.Cmp(b.want) != 0 {
			return fmt.Errorf("the %s budget's total is %s, the policy's %s", b.name, total, b.want)
		}
		if before.Add(c.Rho).Cmp(after) != 0 {
			return fmt.Errorf("the %s budget went from %s to %s, not by ρ = %s", b.name, before, after, c.Rho)
		}
		if after.Cmp(total) > 0 {
			return fmt.Errorf("the %s budget is overspent: %s of %s", b.name, after, total)
		}
	}
	return nil
}

// Supports reports whether a cohort of n records supports the outputs:
// whether the count, which is public, allows each statistic (a variance
// needs two records, a regression without ridge more records than
// coefficients). It returns stats.ErrTooFew, wrapped with the output, when
// it does not. The coordinator asks before any node releases or spends
// anything, since the outputs are computed only after the budget is spent.
func Supports(s *schema.Schema, coords []int, outputs []*cohortv1.Output, n uint64) error {
	sums := make([]*big.Int, len(coords))
	sd := make([]float64, len(coords))
	for i, c := range coords {
		sums[i] = new(big.Int)
		if c == CountCoordinate {
			sums[i].SetUint64(n)
		} else {
			sd[i] = 1
		}
	}
	_, err := ReleaseNoisy(s, coords, sums, NoiseModel{StdDev: sd, Confidence: Confidence}, outputs)
	if errors.Is(err, stats.ErrTooFew) {
		return err
	}
	return nil
}
