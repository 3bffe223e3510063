package demo

import (
	"os"

	"github.com/cohort-dev/cohort/render"
)

// writeResultsJSON writes the demo's released results (render.ResultsJSON),
// each noised job with the ρ it was charged and the buyer's ρ left after
// it, what the buyer was charged for it and the reward claims made on it.
func writeResultsJSON(path, datasetID string, jobs []*jobRun) error {
	rs := make([]render.JobResult, len(jobs))
	for i, j := range jobs {
		rs[i] = render.JobResult{Job: j.job, Result: j.result, BudgetLeft: j.budgetLeft, Charge: j.charge, Claims: j.claims}
	}
	doc, err := render.ResultsJSON(datasetID, rs)
	if err != nil {
		return err
	}
	return os.WriteFile(path, doc, 0o600)
}
