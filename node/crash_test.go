package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/store"
)

// errCrashed is what a crashingStore answers once it died.
var errCrashed = errors.New("test: the process died")

// crashingStore is a node's store that dies at a chosen step of ingest:
// from then on every ingest-state call fails, as if the process had been
// killed there; what it committed before stays. The test then stops the
// node and starts it again on the store underneath.
type crashingStore struct {
	store.Store
	// at is the step it dies at: "commit" (before committing a record),
	// "store" (after storing a share, without answering: the call blocks
	// until its caller gives up).
	at   string
	dead atomic.Bool
}

func (s *crashingStore) InTx(ctx context.Context, fn func(tx store.Tx) error) error {
	if s.dead.Load() {
		return errCrashed
	}
	var stored bool
	err := s.Store.InTx(ctx, func(tx store.Tx) error {
		stored = false
		return fn(&spyTx{Tx: tx, s: s, stored: &stored})
	})
	if err != nil {
		return err
	}
	if s.at == "store" && stored {
		s.dead.Store(true)
		<-ctx.Done()
		return errCrashed
	}
	return nil
}

// spyTx notes that a transaction stored a contribution, and dies with its
// store at a commit (the forwarder commits its own record in a
// transaction conditional on the record's lock).
type spyTx struct {
	store.Tx
	s      *crashingStore
	stored *bool
}

func (t *spyTx) CommitContribution(ctx context.Context, datasetID string, nf [32]byte) error {
	return t.s.commit(ctx, t.Tx, datasetID, nf)
}

func (t *spyTx) PutContribution(ctx context.Context, c store.Contribution) (*store.Contribution, error) {
	existing, err := t.Tx.PutContribution(ctx, c)
	*t.stored = err == nil && existing == nil
	return existing, err
}

func (s *crashingStore) GetContribution(ctx context.Context, datasetID string, nf [32]byte) (store.Contribution, error) {
	if s.dead.Load() {
		return store.Contribution{}, errCrashed
	}
	return s.Store.GetContribution(ctx, datasetID, nf)
}

func (s *crashingStore) CommitContribution(ctx context.Context, datasetID string, nf [32]byte) error {
	return s.commit(ctx, s.Store, datasetID, nf)
}

// commit commits through tx unless the store dies at a commit.
func (s *crashingStore) commit(ctx context.Context, tx store.Tx, datasetID string, nf [32]byte) error {
	if s.at == "commit" {
		s.dead.Store(true)
	}
	if s.dead.Load() {
		return errCrashed
	}
	return tx.CommitContribution(ctx, datasetID, nf)
}

func (s *crashingStore) ListPending(ctx context.Context, ds string, nf [32]byte, limit int) ([]store.Contribution, error) {
	if s.dead.Load() {
		return nil, errCrashed
	}
	return s.Store.ListPending(ctx, ds, nf, limit)
}

func (s *crashingStore) ListRollbacks(ctx context.Context, limit int) ([]store.Rollback, error) {
	if s.dead.Load() {
		return nil, errCrashed
	}
	return s.Store.ListRollbacks(ctx, limit)
}

// restart stops node i and starts it again on st (its own store when nil).
func (f *testFederation) restart(t *testing.T, i int, st store.Store) {
	t.Helper()
	tn := f.nodes[i]
	tn.stop()
	if st == nil {
		st = tn.store
	}
	tn.opts.Store = st
	relisten(t, tn)
	f.start(tn)
	f.awaitPeers(t, i)
}

