package render

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// JobResult is one job of a results document: the job (its id, state and
// spec, whose outputs name the fields of scalar results) and its result,
// nil for a job that released none.
type JobResult struct {
	Job    *cohortv1.Job
	Result *cohortv1.Result
	// BudgetLeft is the buyer's ρ left on the job's epochs after it
	// (GetBudgetResponse.available_rho, an exact fraction); "" when not
	// known or for an exact policy.
	BudgetLeft string
	// Charge is the job's escrow once settled: what the buyer was charged
	// and what of the quote held went back (docs/design.md §6.8); nil when
	// not known.
	Charge *cohortv1.Escrow
	// Claims are reward claims made on the job; nil when none are known.
	Claims []RewardClaim
}

// RewardClaim is one reward claim of a job as the results document shows
// it: the payout key credited, what it was credited and when.
type RewardClaim struct {
	PayoutKey []byte
	Amount    uint64
	ClaimedAt int64 // Unix seconds
}

// ResultsJSON returns the results document of jobs on a dataset, indented
// by two spaces and ending in a newline:
//
//	{"dataset": ID, "jobs": [{"job_id", "status", "backend", "cohort", "outputs": [...]}]}
//
// with members in that order, "jobs" null when no job released a result,
// and each output an object whose "kind" is its name in the job YAML and
// whose other members follow from the kind:
//
//	count                       value
//	sum, mean, variance, stddev field, value
//	histogram                   field, counts {value: count, in schema order}
//	covariance, correlation     fields, matrix [[…], …]
//	linear/logistic_regression  target, features, intercept, coefficients, r2
//
// A result released with noise (docs/design.md §6.7) adds, after those,
// each value's standard error and confidence interval [low, high]:
//
//	sum, mean, variance, stddev standard_error, interval
//	histogram                   standard_errors {value: se}, intervals {value: [low, high]}
//	covariance, correlation     standard_errors [[…]], intervals [[[low, high], …], …]
//	linear/logistic_regression  intercept_standard_error, intercept_interval,
//	                            coefficient_standard_errors, coefficient_intervals
//
// and a job whose result says how it was released ends with "release":
// {"mechanism" ("discrete_gaussian", "exact_insecure_dev"), "rho" (the ρ
// charged per epoch, an exact fraction as a string), "noising_nodes",
// "confidence", "sums": [{"coordinate", "name", "node_variance",
// "stddev"}]}, then, when the caller gives the budget left after the job
// (JobResult.BudgetLeft), "budget": {"rho_charged" (release.rho),
// "rho_left" (the buyer's ρ left on the job's epochs, an exact fraction as
// a string)}; then, when the caller gives the job's settled escrow
// (JobResult.Charge), "charge": {"price_per_record", "job_fee", "cohort",
// "charged" (price × cohort + fee), "held" (the quote held at admission),
// "refunded" (held − charged)}, all micro-credits; then, when the caller
// gives them (JobResult.Claims), "claims": [{"payout_key" (hex), "amount"
// (micro-credits), "claimed_at" (Unix seconds)}]. A result without them
// renders exactly as before. All
// numbers are JSON numbers. Jobs without a result are left out. The
// format is what README.md documents for the demo's results.json, which
// other tools read: it changes only with that documentation. An output
// without the value its kind needs (a scalar without its field in the
// spec, a matrix that is not n×n, no value) is an error.
func ResultsJSON(datasetID string, jobs []JobResult) ([]byte, error) {
	var list []any
	for _, j := range jobs {
		if j.Result == nil {
			continue
		}
		specs := j.Job.GetSpec().GetOutputs()
		outs := make([]any, 0, len(j.Result.GetOutputs()))
		for i, v := range j.Result.GetOutputs() {
			var spec *cohortv1.Output
			if i < len(specs) {
				spec = specs[i]
			}
			o, err := outputJSON(spec, v)
			if err != nil {
				return nil, fmt.Errorf("render: results of job %s: output %d: %w", j.Job.GetJobId(), i, err)
			}
			outs = append(outs, o)
		}
		job := jsonObject{
			{"job_id", j.Job.GetJobId()},
			{"status", enumName(j.Job.GetState().String(), "JOB_STATE_")},
			{"backend", strings.ToLower(enumName(j.Result.GetBackend().String(), "BACKEND_"))},
			{"cohort", j.Result.GetCohortSize()},
			{"outputs", outs},
		}
		if ri := j.Result.GetRelease(); ri != nil {
			job = append(job, jsonMember{"release", releaseJSON(ri)})
		}
		if j.BudgetLeft != "" {
			job = append(job, jsonMember{"budget", jsonObject{{"rho_charged", j.Result.GetRelease().GetRho()}, {"rho_left", j.BudgetLeft}}})
		}
		if e := j.Charge; e != nil {
			job = append(job, jsonMember{"charge", jsonObject{
				{"price_per_record", e.GetPricePerRecord()}, {"job_fee", e.GetJobFee()}, {"cohort", e.GetCohort()},
				{"charged", e.GetCharged()}, {"held", e.GetHeld()}, {"refunded", e.GetHeld() - min(e.GetCharged(), e.GetHeld())},
			}})
		}
		if j.Claims != nil {
			cs := make([]any, len(j.Claims))
			for i, c := range j.Claims {
				cs[i] = jsonObject{{"payout_key", hex.EncodeToString(c.PayoutKey)}, {"amount", c.Amount}, {"claimed_at", c.ClaimedAt}}
			}
			job = append(job, jsonMember{"claims", cs})
		}
		list = append(list, job)
	}
	doc := jsonObject{{"dataset", datasetID}, {"jobs", list}}
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render: results: %w", err)
	}
	return append(raw, '\n'), nil
}

