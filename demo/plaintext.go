package demo

import (
	"fmt"

	"github.com/cohort-dev/cohort/enclave/stats/reference"
	"github.com/cohort-dev/cohort/schema"
)

// eligibleCohort is what a job for purpose should count, in plaintext: the
// records of recs it may count, for package reference to compute what the
// job should release.
func eligibleCohort(s *schema.Schema, recs []person, purpose string) (*reference.Cohort, error) {
	var eligible []schema.Record
	for _, rec := range recs {
		if rec.eligible(purpose) {
			eligible = append(eligible, rec.record())
		}
	}
	c, err := reference.New(s, eligible)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return c, nil
}
