package node

import (
	"context"
	"sync"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// jobs runs the jobs this replica of the node holds the lease of
// (leases.go) and wakes their watchers.
type jobs struct {
	e       *env
	run     func(ctx context.Context, j store.Job) // runs one job to a final state
	mu      sync.Mutex
	cancel  map[string]context.CancelFunc // running jobs
	renewed map[string]time.Time          // when each running job's lease was last renewed
	held    map[string]bool               // jobs being claimed, failed or run here
	changed map[string]chan struct{}      // closed at each change of the job
	// hook, when set (tests only), is called after each state change the
	// runner makes, before the next step.
	hook func(jobID string, state cohortv1.JobState)
	// aborted, when set, is told of each job that ended here without a
	// release, after its state and escrow were committed.
	aborted func(jobID string, state cohortv1.JobState)
}

func newJobs(e *env, run func(context.Context, store.Job)) *jobs {
	return &jobs{e: e, run: run, cancel: map[string]context.CancelFunc{}, renewed: map[string]time.Time{},
		held: map[string]bool{}, changed: map[string]chan struct{}{}}
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

// start claims a submitted job for this replica in the background and
// runs it if the claim wins; another replica may have claimed it first
// (docs/design.md §3.4).
func (js *jobs) start(j store.Job) {
	js.e.bg.Add(1)
	go func() {
		defer js.e.bg.Done()
		if _, err := js.claim(js.e.ctx, j.ID, false); err != nil && js.e.ctx.Err() == nil {
			js.e.log.Error("job: claim", "job", j.ID, "error", err)
		}
	}()
}

// launch runs in the background a job whose lease this replica just
// claimed (and holds reserved).
func (js *jobs) launch(j store.Job) {
	ctx, cancel := context.WithCancel(js.e.ctx)
	js.mu.Lock()
	js.cancel[j.ID], js.renewed[j.ID] = cancel, js.e.now()
	js.mu.Unlock()
	js.e.bg.Add(1)
	go func() {
		defer js.e.bg.Done()
		defer func() {
			js.stop(j.ID)
			js.unreserve(j.ID)
		}()
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
		delete(js.renewed, id)
	}
}

// recover fails, at start, the unfinished jobs whose round began and that
// no live replica holds: those this replica id held in its previous run,
// and those whose holder's lease expired (their peers' answers are gone
// with the process; the buyer can resubmit). A job another replica holds
// a live lease on is left to it; a job still SUBMITTED is left for the
// lease loop to claim and run once the node serves. None of the failed
// jobs released anything (a release commits DONE with its transcript),
// and the end refunds the escrow here and records the abort owed to every
// node in one transaction (endJob), so that every node refunds too, across
// further restarts (docs/design.md §7.5).
func (js *jobs) recover(ctx context.Context) error {
	return js.claimAll(ctx, true)
}

func activeStates() []int32 {
	return []int32{
		int32(cohortv1.JobState_JOB_STATE_SUBMITTED), int32(cohortv1.JobState_JOB_STATE_ADMITTED),
		int32(cohortv1.JobState_JOB_STATE_AGGREGATING), int32(cohortv1.JobState_JOB_STATE_RELEASING),
	}
}
