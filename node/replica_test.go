package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"database/sql"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make a schema per test
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// The replica tests run node 0 as two processes' worth of Node (replicas
// A and B, each with its own listeners and its own connection pool to one
// PostgreSQL schema) beside nodes 1 and 2 (docs/design.md §3.4). They need
// a PostgreSQL server: COHORT_TEST_POSTGRES_DSN, as the store suite
// (make test-postgres sets it).

const (
	// replicaLease is the job lease of the replica tests: a dead replica's
	// job is taken over within about 1⅓ of it.
	replicaLease = 2 * time.Second
	// viaB is the index of replica B's client connection in f.conns
	// (replica A's is 0, node 0's own).
	viaB = 3
)

// postgresSchema creates a schema for one test in the database of dsn,
// dropped after it, and returns dsn with that schema as its search path.
func postgresSchema(t testing.TB, dsn string) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	schema := "cohort_replica_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		t.Fatalf("postgres: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); err != nil {
			t.Errorf("postgres: drop schema: %v", err)
		}
	})
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + "search_path=" + schema
	}
	return dsn + " search_path=" + schema
}

// newReplicaFederation is a 3-node federation whose node 0 runs as two
// replicas on one PostgreSQL schema: f.nodes[0] is replica A (id node-0),
// the returned node replica B (id node-0-b), reached through f.conns[viaB].
// The other nodes address node 0 at replica A's peer listener. edits, if
// any, change every node's options.
func newReplicaFederation(t testing.TB, edits ...func(*Options)) (*testFederation, *testNode) {
	t.Helper()
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skipf("PostgreSQL not configured: set %s to a DSN (make test-postgres does, under pg_virtualenv)", postgresDSNEnv)
	}
	shared := postgresSchema(t, dsn)
	open := func() store.Store {
		st, err := store.Open(context.Background(), store.Config{Driver: store.DriverPostgres, DSN: shared})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a := open()
	f := newTestFederation(t, 3, func(o *Options) {
		o.Limits.JobLease = replicaLease
		for _, edit := range edits {
			edit(o)
		}
		if o.Index == 0 {
			o.Store = a
		}
	})
	f.nodes[0].store = a
	b := f.addReplica(t, 0, "node-0-b", open())
	return f, b
}

// addReplica starts another replica of node i, under id, on st (which
// must share node i's database), and appends a client connection to it to
// f.conns.
func (f *testFederation) addReplica(t testing.TB, i int, id string, st store.Store) *testNode {
	t.Helper()
	apiLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peerLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := f.nodes[i].opts
	o.ReplicaID, o.Store = id, st
	tn := &testNode{opts: o, store: st, api: apiLis.Addr().String(), apiLis: apiLis, peerLis: peerLis, seal: f.nodes[i].seal}
	f.start(tn)
	c, err := grpc.NewClient(tn.api, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
		grpc.WithUnaryInterceptor(signSubmissions))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f.conns = append(f.conns, c)
	return tn
}

// restartReplica stops a replica started by addReplica and starts it
// again on the same addresses and store.
func (f *testFederation) restartReplica(t *testing.T, tn *testNode) {
	t.Helper()
	tn.stop()
	var err error
	if tn.apiLis, err = net.Listen("tcp", tn.api); err != nil {
		t.Fatal(err)
	}
	if tn.peerLis, err = net.Listen("tcp", tn.peerLis.Addr().String()); err != nil {
		t.Fatal(err)
	}
	f.start(tn)
}

// peerClientAs is a peer client to addr holding node from's certificate.
func (f *testFederation) peerClientAs(t *testing.T, from int, addr string) cohortv1.PeerServiceClient {
	t.Helper()
	cert := f.ca.issue(t, from)
	tc := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, RootCAs: f.ca.pool}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return cohortv1.NewPeerServiceClient(c)
}