// awaitPeers waits until node i and every other running node reach each
// other (a rollback of a record never stored: nothing to do, once
// reachable).
func (f *testFederation) awaitPeers(t *testing.T, i int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for j := range f.nodes {
		if j == i {
			continue
		}
		for _, pair := range [][2]int{{i, j}, {j, i}} {
			for {
				_, err := f.abortOn(pair[0], pair[1], testSchema().ID, make([]byte, 32))
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d does not reach node %d: %v", pair[0], pair[1], err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// held reports, per node, whether it holds the record in any state, and
// whether pending.
func (f *testFederation) held(t *testing.T, id string, nf []byte) (held, pending []bool) {
	t.Helper()
	var key [32]byte
	copy(key[:], nf)
	for i, tn := range f.nodes {
		row, err := tn.store.GetContribution(context.Background(), id, key)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			t.Fatalf("node %d: %v", i, err)
		default:
			held, pending = append(held, true), append(pending, row.Pending)
			continue
		}
		held, pending = append(held, false), append(pending, false)
	}
	return held, pending
}

// awaitHeld waits until every node holds the record committed (want) or
// no node holds it at all (!want).
func (f *testFederation) awaitHeld(t *testing.T, id string, nf []byte, want bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		held, pending := f.held(t, id, nf)
		ok := true
		for i := range held {
			ok = ok && held[i] == want && !pending[i]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %x: held %v, pending %v; want held everywhere %v", nf, held, pending, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nfOf is a payload's nullifier, as its receipt would give it.
func (f *testFederation) nfOf(t *testing.T, id string, payload []byte) []byte {
	t.Helper()
	c, err := f.nodes[0].n.decode(context.Background(), id, payload)
	if err != nil {
		t.Fatal(err)
	}
	return c.nf[:]
}

// runCountJob runs a COUNT job on the current epoch through node via and
// returns it DONE.
func (f *testFederation) runCountJob(t *testing.T, via int, buyer context.Context, req string) *cohortv1.Job {
	t.Helper()
	cur := testSchema().Epoch.Index(time.Now())
	spec := &cohortv1.JobSpec{
		DatasetId: testSchema().ID, EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}},
	}
	sub, err := f.buyerClient(via).SubmitJob(buyer, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: req})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.awaitJob(t, buyer, via, sub.GetJob().GetJobId())
	if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		t.Fatalf("job %s ended %s: %s", req, job.GetState(), job.GetReason())
	}
	return job
}

// TestCrashMidIngest kills a node at each step of ingest that leaves
// state behind (docs/design.md §7.5), brings it back, and checks that the
// record ends on every node or on none without the contributor doing
// anything, that the acknowledged records are all kept, and that a job on
// the epoch then completes with every node selecting the same records.
func TestCrashMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	// Every node must acknowledge: the steps of the protocol when no node
	// may be missing. TestCatchUpAfterPeerCrash crashes a peer the same way
	// with one node allowed to be missing.
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.MaxCatchUpBacklog = -1 })
	desc := f.installDataset(t)
	id := desc.GetId()
	ctx := context.Background()
	recs := []schema.Record{
		fitness(25, 12000, 58, 720, false, "north"),
		fitness(37, 8000, 64, 655, true, "south"),
		fitness(52, 4000, 71, 810, false, "east"),
		fitness(61, 3000, 77, 590, true, "south"),
	}
	payloads := make([][]byte, len(recs))
	for i, rec := range recs {
		payloads[i] = f.payload(t, f.register(t, 0), 0, payloadOptions{record: rec})
	}
	contribute := func(via int, p []byte) (*cohortv1.ContributeResponse, error) {
		return f.contributor(via).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: id, Payload: p})
	}
	// retry is a contributor's retry of an upload after a crash: a node
	// that just came back may still be reconnecting to its peers.
	retry := func(via int, p []byte) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := contribute(via, p)
			if status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
				return err
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	acknowledged := 0

	t.Run("the coordinator dies after every peer stored, before it commits", func(t *testing.T) {
		p, nf := payloads[0], f.nfOf(t, id, payloads[0])
		f.restart(t, 0, &crashingStore{Store: f.nodes[0].store, at: "commit"})
		_, err := contribute(0, p)
		wantCode(t, "contribute", err, codes.Internal)
		held, pending := f.held(t, id, nf)
		t.Logf("after the crash: held %v, pending %v", held, pending)
		for i := range held {
			if !held[i] || !pending[i] {
				t.Fatalf("node %d: held %v pending %v; want the record pending everywhere", i, held[i], pending[i])
			}
		}
		// Uncounted meanwhile: no job sees a pending record.
		if got := f.stored(t); got[0]+got[1]+got[2] != 0 {
			t.Fatalf("committed records %v, want none", got)
		}
		f.restart(t, 0, nil)
		f.awaitHeld(t, id, nf, false)
		if err := retry(1, p); err != nil {
			t.Fatalf("retry after the rollback: %v", err)
		}
		acknowledged++
		f.awaitHeld(t, id, nf, true)
	})

	t.Run("a peer dies after storing, the coordinator restarts before it returns", func(t *testing.T) {
		p, nf := payloads[1], f.nfOf(t, id, payloads[1])
		f.restart(t, 2, &crashingStore{Store: f.nodes[2].store, at: "store"})
		_, err := contribute(0, p)
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			t.Fatalf("contribute: %v, want Unavailable", err)
		}
		held, _ := f.held(t, id, nf)
		if held[0] || held[1] || !held[2] {
			t.Fatalf("after the crash: held %v; want node 2 only", held)
		}
		owed, err := f.nodes[0].store.ListRollbacks(ctx, 0)
		if err != nil || len(owed) == 0 {
			t.Fatalf("rollbacks owed by node 0: %v, %v; want node 2's", owed, err)
		}
		// Node 2 comes back while node 0 is down: it still knows node 0
		// forwarded the record, and refuses its rollback by anyone else.
		f.nodes[0].stop()
		f.nodes[2].stop()
		f.nodes[2].opts.Store = f.nodes[2].store
		relisten(t, f.nodes[2])
		f.start(f.nodes[2])
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			// Node 1 may still be reconnecting to node 2.
			if _, err = f.abortOn(1, 2, id, nf); status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
				break
			}
		}
		wantCode(t, "node 1 rolls back on node 2 the record node 0 forwarded", err, codes.PermissionDenied)
		if held, pending := f.held(t, id, nf); !held[2] || !pending[2] {
			t.Fatalf("node 2 after its restart: held %v pending %v; want the record pending", held, pending)
		}
		relisten(t, f.nodes[0])
		f.start(f.nodes[0])
		f.awaitPeers(t, 0)
		f.awaitPeers(t, 2)
		f.awaitHeld(t, id, nf, false)
		deadline := time.Now().Add(10 * time.Second)
		for {
			owed, err := f.nodes[0].store.ListRollbacks(ctx, 0)
			if err == nil && len(owed) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rollbacks still owed: %v, %v", owed, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err := retry(2, p); err != nil {
			t.Fatalf("retry: %v", err)
		}
		acknowledged++
		f.awaitHeld(t, id, nf, true)
	})

	t.Run("a peer dies before it commits, after every node acknowledged", func(t *testing.T) {
		p, nf := payloads[2], f.nfOf(t, id, payloads[2])
		f.restart(t, 1, &crashingStore{Store: f.nodes[1].store, at: "commit"})
		if _, err := contribute(0, p); err != nil {
			t.Fatalf("contribute: %v (every node acknowledged: the record is decided)", err)
		}
		acknowledged++
		held, pending := f.held(t, id, nf)
		if !held[0] || pending[0] || !held[1] || !pending[1] || !held[2] || pending[2] {
			t.Fatalf("after the crash: held %v pending %v; want node 1 pending, the others committed", held, pending)
		}
		// A job started as node 1 comes back counts the record on every
		// node: a selection first asks about records pending there.
		f.restart(t, 1, nil)
		job := f.runCountJob(t, 1, f.buyer(t, 1, "early"), "during-recovery")
		if job.GetEligibleRecords() != uint64(acknowledged) {
			t.Fatalf("job during recovery: %d eligible records, want %d", job.GetEligibleRecords(), acknowledged)
		}
		f.awaitHeld(t, id, nf, true)
	})

	if err := retry(1, payloads[3]); err != nil {
		t.Fatal(err)
	}
	acknowledged++
	f.wantStored(t, uint64(acknowledged))
	buyer := f.buyer(t, 0, "alice")
	for via := range f.nodes {
		job := f.runCountJob(t, via, buyer, fmt.Sprintf("after-crashes-%d", via))
		if job.GetEligibleRecords() != uint64(acknowledged) {
			t.Fatalf("job via node %d: %d eligible records, want %d", via, job.GetEligibleRecords(), acknowledged)
		}
	}
}

