package demo

import (
	"os"

	"github.com/cohort-dev/cohort/render"
)

// writeResultsJSON writes the demo's released results (render.ResultsJSON),
// each noised job with the ρ it was charged and the buyer's ρ left after it.
func writeResultsJSON(path, datasetID string, jobs []*jobRun) error {
	rs := make([]render.JobResult, len(jobs))
	for i, j := range jobs {
		rs[i] = render.JobResult{Job: j.job, Result: j.result, BudgetLeft: j.budgetLeft}
	}
	doc, err := render.ResultsJSON(datasetID, rs)
	if err != nil {
		return err
	}
	return os.WriteFile(path, doc, 0o600)
}
