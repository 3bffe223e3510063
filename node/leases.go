package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// This file is how replicas of one node sharing a store divide its jobs
// (docs/design.md §3.4): a job is coordinated by the one replica holding
// its lease in the store; the holder renews it while the job runs; another
// replica claims a job whose lease is free or expired, runs it if its
// round had not begun, and otherwise fails it cleanly.

// checkReplicaID accepts 1..64 bytes of [A-Za-z0-9._-], as the store.
func checkReplicaID(id string) error {
	if id == "" || len(id) > store.MaxReplicaIDLen {
		return fmt.Errorf("node: replica id must be 1..%d bytes, got %d", store.MaxReplicaIDLen, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("node: replica id has byte %#x at %d, want [A-Za-z0-9._-]", c, i)
		}
	}
	return nil
}

// newReplicaID is a random replica id, for a process not given one.
func newReplicaID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("node: replica id: %w", err)
	}
	return "r-" + hex.EncodeToString(b[:]), nil
}

// leaseInterval is how often a replica renews its leases, beats its
// heartbeat and looks for jobs to claim.
func (js *jobs) leaseInterval() time.Duration { return js.e.opts.Limits.JobLease / 3 }

// takenOverReason is the reason of a job failed by the replica that took
// it over (or by the coordinator's next start).
const takenOverReason = "the coordinating node restarted while the job ran; nothing was released (submit it again)"

// claim takes the lease of job id for this replica and then runs the job
// if its round had not begun (it is still SUBMITTED: nothing was sent to a
// peer), or fails it cleanly — escrow refunded, peers told to abort — if
// another run of it began: that run's peers' answers were in the memory of
// a process that is gone. It does nothing when the job is running here or
// another replica holds a live lease on it, and reports whether it claimed.
// failOnly leaves a SUBMITTED job unclaimed (for the replica's start,
// before it serves).
func (js *jobs) claim(ctx context.Context, id string, failOnly bool) (bool, error) {
	if !js.reserve(id) {
		return false, nil
	}
	running := false
	defer func() {
		if !running {
			js.unreserve(id)
		}
	}()
	now := js.e.now()
	if failOnly {
		j, err := js.e.store.GetJob(ctx, id)
		if err != nil {
			return false, fmt.Errorf("read job %s: %w", id, err)
		}
		if j.State == int32(cohortv1.JobState_JOB_STATE_SUBMITTED) {
			return false, nil
		}
	}
	j, lease, err := js.e.store.ClaimJob(ctx, store.JobClaim{
		JobID: id, Holder: js.e.opts.ReplicaID, Now: now, Until: now.Add(js.e.opts.Limits.JobLease), States: activeStates(),
	})
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim job %s: %w", id, err)
	}
	if j.State == int32(cohortv1.JobState_JOB_STATE_SUBMITTED) {
		running = true
		js.launch(j)
		return true, nil
	}
	from := j.State
	j.State, j.Progress, j.UpdatedAt = int32(cohortv1.JobState_JOB_STATE_FAILED), "", js.e.now()
	j.Reason = takenOverReason
	err = js.e.endJob(ctx, j, from)
	if errors.Is(err, store.ErrConflict) {
		return true, nil // its holder ended it meanwhile
	}
	if err != nil {
		return true, fmt.Errorf("fail job %s: %w", id, err)
	}
	js.e.log.Warn("unfinished job of a stopped coordinator failed", "job", id, "claims", lease.Claims)
	js.notify(id)
	js.ended(id, cohortv1.JobState(j.State))
	return true, nil
}

// reserve marks job id as handled by this replica; false if it is already.
func (js *jobs) reserve(id string) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.held[id] {
		return false
	}
	js.held[id] = true
	return true
}

func (js *jobs) unreserve(id string) {
	js.mu.Lock()
	defer js.mu.Unlock()
	delete(js.held, id)
}

