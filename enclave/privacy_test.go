package enclave

import (
	"crypto/ed25519"
	"errors"
	"math/big"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/dp"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

func TestPolicyOf(t *testing.T) {
	p, err := PolicyOf(DefaultPolicy())
	if err != nil || p.Exact() || p.EpochTotal.String() != "1" || p.BuyerTotal.String() != "1/2" || p.Allocation != dp.EqualShares {
		t.Fatalf("default policy: %+v, %v", p, err)
	}
	exact := &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
	if p, err := PolicyOf(exact); err != nil || !p.Exact() {
		t.Fatalf("exact policy: %+v, %v", p, err)
	}
	for name, change := range map[string]func(*cohortv1.PrivacyPolicy){
		"no mechanism":        func(p *cohortv1.PrivacyPolicy) { p.Mechanism = 0 },
		"unknown mechanism":   func(p *cohortv1.PrivacyPolicy) { p.Mechanism = 9 },
		"no epoch budget":     func(p *cohortv1.PrivacyPolicy) { p.EpochRho = "" },
		"zero epoch budget":   func(p *cohortv1.PrivacyPolicy) { p.EpochRho = "0" },
		"float epoch budget":  func(p *cohortv1.PrivacyPolicy) { p.EpochRho = "1e3" },
		"no buyer cap":        func(p *cohortv1.PrivacyPolicy) { p.BuyerRho = "" },
		"buyer cap too large": func(p *cohortv1.PrivacyPolicy) { p.BuyerRho = "2" },
		"two honest nodes":    func(p *cohortv1.PrivacyPolicy) { p.HonestNodes = 2 },
		"no honest node":      func(p *cohortv1.PrivacyPolicy) { p.HonestNodes = 0 },
		"unknown allocation":  func(p *cohortv1.PrivacyPolicy) { p.Allocation = 7 },
	} {
		p := DefaultPolicy()
		change(p)
		if _, err := PolicyOf(p); !errors.Is(err, ErrPolicy) {
			t.Errorf("%s: %v, want ErrPolicy", name, err)
		}
	}
	exact.EpochRho = "1"
	if _, err := PolicyOf(exact); !errors.Is(err, ErrPolicy) {
		t.Errorf("an exact policy with a budget: %v", err)
	}
	if _, err := PolicyOf(nil); !errors.Is(err, ErrPolicy) {
		t.Errorf("no policy: %v", err)
	}
}

func meanAgeSpec(privacy *cohortv1.Privacy) *cohortv1.JobSpec {
	return &cohortv1.JobSpec{EpochFrom: 5, EpochTo: 7, Privacy: privacy, Outputs: []*cohortv1.Output{
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}},
		{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT},
	}}
}

func rhoLoss(s string) *cohortv1.Privacy {
	return &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: s}}
}

