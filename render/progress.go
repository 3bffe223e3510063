package render

import (
	"fmt"
	"io"
	"time"

	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// JobProgress returns a callback for client.Buyer.WatchJob that writes one
// line per change of a job's state or progress, with the time since the
// first call: for a job DONE its cohort and exclusions, for one that ended
// without a result the reason. It is not safe for concurrent use.
func JobProgress(w io.Writer) func(*cohortv1.Job) {
	start := time.Now()
	var lastState cohortv1.JobState
	lastProgress := ""
	return func(j *cohortv1.Job) {
		if j.GetState() == lastState && j.GetProgress() == lastProgress {
			return
		}
		lastState, lastProgress = j.GetState(), j.GetProgress()
		detail := j.GetProgress()
		switch j.GetState() {
		case cohortv1.JobState_JOB_STATE_DONE:
			detail = fmt.Sprintf("cohort of %d records", j.GetCohortSize())
			if x := enclave.ExclusionsOf(j.GetExcluded()).String(); x != "" {
				detail += "; excluded: " + x
			}
		case cohortv1.JobState_JOB_STATE_REJECTED, cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_CANCELLED:
			detail = j.GetReason()
		}
		fmt.Fprintf(w, "  [%6.1fs] %-12s %s\n", time.Since(start).Seconds(), enumName(j.GetState().String(), "JOB_STATE_"), detail)
	}
}
