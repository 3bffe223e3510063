package node

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// jobCrashStore is a coordinator's store that kills the job runner at one
// point of a job's round, as if the process had died there: the runner's
// goroutine ends (runtime.Goexit) and nothing after that point runs. The
// test then restarts the node on the store underneath.
type jobCrashStore struct {
	store.Store
	at   atomic.Value // a crashPoint
	died chan struct{}
}

// crashPoint is where the runner dies.
type crashPoint string

const (
	crashSubmitted   crashPoint = "SUBMITTED"   // before ADMITTED is written: nothing sent
	crashAdmitted    crashPoint = "ADMITTED"    // every node prepared, before AGGREGATING
	crashAggregating crashPoint = "AGGREGATING" // every node released its partial, before RELEASING
	crashReleasing   crashPoint = "RELEASING"   // every node signed the transcript, the release's transaction fails
	crashReleased    crashPoint = "DONE"        // the release committed, before the transcript is published
)

func newJobCrashStore(st store.Store) *jobCrashStore {
	s := &jobCrashStore{Store: st, died: make(chan struct{})}
	s.at.Store(crashPoint(""))
	return s
}

// arm sets the point to die at, once.
func (s *jobCrashStore) arm(p crashPoint) {
	s.died = make(chan struct{})
	s.at.Store(p)
}

// take reports whether the store is armed at p, and disarms it if so.
func (s *jobCrashStore) take(p crashPoint) bool {
	return s.at.CompareAndSwap(p, crashPoint(""))
}

func (s *jobCrashStore) die() {
	close(s.died)
	runtime.Goexit()
}

// UpdateJob dies before it writes the state after an armed one.
func (s *jobCrashStore) UpdateJob(ctx context.Context, j store.Job, from int32) error {
	if s.take(crashPoint(strings.TrimPrefix(cohortv1.JobState(from).String(), "JOB_STATE_"))) {
		s.die()
	}
	return s.Store.UpdateJob(ctx, j, from)
}

// InTx dies in the release's transaction (rolled back) or right after it
// committed.
func (s *jobCrashStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	var release bool
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		release = false
		return fn(&releaseSpy{Tx: tx, s: s, release: &release})
	})
	if release && errors.Is(err, errCrashed) {
		s.die()
	}
	if release && err == nil && s.take(crashReleased) {
		s.die()
	}
	return err
}

// releaseSpy notes a transaction that releases a job, and fails it when
// the store is armed at RELEASING.
type releaseSpy struct {
	store.Tx
	s       *jobCrashStore
	release *bool
}

func (t *releaseSpy) UpdateJob(ctx context.Context, j store.Job, from int32) error {
	if j.State == int32(cohortv1.JobState_JOB_STATE_DONE) {
		*t.release = true
		if t.s.take(crashReleasing) {
			return errCrashed
		}
	}
	return t.Tx.UpdateJob(ctx, j, from)
}

