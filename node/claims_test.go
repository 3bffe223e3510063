package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// payoutKey is a fresh Ed25519 public key.
func payoutKey(t *testing.T) ed25519.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

// claimJob is a released job's transcript as a claimant reads it.
type claimJob struct {
	t    *audit.Transcript
	tree *circuits.NullifierTree
}

func (f *testFederation) claimJob(t *testing.T, jobID string) claimJob {
	t.Helper()
	tr, err := f.nodes[0].store.GetTranscript(context.Background(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := audit.UnmarshalBundle(tr.Bundle, audit.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	nfs := make([]fr.Element, len(b.Transcript.Records))
	for i, r := range b.Transcript.Records {
		if err := nfs[i].SetBytesCanonical(r.Nullifier[:]); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := circuits.NewNullifierTree(nfs)
	if err != nil {
		t.Fatal(err)
	}
	return claimJob{t: b.Transcript, tree: tree}
}

// proveClaim proves, as a client would, that secret's record of epoch was
// counted by job, for payout key, and returns the request.
func (f *testFederation) proveClaim(t *testing.T, job claimJob, secret fr.Element, epoch uint64, key ed25519.PublicKey) *cohortv1.ClaimRewardRequest {
	t.Helper()
	w, pub, err := circuits.ClaimWitness(job.tree, secret, job.t.DatasetID, job.t.JobID, epoch, circuits.PayoutField(key))
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.nodes[0].n.claimKeysWith(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pk, err := setup.UnmarshalProvingKey(k.ProvingKey)
	if err != nil {
		t.Fatal(err)
	}
	sys, err := circuits.CompileClaim()
	if err != nil {
		t.Fatal(err)
	}
	proof, err := sys.Prove(pk, w)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := proof.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	nf := feBytes(pub.ClaimNullifier)
	return &cohortv1.ClaimRewardRequest{JobId: job.t.JobID, ClaimNullifier: nf[:], PayoutKey: key, Proof: pb}
}

// wantPayout checks a payout account on every node.
func (f *testFederation) wantPayout(t *testing.T, what string, key ed25519.PublicKey, credited, claims uint64) {
	t.Helper()
	for i := range f.nodes {
		resp, err := f.contributor(i).GetPayout(context.Background(), &cohortv1.GetPayoutRequest{PayoutKey: key})
		if err != nil {
			t.Fatalf("%s: node %d: GetPayout: %v", what, i, err)
		}
		if p := resp.GetPayout(); p.GetCredited() != credited || p.GetClaims() != claims {
			t.Fatalf("%s: node %d: payout credited %d by %d claims, want %d by %d", what, i, p.GetCredited(), p.GetClaims(), credited, claims)
		}
	}
}

// wantClaims checks the number of claims of a job on every node.
func (f *testFederation) wantClaims(t *testing.T, what, jobID string, claims uint64) {
	t.Helper()
	for i, tn := range f.nodes {
		r, err := tn.store.GetJobReward(context.Background(), jobID)
		if err != nil || r.Claims != claims {
			t.Fatalf("%s: node %d: job %s has %d claims (%v), want %d", what, i, jobID, r.Claims, err, claims)
		}
	}
}

// TestClaimReward runs a priced job on three nodes and claims its reward:
// a contributor whose record was counted claims once and is credited on
// every node; a second claim, at the same node or another, is refused
// with AlreadyExists and credits nothing; two concurrent claims by one
// contributor at two nodes credit exactly once; someone whose record was
// not counted has no proof; and bad proofs, wrong and unknown jobs and
// malformed requests are refused with nothing credited.
func TestClaimReward(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and claims and runs a federation")
	}
	f := newTestFederation(t, 3)
	const price, fee = 3, 10
	desc := f.installPricedDataset(t, price, fee)
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	counted := f.contributeFour(t, desc.GetId())
	outsider := f.register(t, 0)

	alice := f.buyer(t, 0, "alice")
	f.credit(t, 0, "alice-1", "alice", 2*(price*testSchema().MaxCohort+fee))
	spec := &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	release := func(requestID string) string {
		sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: requestID})
		if err != nil {
			t.Fatal(err)
		}
		job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
		if job.GetState() != cohortv1.JobState_JOB_STATE_DONE || job.GetCohortSize() != 4 {
			t.Fatalf("job %s over %d records: %s", job.GetState(), job.GetCohortSize(), job.GetReason())
		}
		return job.GetJobId()
	}
	jobID, otherJobID := release("claims-1"), release("claims-2")

	// The transcript commits to the counted nullifiers and the reward, and
	// every node recorded both.
	job := f.claimJob(t, jobID)
	if root := job.tree.Root(); job.t.RewardPerRecord != price || job.t.ClaimRoot != root.Bytes() {
		t.Fatalf("transcript reward %d, claim root %x", job.t.RewardPerRecord, job.t.ClaimRoot[:4])
	}
	f.wantClaims(t, "after the release", jobID, 0)
	tr, err := f.nodes[0].store.GetTranscript(ctx, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if rep := audit.VerifyEncoded(tr.Bundle, audit.DefaultLimits(), audit.AllowInsecureDevSetup()); !rep.OK() {
		t.Fatalf("the priced job's transcript does not verify:\n%s", rep)
	}
	// A peer will not sign a transcript whose claim root or reward is not
	// the one its records and its price give.
	for name, tamper := range map[string]func(t *audit.Transcript){
		"claim root": func(t *audit.Transcript) { t.ClaimRoot[3] ^= 1 },
		"reward":     func(t *audit.Transcript) { t.RewardPerRecord++ },
	} {
		b, err := audit.UnmarshalBundle(tr.Bundle, audit.DefaultLimits())
		if err != nil {
			t.Fatal(err)
		}
		tamper(b.Transcript)
		enc, err := b.Transcript.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		_, err = call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.SignTranscriptResponse, error) {
			return signTranscriptBytes(ctx, c, enc)
		})
		wantCode(t, "sign a transcript with another "+name, err, codes.FailedPrecondition)
		wantMessage(t, "sign a transcript with another "+name, err, name)
	}

	// Transcripts are published by their job's coordinator, node 0, which
	// is also the sequencer: the client claims there; claims made at nodes
	// 1 and 2 are forwarded to it.
	cl, err := client.Dial(f.nodes[0].api, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	identity := func(c *testContributor) *client.Identity { return &client.Identity{Secret: c.secret} }

	// A counted contributor claims through the client, proving locally.
	k1 := payoutKey(t)
	var steps []string
	got, err := cl.ClaimReward(ctx, identity(counted[0]), jobID, k1, func(s string) { steps = append(steps, s) })
	if err != nil {
		t.Fatal(err)
	}
	if got.Response.GetAmount() != price || got.Response.GetPayout().GetCredited() != price || got.Epoch != cur ||
		got.SetupKind != cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV || len(steps) == 0 {
		t.Fatalf("claim: %v, epoch %d, %s, steps %v", got.Response, got.Epoch, got.SetupKind, steps)
	}
	f.wantPayout(t, "after a claim", k1, price, 1)
	f.wantClaims(t, "after a claim", jobID, 1)
	if p, err := cl.Payout(ctx, k1); err != nil || p.GetCredited() != price {
		t.Fatalf("Payout: %v, %v", p, err)
	}

	// Again: through the client at the same node, and with fresh proofs at
	// the other nodes, under any payout key.
	k2 := payoutKey(t)
	_, err = cl.ClaimReward(ctx, identity(counted[0]), jobID, k2, nil)
	wantCode(t, "a second claim at the same node", err, codes.AlreadyExists)
	f.wantPayout(t, "after a refused second claim", k2, 0, 0)
	for i, key := range []ed25519.PublicKey{k1, payoutKey(t)} {
		_, err := f.contributor(1+i).ClaimReward(ctx, f.proveClaim(t, job, counted[0].secret, cur, key))
		wantCode(t, "a second claim at another node", err, codes.AlreadyExists)
		if i != 0 {
			f.wantPayout(t, "after a refused second claim at another node", key, 0, 0)
		}
	}
	f.wantPayout(t, "after refused second claims", k1, price, 1)
	f.wantClaims(t, "after refused second claims", jobID, 1)

	// A first claim at a node that is not the sequencer is forwarded to it
	// and recorded on every node.
	k4 := payoutKey(t)
	if _, err := f.contributor(2).ClaimReward(ctx, f.proveClaim(t, job, counted[3].secret, cur, k4)); err != nil {
		t.Fatal(err)
	}
	f.wantPayout(t, "after a claim at node 2", k4, price, 1)
	f.wantClaims(t, "after a claim at node 2", jobID, 2)

	// Two claims by one contributor at two nodes at once: one is credited.
	keys := []ed25519.PublicKey{payoutKey(t), payoutKey(t)}
	reqs := []*cohortv1.ClaimRewardRequest{f.proveClaim(t, job, counted[1].secret, cur, keys[0]), f.proveClaim(t, job, counted[1].secret, cur, keys[1])}
	var (
		wg   sync.WaitGroup
		errs = make([]error, 2)
	)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = f.contributor(i+1).ClaimReward(ctx, reqs[i]) })
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			won = i
		case codes.AlreadyExists:
		default:
			t.Fatalf("concurrent claim %d: %v", i, err)
		}
	}
	if won < 0 || errs[1-won] == nil {
		t.Fatalf("concurrent claims: %v", errs)
	}
	f.wantPayout(t, "concurrent claims, the credited one", keys[won], price, 1)
	f.wantPayout(t, "concurrent claims, the refused one", keys[1-won], 0, 0)
	f.wantClaims(t, "after concurrent claims", jobID, 3)

	// Someone registered whose record was not counted has nothing to
	// prove: the client finds no record, and a witness built on another's
	// path does not solve.
	if _, err := cl.ClaimReward(ctx, identity(outsider), jobID, payoutKey(t), nil); !errors.Is(err, client.ErrNotCounted) {
		t.Fatalf("claim by an outsider: %v", err)
	}
	if _, _, err := circuits.ClaimWitness(job.tree, outsider.secret, job.t.DatasetID, jobID, cur, circuits.PayoutField(payoutKey(t))); !errors.Is(err, circuits.ErrClaimTree) {
		t.Fatalf("outsider's witness: %v", err)
	}
	w, _, err := circuits.ClaimWitness(job.tree, counted[2].secret, job.t.DatasetID, jobID, cur, circuits.PayoutField(payoutKey(t)))
	if err != nil {
		t.Fatal(err)
	}
	w.Secret = outsider.secret
	sys, err := circuits.CompileClaim()
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.nodes[0].store.GetClaimKeys(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := setup.UnmarshalProvingKey(k.ProvingKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sys.Prove(pk, w); err == nil {
		t.Fatal("an outsider proved a claim on another's path")
	}

	// Refusals: each with a clear status, nothing credited.
	k3 := payoutKey(t)
	valid := f.proveClaim(t, job, counted[2].secret, cur, k3)
	edit := func(fn func(r *cohortv1.ClaimRewardRequest)) *cohortv1.ClaimRewardRequest {
		r := &cohortv1.ClaimRewardRequest{JobId: valid.GetJobId(), ClaimNullifier: valid.GetClaimNullifier(), PayoutKey: valid.GetPayoutKey(),
			Proof: append([]byte(nil), valid.GetProof()...)}
		fn(r)
		return r
	}
	other := payoutKey(t)
	for _, tc := range []struct {
		name string
		req  *cohortv1.ClaimRewardRequest
		code codes.Code
	}{
		{"another payout key", edit(func(r *cohortv1.ClaimRewardRequest) { r.PayoutKey = other }), codes.InvalidArgument},
		{"a tampered proof", edit(func(r *cohortv1.ClaimRewardRequest) { r.Proof[len(r.Proof)-40] ^= 1 }), codes.InvalidArgument},
		{"another claim nullifier", edit(func(r *cohortv1.ClaimRewardRequest) { r.ClaimNullifier = counted[3].secret.Marshal() }), codes.InvalidArgument},
		{"the wrong job", edit(func(r *cohortv1.ClaimRewardRequest) { r.JobId = otherJobID }), codes.InvalidArgument},
		{"an unknown job", edit(func(r *cohortv1.ClaimRewardRequest) { r.JobId = "job-unknown" }), codes.NotFound},
		{"a malformed job id", edit(func(r *cohortv1.ClaimRewardRequest) { r.JobId = "job/1" }), codes.InvalidArgument},
		{"a short claim nullifier", edit(func(r *cohortv1.ClaimRewardRequest) { r.ClaimNullifier = r.ClaimNullifier[:31] }), codes.InvalidArgument},
		{"a non-canonical claim nullifier", edit(func(r *cohortv1.ClaimRewardRequest) { r.ClaimNullifier = make([]byte, 32); r.ClaimNullifier[0] = 0xff }), codes.InvalidArgument},
		{"a short payout key", edit(func(r *cohortv1.ClaimRewardRequest) { r.PayoutKey = r.PayoutKey[:5] }), codes.InvalidArgument},
		{"proof bytes cut", edit(func(r *cohortv1.ClaimRewardRequest) { r.Proof = r.Proof[:10] }), codes.InvalidArgument},
		{"no proof", edit(func(r *cohortv1.ClaimRewardRequest) { r.Proof = nil }), codes.InvalidArgument},
	} {
		for i := range f.nodes {
			_, err := f.contributor(i).ClaimReward(ctx, tc.req)
			wantCode(t, tc.name, err, tc.code)
		}
		if len(tc.req.GetPayoutKey()) == ed25519.PublicKeySize {
			f.wantPayout(t, "after "+tc.name, tc.req.GetPayoutKey(), 0, 0)
		}
	}
	f.wantPayout(t, "after refusals", k3, 0, 0)
	f.wantClaims(t, "after refusals", jobID, 3)
	f.wantClaims(t, "after refusals, the other job", otherJobID, 0)

	// Only the sequencer orders claims and sends them to the other nodes.
	_, err = call(ctx, f.nodes[1].n, 2, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.StoreClaimResponse, error) {
		return c.StoreClaim(ctx, &cohortv1.StoreClaimRequest{Claim: valid, ClaimedAt: time.Now().Unix()})
	})
	wantCode(t, "a claim stored by a node that is not the sequencer", err, codes.PermissionDenied)
	_, err = call(ctx, f.nodes[0].n, 1, func(ctx context.Context, c cohortv1.PeerServiceClient) (*cohortv1.OrderClaimResponse, error) {
		return c.OrderClaim(ctx, &cohortv1.OrderClaimRequest{Claim: valid})
	})
	wantCode(t, "a claim ordered at a node that is not the sequencer", err, codes.FailedPrecondition)
	f.wantPayout(t, "after claims sent to the wrong node", k3, 0, 0)

	// The valid request is still good, once.
	if _, err := f.contributor(2).ClaimReward(ctx, valid); err != nil {
		t.Fatal(err)
	}
	f.wantPayout(t, "after the valid claim", k3, price, 1)
	_, err = f.contributor(0).ClaimReward(ctx, valid)
	wantCode(t, "the valid claim again", err, codes.AlreadyExists)
	f.wantPayout(t, "after the valid claim again", k3, price, 1)

	// The same contributor's claim on the other job is its own.
	if got, err := cl.ClaimReward(ctx, identity(counted[0]), otherJobID, k1, nil); err != nil || got.Response.GetPayout().GetCredited() != 2*price {
		t.Fatalf("claim of the other job: %v, %v", got, err)
	}
	f.wantPayout(t, "after a claim of the other job", k1, 2*price, 2)
}