func TestJobPrivacy(t *testing.T) {
	l := schema.Default().Layout()
	spec := meanAgeSpec(rhoLoss("1/4"))
	coords, err := Coordinates(l, spec.GetOutputs())
	if err != nil {
		t.Fatal(err)
	}
	p, err := JobPrivacy(DefaultPolicy(), spec, l, coords)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rho.String() != "1/4" || p.Epochs() != 3 || len(p.Variances) != len(coords) {
		t.Fatalf("privacy %+v", p)
	}
	// The count takes no noise; the rest costs exactly ρ over 3 epochs.
	var noised []int
	var vs []dp.Variance
	for i, c := range coords {
		if c == CountCoordinate {
			if !p.Variances[i].IsZero() {
				t.Error("the count takes noise")
			}
			continue
		}
		noised, vs = append(noised, c), append(vs, p.Variances[i])
	}
	if got, err := dp.LossOf(l, noised, 3, vs); err != nil || got.Cmp(p.Rho) != 0 {
		t.Errorf("the noise costs %v, %v; want ρ = 1/4", got, err)
	}
	sd := p.NoiseStdDev(3)
	for i, c := range coords {
		v, _ := p.Variances[i].Rat().Float64()
		if (c == CountCoordinate) != (sd[i] == 0) || (sd[i] != 0 && (sd[i]*sd[i] < 2.99*v || sd[i]*sd[i] > 3.01*v)) {
			t.Errorf("coordinate %d: noise stddev %g with σ² = %g per node and 3 nodes", c, sd[i], v)
		}
	}
	// (ε, δ) is converted to a ρ that implies it.
	approx := meanAgeSpec(&cohortv1.Privacy{Loss: &cohortv1.Privacy_Approx{Approx: &cohortv1.ApproxDP{Epsilon: "1", Delta: "1/1000000"}}})
	if p, err := JobPrivacy(DefaultPolicy(), approx, l, coords); err != nil || p.Rho.IsZero() || p.Rho.Cmp(mustParseRho(t, "1/50")) > 0 {
		t.Errorf("(1, 1e-6)-DP: ρ = %v, %v", p.Rho, err)
	}
	exact := &cohortv1.PrivacyPolicy{Mechanism: cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV}
	if p, err := JobPrivacy(exact, meanAgeSpec(nil), l, coords); err != nil || !p.Rho.IsZero() {
		t.Errorf("exact: %+v, %v", p, err)
	}
	for name, c := range map[string]struct {
		policy *cohortv1.PrivacyPolicy
		spec   *cohortv1.JobSpec
	}{
		"no loss":             {DefaultPolicy(), meanAgeSpec(nil)},
		"empty loss":          {DefaultPolicy(), meanAgeSpec(&cohortv1.Privacy{})},
		"zero rho":            {DefaultPolicy(), meanAgeSpec(rhoLoss("0"))},
		"negative rho":        {DefaultPolicy(), meanAgeSpec(rhoLoss("-1/4"))},
		"exponent rho":        {DefaultPolicy(), meanAgeSpec(rhoLoss("1e-2"))},
		"rho above buyer cap": {DefaultPolicy(), meanAgeSpec(rhoLoss("3/4"))},
		"bad epsilon":         {DefaultPolicy(), meanAgeSpec(&cohortv1.Privacy{Loss: &cohortv1.Privacy_Approx{Approx: &cohortv1.ApproxDP{Epsilon: "x", Delta: "0.1"}}})},
		"delta of 1":          {DefaultPolicy(), meanAgeSpec(&cohortv1.Privacy{Loss: &cohortv1.Privacy_Approx{Approx: &cohortv1.ApproxDP{Epsilon: "1", Delta: "1"}}})},
		"loss on exact":       {exact, meanAgeSpec(rhoLoss("1/4"))},
		"too many epochs":     {DefaultPolicy(), &cohortv1.JobSpec{EpochFrom: 1, EpochTo: MaxJobEpochs + 1, Privacy: rhoLoss("1/4")}},
	} {
		_, err := JobPrivacy(c.policy, c.spec, l, coords)
		var se *SpecError
		if !errors.Is(err, ErrPrivacy) || !errors.As(err, &se) {
			t.Errorf("%s: %v, want a *SpecError wrapping ErrPrivacy", name, err)
		}
	}
	// Only the count: nothing to noise and nothing to spend, so no loss
	// may be stated; the release is exact.
	if _, err := JobPrivacy(DefaultPolicy(), meanAgeSpec(rhoLoss("1/4")), l, []int{CountCoordinate}); !errors.Is(err, ErrPrivacy) {
		t.Errorf("a count alone with a loss: %v, want ErrPrivacy", err)
	}
	count, err := JobPrivacy(DefaultPolicy(), meanAgeSpec(nil), l, []int{CountCoordinate})
	if err != nil || !count.Rho.IsZero() {
		t.Fatalf("a count alone: %+v, %v; want no charge", count, err)
	}
	if m, err := count.Mechanism(nil); err != nil || m.Name() != "exact" {
		t.Errorf("a count alone is released by %v, %v; want exact", m, err)
	}
	if info := count.ReleaseInfo(l, 3); info.GetRho() != "" || info.GetNoisingNodes() != 0 || len(info.GetSums()) != 0 {
		t.Errorf("a count alone states %v", info)
	}
}