// TestCoordinatorRestart restarts a priced, differentially private job's
// coordinator at each state of the job's round (docs/design.md §7.5) and
// checks, once it is back: a job that had not released ends FAILED with
// no result and no transcript on any node, the buyer's escrow refunded
// on every node (the balances agree), the privacy debits of the nodes
// that released a partial standing on each of them and no other; a job
// whose release committed is DONE once, with its transcript published to
// every node after the restart; and the next job on the dataset
// completes. In the AGGREGATING case a peer is down when the coordinator
// comes back, and the coordinator restarts once more before the peer
// returns: the abort it owes that peer survives both.
func TestCoordinatorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	var crash *jobCrashStore
	f := newTestFederation(t, 3, func(o *Options) {
		if o.Index == 0 {
			crash = newJobCrashStore(o.Store)
			o.Store = crash
		}
	})
	underlying := crash.Store
	const price, fee = 3, 10
	desc := f.installDatasetEdited(t, func(d *cohortv1.DatasetDescriptor) {
		d.Privacy, d.PricePerRecord, d.JobFee = dpPolicy("4", "4"), price, fee
	})
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	recs := f.dpRecords(t, desc, 4)
	alice := f.buyer(t, 0, "alice")
	quote := price*testSchema().MaxCohort + fee
	charge := uint64(price*len(recs) + fee)
	credited := 20 * quote
	f.credit(t, 0, "alice-1", "alice", credited)
	var charged uint64

	submit := func(t *testing.T, req string) string {
		t.Helper()
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/8"), RequestId: req})
		if err != nil {
			t.Fatal(err)
		}
		return sub.GetJob().GetJobId()
	}
	// debited reports which nodes hold a privacy debit for the job.
	debited := func(t *testing.T, id string) []bool {
		t.Helper()
		out := make([]bool, len(f.nodes))
		for i, tn := range f.nodes {
			_, _, err := tn.store.PrivacyDebitOf(ctx, id)
			switch {
			case err == nil:
				out[i] = true
			case !errors.Is(err, store.ErrNotFound):
				t.Fatalf("node %d: %v", i, err)
			}
		}
		return out
	}
	// transcripts reports which nodes hold the job's transcript, and
	// fails unless those that do hold the same one.
	transcripts := func(t *testing.T, id string) []bool {
		t.Helper()
		out := make([]bool, len(f.nodes))
		var digest *[32]byte
		for i, tn := range f.nodes {
			tr, err := tn.store.GetTranscript(ctx, id)
			switch {
			case errors.Is(err, store.ErrNotFound):
				continue
			case err != nil:
				t.Fatalf("node %d: %v", i, err)
			}
			if digest != nil && *digest != tr.Digest {
				t.Fatalf("node %d holds another transcript of job %s", i, id)
			}
			digest, out[i] = &tr.Digest, true
		}
		return out
	}
	noticesOwed := func(t *testing.T) int {
		t.Helper()
		owed, err := underlying.ListJobNotices(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(owed)
	}
	awaitNoNotices := func(t *testing.T) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); noticesOwed(t) != 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("node 0 still owes %d job notices", noticesOwed(t))
			}
		}
	}

	for _, tc := range []struct {
		at       crashPoint
		released bool // the partials were released: the debits stand
		done     bool // the release committed
		// resumed: the job had sent nothing to its peers, so the node
		// runs it again after the restart (docs/design.md §3.4) and it
		// completes.
		resumed bool
	}{
		{at: crashSubmitted, released: true, done: true, resumed: true},
		{at: crashAdmitted},
		{at: crashAggregating, released: true},
		{at: crashReleasing, released: true},
		{at: crashReleased, released: true, done: true},
	} {
		t.Run(string(tc.at), func(t *testing.T) {
			crash.arm(tc.at)
			id := submit(t, "crash-at-"+string(tc.at))
			select {
			case <-crash.died:
			case <-time.After(60 * time.Second):
				t.Fatalf("the runner never reached %s", tc.at)
			}
			before, err := underlying.GetJob(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("the coordinator died with the job %s", cohortv1.JobState(before.State))

			if tc.at == crashAggregating {
				// Node 2 is down when node 0 comes back, and node 0
				// restarts again before node 2 returns.
				f.nodes[2].stop()
				for range 2 {
					f.nodes[0].stop()
					f.nodes[0].opts.Store = crash
					relisten(t, f.nodes[0])
					f.start(f.nodes[0])
					time.Sleep(500 * time.Millisecond)
				}
				if owed := noticesOwed(t); owed == 0 {
					t.Fatal("node 0 owes node 2 nothing while node 2 is down")
				}
				f.nodes[2].opts.Store = f.nodes[2].store
				relisten(t, f.nodes[2])
				f.start(f.nodes[2])
				f.awaitPeers(t, 0)
				f.awaitPeers(t, 2)
			} else {
				f.restart(t, 0, crash)
			}

			if tc.resumed {
				f.awaitJob(t, alice, 0, id)
			}
			job, err := underlying.GetJob(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			st := cohortv1.JobState(job.State)
			if tc.done {
				if st != cohortv1.JobState_JOB_STATE_DONE || job.Result == nil || job.TranscriptID != id {
					t.Fatalf("job after the restart: %s (result %v, transcript %q); want DONE with both", st, job.Result != nil, job.TranscriptID)
				}
				// Published after the restart, to every node.
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					held := transcripts(t, id)
					if held[0] && held[1] && held[2] {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("transcript held %v; want every node", held)
					}
				}
				charged += charge
			} else {
				if st != cohortv1.JobState_JOB_STATE_FAILED || job.Result != nil || job.TranscriptID != "" {
					t.Fatalf("job after the restart: %s (result %v, transcript %q); want FAILED with neither", st, job.Result != nil, job.TranscriptID)
				}
				wantMessage(t, "reason", errors.New(job.Reason), "restarted", "nothing was released")
				if held := transcripts(t, id); held[0] || held[1] || held[2] {
					t.Fatalf("transcript held %v by a job that failed", held)
				}
			}
			// Escrow: charged once if released, refunded on every node
			// otherwise; the ledgers agree.
			f.awaitBalances(t, "after the restart", "alice", store.Balance{Credited: credited, Charged: charged})
			f.checkAgree(t, 0)
			awaitNoNotices(t)
			// Privacy: a node that released its partial spent its budget
			// for the job, whatever happened next (docs/design.md §6.6);
			// no other node did.
			if got := debited(t, id); got[0] != tc.released || got[1] != tc.released || got[2] != tc.released {
				t.Fatalf("privacy debits on the nodes %v; want %v on each", got, tc.released)
			}
			// A peer's record of the round is aborted: it releases nothing
			// more for the job.
			if !tc.done {
				for i, tn := range f.nodes {
					p, err := tn.store.GetPeerJob(ctx, id)
					if errors.Is(err, store.ErrNotFound) {
						continue
					}
					if err != nil || p.State != store.PeerJobAborted {
						t.Fatalf("node %d's record of the round: %v, %v; want aborted", i, p.State, err)
					}
				}
			}

			// The next job on the dataset completes, and is charged once.
			next := submit(t, "after-"+string(tc.at))
			nj, _ := f.awaitJob(t, alice, 0, next)
			if nj.GetState() != cohortv1.JobState_JOB_STATE_DONE || nj.GetCohortSize() != uint64(len(recs)) {
				t.Fatalf("next job: %s over %d records: %s", nj.GetState(), nj.GetCohortSize(), nj.GetReason())
			}
			charged += charge
			f.awaitBalances(t, "after the next job", "alice", store.Balance{Credited: credited, Charged: charged})
			awaitNoNotices(t)
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				held := transcripts(t, next)
				if held[0] && held[1] && held[2] {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("next job's transcript held %v; want every node", held)
				}
			}
		})
	}
	t.Logf("%d micro-credits charged over %d released jobs", charged, charged/charge)
}

