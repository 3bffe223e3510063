package enclave

import (
	"errors"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestTransition(t *testing.T) {
	const (
		U  = cohortv1.JobState_JOB_STATE_UNSPECIFIED
		S  = cohortv1.JobState_JOB_STATE_SUBMITTED
		A  = cohortv1.JobState_JOB_STATE_ADMITTED
		G  = cohortv1.JobState_JOB_STATE_AGGREGATING
		R  = cohortv1.JobState_JOB_STATE_RELEASING
		D  = cohortv1.JobState_JOB_STATE_DONE
		RJ = cohortv1.JobState_JOB_STATE_REJECTED
		F  = cohortv1.JobState_JOB_STATE_FAILED
		C  = cohortv1.JobState_JOB_STATE_CANCELLED
	)
	states := []cohortv1.JobState{U, S, A, G, R, D, RJ, F, C}
	var (
		ok    error                // legal
		fin   = ErrJobFinal        // from a final state
		late  = ErrTooLateToCancel // cancel while releasing
		ill   = ErrIllegalTransition
		table = map[cohortv1.JobState][9]error{
			//   to: U    S    A    G    R    D    RJ   F    C
			U:  {ill, ill, ill, ill, ill, ill, ill, ill, ill},
			S:  {ill, ill, ok, ill, ill, ill, ok, ok, ok},
			A:  {ill, ill, ill, ok, ill, ill, ok, ok, ok},
			G:  {ill, ill, ill, ill, ok, ill, ill, ok, ok},
			R:  {ill, ill, ill, ill, ill, ok, ill, ok, late},
			D:  {fin, fin, fin, fin, fin, fin, fin, fin, fin},
			RJ: {fin, fin, fin, fin, fin, fin, fin, fin, fin},
			F:  {fin, fin, fin, fin, fin, fin, fin, fin, fin},
			C:  {fin, fin, fin, fin, fin, fin, fin, fin, fin},
		}
	)
	sentinels := []error{ErrJobFinal, ErrTooLateToCancel, ErrIllegalTransition}
	for _, from := range states {
		for j, to := range states {
			want := table[from][j]
			err := Transition(from, to)
			if want == nil {
				if err != nil {
					t.Errorf("%s → %s: %v, want legal", from, to, err)
				}
				continue
			}
			matched := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					matched++
				}
			}
			if !errors.Is(err, want) || matched != 1 {
				t.Errorf("%s → %s: %v, want exactly %v", from, to, err, want)
			}
		}
	}
	// Values outside the enum are not states.
	for _, pair := range [][2]cohortv1.JobState{{42, S}, {S, 42}, {-1, F}, {R, 9}} {
		if err := Transition(pair[0], pair[1]); !errors.Is(err, ErrIllegalTransition) {
			t.Errorf("%d → %d: %v, want ErrIllegalTransition", pair[0], pair[1], err)
		}
	}
}

func TestFinal(t *testing.T) {
	for s := range cohortv1.JobState(12) {
		want := s >= cohortv1.JobState_JOB_STATE_DONE && s <= cohortv1.JobState_JOB_STATE_CANCELLED
		if Final(s) != want {
			t.Errorf("Final(%s) = %v", s, !want)
		}
	}
}