func mustParseRho(t *testing.T, s string) dp.Rho {
	t.Helper()
	r, err := dp.ParseRho(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A debit is accepted only as the job's charge, signed by its node.
func TestChargeCheck(t *testing.T) {
	l := schema.Default().Layout()
	spec := meanAgeSpec(rhoLoss("1/4"))
	coords, _ := Coordinates(l, spec.GetOutputs())
	p, err := JobPrivacy(DefaultPolicy(), spec, l, coords)
	if err != nil {
		t.Fatal(err)
	}
	charge := Charge{JobID: "job-1", DatasetID: "fitness", Buyer: "lab", Privacy: p}
	pub, key, _ := ed25519.GenerateKey(nil)
	debit := func() *cohortv1.PrivacyDebit {
		d := &cohortv1.PrivacyDebit{NodeIndex: 2, BuyerId: "lab", Rho: "1/4"}
		for e := uint64(5); e <= 7; e++ {
			d.Entries = append(d.Entries, &cohortv1.LedgerEntry{Epoch: e, EpochTotal: "1", EpochSpentBefore: "1/2", EpochSpentAfter: "3/4",
				BuyerTotal: "1/2", BuyerSpentBefore: "0", BuyerSpentAfter: "1/4"})
		}
		sig := attest.Sign(key, DebitStatement("job-1", "fitness", d))
		d.Signature = &cohortv1.NodeSignature{NodeIndex: 2, Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519, Signature: sig}
		return d
	}
	if err := charge.Check(2, debit(), pub); err != nil {
		t.Fatalf("honest debit: %v", err)
	}
	resign := func(d *cohortv1.PrivacyDebit) {
		d.Signature.Signature = attest.Sign(key, DebitStatement("job-1", "fitness", d))
	}
	for name, change := range map[string]func(*cohortv1.PrivacyDebit){
		"missing":             nil,
		"unsigned change":     func(d *cohortv1.PrivacyDebit) { d.Entries[0].EpochSpentBefore = "0" },
		"another node":        func(d *cohortv1.PrivacyDebit) { d.NodeIndex = 1; resign(d) },
		"another buyer":       func(d *cohortv1.PrivacyDebit) { d.BuyerId = "other"; resign(d) },
		"less rho":            func(d *cohortv1.PrivacyDebit) { d.Rho = "1/8"; resign(d) },
		"an epoch missing":    func(d *cohortv1.PrivacyDebit) { d.Entries = d.Entries[1:]; resign(d) },
		"epochs out of order": func(d *cohortv1.PrivacyDebit) { d.Entries[0].Epoch = 6; d.Entries[1].Epoch = 5; resign(d) },
		"after not before+ρ":  func(d *cohortv1.PrivacyDebit) { d.Entries[1].BuyerSpentAfter = "1/8"; resign(d) },
		"other epoch total":   func(d *cohortv1.PrivacyDebit) { d.Entries[2].EpochTotal = "2"; resign(d) },
		"other buyer total":   func(d *cohortv1.PrivacyDebit) { d.Entries[2].BuyerTotal = "1"; resign(d) },
		"overspent": func(d *cohortv1.PrivacyDebit) {
			d.Entries[0].EpochSpentBefore, d.Entries[0].EpochSpentAfter = "7/8", "9/8"
			resign(d)
		},
		"malformed amount": func(d *cohortv1.PrivacyDebit) { d.Entries[0].BuyerSpentBefore = "zero"; resign(d) },
	} {
		var d *cohortv1.PrivacyDebit
		if change != nil {
			d = debit()
			change(d)
		}
		if err := charge.Check(2, d, pub); !errors.Is(err, ErrDebit) {
			t.Errorf("%s: %v, want ErrDebit", name, err)
		}
	}
	// An exact release takes no debit.
	exact := Charge{JobID: "job-1", DatasetID: "fitness"}
	if err := exact.Check(2, nil, pub); err != nil {
		t.Errorf("exact release without a debit: %v", err)
	}
	if err := exact.Check(2, debit(), pub); !errors.Is(err, ErrDebit) {
		t.Errorf("exact release with a debit: %v", err)
	}
	if d := debit(); !proto.Equal(d, debit()) || d.GetEntries()[0].GetEpochSpentAfter() != big.NewRat(3, 4).RatString() {
		t.Error("fixture")
	}
}