// TestJobNoticeRefusals walks what a coordinator does with each answer to
// a notice it owes: an abort refused for good (the node prepared the job
// for another coordinator) is dropped and changes nothing there; a node
// with no record of the job is asked again until the peer timeout has
// passed since the end, then dropped; a node that is down is asked again.
func TestJobNoticeRefusals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a federation")
	}
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.PeerTimeout = 2 * time.Second })
	desc := f.installDataset(t)
	ctx := context.Background()
	n0 := f.nodes[0].n
	for _, id := range []string{"job-theirs", "job-unknown", "job-down"} {
		j := store.Job{ID: id, Buyer: "alice", RequestID: id, DatasetID: desc.GetId(), Spec: []byte("spec"),
			State: int32(cohortv1.JobState_JOB_STATE_FAILED), SubmittedAt: time.Now(), UpdatedAt: time.Now()}
		if _, err := f.nodes[0].store.PutJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	// Node 1 prepared job-theirs for node 2.
	theirs := store.PeerJob{JobID: "job-theirs", Coordinator: 2, DatasetID: desc.GetId(), JobTime: time.Now(),
		SpecDigest: [32]byte{1}, SetDigest: [32]byte{2}, State: store.PeerJobPrepared, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if _, err := f.nodes[1].store.PutPeerJob(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	failed := int32(cohortv1.JobState_JOB_STATE_FAILED)
	owed := func(id string, peer uint32) bool {
		t.Helper()
		all, err := f.nodes[0].store.ListJobNotices(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, jn := range all {
			if jn.JobID == id && jn.Peer == peer {
				return true
			}
		}
		return false
	}
	put := func(jn store.JobNotice) {
		t.Helper()
		if err := f.nodes[0].store.PutJobNotice(ctx, jn); err != nil {
			t.Fatal(err)
		}
	}

	jn := store.JobNotice{JobID: "job-theirs", Peer: 1, State: failed, CreatedAt: time.Now()}
	put(jn)
	if !n0.sendJobNotice(ctx, jn, nil) || owed("job-theirs", 1) {
		t.Fatal("an abort the node refuses for good is still owed")
	}
	if p, err := f.nodes[1].store.GetPeerJob(ctx, "job-theirs"); err != nil || p.State != store.PeerJobPrepared {
		t.Fatalf("node 1's record of another coordinator's job: %v, %v; want it unchanged", p.State, err)
	}

	jn = store.JobNotice{JobID: "job-unknown", Peer: 2, State: failed, CreatedAt: time.Now()}
	put(jn)
	if n0.sendJobNotice(ctx, jn, nil) || !owed("job-unknown", 2) {
		t.Fatal("an abort the node has no record of is dropped before the peer timeout passed")
	}
	jn.CreatedAt = time.Now().Add(-3 * time.Second)
	if !n0.sendJobNotice(ctx, jn, nil) || owed("job-unknown", 2) {
		t.Fatal("an abort the node has no record of is still owed after the peer timeout")
	}

	f.nodes[2].stop()
	jn = store.JobNotice{JobID: "job-down", Peer: 2, State: failed, CreatedAt: time.Now().Add(-time.Hour)}
	put(jn)
	if n0.sendJobNotice(ctx, jn, nil) || !owed("job-down", 2) {
		t.Fatal("an abort to a node that is down is dropped")
	}
}
