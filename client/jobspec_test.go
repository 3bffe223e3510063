package client

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

const fullJobSpec = `
dataset: fitness-2026
epochs: {from: 2950, to: 2951}
purpose: public-health
backend: mpc
min_cohort: 20
privacy: {rho: 1/8}
outputs:
  - count
  - {mean: age}
  - {variance: sleep_h}
  - {stddev: steps}
  - {sum: steps}
  - {histogram: region}
  - {covariance: [age, steps]}
  - {correlation: [age, steps, resting_hr]}
  - {linear_regression: {target: resting_hr, features: [age, steps], ridge: 0.5}}
  - {logistic_regression: {target: smoker, features: [resting_hr, steps]}}
  - {mean: age, label: "average age"}
  - {count: , label: records}
  - {count: {}}
`

func out(kind cohortv1.OutputKind, fields ...string) *cohortv1.Output {
	return &cohortv1.Output{Kind: kind, Fields: fields}
}

func TestParseJobSpecFull(t *testing.T) {
	got, err := ParseJobSpec([]byte(fullJobSpec), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &cohortv1.JobSpec{
		DatasetId: "fitness-2026", EpochFrom: 2950, EpochTo: 2951, Purpose: "public-health",
		Backend: cohortv1.Backend_BACKEND_MPC, MinCohort: 20, Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: "1/8"}},
		Outputs: []*cohortv1.Output{
			out(cohortv1.OutputKind_OUTPUT_KIND_COUNT),
			out(cohortv1.OutputKind_OUTPUT_KIND_MEAN, "age"),
			out(cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, "sleep_h"),
			out(cohortv1.OutputKind_OUTPUT_KIND_STDDEV, "steps"),
			out(cohortv1.OutputKind_OUTPUT_KIND_SUM, "steps"),
			out(cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM, "region"),
			out(cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, "age", "steps"),
			out(cohortv1.OutputKind_OUTPUT_KIND_CORRELATION, "age", "steps", "resting_hr"),
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION, Target: "resting_hr", Features: []string{"age", "steps"}, RidgeLambda: 0.5},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION, Target: "smoker", Features: []string{"resting_hr", "steps"}},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}, Label: "average age"},
			{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT, Label: "records"},
			out(cohortv1.OutputKind_OUTPUT_KIND_COUNT),
		},
	}
	if !proto.Equal(got, want) {
		t.Fatalf("got  %v\nwant %v", got, want)
	}
}

func TestParseJobSpecEpochForms(t *testing.T) {
	const rest = "dataset: d1\npurpose: p\noutputs: [count]\n"
	current := func(id string) (uint64, error) {
		if id != "d1" {
			return 0, errors.New("wrong dataset")
		}
		return 3000, nil
	}
	cases := []struct {
		yaml     string
		from, to uint64
	}{
		{"epoch: 2950\n", 2950, 2950},
		{"epoch: current\n", 3000, 3000},
		{"epoch: \"current\"\n", 3000, 3000},
		{"epochs: {from: 0, to: 4294967295}\n", 0, 1<<32 - 1},
		{"epochs: {from: 2990, to: current}\n", 2990, 3000},
		{"epochs:\n  from: current\n  to: current\n", 3000, 3000},
		{"epoch: +7\n", 7, 7},
	}
	for _, tc := range cases {
		spec, err := ParseJobSpec([]byte(tc.yaml+rest), current)
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		if spec.GetEpochFrom() != tc.from || spec.GetEpochTo() != tc.to {
			t.Errorf("%q: epochs %d..%d, want %d..%d", tc.yaml, spec.GetEpochFrom(), spec.GetEpochTo(), tc.from, tc.to)
		}
	}
	// The resolver's failure is passed on, and a nil resolver refuses "current".
	boom := errors.New("node unreachable")
	_, err := ParseJobSpec([]byte("epoch: current\n"+rest), func(string) (uint64, error) { return 0, boom })
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("resolver error: %v", err)
	}
	if _, err := ParseJobSpec([]byte("epoch: current\n"+rest), nil); !errors.Is(err, ErrJobSpec) {
		t.Errorf("current without a resolver: %v", err)
	}
	// The resolver is not called for numbers.
	if _, err := ParseJobSpec([]byte("epoch: 5\n"+rest), func(string) (uint64, error) { t.Error("resolver called"); return 0, nil }); err != nil {
		t.Error(err)
	}
}