// outputJSON is one released output in the results document's shape;
// spec may be nil.
func outputJSON(spec *cohortv1.Output, v *cohortv1.OutputValue) (jsonObject, error) {
	kind := client.OutputKindName(v.GetKind())
	o := jsonObject{{"kind", kind}}
	switch x := v.GetValue().(type) {
	case *cohortv1.OutputValue_Scalar:
		if v.GetKind() != cohortv1.OutputKind_OUTPUT_KIND_COUNT {
			if len(spec.GetFields()) != 1 {
				return nil, fmt.Errorf("%s without its field", kind)
			}
			o = append(o, jsonMember{"field", spec.GetFields()[0]})
		}
		o = append(o, jsonMember{"value", x.Scalar.GetValue()})
		if iv := x.Scalar.GetInterval(); iv != nil {
			o = append(o, jsonMember{"standard_error", iv.GetStandardError()}, jsonMember{"interval", bounds(iv)})
		}
	case *cohortv1.OutputValue_Histogram:
		counts, ses, ivs := jsonObject{}, jsonObject{}, jsonObject{}
		for _, b := range x.Histogram.GetBins() {
			counts = append(counts, jsonMember{b.GetValue(), b.GetCount()})
			if iv := b.GetInterval(); iv != nil {
				ses = append(ses, jsonMember{b.GetValue(), iv.GetStandardError()})
				ivs = append(ivs, jsonMember{b.GetValue(), bounds(iv)})
			}
		}
		o = append(o, jsonMember{"field", x.Histogram.GetField()}, jsonMember{"counts", counts})
		if len(ivs) > 0 {
			o = append(o, jsonMember{"standard_errors", ses}, jsonMember{"intervals", ivs})
		}
	case *cohortv1.OutputValue_Matrix:
		fs := x.Matrix.GetFields()
		if len(x.Matrix.GetEntries()) != len(fs)*len(fs) {
			return nil, fmt.Errorf("%d entries for %d fields", len(x.Matrix.GetEntries()), len(fs))
		}
		rows := make([][]float64, len(fs))
		ses := make([][]float64, len(fs))
		ivs := make([][][2]float64, len(fs))
		noisy := false
		for i := range rows {
			rows[i] = make([]float64, len(fs))
			ses[i] = make([]float64, len(fs))
			ivs[i] = make([][2]float64, len(fs))
			for j := range rows[i] {
				e := x.Matrix.GetEntries()[i*len(fs)+j]
				rows[i][j] = e.GetValue()
				if iv := e.GetInterval(); iv != nil {
					ses[i][j], ivs[i][j], noisy = iv.GetStandardError(), bounds(iv), true
				}
			}
		}
		o = append(o, jsonMember{"fields", fs}, jsonMember{"matrix", rows})
		if noisy {
			o = append(o, jsonMember{"standard_errors", ses}, jsonMember{"intervals", ivs})
		}
	case *cohortv1.OutputValue_Regression:
		r := x.Regression
		o = append(o, jsonMember{"target", r.GetTarget()}, jsonMember{"features", r.GetFeatures()},
			jsonMember{"intercept", r.GetIntercept()}, jsonMember{"coefficients", r.GetCoefficients()}, jsonMember{"r2", r.GetR2()})
		if iv := r.GetInterceptInterval(); iv != nil {
			o = append(o, jsonMember{"intercept_standard_error", iv.GetStandardError()}, jsonMember{"intercept_interval", bounds(iv)})
		}
		if civs := r.GetCoefficientIntervals(); len(civs) > 0 {
			ses, ivs := make([]float64, len(civs)), make([][2]float64, len(civs))
			for j, iv := range civs {
				ses[j], ivs[j] = iv.GetStandardError(), bounds(iv)
			}
			o = append(o, jsonMember{"coefficient_standard_errors", ses}, jsonMember{"coefficient_intervals", ivs})
		}
	default:
		return nil, fmt.Errorf("%s without a value", kind)
	}
	return o, nil
}

// bounds is an interval as [low, high].
func bounds(iv *cohortv1.Interval) [2]float64 { return [2]float64{iv.GetLow(), iv.GetHigh()} }

// releaseJSON is how a result was released, in the results document's
// shape.
func releaseJSON(ri *cohortv1.ReleaseInfo) jsonObject {
	sums := make([]jsonObject, 0, len(ri.GetSums()))
	for _, n := range ri.GetSums() {
		sums = append(sums, jsonObject{
			{"coordinate", n.GetCoordinate()},
			{"name", n.GetName()},
			{"node_variance", n.GetNodeVariance()},
			{"stddev", n.GetStddev()},
		})
	}
	return jsonObject{
		{"mechanism", strings.ToLower(enumName(ri.GetMechanism().String(), "RELEASE_MECHANISM_"))},
		{"rho", ri.GetRho()},
		{"noising_nodes", ri.GetNoisingNodes()},
		{"confidence", ri.GetConfidence()},
		{"sums", sums},
	}
}

// jsonObject is a JSON object that keeps its members in the order given.
type jsonObject []jsonMember

type jsonMember struct {
	key   string
	value any
}

func (o jsonObject) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.key, err)
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
