package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/cohort-dev/cohort/backend"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/he"
	"github.com/cohort-dev/cohort/store"
)

// TestReplicaHEShareOnce: on an HE dataset whose node 0 runs as two
// replicas on one PostgreSQL, node 1 prepares a job on node 0 and asks
// both replicas at once, twice each, for node 0's decryption share for
// the set {0, 1}: one share is made and stored (the store's primary key
// per aggregate), one partial released and the privacy ledger debited
// once; every answer is that partial or Aborted. A request for another
// set through either replica is refused and stores and debits nothing
// (docs/design.md §3.4, §4.3).
func TestReplicaHEShareOnce(t *testing.T) {
	f, b := newReplicaFederation(t, heOptions)
	h := heFixtureOn(t, f, testHEDataset(t, dpPolicy("1000", "1000")))
	ctx := context.Background()
	id := h.ds.Desc.GetId()
	for i := range 3 { // the schema's minimum cohort
		region := []string{"north", "south", "east"}[i]
		via := []int{0, viaB, 1}[i]
		h.contribute(t, via, fitness(int64(25+9*i), int64(4000+900*i), int64(58+3*i), int64(600+40*i), i%2 == 0, region))
	}
	alice := f.buyer(t, 0, "alice")
	spec := dpSpec(h.ds.Desc, h.cur, "1/4")
	at := time.Now().Unix()
	pr := f.prepareRequest(t, alice, spec, "he-share-once", at)
	clients := []cohortv1.PeerServiceClient{
		f.peerClientAs(t, 1, f.nodes[0].peerLis.Addr().String()),
		f.peerClientAs(t, 1, b.peerLis.Addr().String()),
	}
	prep, err := clients[1].PrepareJob(ctx, pr)
	if err != nil {
		t.Fatal(err)
	}
	req := &cohortv1.ComputePartialRequest{JobId: pr.GetJobId(), Spec: spec, JobTime: at, SetDigest: prep.GetSet().GetDigest(),
		DecryptionSet: []uint32{0, 1}}
	first := partialOnce(t, ctx, clients, req)
	if p, err := he.UnmarshalPartialDecryption(h.ds.HE.Params, first); err != nil || p.Party() != 0 {
		t.Fatalf("the partial is not node 0's decryption share: %v", err)
	}

	// What node 0 stored, read through either replica's store.
	st := f.nodes[0].store
	rec, err := st.GetPeerJob(ctx, pr.GetJobId())
	if err != nil || rec.State != store.PeerJobPartialReleased || !bytes.Equal(rec.Partial, first) {
		t.Fatalf("node 0's record of the job: %v (%v), want the partial answered, released", rec.State, err)
	}
	own, err := f.nodes[0].n.selectCohort(ctx, h.ds, pr.GetJobId(), spec, time.Unix(at, 0))
	if err != nil {
		t.Fatal(err)
	}
	var cts [][]byte
	if err := f.nodes[0].n.eachCohortRecord(ctx, own, store.WithShare, func(c *store.Contribution) error {
		cts = append(cts, bytes.Clone(c.Share))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	agg, _, err := backend.SumCiphertexts(h.ds.HE.Params, cts, 64)
	if err != nil {
		t.Fatal(err)
	}
	share, err := b.store.GetDecryptionShare(ctx, id, agg.Digest())
	if err != nil || !store.SameSet(share.Set, []uint32{0, 1}) || share.JobID != pr.GetJobId() {
		t.Fatalf("node 0's stored decryption share: set %v, job %q (%v); want one, for {0, 1}, of this job", share.Set, share.JobID, err)
	}
	spentOnce := func(what string) {
		t.Helper()
		debit, entries, err := st.PrivacyDebitOf(ctx, pr.GetJobId())
		if err != nil || len(entries) != 1 || debit.Rho.RatString() != "1/4" {
			t.Fatalf("%s: node 0's debit: ρ %v, %d entries (%v); want 1/4 once", what, debit.Rho, len(entries), err)
		}
		if all, mine := f.spent(t, 0, id, "alice", h.cur); all != "1/4" || mine != "1/4" {
			t.Fatalf("%s: node 0 spent %s (alice %s), want 1/4 once", what, all, mine)
		}
	}
	spentOnce("after the concurrent requests")

	// A set the asking node is not in, through either replica: refused
	// before any share is made or looked up.
	notIn := &cohortv1.ComputePartialRequest{JobId: pr.GetJobId(), Spec: spec, JobTime: at, SetDigest: prep.GetSet().GetDigest(),
		DecryptionSet: []uint32{0, 2}}
	for r, c := range clients {
		_, err := c.ComputePartial(ctx, notIn)
		wantCode(t, "a share for a set the caller is not in, through replica "+[]string{"A", "B"}[r], err, codes.FailedPrecondition)
	}
	// Node 2 prepares another job over the same cohort (the same
	// aggregate) and asks both replicas at once for node 0's share for
	// the set {0, 2}: node 0 made its share of that aggregate for {0, 1},
	// so every request is refused, and nothing is stored or spent.
	pr2 := f.prepareRequest(t, alice, spec, "he-share-other-set", at)
	clients2 := []cohortv1.PeerServiceClient{
		f.peerClientAs(t, 2, f.nodes[0].peerLis.Addr().String()),
		f.peerClientAs(t, 2, b.peerLis.Addr().String()),
	}
	prep2, err := clients2[0].PrepareJob(ctx, pr2)
	if err != nil {
		t.Fatal(err)
	}
	if prep2.GetSet().GetCohort() != prep.GetSet().GetCohort() {
		t.Fatalf("the second job selects %d records, the first %d", prep2.GetSet().GetCohort(), prep.GetSet().GetCohort())
	}
	req2 := &cohortv1.ComputePartialRequest{JobId: pr2.GetJobId(), Spec: spec, JobTime: at, SetDigest: prep2.GetSet().GetDigest(),
		DecryptionSet: []uint32{0, 2}}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for k := range errs {
		wg.Go(func() { _, errs[k] = clients2[k%2].ComputePartial(ctx, req2) })
	}
	wg.Wait()
	for k, err := range errs {
		what := fmt.Sprintf("another set for the same aggregate, call %d (replica %d)", k, k%2)
		wantCode(t, what, err, codes.FailedPrecondition)
		wantMessage(t, what, err, "already produced its decryption share of this aggregate for nodes [0 1] (job "+pr.GetJobId()+")")
	}
	again, err := st.GetDecryptionShare(ctx, id, agg.Digest())
	if err != nil || !store.SameSet(again.Set, []uint32{0, 1}) || !bytes.Equal(again.Share, share.Share) || again.JobID != pr.GetJobId() {
		t.Fatalf("the stored share after refusals: set %v, job %q (%v); want it unchanged", again.Set, again.JobID, err)
	}
	if rec2, err := st.GetPeerJob(ctx, pr2.GetJobId()); err != nil || rec2.State == store.PeerJobPartialReleased || rec2.Partial != nil {
		t.Fatalf("node 0's record of the refused job: %v, %d bytes of partial (%v); want nothing released", rec2.State, len(rec2.Partial), err)
	}
	if _, _, err := st.PrivacyDebitOf(ctx, pr2.GetJobId()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("node 0's debit of the refused job: %v, want none", err)
	}
	spentOnce("after the refusals")
	// The same set again, through the other replica: the same partial.
	resp, err := clients[1].ComputePartial(ctx, req)
	if err != nil || !bytes.Equal(resp.GetPartial(), first) {
		t.Fatalf("the same request again through replica B: %v; the same partial: %t", err, bytes.Equal(resp.GetPartial(), first))
	}
	spentOnce("after a repeat")
}