func TestParseJobSpecRefusals(t *testing.T) {
	const head = "dataset: d1\nepoch: 1\npurpose: p\n"
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"empty", "", 0, "empty document"},
		{"comment only", "# nothing\n", 0, "empty document"},
		{"not a mapping", "- a\n- b\n", 1, "want a mapping"},
		{"syntax", "dataset: [\n", 0, "did not find"},
		{"two documents", head + "outputs: [count]\n---\ndataset: x\n", 0, "more than one YAML document"},
		{"unknown top key", head + "outputs: [count]\nbudget: 10\n", 5, "budget: unknown key"},
		{"duplicate key", head + "purpose: q\noutputs: [count]\n", 4, "purpose: key given twice"},
		{"missing dataset", "epoch: 1\npurpose: p\noutputs: [count]\n", 1, "dataset: missing"},
		{"bad dataset id", "dataset: Fitness\nepoch: 1\npurpose: p\noutputs: [count]\n", 1, "not a dataset id"},
		{"dataset list", "dataset: [a]\nepoch: 1\npurpose: p\noutputs: [count]\n", 1, "want a name"},
		{"missing epoch", "dataset: d1\npurpose: p\noutputs: [count]\n", 1, "missing epoch"},
		{"both epochs", head + "epochs: {from: 1, to: 2}\noutputs: [count]\n", 4, "not both"},
		{"negative epoch", "dataset: d1\nepoch: -1\npurpose: p\noutputs: [count]\n", 2, "0..4294967295"},
		{"huge epoch", "dataset: d1\nepoch: 4294967296\npurpose: p\noutputs: [count]\n", 2, "0..4294967295"},
		{"hex epoch", "dataset: d1\nepoch: 0x10\npurpose: p\noutputs: [count]\n", 2, "decimal"},
		{"float epoch", "dataset: d1\nepoch: 1.5\npurpose: p\noutputs: [count]\n", 2, "epoch number"},
		{"word epoch", "dataset: d1\nepoch: latest\npurpose: p\noutputs: [count]\n", 2, "epoch number"},
		{"epochs scalar", "dataset: d1\nepochs: 5\npurpose: p\noutputs: [count]\n", 2, "want a mapping"},
		{"epochs no to", "dataset: d1\nepochs: {from: 5}\npurpose: p\noutputs: [count]\n", 2, "epochs.to: missing"},
		{"epochs extra", "dataset: d1\nepochs: {from: 5, to: 6, step: 1}\npurpose: p\noutputs: [count]\n", 2, "epochs.step: unknown key"},
		{"epochs reversed", "dataset: d1\nepochs: {from: 6, to: 5}\npurpose: p\noutputs: [count]\n", 2, "before from"},
		{"privacy scalar", head + "privacy: 0.5\noutputs: [count]\n", 4, "privacy: want a mapping"},
		{"privacy empty", head + "privacy: {}\noutputs: [count]\n", 4, "either rho, or epsilon and delta"},
		{"privacy both", head + "privacy: {rho: 1, epsilon: 1, delta: 0.1}\noutputs: [count]\n", 4, "either rho"},
		{"privacy no delta", head + "privacy: {epsilon: 1}\noutputs: [count]\n", 4, "either rho"},
		{"privacy exponent", head + "privacy: {rho: 1e-3}\noutputs: [count]\n", 4, "privacy.rho"},
		{"privacy negative", head + "privacy: {epsilon: -1, delta: 0.1}\noutputs: [count]\n", 4, "privacy.epsilon"},
		{"privacy list", head + "privacy: {rho: [1]}\noutputs: [count]\n", 4, "privacy.rho: want a number"},
		{"privacy unknown", head + "privacy: {sigma: 3}\noutputs: [count]\n", 4, "privacy.sigma: unknown key"},
		{"missing purpose", "dataset: d1\nepoch: 1\noutputs: [count]\n", 1, "purpose: missing"},
		{"null purpose", "dataset: d1\nepoch: 1\npurpose:\noutputs: [count]\n", 3, "want a name"},
		{"backend", head + "backend: tee\noutputs: [count]\n", 4, "want mpc or he"},
		{"min cohort negative", head + "min_cohort: -3\noutputs: [count]\n", 4, "decimal number"},
		{"min cohort big", head + "min_cohort: 4294967296\noutputs: [count]\n", 4, "decimal number"},
		{"min cohort text", head + "min_cohort: many\noutputs: [count]\n", 4, "whole number"},
		{"missing outputs", head, 1, "outputs: missing"},
		{"outputs mapping", head + "outputs: {count: }\n", 4, "list of outputs"},
		{"no outputs", head + "outputs: []\n", 4, "0 outputs"},
		{"too many outputs", head + "outputs: [" + strings.Repeat("count, ", 64) + "count]\n", 4, "65 outputs"},
		{"unknown output", head + "outputs: [median]\n", 4, `"median" is not an output`},
		{"bare mean", head + "outputs: [mean]\n", 4, "mean needs its fields"},
		{"unknown kind key", head + "outputs:\n  - {median: age}\n", 5, "outputs[0].median: unknown key"},
		{"two kinds", head + "outputs:\n  - {mean: age, sum: age}\n", 5, "one output per list entry"},
		{"label only", head + "outputs:\n  - {label: x}\n", 5, "no output kind"},
		{"long label", head + "outputs:\n  - {count: , label: " + strings.Repeat("x", 65) + "}\n", 5, "65 bytes"},
		{"count field", head + "outputs:\n  - {count: age}\n", 5, "count takes no field"},
		{"mean list", head + "outputs:\n  - {mean: [age]}\n", 5, "outputs[0].mean: want a name"},
		{"mean empty", head + "outputs:\n  - {mean: \"\"}\n", 5, "empty"},
		{"correlation scalar", head + "outputs:\n  - {correlation: age}\n", 5, "list of field names"},
		{"correlation one", head + "outputs:\n  - {correlation: [age]}\n", 5, "at least two fields"},
		{"covariance nested", head + "outputs:\n  - {covariance: [age, [steps]]}\n", 5, "covariance[1]: want a name"},
		{"regression scalar", head + "outputs:\n  - {linear_regression: age}\n", 5, "want a mapping"},
		{"regression no target", head + "outputs:\n  - {linear_regression: {features: [age]}}\n", 5, "target: missing"},
		{"regression no features", head + "outputs:\n  - {linear_regression: {target: age}}\n", 5, "features: missing"},
		{"regression empty features", head + "outputs:\n  - {logistic_regression: {target: smoker, features: []}}\n", 5, "at least one feature"},
		{"regression extra key", head + "outputs:\n  - {linear_regression: {target: a, features: [b], lambda: 1}}\n", 5, "lambda: unknown key"},
		{"ridge negative", head + "outputs:\n  - {linear_regression: {target: a, features: [b], ridge: -1}}\n", 5, "finite number"},
		{"ridge inf", head + "outputs:\n  - {linear_regression: {target: a, features: [b], ridge: .inf}}\n", 5, "finite number"},
		{"ridge nan", head + "outputs:\n  - {linear_regression: {target: a, features: [b], ridge: .nan}}\n", 5, "finite number"},
		{"ridge text", head + "outputs:\n  - {linear_regression: {target: a, features: [b], ridge: big}}\n", 5, "want a number"},
		{"alias", "dataset: &d d1\nepoch: 1\npurpose: *d\noutputs: [count]\n", 3, "aliases"},
		{"deep", head + "outputs:\n  - {correlation: [[[[[[[[a]]]]]]]]}\n", 5, "nested too deeply"},
		{"complex key", head + "outputs: [count]\n? [a]\n: b\n", 5, "plain names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := ParseJobSpec([]byte(tc.yaml), nil)
			if err == nil {
				t.Fatalf("accepted: %v", spec)
			}
			if spec != nil {
				t.Error("a spec returned beside an error")
			}
			var se *JobSpecError
			if !errors.Is(err, ErrJobSpec) || !errors.As(err, &se) {
				t.Fatalf("%v is not a *JobSpecError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if tc.line != 0 && se.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", se.Line, tc.line, err)
			}
		})
	}
	if _, err := ParseJobSpec(make([]byte, MaxJobSpecBytes+1), nil); !errors.Is(err, ErrJobSpec) {
		t.Errorf("oversized input: %v", err)
	}
}

