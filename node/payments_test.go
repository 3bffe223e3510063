package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// installPricedDataset is installDataset with a price per record and a
// fee per job.
func (f *testFederation) installPricedDataset(t testing.TB, price, fee uint64) *cohortv1.DatasetDescriptor {
	t.Helper()
	return f.installDatasetEdited(t, func(d *cohortv1.DatasetDescriptor) {
		d.Privacy, d.PricePerRecord, d.JobFee = exactPolicy(), price, fee
	})
}

// credit credits a buyer through node via's admin.
func (f *testFederation) credit(t *testing.T, via int, id, buyer string, amount uint64) *cohortv1.BuyerBalance {
	t.Helper()
	resp, err := f.admin(via).CreditBuyer(adminCtx(), &cohortv1.CreditBuyerRequest{CreditId: id, BuyerId: buyer, Amount: amount})
	if err != nil {
		t.Fatalf("CreditBuyer(%s): %v", id, err)
	}
	return resp.GetBalance()
}

// balances reads a buyer's balance on every node.
func (f *testFederation) balances(t *testing.T, buyer string) []store.Balance {
	t.Helper()
	out := make([]store.Balance, len(f.nodes))
	for i, tn := range f.nodes {
		b, err := tn.store.BuyerBalance(context.Background(), buyer)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		out[i] = b
	}
	return out
}