// TestClaimRewardFree: a job on a free dataset pays no reward, and a claim
// of it is refused with FailedPrecondition, nothing credited.
func TestClaimRewardFree(t *testing.T) {
	if testing.Short() {
		t.Skip("proves records and claims and runs a federation")
	}
	f := newTestFederation(t, 3)
	desc := f.installDataset(t)
	ctx := context.Background()
	cur := testSchema().Epoch.Index(time.Now())
	regions := []string{"north", "south", "east", "west"}
	var counted []*testContributor
	for i := range 4 {
		r := fitness(int64(20+5*i), int64(3000+700*i), int64(55+2*i), int64(500+30*i), i%3 == 0, regions[i])
		c := f.register(t, i%3)
		if _, err := f.contributor(i%3).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: desc.GetId(), Payload: f.payload(t, c, i%3, payloadOptions{record: r})}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		counted = append(counted, c)
	}
	alice := f.buyer(t, 0, "alice")
	spec := &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "free"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
	if job.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		t.Fatalf("job %s: %s", job.GetState(), job.GetReason())
	}
	cj := f.claimJob(t, job.GetJobId())
	if cj.t.RewardPerRecord != 0 {
		t.Fatalf("a free job's reward is %d", cj.t.RewardPerRecord)
	}
	key := payoutKey(t)
	cl, err := client.Dial(f.nodes[0].api, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.ClaimReward(ctx, &client.Identity{Secret: counted[0].secret}, job.GetJobId(), key, nil); !errors.Is(err, client.ErrNoReward) {
		t.Fatalf("client claim of a free job: %v", err)
	}
	req := f.proveClaim(t, cj, counted[1].secret, cur, key)
	for i := range f.nodes {
		_, err := f.contributor(i).ClaimReward(ctx, req)
		wantCode(t, "a claim of a free job", err, codes.FailedPrecondition)
		wantMessage(t, "a claim of a free job", err, "pays no reward")
	}
	f.wantPayout(t, "after a claim of a free job", key, 0, 0)
	f.wantClaims(t, "after a claim of a free job", job.GetJobId(), 0)
}

