package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// rewardsOutput is the JSON of cohort contributor rewards.
type rewardsOutput struct {
	Rewards []struct {
		JobID      string   `json:"job_id"`
		DatasetID  string   `json:"dataset_id"`
		ReleasedAt string   `json:"released_at"`
		CohortSize uint64   `json:"cohort_size"`
		Reward     uint64   `json:"reward"`
		Epochs     []uint64 `json:"epochs"`
		Status     string   `json:"status"`
		Amount     uint64   `json:"amount"`
		ClaimedAt  string   `json:"claimed_at"`
		PayoutKey  string   `json:"payout_key"`
		KeyFile    string   `json:"key_file"`
		ClaimedNow bool     `json:"claimed_now"`
	} `json:"rewards"`
	Claimable uint64 `json:"claimable"`
	ClaimBook string `json:"claim_book"`
	Balance   struct {
		Payouts []struct {
			KeyFile     string `json:"key_file"`
			PayoutKey   string `json:"payout_key"`
			Credited    uint64 `json:"credited"`
			Claims      uint64 `json:"claims"`
			Transferred uint64 `json:"transferred"`
			Balance     uint64 `json:"balance"`
		} `json:"payouts"`
		Total uint64 `json:"total"`
	} `json:"balance"`
}

// TestContributorRewards runs a priced job on three real nodes and has a
// contributor whose record it counted list, claim and see the reward from
// the command line: claimed once, remembered, and after the claim book is
// lost, refused by the node as claimed already with nothing credited twice.
func TestContributorRewards(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a dev setup on three nodes and proves claims")
	}
	const price = 250
	dir := startCLIFederation(t)
	a := []string{"--dir", dir}
	var invites struct {
		Tokens    []string `json:"tokens"`
		ExpiresAt string   `json:"expires_at"`
	}
	jsonOut(t, mustCLI(t, append([]string{"admin", "invites", "--count", "2", "--json"}, a...)...), &invites)
	schemaFile := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(schemaFile, []byte("id: rewards-test\nfields:\n  - {name: age, type: int, min: 18, max: 100}\npurposes: [research]\nepoch: weekly\nmin_cohort: 2\nmax_cohort: 50\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var d cohortv1.DatasetDescriptor
	protoOut(t, mustCLI(t, append([]string{"dataset", "create", "--schema", schemaFile, "--insecure-dev-setup", "--exact-release-insecure-dev", "--price", "250", "--json"}, a...)...), &d)
	tokFile := filepath.Join(t.TempDir(), "acme.token")
	var key struct {
		BuyerID   string `json:"buyer_id"`
		KeyFile   string `json:"key_file"`
		PublicKey string `json:"public_key"`
	}
	jsonOut(t, mustCLI(t, "buyer", "--token-file", tokFile, "keygen", "acme", "--json"), &key)
	mustCLI(t, append([]string{"admin", "buyers", "create", "acme", "--public-key", key.PublicKey, "--token-file", tokFile}, a...)...)
	mustCLI(t, append([]string{"admin", "buyers", "credit", "acme", "100000"}, a...)...)
	fedFile := filepath.Join(dir, "federation.yaml")
	desc, err := federation.LoadDescriptor(fedFile)
	if err != nil {
		t.Fatal(err)
	}
	node, ca := desc.Nodes[0].APIAddress, filepath.Join(dir, "ca.pem")

	// Two contributors, from the Go client, their identities in files.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	c, err := client.Dial(node, client.WithCA([]byte(desc.CA)), client.WithFederation(desc))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ds, err := c.Dataset(ctx, d.GetId())
	if err != nil {
		t.Fatal(err)
	}
	epoch := ds.Schema.Epoch.Index(time.Now())
	idFiles := make([]string, 2)
	for i := range idFiles {
		id, err := client.NewIdentity(nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Register(ctx, id, invites.Tokens[i])
		if err != nil {
			t.Fatal(err)
		}
		id.Member = &m
		rec, err := ds.Schema.ParseRecordJSON([]byte(`{"age": 40}`))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Contribute(ctx, id, client.ContributeOptions{
			Dataset: ds, Epoch: epoch, Record: rec, Purposes: []string{"research"},
			Expiry: time.Now().Add(24 * time.Hour), MinCohort: 2,
		}); err != nil {
			t.Fatal(err)
		}
		idFiles[i] = filepath.Join(t.TempDir(), "me", "identity.json")
		if err := os.MkdirAll(filepath.Dir(idFiles[i]), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := id.Save(idFiles[i]); err != nil {
			t.Fatal(err)
		}
	}
	cb := func(i int, args ...string) []string {
		return append([]string{"contributor", "--identity", idFiles[i], "--node", node, "--ca", ca}, args...)
	}

	// Before any job: nothing to claim, a balance of 0.
	var out rewardsOutput
	jsonOut(t, mustCLI(t, cb(0, "rewards", "--dataset", d.GetId(), "--json")...), &out)
	if len(out.Rewards) != 0 || out.Claimable != 0 || out.Balance.Total != 0 || out.ClaimBook != strings.TrimSuffix(idFiles[0], ".json")+".claims.json" {
		t.Fatalf("rewards before any job: %+v", out)
	}

	spec := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(spec, []byte("dataset: "+d.GetId()+"\nepoch: current\npurpose: research\noutputs: [count]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := []string{"buyer", "--node", node, "--ca", ca, "--token-file", tokFile}
	job := strings.TrimSpace(mustCLI(t, append(b, "submit", spec, "-q")...))
	mustCLI(t, append(b, "watch", job, "--json")...)

	out = rewardsOutput{}
	jsonOut(t, mustCLI(t, cb(0, "rewards", "--dataset", d.GetId(), "--json")...), &out)
	if len(out.Rewards) != 1 || out.Claimable != price || out.Balance.Total != 0 {
		t.Fatalf("rewards after the job: %+v", out)
	}
	if r := out.Rewards[0]; r.JobID != job || r.DatasetID != d.GetId() || r.Reward != price || r.CohortSize != 2 ||
		len(r.Epochs) != 1 || r.Epochs[0] != epoch || r.Status != "claimable" || r.ClaimedNow {
		t.Fatalf("reward: %+v", r)
	}
	if _, err := time.Parse(time.RFC3339, out.Rewards[0].ReleasedAt); err != nil {
		t.Fatalf("released_at: %v", err)
	}

	// --claim proves and claims it, with progress on stderr, and shows
	// the balance.
	stdout, stderr, err := runCLISplit(t, cb(0, "rewards", "--dataset", d.GetId(), "--claim", "--json")...)
	if err != nil {
		t.Fatalf("rewards --claim: %v\n%s", err, stderr)
	}
	for _, want := range []string{"claiming job " + job, "proving the claim", "INSECURE DEVELOPMENT SETUP"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("rewards --claim stderr lacks %q:\n%s", want, stderr)
		}
	}
	out = rewardsOutput{}
	jsonOut(t, stdout, &out)
	if r := out.Rewards[0]; len(out.Rewards) != 1 || r.Status != "claimed" || !r.ClaimedNow || r.Amount != price || len(r.PayoutKey) != 64 ||
		r.ClaimedAt == "" || out.Claimable != 0 || out.Balance.Total != price || len(out.Balance.Payouts) != 1 ||
		out.Balance.Payouts[0].KeyFile != r.KeyFile || out.Balance.Payouts[0].Claims != 1 {
		t.Fatalf("rewards --claim: %+v", out)
	}

	// Remembered: listed as claimed, and --claim claims nothing again.
	out = rewardsOutput{}
	jsonOut(t, mustCLI(t, cb(0, "rewards", "--dataset", d.GetId(), "--claim", "--json")...), &out)
	if r := out.Rewards[0]; r.Status != "claimed" || r.ClaimedNow || r.Amount != price || out.Balance.Total != price || len(out.Balance.Payouts) != 1 {
		t.Fatalf("rewards after the claim: %+v", out)
	}
	text := mustCLI(t, cb(0, "rewards", "--dataset", d.GetId())...)
	for _, want := range []string{job, "claimed 250 on", "every reward is claimed", "payout balance: 250 micro-credits in 1 payout keys"} {
		if !strings.Contains(text, want) {
			t.Errorf("rewards text lacks %q:\n%s", want, text)
		}
	}

	// The claim book lost: the reward looks claimable, the node refuses
	// the claim as made already, and that is remembered; nothing more is
	// credited (the fresh payout key holds 0).
	if err := os.Remove(out.ClaimBook); err != nil {
		t.Fatal(err)
	}
	out = rewardsOutput{}
	jsonOut(t, mustCLI(t, cb(0, "rewards", "--dataset", d.GetId(), "--json")...), &out)
	if out.Rewards[0].Status != "claimable" {
		t.Fatalf("rewards without the claim book: %+v", out)
	}
	out = rewardsOutput{}
	jsonOut(t, mustCLI(t, cb(0, "rewards", "--dataset", d.GetId(), "--claim", "--json")...), &out)
	if r := out.Rewards[0]; r.Status != "claimed_elsewhere" || r.ClaimedNow || out.Claimable != 0 || out.Balance.Total != price || len(out.Balance.Payouts) != 2 {
		t.Fatalf("rewards --claim without the claim book: %+v", out)
	}

	// The claimed payout account moves part of its balance to the buyer,
	// once: the same transfer id again is refused. Every node signs a
	// statement of the account, checked against federation.yaml.
	var keyFile string
	for _, p := range out.Balance.Payouts {
		if p.Credited == price {
			keyFile = p.KeyFile
		}
	}
	var tr struct {
		TransferID    string `json:"transfer_id"`
		PayoutKey     string `json:"payout_key"`
		BuyerID       string `json:"buyer_id"`
		Amount        uint64 `json:"amount"`
		Credited      uint64 `json:"credited"`
		Transferred   uint64 `json:"transferred"`
		Balance       uint64 `json:"balance"`
		TransferredAt string `json:"transferred_at"`
	}
	jsonOut(t, mustCLI(t, cb(0, "transfer", "--payout-key", keyFile, "--buyer", "acme", "--amount", "100", "--transfer-id", "tr-1", "--json")...), &tr)
	if tr.TransferID != "tr-1" || tr.BuyerID != "acme" || len(tr.PayoutKey) != 64 || tr.TransferredAt == "" || tr.Amount != 100 || tr.Credited != price || tr.Transferred != 100 || tr.Balance != price-100 {
		t.Fatalf("transfer: %+v", tr)
	}
	if _, stderr, err := runCLISplit(t, cb(0, "transfer", "--payout-key", keyFile, "--buyer", "acme", "--amount", "100", "--transfer-id", "tr-1")...); err == nil {
		t.Fatalf("a replayed transfer was accepted: %s", stderr)
	}
	if _, _, err := runCLISplit(t, cb(0, "transfer", "--payout-key", keyFile, "--buyer", "acme", "--amount", "151")...); err == nil {
		t.Fatal("a transfer above the balance was accepted")
	}
	var sts struct {
		PayoutKey  string `json:"payout_key"`
		Statements []struct {
			NodeIndex   uint32 `json:"node_index"`
			Node        string `json:"node"`
			Credited    uint64 `json:"credited"`
			Transferred uint64 `json:"transferred"`
			Balance     uint64 `json:"balance"`
			Claims      uint64 `json:"claims"`
			At          string `json:"at"`
			AtUnix      int64  `json:"at_unix"`
			Signature   string `json:"signature"`
		} `json:"statements"`
	}
	jsonOut(t, mustCLI(t, cb(0, "--federation", fedFile, "payout-statement", "--payout-key", keyFile, "--json")...), &sts)
	if len(sts.Statements) != len(desc.Nodes) {
		t.Fatalf("payout statements: %+v", sts)
	}
	for i, st := range sts.Statements {
		if st.NodeIndex != uint32(i) || st.Credited != price || st.Transferred != 100 || st.Balance != price-100 || st.Claims != 1 || len(st.Signature) != 128 {
			t.Fatalf("node %d's payout statement: %+v", i, st)
		}
	}
	out = rewardsOutput{}
	jsonOut(t, mustCLI(t, cb(0, "payouts", "--json")...), &out.Balance)
	if out.Balance.Total != price-100 {
		t.Fatalf("payouts after the transfer: %+v", out.Balance)
	}

	// The other contributor, over every dataset: one reward to claim.
	out = rewardsOutput{}
	jsonOut(t, mustCLI(t, cb(1, "rewards", "--json")...), &out)
	if len(out.Rewards) != 1 || out.Rewards[0].JobID != job || out.Rewards[0].Status != "claimable" || out.Balance.Total != 0 {
		t.Fatalf("second contributor's rewards: %+v", out)
	}
}

// runCLISplit runs the real command tree and returns stdout and stderr.
func runCLISplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}
