package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/blob"
	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/dataset"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// releasePricedJob registers four contributors, has each contribute a
// record to a dataset priced at price per record, and releases a job
// counting all four for a credited buyer. It returns the job id and the
// contributors.
func (f *testFederation) releasePricedJob(t *testing.T, price uint64) (string, []*testContributor) {
	t.Helper()
	desc := f.installPricedDataset(t, price, 0)
	cur := testSchema().Epoch.Index(time.Now())
	counted := f.contributeFour(t, desc.GetId())
	alice := f.buyer(t, 0, "alice")
	f.credit(t, 0, "alice-1", "alice", price*testSchema().MaxCohort)
	spec := &cohortv1.JobSpec{DatasetId: desc.GetId(), EpochFrom: cur, EpochTo: cur, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}}}
	sub, err := f.buyerClient(0).SubmitJob(alice, &cohortv1.SubmitJobRequest{Spec: spec, RequestId: "claims-ceremony"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ := f.awaitJob(t, alice, 0, sub.GetJob().GetJobId())
	if job.GetState() != cohortv1.JobState_JOB_STATE_DONE || job.GetCohortSize() != 4 {
		t.Fatalf("job %s over %d records: %s", job.GetState(), job.GetCohortSize(), job.GetReason())
	}
	return job.GetJobId(), counted
}

// claimCeremonyOn fetches the claim ceremony's record and transcript from
// node i's AuditService.
func (f *testFederation) claimCeremonyOn(t *testing.T, i int) (*cohortv1.ClaimCeremony, []byte, error) {
	t.Helper()
	st, err := cohortv1.NewAuditServiceClient(f.conns[i]).GetClaimCeremony(context.Background(), &cohortv1.GetClaimCeremonyRequest{})
	if err != nil {
		return nil, nil, err
	}
	first, err := st.Recv()
	if err != nil {
		return nil, nil, err
	}
	b, err := blob.Receive(first.GetHeader(), 1<<30, func() (*cohortv1.Chunk, error) {
		m, err := st.Recv()
		return m.GetChunk(), err
	})
	return first.GetCeremony(), b, err
}

// TestClaimCeremony runs the claim keys' ceremony on three nodes that do
// not allow development setups: before it every claim is refused with
// nothing stored or credited; it is coordinated by a node that is not the
// sequencer; every node contributes, each contribution attested by its
// maker; every node stores the same keys with the record all signed; the
// transcript re-verifies offline; a second ceremony is refused; and a
// contributor claims with the resulting keys, checked by the client
// against the ceremony's record.
func TestClaimCeremony(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node ceremony of the claim circuit, proofs and a priced job")
	}
	f := newTestFederation(t, 3, func(o *Options) { o.AllowInsecureDevSetup = false })
	ctx := context.Background()
	const price = 4
	jobID, counted := f.releasePricedJob(t, price)
	job := f.claimJob(t, jobID)
	cur := testSchema().Epoch.Index(time.Now())

	// Before the ceremony: no keys to fetch, no ceremony to audit, and a
	// claim — proven under keys of the test's own making — is refused on
	// every node before its proof is checked, nothing stored or credited.
	sys, err := circuits.CompileClaim()
	if err != nil {
		t.Fatal(err)
	}
	own, err := setup.InsecureDevSetup(sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		t.Fatal(err)
	}
	key := payoutKey(t)
	w, pub, err := circuits.ClaimWitness(job.tree, counted[0].secret, job.t.DatasetID, jobID, cur, circuits.PayoutField(key))
	if err != nil {
		t.Fatal(err)
	}
	proof, err := sys.Prove(own.PK, w)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := proof.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	nf := feBytes(pub.ClaimNullifier)
	early := &cohortv1.ClaimRewardRequest{JobId: jobID, ClaimNullifier: nf[:], PayoutKey: key, Proof: pb}
	for i, tn := range f.nodes {
		_, err := f.contributor(i).ClaimReward(ctx, early)
		wantCode(t, "a claim before the claim keys", err, codes.FailedPrecondition)
		wantMessage(t, "a claim before the claim keys", err, "no claim keys", "cohort admin claims setup")
		st, err := f.contributor(i).GetClaimKey(ctx, &cohortv1.GetClaimKeyRequest{})
		if err == nil {
			_, err = st.Recv()
		}
		wantCode(t, "the claim key before the ceremony", err, codes.FailedPrecondition)
		_, _, err = f.claimCeremonyOn(t, i)
		wantCode(t, "the claim ceremony before it ran", err, codes.FailedPrecondition)
		if _, err := tn.store.GetClaimKeys(ctx, false); err == nil {
			t.Fatalf("node %d holds claim keys before the ceremony", i)
		}
		if _, err := tn.store.GetClaim(ctx, nf); err == nil {
			t.Fatalf("node %d recorded a claim before the claim keys", i)
		}
	}
	f.wantPayout(t, "a claim before the claim keys", key, 0, 0)
	f.wantClaims(t, "a claim before the claim keys", jobID, 0)
	_, err = f.admin(1).SetupClaimKeys(adminCtx(), &cohortv1.SetupClaimKeysRequest{})
	wantCode(t, "a ceremony without a beacon source", err, codes.InvalidArgument)

	// The ceremony, coordinated by node 1 (the sequencer is node 0).
	resp, err := f.admin(1).SetupClaimKeys(adminCtx(), &cohortv1.SetupClaimKeysRequest{BeaconSource: "drand quicknet round 1000"})
	if err != nil {
		t.Fatal(err)
	}
	rec := resp.GetCeremony()
	if len(rec.GetContributions()) != 6 || len(rec.GetSignatures()) != 3 || rec.GetCeremony().GetState() != cohortv1.CeremonyState_CEREMONY_STATE_SEALED {
		t.Fatalf("record: %d contributions, %d signatures, %s", len(rec.GetContributions()), len(rec.GetSignatures()), rec.GetCeremony().GetState())
	}
	for i, tn := range f.nodes {
		k, err := tn.store.GetClaimKeys(ctx, true)
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		stored := new(cohortv1.ClaimCeremony)
		if err := proto.Unmarshal(k.Ceremony, stored); err != nil {
			t.Fatal(err)
		}
		if setup.SetupKind(k.SetupKind) != setup.Ceremony || !bytes.Equal(k.VerifyingKey, rec.GetVerifyingKey()) || !proto.Equal(stored, rec) {
			t.Fatalf("node %d stored other claim keys (kind %d)", i, k.SetupKind)
		}
		if d := sha256.Sum256(k.ProvingKey); !bytes.Equal(d[:], rec.GetProvingKeyDigest()) {
			t.Fatalf("node %d stored a proving key that is not the record's", i)
		}
	}
	// The transcript, served by any node, re-verifies offline.
	got, tb, err := f.claimCeremonyOn(t, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, rec) {
		t.Fatal("node 2 serves another record")
	}
	chk, err := audit.VerifyClaimCeremony(got, tb)
	if err != nil {
		t.Fatal(err)
	}
	if chk.Nodes != 3 || !bytes.Equal(chk.VerifyingKey, rec.GetVerifyingKey()) {
		t.Fatalf("check: %+v", chk)
	}
	// Once only.
	_, err = f.admin(0).SetupClaimKeys(adminCtx(), &cohortv1.SetupClaimKeysRequest{BeaconSource: "again"})
	wantCode(t, "a second ceremony", err, codes.AlreadyExists)

	// A claim with the ceremony's keys, through the client, which checks
	// the key against the record; then one proven here, at node 2.
	cl, err := client.Dial(f.nodes[0].api, client.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	k1 := payoutKey(t)
	c, err := cl.ClaimReward(ctx, &client.Identity{Secret: counted[0].secret}, jobID, k1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SetupKind != cohortv1.SetupKind_SETUP_KIND_CEREMONY || c.Response.GetAmount() != price {
		t.Fatalf("claim: %s, %v", c.SetupKind, c.Response)
	}
	f.wantPayout(t, "after a claim", k1, price, 1)
	k2 := payoutKey(t)
	if _, err := f.contributor(2).ClaimReward(ctx, f.proveClaim(t, job, counted[1].secret, cur, k2)); err != nil {
		t.Fatal(err)
	}
	f.wantPayout(t, "after a claim at node 2", k2, price, 1)
	f.wantClaims(t, "after two claims", jobID, 2)
	// The claim proven under keys of the test's making is refused now.
	_, err = f.contributor(1).ClaimReward(ctx, early)
	wantCode(t, "a claim under other keys", err, codes.InvalidArgument)
	f.wantPayout(t, "a claim under other keys", key, 0, 0)

	// The audit of the dataset's rewards, from what a node publishes,
	// passes; a claim doubled, a credit changed or a proof swapped fails.
	for i := range f.nodes {
		ci, err := client.Dial(f.nodes[i].api, client.WithInsecure())
		if err != nil {
			t.Fatal(err)
		}
		in, err := ci.RewardsInput(ctx, job.t.DatasetID)
		ci.Close()
		if err != nil {
			t.Fatal(err)
		}
		rep := audit.Rewards(in)
		if !rep.OK() || rep.Claims != 2 || rep.Credited != 2*price || len(rep.Jobs) != 1 || rep.Jobs[0].Claims != 2 || rep.Jobs[0].Counted != 4 {
			var b bytes.Buffer
			_ = rep.WriteText(&b)
			t.Fatalf("node %d: the rewards audit of a real run:\n%s", i, b.String())
		}
		if i != 0 {
			continue
		}
		for name, edit := range map[string]func(*audit.RewardsInput){
			"a claim doubled": func(in *audit.RewardsInput) {
				in.Claims = append(in.Claims, proto.Clone(in.Claims[0]).(*cohortv1.RewardClaim))
			},
			"a credit changed": func(in *audit.RewardsInput) { in.Claims[1].Amount++ },
			"a proof swapped": func(in *audit.RewardsInput) {
				in.Claims[0].Claim.Proof, in.Claims[1].Claim.Proof = in.Claims[1].Claim.Proof, in.Claims[0].Claim.Proof
			},
			"a claim for a job without transcript": func(in *audit.RewardsInput) { in.Bundles = nil },
		} {
			c := in
			c.Claims = nil
			for _, rc := range in.Claims {
				c.Claims = append(c.Claims, proto.Clone(rc).(*cohortv1.RewardClaim))
			}
			edit(&c)
			if rep := audit.Rewards(c); rep.OK() {
				t.Errorf("the rewards audit passed with %s", name)
			} else {
				t.Logf("%s: %v", name, rep.Violations)
			}
		}
	}
}

// TestClaimCeremonyTampered: a coordinator that alters a contribution —
// another node's, or its own re-attested — is refused by every peer at
// the seal, and no node keeps keys; an attempt to store keys without every
// node's signature is refused too.
func TestClaimCeremonyTampered(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-node ceremony of the claim circuit")
	}
	f := newTestFederation(t, 3, func(o *Options) { o.AllowInsecureDevSetup = false })
	ctx := context.Background()
	co := f.nodes[0]
	cc, err := claimCircuit()
	if err != nil {
		t.Fatal(err)
	}
	info := &cohortv1.CeremonyInfo{CeremonyId: "claims-tampered", DomainSize: cc.domain, CircuitDigest: cc.digest[:],
		Participants: []uint32{0, 1, 2}, BeaconSource: "test", State: cohortv1.CeremonyState_CEREMONY_STATE_PHASE1}
	for i := 1; i < 3; i++ {
		if _, err := f.peerClient(t, 0, i).StartClaimCeremony(ctx, &cohortv1.StartClaimCeremonyRequest{Ceremony: info}); err != nil {
			t.Fatal(err)
		}
	}
	// A plan for another circuit, or without every node, is refused.
	other := proto.Clone(info).(*cohortv1.CeremonyInfo)
	other.CeremonyId, other.CircuitDigest = "claims-other", make([]byte, 32)
	_, err = f.peerClient(t, 0, 1).StartClaimCeremony(ctx, &cohortv1.StartClaimCeremonyRequest{Ceremony: other})
	wantCode(t, "a plan for another circuit", err, codes.FailedPrecondition)
	other = proto.Clone(info).(*cohortv1.CeremonyInfo)
	other.CeremonyId, other.Participants = "claims-two", []uint32{0, 1}
	_, err = f.peerClient(t, 0, 1).StartClaimCeremony(ctx, &cohortv1.StartClaimCeremonyRequest{Ceremony: other})
	wantCode(t, "a plan without every node", err, codes.InvalidArgument)

	_, tr, atts, err := co.n.relayCeremony(ctx, info, cc.sys.CCS)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(what string, tr *setup.Transcript, atts []*cohortv1.CeremonyAttestation) {
		t.Helper()
		tb, err := tr.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < 3; i++ {
			ss, err := f.peerClient(t, 0, i).SealCeremony(ctx)
			if err != nil {
				t.Fatal(err)
			}
			h := &cohortv1.SealCeremonyHeader{CeremonyId: info.GetCeremonyId(), Blob: blob.Header(tb), Contributions: atts}
			if err := ss.Send(&cohortv1.SealCeremonyRequest{Part: &cohortv1.SealCeremonyRequest_Header{Header: h}}); err != nil {
				t.Fatal(err)
			}
			if err := blob.Send(tb, func(c *cohortv1.Chunk) error {
				return ss.Send(&cohortv1.SealCeremonyRequest{Part: &cohortv1.SealCeremonyRequest_Chunk{Chunk: c}})
			}); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			_, err = ss.CloseAndRecv()
			wantCode(t, fmt.Sprintf("%s at node %d", what, i), err, codes.InvalidArgument)
		}
	}
	// Node 1's phase-2 contribution with a byte changed: its attestation
	// no longer matches.
	bad := *tr
	bad.Phase2 = append([][]byte(nil), tr.Phase2...)
	bad.Phase2[1] = bytes.Clone(tr.Phase2[1])
	bad.Phase2[1][len(bad.Phase2[1])/2] ^= 1
	seal("another node's contribution altered", &bad, atts)
	// The coordinator's own phase-1 contribution altered and attested
	// anew: the attestation holds, the replay does not. (The seal above
	// made the peers fail the ceremony; start it again under a new id.)
	info.CeremonyId = "claims-tampered-2"
	for i := 1; i < 3; i++ {
		if _, err := f.peerClient(t, 0, i).StartClaimCeremony(ctx, &cohortv1.StartClaimCeremonyRequest{Ceremony: info}); err != nil {
			t.Fatal(err)
		}
	}
	_, tr, atts, err = co.n.relayCeremony(ctx, info, cc.sys.CCS)
	if err != nil {
		t.Fatal(err)
	}
	bad = *tr
	bad.Phase1 = append([][]byte(nil), tr.Phase1...)
	bad.Phase1[0] = bytes.Clone(tr.Phase1[0])
	bad.Phase1[0][len(bad.Phase1[0])-40] ^= 1
	reatt := append([]*cohortv1.CeremonyAttestation(nil), atts...)
	reatt[0] = dataset.AttestContribution(info.GetCeremonyId(), 1, 0, 0, bad.Phase1[0], co.opts.Signing)
	seal("the coordinator's own contribution altered", &bad, reatt)

	// Keys are stored only with every node's signature over the record.
	n := f.nodes[1].n
	n.cer.mu.Lock()
	n.cer.m["claims-pending"] = &ceremony{info: &cohortv1.CeremonyInfo{CeremonyId: "claims-pending"}, coordinator: 0, claim: true,
		claimReady: &claimPending{rec: &cohortv1.ClaimCeremony{Ceremony: &cohortv1.CeremonyInfo{CeremonyId: "claims-pending"}, Nodes: n.memberInfos()},
			pk: []byte("pk"), vk: []byte("vk"), tb: []byte("tb")}}
	n.cer.mu.Unlock()
	stmt, err := audit.ClaimCeremonyStatement(&cohortv1.ClaimCeremony{Ceremony: &cohortv1.CeremonyInfo{CeremonyId: "claims-pending"}, Nodes: n.memberInfos()})
	if err != nil {
		t.Fatal(err)
	}
	sigs := []*cohortv1.NodeSignature{f.nodes[0].n.sign(stmt.Message()), f.nodes[1].n.sign(stmt.Message()), f.nodes[1].n.sign(attest.ClaimKeys{CeremonyID: "x"}.Message())}
	sigs[2].NodeIndex = 2
	_, err = f.peerClient(t, 0, 1).DatasetReady(ctx, &cohortv1.DatasetReadyRequest{CeremonyId: "claims-pending", Signatures: sigs})
	wantCode(t, "claim keys without node 2's signature", err, codes.InvalidArgument)
	_, err = f.peerClient(t, 2, 1).DatasetReady(ctx, &cohortv1.DatasetReadyRequest{CeremonyId: "claims-pending", Signatures: sigs})
	wantCode(t, "claim keys handed out by another node", err, codes.PermissionDenied)

	for i, tn := range f.nodes {
		if _, err := tn.store.GetClaimKeys(ctx, false); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("node %d holds claim keys after refused ceremonies: %v", i, err)
		}
	}
}

// contributeFour registers four contributors, one record each, through
// nodes 0, 1, 2 and 0, and returns them in that order.
func (f *testFederation) contributeFour(t *testing.T, datasetID string) []*testContributor {
	t.Helper()
	ctx := context.Background()
	regions := []string{"north", "south", "east", "west"}
	var counted []*testContributor
	for i := range 4 {
		r := fitness(int64(20+5*i), int64(3000+700*i), int64(55+2*i), int64(500+30*i), i%3 == 0, regions[i])
		c := f.register(t, i%3)
		p := f.payload(t, c, i%3, payloadOptions{record: r})
		if _, err := f.contributor(i%3).Contribute(ctx, &cohortv1.ContributeRequest{DatasetId: datasetID, Payload: p}); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		counted = append(counted, c)
	}
	return counted
}
