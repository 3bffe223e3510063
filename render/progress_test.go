package render

import (
	"bytes"
	"strings"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestJobProgress(t *testing.T) {
	var out bytes.Buffer
	p := JobProgress(&out)
	job := func(s cohortv1.JobState, progress string) *cohortv1.Job {
		return &cohortv1.Job{JobId: "job-1", State: s, Progress: progress}
	}
	p(job(cohortv1.JobState_JOB_STATE_SUBMITTED, "waiting to start"))
	p(job(cohortv1.JobState_JOB_STATE_SUBMITTED, "waiting to start")) // no change: no line
	p(job(cohortv1.JobState_JOB_STATE_ADMITTED, "selecting"))
	p(&cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_DONE, CohortSize: 43,
		Excluded: &cohortv1.Exclusions{Purpose: 5, Revoked: 2}})
	s := out.String()
	if n := strings.Count(s, "\n"); n != 3 {
		t.Errorf("%d lines:\n%s", n, s)
	}
	if !strings.Contains(s, "DONE         cohort of 43 records; excluded: 5 not consented to the purpose, 2 revoked") {
		t.Errorf("final line:\n%s", s)
	}
	out.Reset()
	p(&cohortv1.Job{JobId: "job-1", State: cohortv1.JobState_JOB_STATE_REJECTED, Reason: "cohort of 3 records is below the minimum of 20"})
	if !strings.Contains(out.String(), "REJECTED     cohort of 3 records is below the minimum of 20") {
		t.Errorf("rejection line: %q", out.String())
	}
}
