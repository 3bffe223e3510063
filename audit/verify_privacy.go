package audit

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// The release-mechanism check (docs/design.md §6.6): the job was released
// under its dataset's privacy policy — every node whose partial the
// released sums carry debited its own ledger for the job's ρ and signed
// it, the result states the noise it carries, and the sums are ones the
// mechanism releases.

// ExactReleaseWarning is the warning a report carries for a job released
// exactly, under a dataset's development policy.
const ExactReleaseWarning = "EXACT RELEASE: the dataset's privacy policy is EXACT_INSECURE_DEV (development only); " +
	"the sums carry no noise, so two jobs whose cohorts differ by one record reveal that record's values"

// release is the job's release as the audit recomputes it.
type release struct {
	privacy enclave.Privacy
	mech    enclave.Mechanism
	coords  []int      // the transcript's coordinates
	sums    []*big.Int // the transcript's sums
	noising int        // nodes of the partial set: every node (MPC), the decryption set (HE)
}

// noRandomness is the randomness of the audit's mechanism, which only
// recomputes outputs and never draws noise.
type noRandomness struct{}

func (noRandomness) Read([]byte) (int, error) { return 0, errors.New("audit: an audit draws no noise") }

// release decides once how the job is released under the dataset's
// policy (enclave.JobPrivacy) and what the transcript released; it needs
// the dataset and the spec.
func (v *verification) release() (*release, error) {
	if v.rel != nil || v.relErr != nil {
		return v.rel, v.relErr
	}
	v.rel, v.relErr = v.newRelease()
	return v.rel, v.relErr
}

func (v *verification) newRelease() (*release, error) {
	l := v.ds.Schema.Layout()
	coords, err := enclave.Coordinates(l, v.spec.GetOutputs())
	if err != nil {
		return nil, fmt.Errorf("the outputs need no computable coordinates: %w", err)
	}
	p, err := enclave.JobPrivacy(v.ds.Desc.GetPrivacy(), v.spec, l, coords)
	if err != nil {
		return nil, fmt.Errorf("the job's privacy under the dataset's policy: %w", err)
	}
	mech, err := p.Mechanism(noRandomness{})
	if err != nil {
		return nil, fmt.Errorf("the job's release mechanism: %w", err)
	}
	r := &release{privacy: p, mech: mech, noising: len(v.t.Nodes)}
	if v.t.Backend() == cohortv1.Backend_BACKEND_HE {
		r.noising = len(v.t.DecryptionSet)
	}
	for _, s := range v.t.Sums {
		r.coords, r.sums = append(r.coords, int(s.Coordinate)), append(r.sums, s.Value)
	}
	return r, nil
}

func (v *verification) checkReleaseMechanism(c *check) {
	if !v.needSpec(c) {
		return
	}
	rel, err := v.release()
	if err != nil {
		c.fail("%v", err)
		return
	}
	t, p := v.t, rel.privacy
	if p.Exact() {
		v.report.Warnings = append(v.report.Warnings, ExactReleaseWarning)
	}
	if !p.Exact() && t.Buyer == "" {
		c.fail("the release is noised, but the transcript names no buyer charged")
	}
	charge := enclave.Charge{JobID: t.JobID, DatasetID: t.DatasetID, Buyer: t.Buyer, Privacy: p}
	for _, n := range t.Nodes {
		switch {
		case len(n.Partial) == 0:
			if n.Debit != nil {
				c.fail("node %d: a privacy debit, but it released no partial", n.Index)
			}
			continue
		case int(n.Index) >= len(v.ds.Signing):
			c.fail("node %d: not a node of the dataset", n.Index)
			continue
		}
		if err := charge.Check(n.Index, n.Debit, v.ds.Signing[n.Index]); err != nil {
			c.fail("%v", err)
		}
	}
	if _, err := rel.mech.Release(rel.coords, rel.sums); err != nil {
		c.fail("the released sums are not ones the %s mechanism releases: %v", rel.mech.Name(), err)
	}
	res := new(cohortv1.Result)
	if err := proto.Unmarshal(t.Result, res); err != nil {
		c.fail("the released result does not decode: %v", err)
	} else {
		v.checkReleaseInfo(c, rel, res.GetRelease())
	}
	c.failDetail = plural(c.failed, "problem") + " with the release under the dataset's privacy policy"
	if p.Exact() {
		c.detail = "EXACT release under the dataset's development policy (EXACT_INSECURE_DEV): no node added noise or debited a privacy ledger"
		return
	}
	c.detail = fmt.Sprintf("discrete Gaussian, ρ = %s from each of epochs %d..%d charged to buyer %q: the %s of the partial set each signed that debit of its ledger, within the policy's budgets (ρ = %s per epoch, %s per buyer); the result states the noise of its %d noised sums",
		p.Rho, p.EpochFrom, p.EpochTo, t.Buyer, plural(rel.noising, "node"), p.EpochTotal, p.BuyerTotal, countNoised(p))
}

