package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/circuits/setup"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
	"github.com/cohort-dev/cohort/seal"
)

// ledgerDataset is a READY MPC dataset under the discrete Gaussian, with
// keys from a development setup, and its nodes' signing keys.
type ledgerDataset struct {
	desc *cohortv1.DatasetDescriptor
	sign []ed25519.PrivateKey
}

func newLedgerDataset(t *testing.T, id string) *ledgerDataset {
	t.Helper()
	s := schema.Default()
	s.ID = id
	nodes := make([]dataset.Node, 3)
	out := &ledgerDataset{}
	for i := range nodes {
		sk, err := seal.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		out.sign = append(out.sign, priv)
		nodes[i] = dataset.Node{Name: fmt.Sprintf("node-%d", i), Address: fmt.Sprintf("node-%d.test:7000", i), Seal: sk.Public(), Signing: pub}
	}
	ds, err := dataset.New(s, nodes, 4, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	sys, err := ds.Compile()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := setup.InsecureDevSetup(sys.CCS, setup.IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		t.Fatal(err)
	}
	out.desc = ds.Desc
	if out.desc.VerifyingKey, err = setup.MarshalVerifyingKey(keys.VK); err != nil {
		t.Fatal(err)
	}
	out.desc.SetupKind = cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV
	out.desc.State, out.desc.Privacy = cohortv1.DatasetState_DATASET_STATE_READY, enclave.DefaultPolicy()
	return out
}

// job writes the bundle of a job spending ρ = 1/8 from epochs 10 and 11,
// every node's ledger at before (of the epoch and of the buyer's) until
// then, and returns its path. Its records and partials are placeholders:
// the ledger reads the debits and the signatures only.
func (d *ledgerDataset) job(t *testing.T, dir, id, before string) string {
	t.Helper()
	spec := &cohortv1.JobSpec{DatasetId: d.desc.GetId(), EpochFrom: 10, EpochTo: 11, Purpose: "public-health",
		Outputs: []*cohortv1.Output{{Kind: cohortv1.OutputKind_OUTPUT_KIND_MEAN, Fields: []string{"age"}}},
		Privacy: &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: "1/8"}}}
	det := proto.MarshalOptions{Deterministic: true}
	specBytes, err := det.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	result, err := det.Marshal(&cohortv1.Result{JobId: id, DatasetId: d.desc.GetId()})
	if err != nil {
		t.Fatal(err)
	}
	dd, err := audit.DescriptorDigest(d.desc)
	if err != nil {
		t.Fatal(err)
	}
	tr := &audit.Transcript{JobID: id, DatasetID: d.desc.GetId(), Buyer: "lab-1", Coordinator: 0, Spec: specBytes,
		JobTime: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC).Unix(), DescriptorDigest: dd, EffectiveMinimum: 3, Result: result,
		Submission: audit.Submission{Buyer: "lab-1", RequestID: "req-" + id, SubmittedAt: time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC).Unix(), Signature: make([]byte, 64)},
		Sums:       []audit.Sum{{Coordinate: 0, Value: big.NewInt(5)}, {Coordinate: 1, Value: big.NewInt(-40)}}}
	b, a := mustRho(t, before), mustRho(t, "1/8")
	after := b.Add(a).String()
	for i, key := range d.sign {
		debit := &cohortv1.PrivacyDebit{NodeIndex: uint32(i), BuyerId: "lab-1", Rho: "1/8"}
		for e := uint64(10); e <= 11; e++ {
			debit.Entries = append(debit.Entries, &cohortv1.LedgerEntry{Epoch: e, EpochTotal: "1", EpochSpentBefore: b.String(), EpochSpentAfter: after,
				BuyerTotal: "1/2", BuyerSpentBefore: b.String(), BuyerSpentAfter: after})
		}
		debit.Signature = &cohortv1.NodeSignature{NodeIndex: uint32(i), Scheme: cohortv1.SignatureScheme_SIGNATURE_SCHEME_ED25519,
			Signature: attest.Sign(key, enclave.DebitStatement(id, d.desc.GetId(), debit))}
		tr.Nodes = append(tr.Nodes, audit.NodeEvidence{Index: uint32(i), SetSignature: make([]byte, 64),
			Partial: []byte{byte(i + 1)}, PartialSignature: make([]byte, 64), Debit: debit})
	}
	digest, err := tr.Digest()
	if err != nil {
		t.Fatal(err)
	}
	var sigs [][]byte
	for i, key := range d.sign {
		sigs = append(sigs, attest.Sign(key, audit.TranscriptStatement{JobID: id, Digest: digest, Node: uint32(i)}))
	}
	bundle, err := audit.NewBundle(tr, sigs, d.desc, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := bundle.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, id+".bundle")
	if err := os.WriteFile(path, enc, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustRho(t *testing.T, s string) dp.Rho {
	t.Helper()
	r, err := dp.ParseRho(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// runCohort runs the command line args and returns its output.
func runCohort(args ...string) (string, error) {
	var out bytes.Buffer
	cmd := newRootCmd()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func TestAuditLedgerCommand(t *testing.T) {
	d, dir := newLedgerDataset(t, "fitness-2026"), t.TempDir()
	a, b := d.job(t, dir, "job-a", "0"), d.job(t, dir, "job-b", "1/4")

	out, err := runCohort("audit", "ledger", a, b)
	if err != nil {
		t.Fatalf("consistent ledgers: %v\n%s", err, out)
	}
	for _, want := range []string{"cohort audit ledger: dataset fitness-2026, 2 transcripts, budget ρ = 1 per epoch, 1/2 per buyer",
		"  node 2: ρ = 1/4 debited by 2 released jobs, ledger at 3/8; charged by jobs without a transcript here: [1/8, 1/4)",
		"LEDGERS CONSISTENT"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCohort("audit", "ledger", "--json", a, b)
	var rep struct {
		OK     bool `json:"ok"`
		Epochs []struct {
			Epoch uint64 `json:"epoch"`
		} `json:"epochs"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || !rep.OK || len(rep.Epochs) != 2 || rep.Epochs[0].Epoch != 10 {
		t.Fatalf("--json: %v\n%s", err, out)
	}

	// A rewritten ledger: job c was charged the ρ job a had.
	c := d.job(t, dir, "job-c", "1/16")
	out, err = runCohort("audit", "ledger", a, b, c)
	if err == nil || !strings.Contains(err.Error(), "violations") ||
		!strings.Contains(out, "✗ node 0, epoch 10, the epoch's budget: job job-c's debit [1/16, 3/16) overlaps job job-a's [0, 1/8)") ||
		!strings.Contains(out, "LEDGERS VIOLATED") {
		t.Fatalf("overlapping debits: %v\n%s", err, out)
	}
	out, err = runCohort("audit", "ledger", "--json", a, c)
	if err == nil || !strings.Contains(out, `"ok":false`) || !strings.Contains(out, `"violations":[`) {
		t.Fatalf("overlapping debits, --json: %v\n%s", err, out)
	}

	// A transcript of another dataset.
	o := newLedgerDataset(t, "other-data").job(t, t.TempDir(), "job-o", "0")
	out, err = runCohort("audit", "ledger", a, o)
	if err == nil || !strings.Contains(out, `✗ job job-o: a transcript of dataset "other-data", not "fitness-2026": a ledger is one dataset's`) {
		t.Fatalf("a transcript of another dataset: %v\n%s", err, out)
	}

	// A file that is not a bundle.
	junk := filepath.Join(dir, "junk.bundle")
	if err := os.WriteFile(junk, []byte("CHJB\x01junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCohort("audit", "ledger", a, junk); err == nil || !strings.Contains(err.Error(), junk) || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("a file that is not a bundle: %v", err)
	}
	if _, err := runCohort("audit", "ledger"); err == nil {
		t.Fatal("no files accepted")
	}
}

// TestAuditVerifyPinFlags checks what `audit verify` refuses before it reads
// a bundle: a malformed --descriptor-digest, a --federation file that does
// not load.
func TestAuditVerifyPinFlags(t *testing.T) {
	dir := t.TempDir()
	bundle := filepath.Join(dir, "job.bundle")
	if err := os.WriteFile(bundle, []byte("not a bundle"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "federation.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nunknown: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"short digest":       {[]string{"--descriptor-digest", "abcd", bundle}, "64 hex digits"},
		"not hex":            {[]string{"--descriptor-digest", strings.Repeat("zz", 32), bundle}, "64 hex digits"},
		"no federation file": {[]string{"--federation", filepath.Join(dir, "none.yaml"), bundle}, "--federation"},
		"bad federation":     {[]string{"--federation", bad, bundle}, "--federation"},
		"unpinned":           {[]string{bundle}, "do not verify"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := newRootCmd()
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(append([]string{"audit", "verify"}, tc.args...))
			err := cmd.Execute()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q\n%s", err, tc.want, out.String())
			}
			if name == "unpinned" && !strings.Contains(out.String(), "neither --federation nor --descriptor-digest") {
				t.Errorf("no warning that nothing is pinned:\n%s", out.String())
			}
		})
	}
}