// awaitBalances waits (the peers hear of an abort in the background) until
// every node holds the buyer's balance want.
func (f *testFederation) awaitBalances(t *testing.T, what, buyer string, want store.Balance) {
	t.Helper()
	want.Buyer = buyer
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := f.balances(t, buyer)
		same := true
		for _, b := range got {
			same = same && b == want
		}
		if same {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: balances on the nodes %+v, want %+v on every node", what, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkAgree asks node via's CheckBalances and fails unless every node
// answered and they agree.
func (f *testFederation) checkAgree(t *testing.T, via int) {
	t.Helper()
	resp, err := f.admin(via).CheckBalances(adminCtx(), &cohortv1.CheckBalancesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetNodes()) != len(f.nodes) || len(resp.GetDisagreeingBuyers()) != 0 || len(resp.GetUnreachable()) != 0 {
		t.Fatalf("CheckBalances: %d nodes, disagreeing %v, unreachable %v", len(resp.GetNodes()), resp.GetDisagreeingBuyers(), resp.GetUnreachable())
	}
}

// TestPriceCredits: a credit reaches every node once per credit id, a
// retry is answered without crediting again, refusals change nothing, and
// CheckBalances finds a node whose ledger differs.
func TestPriceCredits(t *testing.T) {
	f := newTestFederation(t, 3)
	f.buyer(t, 0, "alice")
	ctx := adminCtx()

	if b := f.credit(t, 1, "credit-1", "alice", 500); b.GetCredited() != 500 || b.GetAvailable() != 500 {
		t.Fatalf("balance after a credit: %v", b)
	}
	f.awaitBalances(t, "after a credit", "alice", store.Balance{Credited: 500})
	f.credit(t, 2, "credit-1", "alice", 500) // a retry, through another node
	f.awaitBalances(t, "after a retried credit", "alice", store.Balance{Credited: 500})
	f.checkAgree(t, 0)

	_, err := f.admin(0).CreditBuyer(ctx, &cohortv1.CreditBuyerRequest{CreditId: "credit-1", BuyerId: "alice", Amount: 501})
	wantCode(t, "a credit id reused with another amount", err, codes.AlreadyExists)
	_, err = f.admin(0).CreditBuyer(ctx, &cohortv1.CreditBuyerRequest{CreditId: "credit-2", BuyerId: "nobody", Amount: 1})
	wantCode(t, "a credit to an unknown buyer", err, codes.NotFound)
	for _, req := range []*cohortv1.CreditBuyerRequest{
		{CreditId: "credit-2", BuyerId: "alice"},
		{CreditId: "credit-2", BuyerId: "alice", Amount: store.MaxAmount + 1},
		{CreditId: "", BuyerId: "alice", Amount: 1},
		{CreditId: "credit 2", BuyerId: "alice", Amount: 1},
		{CreditId: "credit-2", BuyerId: "al/ice", Amount: 1},
	} {
		_, err := f.admin(0).CreditBuyer(ctx, req)
		wantCode(t, fmt.Sprintf("CreditBuyer(%v)", req), err, codes.InvalidArgument)
	}
	_, err = f.admin(0).CreditBuyer(context.Background(), &cohortv1.CreditBuyerRequest{CreditId: "credit-2", BuyerId: "alice", Amount: 1})
	wantCode(t, "a credit without the admin token", err, codes.Unauthenticated)
	f.awaitBalances(t, "after refusals", "alice", store.Balance{Credited: 500})

	// A node that missed a credit: the check names the buyer.
	if _, err := f.nodes[2].store.CreditBuyer(context.Background(), store.Credit{ID: "only-on-2", Buyer: "alice", Amount: 7, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	resp, err := f.admin(0).CheckBalances(ctx, &cohortv1.CheckBalancesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetDisagreeingBuyers(); len(got) != 1 || got[0] != "alice" || len(resp.GetNodes()) != 3 {
		t.Fatalf("CheckBalances after a divergence: disagreeing %v over %d nodes", got, len(resp.GetNodes()))
	}
}

// TestPriceRefused: a price whose largest quote does not fit the ledger is
// refused when the dataset is created.
func TestPriceRefused(t *testing.T) {
	f := newTestFederation(t, 3)
	_, err := f.admin(0).CreateDataset(adminCtx(), &cohortv1.CreateDatasetRequest{
		SchemaSource: &cohortv1.CreateDatasetRequest_SchemaYaml{SchemaYaml: defaultSchemaYAML(t)},
		Backend:      cohortv1.Backend_BACKEND_MPC, NodeCount: 3, RegistryDepth: testDepth, InsecureDevSetup: true, Privacy: exactPolicy(),
		PricePerRecord: store.MaxAmount, JobFee: 1,
	})
	wantCode(t, "a price past the ledger's bound", err, codes.InvalidArgument)
	wantMessage(t, "a price past the ledger's bound", err, "price_per_record")
}

// TestEscrow runs priced jobs on a 3-node federation: a buyer without the
// quote is refused at submission with nothing stored or charged; every
// node holds the quote while the job runs and charges price × cohort + fee
// when it is released; a rejected, a cancelled and a failed job (after the
// peers released and charged) are refunded on every node; two concurrent
// submissions that the balance can hold only one of admit one; and the
// ledgers agree on every node after the mixed run.
func TestEscrow(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and runs a federation")
	}
	fault := &releaseFault{}
	f := newTestFederation(t, 3, func(o *Options) {
		if o.Index == 0 {
			fault.Store = o.Store
			o.Store = fault
		}
	})
	const price, fee = 3, 10
	desc := f.installPricedDataset(t, price, fee)
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	recs := f.dpRecords(t, desc, 4)
	quote := price*testSchema().MaxCohort + fee
	charge := uint64(price*len(recs) + fee)
	alice := f.buyer(t, 0, "alice")
	bc := f.buyerClient(0)
	spec := func(epoch uint64) *cohortv1.JobSpec {
		return &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: epoch, EpochTo: epoch, Purpose: "public-health",
			Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}, {Kind: cohortv1.OutputKind_OUTPUT_KIND_SUM, Fields: []string{"steps"}}}}
	}

	// No balance: refused before any work, nothing stored or charged.
	_, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: "broke"})
	wantCode(t, "a job the balance cannot hold", err, codes.FailedPrecondition)
	wantMessage(t, "a job the balance cannot hold", err, "has 0 micro-credits available", fmt.Sprint(quote), "nothing was stored or charged")
	list, err := bc.ListJobs(alice, &cohortv1.ListJobsRequest{})
	if err != nil || len(list.GetJobs()) != 0 {
		t.Fatalf("jobs after a refused submission: %v, %v", list.GetJobs(), err)
	}
	f.awaitBalances(t, "after a refused submission", "alice", store.Balance{})

	// Enough for two quotes.
	credited := 2 * quote
	f.credit(t, 0, "alice-1", "alice", credited)

	t.Run("released", func(t *testing.T) {
		sub, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: "paid-1"})
		if err != nil {
			t.Fatal(err)
		}
		if sub.GetMaxCharge() != quote {
			t.Fatalf("quoted %d, want %d × %d + %d = %d", sub.GetMaxCharge(), price, testSchema().MaxCohort, fee, quote)
		}
		job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE || job.GetCohortSize() != uint64(len(recs)) {
			t.Fatalf("job %s over %d records: %s", job.GetState(), job.GetCohortSize(), job.GetReason())
		}
		f.awaitBalances(t, "after a release", "alice", store.Balance{Credited: credited, Charged: charge})
		b, err := bc.GetBalance(alice, &cohortv1.GetBalanceRequest{JobId: job.GetJobId()})
		if err != nil {
			t.Fatal(err)
		}
		e := b.GetEscrow()
		if e.GetState() != cohortv1.EscrowState_ESCROW_STATE_SETTLED || e.GetCharged() != charge || e.GetCohort() != uint64(len(recs)) || e.GetHeld() != quote {
			t.Fatalf("escrow %v, want settled for %d", e, charge)
		}
		if b.GetBalance().GetAvailable() != credited-charge {
			t.Fatalf("balance %v", b.GetBalance())
		}
		// A retry of the submission is answered with its quote, charged once.
		again, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: "paid-1"})
		if err != nil || again.GetJob().GetJobId() != job.GetJobId() || again.GetMaxCharge() != quote {
			t.Fatalf("retry: %v, %v", again, err)
		}
		f.awaitBalances(t, "after a retried submission", "alice", store.Balance{Credited: credited, Charged: charge})
	})

	t.Run("rejected", func(t *testing.T) {
		// No record in an old epoch: the cohort is below the minimum.
		sub, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur - 3), RequestId: "rejected"})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_REJECTED {
			t.Fatalf("job %s: %s", job.GetState(), job.GetReason())
		}
		f.awaitBalances(t, "after a rejection", "alice", store.Balance{Credited: credited, Charged: charge})
		for i, tn := range f.nodes[1:] {
			if e, err := tn.store.GetEscrow(ctx, job.GetJobId()); err != nil || e.State != store.EscrowRefunded {
				t.Fatalf("node %d escrow of the rejected job: %+v, %v", i+1, e, err)
			}
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		held, release := make(chan string, 1), make(chan struct{})
		f.nodes[0].n.jobs.hook = func(id string, st cohortv1.JobState) {
			if st == cohortv1.JobState_JOB_STATE_AGGREGATING {
				held <- id
				<-release
			}
		}
		defer func() { f.nodes[0].n.jobs.hook = nil }()
		if _, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: "cancelled"}); err != nil {
			t.Fatal(err)
		}
		id := <-held
		// Prepared everywhere: every node holds the quote.
		f.awaitBalances(t, "while the job runs", "alice", store.Balance{Credited: credited, Charged: charge, Held: quote})
		c, err := bc.CancelJob(alice, &cohortv1.CancelJobRequest{JobId: id})
		close(release)
		if err != nil || c.GetJob().GetState() != cohortv1.JobState_JOB_STATE_CANCELLED {
			t.Fatalf("cancel: %v, %v", c, err)
		}
		f.awaitBalances(t, "after a cancel", "alice", store.Balance{Credited: credited, Charged: charge})
		for i, tn := range f.nodes[1:] {
			p, err := tn.store.GetPeerJob(ctx, id)
			if err != nil || p.State != store.PeerJobAborted {
				t.Fatalf("node %d record of the cancelled job: %v, %v", i+1, p.State, err)
			}
		}
	})

	t.Run("failed after the peers released", func(t *testing.T) {
		fault.fail.Store(true)
		sub, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: "failed"})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		fault.fail.Store(false)
		if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || fault.failed.Load() == 0 {
			t.Fatalf("job %s (%d release faults): %s", job.GetState(), fault.failed.Load(), job.GetReason())
		}
		f.awaitBalances(t, "after a failure", "alice", store.Balance{Credited: credited, Charged: charge})
		for i, tn := range f.nodes[1:] {
			// Settled for the cohort when the peer released, then refunded.
			if e, err := tn.store.GetEscrow(ctx, job.GetJobId()); err != nil || e.State != store.EscrowRefunded || e.Cohort != uint64(len(recs)) {
				t.Fatalf("node %d escrow of the failed job: %+v, %v", i+1, e, err)
			}
		}
	})

	t.Run("concurrent submissions", func(t *testing.T) {
		// Available: 2 quotes - charge, less than two quotes.
		held, release := make(chan string, 2), make(chan struct{})
		f.nodes[0].n.jobs.hook = func(id string, st cohortv1.JobState) {
			if st == cohortv1.JobState_JOB_STATE_ADMITTED {
				held <- id
				<-release
			}
		}
		defer func() { f.nodes[0].n.jobs.hook = nil }()
		var (
			wg   sync.WaitGroup
			errs [2]error
			ids  [2]string
		)
		for i := range 2 {
			wg.Go(func() {
				sub, err := bc.SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: fmt.Sprintf("race-%d", i)})
				errs[i], ids[i] = err, sub.GetJob().GetJobId()
			})
		}
		wg.Wait()
		admitted := ""
		refused := 0
		for i, err := range errs {
			switch {
			case err == nil:
				admitted = ids[i]
			case status.Code(err) == codes.FailedPrecondition:
				refused++
			default:
				t.Fatalf("submission %d: %v", i, err)
			}
		}
		if refused != 1 || admitted == "" {
			t.Fatalf("%d of 2 submissions refused, want 1", refused)
		}
		<-held
		close(release)
		job, _ := f.awaitJob(t, alice, 0, admitted)
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
			t.Fatalf("job %s: %s", job.GetState(), job.GetReason())
		}
		f.awaitBalances(t, "after the race", "alice", store.Balance{Credited: credited, Charged: 2 * charge})
	})

	t.Run("a peer whose ledger cannot hold the quote", func(t *testing.T) {
		// bob's credit reached nodes 0 and 1 only: node 2 refuses to
		// prepare, the job fails and nodes 0 and 1 give the quote back.
		bob := f.buyer(t, 0, "bob")
		for _, tn := range f.nodes[:2] {
			if _, err := tn.store.CreditBuyer(ctx, store.Credit{ID: "bob-1", Buyer: "bob", Amount: quote, At: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		sub, err := bc.SubmitJob(bob, &cohortv1.SubmitJobRequest{Spec: spec(cur), RequestId: "bob-1"})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, bob, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_FAILED || !strings.Contains(job.GetReason(), "micro-credits available") {
			t.Fatalf("job %s: %s", job.GetState(), job.GetReason())
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			got := f.balances(t, "bob")
			if got[0].Held == 0 && got[1].Held == 0 && got[0].Credited == quote && got[2] == (store.Balance{Buyer: "bob"}) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("bob's balances after a peer refused: %+v", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// The credit retried through the admin reaches node 2 only.
		f.credit(t, 0, "bob-1", "bob", quote)
		f.awaitBalances(t, "after the credit was retried", "bob", store.Balance{Credited: quote})
	})

	f.checkAgree(t, 1)
}

// TestEscrowSettledAtSigning: a peer that prepared a priced job but
// released no partial for it (outside an HE decryption set) is charged for
// its prepared cohort when it signs the transcript; an escrow already
// settled or refunded, or a job this node coordinates, is left alone.
func TestEscrowSettledAtSigning(t *testing.T) {
	f := newTestFederation(t, 3)
	f.buyer(t, 0, "alice")
	f.credit(t, 0, "alice-1", "alice", 1000)
	ctx := context.Background()
	n, st := f.nodes[1].n, f.nodes[1].store
	if err := st.PutDataset(ctx, store.Dataset{ID: "priced", Descriptor: []byte("d"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct {
		id          string
		coordinator uint32
	}{{"job-1", 0}, {"job-2", 1}, {"job-3", 0}} {
		p := store.PeerJob{JobID: j.id, Coordinator: j.coordinator, DatasetID: "priced", SpecDigest: [32]byte{1}, SetDigest: [32]byte{2},
			Cohort: 4, State: store.PeerJobPrepared, Buyer: "alice", JobTime: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if _, err := st.PutPeerJob(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := st.HoldEscrow(ctx, store.Escrow{JobID: j.id, Buyer: "alice", DatasetID: "priced", Price: 3, Fee: 10, MaxCohort: 100, HeldAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RefundEscrow(ctx, "job-3", time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"job-1", "job-1", "job-2", "job-3", "job-none"} {
		if err := n.settleSigned(ctx, id); err != nil {
			t.Fatalf("settleSigned(%s): %v", id, err)
		}
	}
	for _, w := range []struct {
		id      string
		state   store.EscrowState
		charged uint64
	}{{"job-1", store.EscrowSettled, 3*4 + 10}, {"job-2", store.EscrowHeld, 0}, {"job-3", store.EscrowRefunded, 0}} {
		e, err := st.GetEscrow(ctx, w.id)
		if err != nil || e.State != w.state || e.Charged != w.charged {
			t.Fatalf("escrow of %s: %+v, %v; want %s charged %d", w.id, e, err, w.state, w.charged)
		}
	}
}

// TestEscrowAbort: only a job's coordinator aborts it on a peer; the abort
// refunds the peer's escrow and ends its record in one step, once; a job
// the peer never prepared is NotFound.
func TestEscrowAbort(t *testing.T) {
	f := newTestFederation(t, 3)
	f.buyer(t, 0, "alice")
	f.credit(t, 0, "alice-1", "alice", 1000)
	ctx := context.Background()
	n, st := f.nodes[1].n, f.nodes[1].store
	if err := st.PutDataset(ctx, store.Dataset{ID: "priced", Descriptor: []byte("d"), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p := store.PeerJob{JobID: "job-1", Coordinator: 0, DatasetID: "priced", SpecDigest: [32]byte{1}, SetDigest: [32]byte{2},
		Cohort: 4, State: store.PeerJobPrepared, Buyer: "alice", JobTime: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if _, err := st.PutPeerJob(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := st.HoldEscrow(ctx, store.Escrow{JobID: "job-1", Buyer: "alice", DatasetID: "priced", Price: 3, Fee: 10, MaxCohort: 100, HeldAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	failed := cohortv1.JobState_JOB_STATE_FAILED
	wantCode(t, "an abort by another node", n.abortPeerJob(ctx, 2, "job-1", failed), codes.PermissionDenied)
	wantCode(t, "an abort of a job never prepared", n.abortPeerJob(ctx, 0, "job-9", failed), codes.NotFound)
	if b, _ := st.BuyerBalance(ctx, "alice"); b.Held != 310 {
		t.Fatalf("a refused abort changed the balance: %+v", b)
	}
	for range 2 {
		if err := n.abortPeerJob(ctx, 0, "job-1", failed); err != nil {
			t.Fatalf("abort by the coordinator: %v", err)
		}
	}
	if b, _ := st.BuyerBalance(ctx, "alice"); b.Held != 0 || b.Charged != 0 || b.Credited != 1000 {
		t.Fatalf("balance after an abort: %+v", b)
	}
	got, err := st.GetPeerJob(ctx, "job-1")
	if err != nil || got.State != store.PeerJobAborted {
		t.Fatalf("record after an abort: %v, %v", got.State, err)
	}
	if e, err := st.GetEscrow(ctx, "job-1"); err != nil || e.State != store.EscrowRefunded {
		t.Fatalf("escrow after an abort: %+v, %v", e, err)
	}
}