// TestClaimKeys: the sequencer makes the federation's claim keys on first
// use, only when development setups are allowed; every other node
// fetches the same keys from it; without the flag there are none.
func TestClaimKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("a Groth16 setup of the claim circuit")
	}
	getKey := func(f *testFederation, i int) (*cohortv1.GetClaimKeyResponse, error) {
		st, err := f.contributor(i).GetClaimKey(context.Background(), &cohortv1.GetClaimKeyRequest{})
		if err != nil {
			return nil, err
		}
		return st.Recv()
	}
	t.Run("without the development flag", func(t *testing.T) {
		f := newTestFederation(t, 3, func(o *Options) { o.AllowInsecureDevSetup = false })
		for i := range f.nodes {
			_, err := getKey(f, i)
			wantCode(t, "claim key without keys", err, codes.FailedPrecondition)
			wantMessage(t, "claim key without keys", err, "no claim keys", "cohort admin claims setup")
		}
	})
	t.Run("development setup", func(t *testing.T) {
		f := newTestFederation(t, 3)
		first, err := getKey(f, 2)
		if err != nil {
			t.Fatal(err)
		}
		if first.GetSetupKind() != cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV || first.GetHeader() == nil {
			t.Fatalf("first message: %v", first)
		}
		var vk []byte
		for i, tn := range f.nodes {
			if i == 1 {
				if _, err := getKey(f, 1); err != nil {
					t.Fatal(err)
				}
			}
			k, err := tn.store.GetClaimKeys(context.Background(), true)
			if err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
			if vk == nil {
				vk = k.VerifyingKey
			} else if !bytes.Equal(k.VerifyingKey, vk) {
				t.Fatalf("node %d holds other claim keys", i)
			}
		}
	})
}