// checkReleaseInfo checks what the result says of its release: for the
// discrete Gaussian, the mechanism, ρ, the nodes whose noise the sums
// carry, each sum's per-node variance and total standard deviation, and
// the intervals' confidence; for an exact release, nothing or only that
// it is exact.
func (v *verification) checkReleaseInfo(c *check, rel *release, info *cohortv1.ReleaseInfo) {
	p := rel.privacy
	if p.Rho.IsZero() {
		// No noise: an exact policy, or a job that releases only the
		// count, which is public and spends nothing.
		why := "the dataset's policy is exact"
		if !p.Exact() {
			why = "the job releases only the count, which takes no noise"
		}
		if info == nil {
			return
		}
		if info.GetMechanism() != p.Policy.Mechanism || info.GetRho() != "" || info.GetNoisingNodes() != 0 {
			c.fail("the result states a %s release of ρ = %q by %d noising nodes, but %s", info.GetMechanism(), clip(info.GetRho()), info.GetNoisingNodes(), why)
		}
		for _, s := range info.GetSums() {
			if s.GetNodeVariance() != "" || s.GetStddev() != 0 {
				c.fail("the result states noise on coordinate %d, but %s", s.GetCoordinate(), why)
				break
			}
		}
		return
	}
	if info == nil {
		c.fail("the result does not state its release (mechanism, ρ, noise)")
		return
	}
	if info.GetMechanism() != p.Policy.Mechanism {
		c.fail("the result states mechanism %s, the dataset's policy %s", info.GetMechanism(), p.Policy.Mechanism)
	}
	if info.GetRho() != p.Rho.String() {
		c.fail("the result states ρ = %q, the job spends ρ = %s", clip(info.GetRho()), p.Rho)
	}
	if int64(info.GetNoisingNodes()) != int64(rel.noising) {
		c.fail("the result states %d noising nodes, the partial set has %d", info.GetNoisingNodes(), rel.noising)
	}
	if math.Float64bits(info.GetConfidence()) != math.Float64bits(enclave.Confidence) {
		c.fail("the result states confidence %s, intervals are at %s", formatFloat(info.GetConfidence()), formatFloat(enclave.Confidence))
	}
	sums := info.GetSums()
	if len(sums) != len(p.Coords) {
		c.fail("the result states the noise of %d sums, the job released %d", len(sums), len(p.Coords))
		return
	}
	want := p.ReleaseInfo(v.ds.Schema.Layout(), rel.noising).GetSums()
	for i, s := range sums {
		w := want[i]
		switch {
		case s.GetCoordinate() != w.GetCoordinate() || s.GetName() != w.GetName():
			c.fail("noise entry %d is for coordinate %d (%q), the job's sum %d is coordinate %d (%s)", i, s.GetCoordinate(), clip(s.GetName()), i, w.GetCoordinate(), w.GetName())
		case s.GetNodeVariance() != w.GetNodeVariance():
			c.fail("coordinate %d (%s): the result states a node variance of %q, the job's is %q", w.GetCoordinate(), w.GetName(), clip(s.GetNodeVariance()), w.GetNodeVariance())
		case math.Float64bits(s.GetStddev()) != math.Float64bits(w.GetStddev()):
			c.fail("coordinate %d (%s): the result states a standard deviation of %s, the job's noise has %s", w.GetCoordinate(), w.GetName(), formatFloat(s.GetStddev()), formatFloat(w.GetStddev()))
		}
	}
}

// countNoised is the number of the job's sums that take noise.
func countNoised(p enclave.Privacy) int {
	n := 0
	for _, v := range p.Variances {
		if !v.IsZero() {
			n++
		}
	}
	return n
}
