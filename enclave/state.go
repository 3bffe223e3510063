package enclave

import (
	"errors"
	"fmt"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Sentinel errors of Transition. Every error it returns wraps exactly one.
var (
	// ErrJobFinal: the job is already DONE, REJECTED, FAILED or CANCELLED;
	// nothing follows a final state.
	ErrJobFinal = errors.New("job is in a final state")
	// ErrTooLateToCancel: the job is RELEASING; its outputs are being
	// computed from reconstructed sums and it can no longer be cancelled.
	ErrTooLateToCancel = errors.New("too late to cancel: the job is releasing")
	// ErrIllegalTransition: any other transition the lifecycle does not
	// allow, including to or from JOB_STATE_UNSPECIFIED or an unknown value.
	ErrIllegalTransition = errors.New("illegal job state transition")
)

// Final reports whether s is a final state: DONE, REJECTED, FAILED or
// CANCELLED.
func Final(s cohortv1.JobState) bool {
	switch s {
	case cohortv1.JobState_JOB_STATE_DONE, cohortv1.JobState_JOB_STATE_REJECTED,
		cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_CANCELLED:
		return true
	}
	return false
}

// next is the successor of each state on the success path.
var next = map[cohortv1.JobState]cohortv1.JobState{
	cohortv1.JobState_JOB_STATE_SUBMITTED:   cohortv1.JobState_JOB_STATE_ADMITTED,
	cohortv1.JobState_JOB_STATE_ADMITTED:    cohortv1.JobState_JOB_STATE_AGGREGATING,
	cohortv1.JobState_JOB_STATE_AGGREGATING: cohortv1.JobState_JOB_STATE_RELEASING,
	cohortv1.JobState_JOB_STATE_RELEASING:   cohortv1.JobState_JOB_STATE_DONE,
}

// Transition reports whether a job may move from one state to another. The
// legal transitions are
//
//	SUBMITTED → ADMITTED → AGGREGATING → RELEASING → DONE   (one step at a time)
//	SUBMITTED, ADMITTED              → REJECTED             (policy)
//	SUBMITTED, ADMITTED, AGGREGATING → CANCELLED            (by the buyer)
//	any state that is not final      → FAILED
//
// and no other; in particular no state moves to itself. It returns nil for
// a legal transition, else an error wrapping exactly one of ErrJobFinal
// (from is final), ErrTooLateToCancel (cancelling a RELEASING job) and
// ErrIllegalTransition (anything else, including UNSPECIFIED or unknown
// values on either side).
func Transition(from, to cohortv1.JobState) error {
	refuse := func(sentinel error) error {
		return fmt.Errorf("enclave: job state %s → %s: %w", from, to, sentinel)
	}
	switch {
	case Final(from):
		return refuse(ErrJobFinal)
	case next[from] == 0: // UNSPECIFIED or unknown: not a state
		return refuse(ErrIllegalTransition)
	case to == next[from], to == cohortv1.JobState_JOB_STATE_FAILED:
		return nil
	case to == cohortv1.JobState_JOB_STATE_REJECTED:
		if from == cohortv1.JobState_JOB_STATE_SUBMITTED || from == cohortv1.JobState_JOB_STATE_ADMITTED {
			return nil
		}
	case to == cohortv1.JobState_JOB_STATE_CANCELLED:
		if from == cohortv1.JobState_JOB_STATE_RELEASING {
			return refuse(ErrTooLateToCancel)
		}
		return nil
	}
	return refuse(ErrIllegalTransition)
}
