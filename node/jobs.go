package node

import (
	"context"
	"errors"
	"fmt"
	"sync"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// jobs runs the jobs this node coordinates and wakes their watchers.
type jobs struct {
	e       *env
	run     func(ctx context.Context, j store.Job) // runs one job to a final state
	mu      sync.Mutex
	cancel  map[string]context.CancelFunc // running jobs
	changed map[string]chan struct{}      // closed at each change of the job
	// hook, when set (tests only), is called after each state change the
	// runner makes, before the next step.
	hook func(jobID string, state cohortv1.JobState)
	// aborted, when set, is told of each job that ended here without a
	// release, after its state and escrow were committed.
	aborted func(jobID string, state cohortv1.JobState)
}

func newJobs(e *env, run func(context.Context, store.Job)) *jobs {
	return &jobs{e: e, run: run, cancel: map[string]context.CancelFunc{}, changed: map[string]chan struct{}{}}
}

// watch returns a channel closed at the job's next change.
func (js *jobs) watch(id string) <-chan struct{} {
	js.mu.Lock()
	defer js.mu.Unlock()
	ch, ok := js.changed[id]
	if !ok {
		ch = make(chan struct{})
		js.changed[id] = ch
	}
	return ch
}

// notify wakes the job's watchers.
func (js *jobs) notify(id string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if ch, ok := js.changed[id]; ok {
		close(ch)
		delete(js.changed, id)
	}
}

// start runs a submitted job in the background.
func (js *jobs) start(j store.Job) {
	ctx, cancel := context.WithCancel(js.e.ctx)
	js.mu.Lock()
	js.cancel[j.ID] = cancel
	js.mu.Unlock()
	js.e.bg.Add(1)
	go func() {
		defer js.e.bg.Done()
		defer js.stop(j.ID)
		js.run(ctx, j)
	}()
}

// ended tells the aborted hook of a job that ended without a release.
func (js *jobs) ended(id string, st cohortv1.JobState) {
	if st != cohortv1.JobState_JOB_STATE_DONE && js.aborted != nil {
		js.aborted(id, st)
	}
}

// stop cancels a running job's context.
func (js *jobs) stop(id string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if c, ok := js.cancel[id]; ok {
		c()
		delete(js.cancel, id)
	}
}

// recover fails the jobs a previous run of this node left unfinished: their
// peers' answers are gone with the process, and the buyer can resubmit.
// None of them released anything (a release commits DONE with its
// transcript), and the end refunds the escrow here and records the abort
// owed to every node in one transaction (endJob), so that every node
// refunds too, across further restarts (docs/design.md §7.5).
func (js *jobs) recover(ctx context.Context) error {
	for tok := ""; ; {
		rows, next, err := js.e.store.ListJobs(ctx, store.JobFilter{States: activeStates()}, tok, store.MaxPageSize)
		if err != nil {
			return fmt.Errorf("list unfinished jobs: %w", err)
		}
		for _, j := range rows {
			from := j.State
			j.State, j.Progress, j.UpdatedAt = int32(cohortv1.JobState_JOB_STATE_FAILED), "", js.e.now()
			j.Reason = "the coordinating node restarted while the job ran; nothing was released (submit it again)"
			err := js.e.endJob(ctx, j, from)
			if errors.Is(err, store.ErrConflict) {
				continue
			}
			if err != nil {
				return fmt.Errorf("fail unfinished job %s: %w", j.ID, err)
			}
			js.e.log.Warn("unfinished job failed at start", "job", j.ID)
			js.ended(j.ID, cohortv1.JobState(j.State))
		}
		if next == "" {
			return nil
		}
		tok = next
	}
}

func activeStates() []int32 {
	return []int32{
		int32(cohortv1.JobState_JOB_STATE_SUBMITTED), int32(cohortv1.JobState_JOB_STATE_ADMITTED),
		int32(cohortv1.JobState_JOB_STATE_AGGREGATING), int32(cohortv1.JobState_JOB_STATE_RELEASING),
	}
}