// installReplicaDataset installs a dataset released with noise (budget
// ample for the tests) at a price per record and a fee per job, so that
// both the privacy ledger and the escrows are exercised.
func (f *testFederation) installReplicaDataset(t *testing.T) *cohortv1.DatasetDescriptor {
	t.Helper()
	return f.installDatasetEdited(t, func(d *cohortv1.DatasetDescriptor) {
		d.Privacy, d.PricePerRecord, d.JobFee = dpPolicy("1000", "1000"), 1, 10
	})
}

// TestReplicas runs node 0 as two replicas on one PostgreSQL beside nodes 1
// and 2: uploads through both land once on every node; a registration
// through one replica is seen by the other; the admin status lists both;
// concurrent partial requests through both release one partial and debit
// the ledger and charge the escrow once; a job held by one replica is not
// taken by the other, nor failed by the other's restart, and completes
// once; killing the replica that coordinates a job mid-round ends it
// FAILED once, with every escrow refunded and nothing released.
func TestReplicas(t *testing.T) {
	f, b := newReplicaFederation(t)
	ctx := context.Background()
	desc := f.installReplicaDataset(t)
	cur := testSchema().Epoch.Index(time.Now())
	alice := f.buyer(t, 0, "alice")
	f.credit(t, 0, "credit-1", "alice", 10_000_000)
	f.awaitBalances(t, "after the credit", "alice", store.Balance{Credited: 10_000_000})

	t.Run("TestReplicaUploads", func(t *testing.T) {
		// Registered through one replica, proved against the path the
		// other serves, uploaded through either, two at a time.
		const uploads = 6
		vias := []int{0, viaB}
		payloads := make([][]byte, uploads)
		for k := range uploads {
			c := f.register(t, vias[k%2])
			payloads[k] = f.payload(t, c, vias[(k+1)%2], payloadOptions{})
		}
		receipts := make([]*cohortv1.Receipt, uploads)
		errs := make([]error, uploads)
		for k := 0; k < uploads; k += 2 {
			var wg sync.WaitGroup
			for j := k; j < k+2; j++ {
				wg.Go(func() {
					resp, err := f.contributor(vias[j%2]).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: payloads[j]})
					receipts[j], errs[j] = resp.GetReceipt(), err
				})
			}
			wg.Wait()
		}
		for k, err := range errs {
			if err != nil {
				t.Fatalf("upload %d through replica %d: %v", k, k%2, err)
			}
		}
		// A retry through the other replica is the same receipt.
		again, err := f.contributor(viaB).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: payloads[0]})
		if err != nil || !proto.Equal(again.GetReceipt(), receipts[0]) {
			t.Fatalf("retry through replica B: %v; the same receipt: %t", err, proto.Equal(again.GetReceipt(), receipts[0]))
		}
		for i, n := range f.stored(t) {
			if n != uploads {
				t.Errorf("node %d holds %d records, want %d", i, n, uploads)
			}
		}
	})

	t.Run("TestReplicaStatus", func(t *testing.T) {
		st, err := f.admin(viaB).NodeStatus(adminCtx(), &cohortv1.NodeStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range st.GetReplicas() {
			seen[r.GetReplicaId()] = r.GetLastSeenAt().GetSeconds() > 0 && r.GetStartedAt().GetSeconds() > 0
		}
		if st.GetReplicaId() != "node-0-b" || len(seen) != 2 || !seen["node-0"] || !seen["node-0-b"] {
			t.Fatalf("replica B's status: answered by %q, replicas %v", st.GetReplicaId(), st.GetReplicas())
		}
		if st.GetRegistryMembers() != 6 {
			t.Errorf("replica B's registry: %d members, want 6", st.GetRegistryMembers())
		}
	})

	t.Run("TestReplicaRegistrations", func(t *testing.T) {
		// Registrations through the two replicas in turn, with no other call
		// in between (each replica's tree is behind the other's last
		// append), then two at a time through both: every one is admitted
		// once at its own index, and every node's registry has them all.
		before, err := f.nodes[0].store.RegistryHead(ctx)
		if err != nil {
			t.Fatal(err)
		}
		vias := []int{0, viaB}
		index := map[uint64]int{}
		const alone, together = 4, 6
		for k := range alone {
			c := f.register(t, vias[k%2])
			index[c.index]++
		}
		inv, err := f.admin(0).IssueInvites(adminCtx(), &cohortv1.IssueInvitesRequest{Count: together, ExpiresAt: timestamppb.New(time.Now().Add(time.Hour))})
		if err != nil {
			t.Fatal(err)
		}
		resps := make([]*cohortv1.RegisterResponse, together)
		errs := make([]error, together)
		var wg sync.WaitGroup
		for k := range together {
			var secret fr.Element
			if _, err := secret.SetRandom(); err != nil {
				t.Fatal(err)
			}
			ic := feBytes(circuits.IdentityCommitment(secret))
			wg.Go(func() {
				resps[k], errs[k] = f.contributor(vias[k%2]).Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: inv.GetTokens()[k]})
			})
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Fatalf("registration %d of %d at once, through replica %d: %v", k, together, k%2, err)
			}
			index[resps[k].GetMemberIndex()]++
		}
		if len(index) != alone+together {
			t.Fatalf("%d registrations were given %d distinct indices: %v", alone+together, len(index), index)
		}
		after, err := f.nodes[0].store.RegistryHead(ctx)
		if err != nil || after.Size != before.Size+alone+together || after.Version != before.Version+alone+together {
			t.Fatalf("registry head %+v (%v), want %d more members than %+v", after, err, alone+together, before)
		}
		for i, tn := range f.nodes[1:] {
			h, err := tn.store.RegistryHead(ctx)
			if err != nil || h.Version != after.Version || h.Root != after.Root {
				t.Errorf("node %d's registry head %+v (%v), want %+v", i+1, h, err, after)
			}
		}
	})

	t.Run("TestReplicaPartialOnce", func(t *testing.T) {
		// Node 1 prepares a job on node 0, then asks both replicas for the
		// partial at once, twice each.
		at := time.Now().Unix()
		spec := dpSpec(desc, cur, "1/4")
		pr := f.prepareRequest(t, alice, spec, "partial-once", at)
		clients := []cohortv1.PeerServiceClient{
			f.peerClientAs(t, 1, f.nodes[0].peerLis.Addr().String()),
			f.peerClientAs(t, 1, b.peerLis.Addr().String()),
		}
		prep, err := clients[0].PrepareJob(ctx, pr)
		if err != nil {
			t.Fatal(err)
		}
		req := &cohortv1.ComputePartialRequest{JobId: pr.GetJobId(), Spec: spec, JobTime: at, SetDigest: prep.GetSet().GetDigest()}
		first := partialOnce(t, ctx, clients, req)
		st := f.nodes[0].store
		rec, err := st.GetPeerJob(ctx, pr.GetJobId())
		if err != nil || rec.State != store.PeerJobPartialReleased || !bytes.Equal(rec.Partial, first) {
			t.Fatalf("node 0's record: %v (%v)", rec.State, err)
		}
		debit, entries, err := st.PrivacyDebitOf(ctx, pr.GetJobId())
		if err != nil || len(entries) != 1 || debit.Rho.RatString() != "1/4" {
			t.Fatalf("node 0's debit: ρ %v, %d entries (%v)", debit.Rho, len(entries), err)
		}
		spent, mine := f.spent(t, 0, desc.GetId(), "alice", cur)
		if spent != "1/4" || mine != "1/4" {
			t.Errorf("node 0 spent %s (alice %s), want 1/4 once", spent, mine)
		}
		e, err := st.GetEscrow(ctx, pr.GetJobId())
		if err != nil || e.State != store.EscrowSettled || e.Charged != rec.Cohort*1+10 {
			t.Fatalf("node 0's escrow: %+v (%v), want settled once for %d records", e, err, rec.Cohort)
		}
		if bal, err := st.BuyerBalance(ctx, "alice"); err != nil || bal.Charged != e.Charged || bal.Held != 0 {
			t.Errorf("node 0's balance %+v (%v), want charged %d once", bal, err, e.Charged)
		}
	})

	t.Run("TestReplicaLeasedJob", func(t *testing.T) {
		// The replica that claims the job holds it at ADMITTED; the job is
		// submitted again through the other, which is also restarted, while
		// twice the lease passes: it is neither run twice nor failed.
		replicas := []*testNode{f.nodes[0], b}
		vias := []int{0, viaB}
		holder := make(chan int, 2)
		hold := make(chan struct{})
		for r, tn := range replicas {
			tn.n.jobs.hook = func(_ string, st cohortv1.JobState) {
				if st == cohortv1.JobState_JOB_STATE_ADMITTED {
					holder <- r
					<-hold
				}
			}
		}
		spec := dpSpec(desc, cur, "1/4")
		sub, err := f.buyerClient(viaB).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "leased"})
		if err != nil {
			t.Fatal(err)
		}
		id := sub.GetJob().GetJobId()
		var r int
		select {
		case r = <-holder:
		case <-time.After(30 * time.Second):
			close(hold)
			t.Fatal("no replica ran the job")
		}
		other := 1 - r
		again, err := f.buyerClient(vias[other]).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "leased"})
		if err != nil || again.GetJob().GetJobId() != id {
			close(hold)
			t.Fatalf("the same request through the other replica: %v, job %s", err, again.GetJob().GetJobId())
		}
		if other == 0 {
			f.restart(t, 0, nil)
		} else {
			f.restartReplica(t, b)
		}
		time.Sleep(2 * replicaLease)
		l, lerr := f.nodes[0].store.GetJobLease(ctx, id)
		row, jerr := f.nodes[0].store.GetJob(ctx, id)
		close(hold)
		if lerr != nil || jerr != nil || l.Holder != replicas[r].opts.ReplicaID || l.Claims != 1 {
			t.Fatalf("lease %+v (%v, %v), want replica %s's only claim", l, lerr, jerr, replicas[r].opts.ReplicaID)
		}
		if row.State != int32(cohortv1.JobState_JOB_STATE_ADMITTED) {
			t.Fatalf("job while its holder holds it: %s (%s)", cohortv1.JobState(row.State), row.Reason)
		}
		select {
		case r2 := <-holder:
			t.Fatalf("replica %d ran the job replica %d holds", r2, r)
		default:
		}
		job, _ := f.awaitJob(t, alice, vias[other], id)
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
			t.Fatalf("job ended %s: %s", job.GetState(), job.GetReason())
		}
		for i, tn := range f.nodes {
			e, err := tn.store.GetEscrow(ctx, id)
			if err != nil || e.State != store.EscrowSettled || e.Charged != job.GetCohortSize()+10 {
				t.Errorf("node %d's escrow of the job: %+v (%v), want settled once", i, e, err)
			}
		}
		if _, err := f.nodes[0].store.GetTranscript(ctx, id); err != nil {
			t.Errorf("transcript: %v", err)
		}
	})

	t.Run("TestReplicaKilledMidRound", func(t *testing.T) {
		// Whichever replica coordinates the job dies when the job reaches
		// AGGREGATING: its store connections close (nothing more is
		// written, its lease is not renewed) and it stops. The other takes
		// the job over once the lease expires.
		replicas := []*testNode{f.nodes[0], b}
		vias := []int{0, viaB}
		killed := make(chan int, 2)
		for r, tn := range replicas {
			tn.n.jobs.hook = func(_ string, st cohortv1.JobState) {
				if st == cohortv1.JobState_JOB_STATE_AGGREGATING {
					tn.store.Close()
					go tn.stop()
					killed <- r
				}
			}
		}
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: dpSpec(desc, cur, "1/4"), RequestId: "killed"})
		if err != nil {
			t.Fatal(err)
		}
		id := sub.GetJob().GetJobId()
		var r int
		select {
		case r = <-killed:
		case <-time.After(30 * time.Second):
			t.Fatal("the job never reached AGGREGATING")
		}
		survivor := 1 - r
		job, _ := f.awaitJob(t, alice, vias[survivor], id)
		if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(job.GetReason(), "nothing was released") {
			t.Fatalf("job after its coordinator died: %s: %s", job.GetState(), job.GetReason())
		}
		live := replicas[survivor].store
		l, err := live.GetJobLease(ctx, id)
		if err != nil || l.Holder != replicas[survivor].opts.ReplicaID || l.Claims != 2 {
			t.Errorf("lease after the takeover: %+v (%v), want the survivor's second claim", l, err)
		}
		if _, err := live.GetTranscript(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("transcript of a failed job: %v", err)
		}
		row, err := live.GetJob(ctx, id)
		if err != nil || row.Result != nil {
			t.Errorf("result of a failed job: %d bytes (%v)", len(row.Result), err)
		}
		// Every node refunds its escrow of the job (the peers when told of
		// the abort, in the background), none charges it.
		stores := []store.Store{live, f.nodes[1].store, f.nodes[2].store}
		deadline := time.Now().Add(20 * time.Second)
		for i, st := range stores {
			for {
				e, err := st.GetEscrow(ctx, id)
				if err == nil && e.State == store.EscrowRefunded && e.Charged == 0 {
					break
				}
				if errors.Is(err, store.ErrNotFound) && i > 0 {
					break // never prepared there
				}
				if time.Now().After(deadline) {
					t.Fatalf("node %d's escrow of the failed job: %+v (%v), want refunded", i, e, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		t.Logf("replica %s was killed; replica %s failed the job", replicas[r].opts.ReplicaID, replicas[survivor].opts.ReplicaID)
	})
}

// TestReplicaSetupOrphaned: a setup whose replica stopped beating its
// heartbeat is failed by another replica (and the peers are told to abort
// it); a setup of a live replica is left alone.
func TestReplicaSetupOrphaned(t *testing.T) {
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.JobLease = replicaLease })
	ctx := context.Background()
	n := f.nodes[0].n
	nodes := make([]dataset.Node, len(f.nodes))
	for i, tn := range f.nodes {
		m := tn.opts.Members[i]
		nodes[i] = dataset.Node{Name: m.Name, Address: m.APIAddress, Seal: m.Seal, Signing: m.Signing}
	}
	setup := func(id, replica string) {
		s := testSchema()
		s.ID = id
		ds, err := dataset.New(s, nodes, testDepth, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ds.Desc.CeremonyId = id + "-c"
		for _, tn := range f.nodes {
			if err := tn.n.datasets.put(ctx, ds.Desc, true); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.store.PutSetupRun(ctx, store.SetupRun{DatasetID: id, CeremonyID: id + "-c", Replica: replica, StartedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	setup("orphaned", "node-0-gone")
	setup("running", "node-0")
	if err := n.store.PutReplica(ctx, store.Replica{ID: "node-0", StartedAt: time.Now(), SeenAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n.failOrphanedSetups(ctx, "")
	state := func(id string) cohortv1.DatasetState {
		d, err := n.datasets.descriptor(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return d.GetState()
	}
	if st := state("orphaned"); st != cohortv1.DatasetState_DATASET_STATE_FAILED {
		t.Errorf("the orphaned setup's dataset is %s, want FAILED", st)
	}
	if st := state("running"); st != cohortv1.DatasetState_DATASET_STATE_SETUP {
		t.Errorf("the live replica's setup's dataset is %s, want SETUP", st)
	}
	runs, err := n.store.OrphanedSetupRuns(ctx, "node-0", time.Now(), 10)
	if err != nil || len(runs) != 1 || runs[0].DatasetID != "running" {
		t.Fatalf("runs left: %+v (%v), want the live replica's only", runs, err)
	}
}

// TestReplicaIngestOrphaned: a replica's start rolls back everywhere the
// pending ingests of its own earlier process and those stored before
// replicas were recorded, but not one another live replica forwards; once
// that replica's heartbeat is a lease old, the lease loop of the replica
// left rolls its ingest back everywhere, without a restart
// (docs/design.md §3.4). Node 0's replicas are its restarted process
// (node-0) and a replica node-0-b simulated by its heartbeat and its rows,
// on node 0's SQLite store.
func TestReplicaIngestOrphaned(t *testing.T) {
	f := newTestFederation(t, 3, func(o *Options) { o.Limits.JobLease = replicaLease })
	ctx := context.Background()
	nodes := make([]dataset.Node, len(f.nodes))
	for i, tn := range f.nodes {
		m := tn.opts.Members[i]
		nodes[i] = dataset.Node{Name: m.Name, Address: m.APIAddress, Seal: m.Seal, Signing: m.Signing}
	}
	s := testSchema()
	ds, err := dataset.New(s, nodes, testDepth, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range f.nodes {
		if err := tn.n.datasets.put(ctx, ds.Desc, true); err != nil {
			t.Fatal(err)
		}
	}
	// pend stores a record node 0 forwards through replica, pending on
	// every node.
	pend := func(i byte, replica string) []byte {
		t.Helper()
		row := store.Contribution{
			DatasetID: s.ID, Epoch: s.Epoch.Index(time.Now()), Nullifier: [32]byte{i}, PayloadDigest: [32]byte{i, 1},
			Expiry: time.Now().Add(time.Hour), ReceivedAt: time.Now(), Pending: true, Forwarder: 0, PendingSince: time.Now(),
		}
		for j, tn := range f.nodes {
			if row.Replica = ""; j == 0 {
				row.Replica = replica
			}
			if _, err := tn.store.PutContribution(ctx, row); err != nil {
				t.Fatal(err)
			}
		}
		return row.Nullifier[:]
	}
	// Replica node-0-b beats its heartbeat until stopped.
	beat := func(seen time.Time) error {
		return f.nodes[0].store.PutReplica(ctx, store.Replica{ID: "node-0-b", StartedAt: time.Now(), SeenAt: seen})
	}
	if err := beat(time.Now()); err != nil {
		t.Fatal(err)
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				_ = beat(time.Now()) // a failed beat shows as a rolled-back live ingest below
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-stopped
	}()

	live := pend(1, "node-0-b")
	previous := pend(2, "node-0")
	legacy := pend(3, "")
	f.restart(t, 0, nil)
	f.awaitHeld(t, s.ID, previous, false)
	f.awaitHeld(t, s.ID, legacy, false)
	// Over several passes of node 0's lease loop, node-0-b's ingest stays.
	deadline := time.Now().Add(replicaLease)
	for time.Now().Before(deadline) {
		held, pending := f.held(t, s.ID, live)
		for j := range held {
			if !held[j] || !pending[j] {
				t.Fatalf("the live replica's ingest: held %v, pending %v; want pending everywhere", held, pending)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	close(stop)
	<-stopped
	if err := beat(time.Now().Add(-replicaLease)); err != nil {
		t.Fatal(err)
	}
	f.awaitHeld(t, s.ID, live, false)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		owed, err := f.nodes[0].store.ListRollbacks(ctx, 10)
		if err == nil && len(owed) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollbacks still owed: %+v (%v)", owed, err)
		}
	}
}

// partialOnce sends req to the replicas' clients four times at once, two
// each, and returns the one partial they released: every call answers it
// or Aborted (another replica's call held the job), and at least one
// answers it.
func partialOnce(t *testing.T, ctx context.Context, clients []cohortv1.PeerServiceClient, req *cohortv1.ComputePartialRequest) []byte {
	t.Helper()
	const calls = 4
	resps := make([]*cohortv1.ComputePartialResponse, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for k := range calls {
		wg.Go(func() { resps[k], errs[k] = clients[k%2].ComputePartial(ctx, req) })
	}
	wg.Wait()
	var first []byte
	for k := range calls {
		switch {
		case errs[k] == nil:
			if first == nil {
				first = resps[k].GetPartial()
			} else if !bytes.Equal(first, resps[k].GetPartial()) {
				t.Fatalf("call %d (replica %d) answered another partial", k, k%2)
			}
		case status.Code(errs[k]) != codes.Aborted:
			t.Fatalf("call %d (replica %d): %v, want the partial or Aborted", k, k%2, errs[k])
		}
	}
	if first == nil {
		t.Fatalf("no call got the partial: %v", errs)
	}
	return first
}