// TestNullifierRace sends, for each of several identities, two different
// records at the same moment to two nodes: exactly one is accepted, and
// the other is told AlreadyExists with the winner's receipt, or Aborted
// (retry); never both refused, nothing half-stored.
func TestNullifierRace(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	nullifierRace(t, newTestFederation(t, 3))
}

// TestNullifierRacePostgres is TestNullifierRace with every node's store
// on PostgreSQL (READ COMMITTED and row locks rather than SQLite's single
// writer), when COHORT_TEST_POSTGRES_DSN names a server (make
// test-postgres).
func TestNullifierRacePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	nullifierRace(t, newTestFederationOn(t, 3, postgresStores(t)))
}

// nullifierRace is TestNullifierRace on federation f, for
// COHORT_RACE_ROUNDS rounds (1 by default) of fresh identities.
func nullifierRace(t *testing.T, f *testFederation) {
	desc := f.installDataset(t)
	id := desc.GetId()
	rounds := 1
	if v := os.Getenv("COHORT_RACE_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("COHORT_RACE_ROUNDS=%q: want a positive count", v)
		}
		rounds = n
	}
	accepted := 0
	for round := range rounds {
		accepted += raceRound(t, f, id, round)
		f.wantStored(t, uint64(accepted))
	}
}

// raceRound races the two uploads of each of several fresh identities
// and returns how many were accepted.
func raceRound(t *testing.T, f *testFederation, id string, round int) int {
	const identities = 6
	type pair struct{ a, b []byte }
	pairs := make([]pair, identities)
	for i := range pairs {
		c := f.register(t, 0)
		pairs[i] = pair{
			f.payload(t, c, 0, payloadOptions{record: fitness(30+int64(i), 5000, 60, 700, false, "north")}),
			f.payload(t, c, 0, payloadOptions{record: fitness(40+int64(i), 6000, 70, 600, true, "south")}),
		}
	}
	type result struct {
		err error
		nf  []byte
	}
	results := make([][2]result, identities)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range pairs {
		for k, payload := range [][]byte{p.a, p.b} {
			wg.Go(func() {
				<-start
				resp, err := f.contributor(k).Contribute(context.Background(), &cohortv1.ContributeRequest{DatasetId: id, Payload: payload})
				results[i][k] = result{err, resp.GetReceipt().GetNullifier()}
			})
		}
	}
	close(start)
	wg.Wait()
	accepted := 0
	for i, r := range results {
		ok := 0
		for k := range r {
			if r[k].err == nil {
				ok++
				continue
			}
			st := status.Convert(r[k].err)
			t.Logf("round %d, identity %d, upload to node %d: %v", round, i, k, r[k].err)
			switch st.Code() {
			case codes.AlreadyExists:
				// The winner's receipt rides along.
				found := false
				for _, d := range st.Details() {
					if rc, isReceipt := d.(*cohortv1.Receipt); isReceipt && rc.GetStatus() == cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED {
						found = true
					}
				}
				if !found {
					t.Errorf("identity %d: AlreadyExists without the winner's receipt", i)
				}
			case codes.Aborted:
			default:
				t.Errorf("identity %d, node %d: %v; want AlreadyExists or Aborted", i, k, r[k].err)
			}
		}
		if ok != 1 {
			t.Errorf("identity %d: %d uploads accepted, want exactly 1", i, ok)
		}
		accepted += ok
		nf := f.nfOf(t, id, pairs[i].a)
		f.awaitHeld(t, id, nf, ok == 1)
	}
	return accepted
}