func TestOutputKindNames(t *testing.T) {
	for k := range cohortv1.OutputKind_name {
		kind := cohortv1.OutputKind(k)
		name := OutputKindName(kind)
		if kind == cohortv1.OutputKind_OUTPUT_KIND_UNSPECIFIED {
			if name != "" {
				t.Errorf("UNSPECIFIED has name %q", name)
			}
			continue
		}
		if name == "" || OutputKindByName(name) != kind {
			t.Errorf("%v: name %q does not round-trip", kind, name)
		}
		if want := strings.ToLower(strings.TrimPrefix(kind.String(), "OUTPUT_KIND_")); name != want {
			t.Errorf("%v: name %q, want %q", kind, name, want)
		}
	}
}

func FuzzParseJobSpec(f *testing.F) {
	f.Add([]byte(fullJobSpec))
	f.Add([]byte("dataset: d1\nepoch: current\npurpose: p\noutputs: [count]\n"))
	f.Add([]byte("dataset: &a x\nepoch: *a\n"))
	f.Add([]byte("outputs:\n  - {linear_regression: {target: a, features: [b], ridge: 1e300}}\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseJobSpec(data, func(string) (uint64, error) { return 42, nil })
		if err != nil {
			if spec != nil {
				t.Fatal("spec beside an error")
			}
			if !errors.Is(err, ErrJobSpec) {
				t.Fatalf("error %v does not wrap ErrJobSpec", err)
			}
			return
		}
		if spec.GetDatasetId() == "" || len(spec.GetOutputs()) == 0 || spec.GetEpochFrom() > spec.GetEpochTo() {
			t.Fatalf("accepted an incomplete spec: %v", spec)
		}
	})
}

func TestParseJobSpecPrivacy(t *testing.T) {
	const head = "dataset: d1\nepoch: 1\npurpose: p\noutputs: [count]\n"
	for y, want := range map[string]*cohortv1.Privacy{
		"privacy: {rho: 0.25}\n":                     {Loss: &cohortv1.Privacy_Rho{Rho: "0.25"}},
		"privacy: {rho: \"1/4\"}\n":                  {Loss: &cohortv1.Privacy_Rho{Rho: "1/4"}},
		"privacy: {epsilon: 1, delta: 0.000001}\n":   {Loss: &cohortv1.Privacy_Approx{Approx: &cohortv1.ApproxDP{Epsilon: "1", Delta: "0.000001"}}},
		"privacy: {delta: 1/100000, epsilon: 2.5}\n": {Loss: &cohortv1.Privacy_Approx{Approx: &cohortv1.ApproxDP{Epsilon: "2.5", Delta: "1/100000"}}},
	} {
		got, err := ParseJobSpec([]byte(head+y), nil)
		if err != nil {
			t.Fatalf("%q: %v", y, err)
		}
		if !proto.Equal(got.GetPrivacy(), want) {
			t.Errorf("%q: %v, want %v", y, got.GetPrivacy(), want)
		}
	}
}