// leaseLoop beats the replica's heartbeat, renews the leases of the jobs
// it runs and claims the jobs no live replica holds, every leaseInterval
// until the node stops;
// each, when set, is also run at every pass.
func (js *jobs) leaseLoop(ctx context.Context, started time.Time, each func(context.Context)) {
	t := time.NewTicker(js.leaseInterval())
	defer t.Stop()
	for {
		js.heartbeat(ctx, started)
		js.renew(ctx)
		if err := js.claimAll(ctx, false); err != nil && ctx.Err() == nil {
			js.e.log.Error("claim jobs", "error", err)
		}
		if each != nil {
			each(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// heartbeat records that this replica is alive.
func (js *jobs) heartbeat(ctx context.Context, started time.Time) {
	err := js.e.store.PutReplica(ctx, store.Replica{ID: js.e.opts.ReplicaID, Version: truncate(js.e.opts.Version, 64),
		StartedAt: started, SeenAt: js.e.now()})
	if err != nil && ctx.Err() == nil {
		js.e.log.Warn("replica heartbeat", "error", err)
	}
}

// renew extends the lease of every job running here. A job whose lease
// another replica took, or that another replica ended (a cancel), or
// whose lease could not be renewed before it expired, is stopped here:
// its run ends without writing (the store's compare-and-set on the job's
// state would refuse it anyway).
func (js *jobs) renew(ctx context.Context) {
	js.mu.Lock()
	ids := make([]string, 0, len(js.cancel))
	for id := range js.cancel {
		ids = append(ids, id)
	}
	js.mu.Unlock()
	for _, id := range ids {
		now := js.e.now()
		err := js.e.store.RenewJobLease(ctx, id, js.e.opts.ReplicaID, now.Add(js.e.opts.Limits.JobLease))
		switch {
		case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
			js.e.log.Warn("job: lease lost to another replica, stopping here", "job", id)
			js.stop(id)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			js.e.log.Warn("job: renew lease", "job", id, "error", err)
			js.mu.Lock()
			renewed := js.renewed[id]
			js.mu.Unlock()
			if now.Sub(renewed) >= js.e.opts.Limits.JobLease {
				js.e.log.Warn("job: lease expired unrenewed, stopping here", "job", id)
				js.stop(id)
			}
			continue
		}
		js.mu.Lock()
		js.renewed[id] = now
		js.mu.Unlock()
		if j, err := js.e.store.GetJob(ctx, id); err == nil && !isActive(j.State) {
			js.stop(id) // ended by another replica (a cancel)
			js.notify(id)
		}
	}
}

// claimAll claims every active job no live replica holds (its own
// included, left by a previous run under this replica id).
func (js *jobs) claimAll(ctx context.Context, failOnly bool) error {
	free, err := js.e.store.ClaimableJobs(ctx, js.e.opts.ReplicaID, activeStates(), js.e.now(), store.MaxPageSize)
	if err != nil {
		return fmt.Errorf("list claimable jobs: %w", err)
	}
	for _, l := range free {
		if _, err := js.claim(ctx, l.JobID, failOnly); err != nil {
			return err
		}
	}
	return nil
}

func isActive(st int32) bool {
	for _, a := range activeStates() {
		if st == a {
			return true
		}
	}
	return false
}

// settleOrphans is the lease loop's pass over what stopped replicas left:
// their setups are failed and their ingests rolled back.
func (n *Node) settleOrphans(ctx context.Context) {
	n.failOrphanedSetups(ctx, "")
	if _, err := n.settleOrphanedIngests(ctx, ""); err != nil && ctx.Err() == nil {
		n.log.Error("ingests of stopped replicas", "error", err)
	}
}

// endSetupRun forgets that this replica runs the dataset's setup, once it
// ended (READY or FAILED).
func (n *Node) endSetupRun(datasetID string) {
	if _, err := n.store.EndSetupRun(context.WithoutCancel(n.ctx), datasetID, n.opts.ReplicaID); err != nil {
		n.log.Warn("setup: forget run", "dataset", datasetID, "error", err)
	}
}

// orphanedSetupReason is why a setup whose replica died is failed.
const orphanedSetupReason = "the replica of the coordinating node that ran the setup stopped; create the dataset again"

// failOrphanedSetups fails the setups this node coordinates whose replica
// stopped beating its heartbeat for a job lease, and those of previous
// (this replica id's earlier process, at start; "" for none): their
// progress was in that process's memory. Of several replicas doing so,
// the one that ends the run fails the ceremony, here and on the peers.
func (n *Node) failOrphanedSetups(ctx context.Context, previous string) {
	runs, err := n.store.OrphanedSetupRuns(ctx, previous, n.now().Add(-n.opts.Limits.JobLease), store.MaxPageSize)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Error("setup: orphaned runs", "error", err)
		}
		return
	}
	for _, r := range runs {
		if r.Replica == n.opts.ReplicaID && previous == "" {
			continue // running here
		}
		ended, err := n.store.EndSetupRun(ctx, r.DatasetID, r.Replica)
		if err != nil || !ended {
			continue
		}
		desc, err := n.datasets.descriptor(ctx, r.DatasetID)
		if err != nil {
			n.log.Error("setup: orphaned run's dataset", "dataset", r.DatasetID, "error", err)
			continue
		}
		if desc.GetState() != cohortv1.DatasetState_DATASET_STATE_SETUP {
			continue
		}
		n.log.Warn("setup of a stopped replica failed", "dataset", r.DatasetID, "ceremony", r.CeremonyID, "replica", r.Replica)
		n.failCeremony(&cohortv1.CeremonyInfo{CeremonyId: r.CeremonyID, DatasetId: r.DatasetID}, desc, orphanedSetupReason)
	}
}
