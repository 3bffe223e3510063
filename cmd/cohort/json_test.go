package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// startCLIFederation runs "federation init" (dev setup allowed) and three
// real nodes on loopback, stopped at the end of the test; it returns the
// federation directory.
func startCLIFederation(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fed")
	lis := make([]*nodeListeners, 3)
	addrs := make([]federation.NodeAddresses, 3)
	for i := range lis {
		api, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peer, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lis[i] = &nodeListeners{api: api, peer: peer}
		addrs[i] = federation.NodeAddresses{API: api.Addr().String(), Peer: peer.Addr().String(), HTTP: freeAddr(t)}
	}
	if _, err := federation.Init(dir, federation.InitOptions{Nodes: 3, Addresses: addrs, DisableMetrics: true, RegistryDepth: 8, AllowInsecureDevSetup: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 3)
	for i := range lis {
		go func() {
			done <- runNode(ctx, filepath.Join(dir, fmt.Sprintf("node-%d", i), "node.yaml"), &lockedWriter{w: &bytes.Buffer{}}, lis[i])
		}()
	}
	t.Cleanup(func() {
		cancel()
		for range lis {
			if err := <-done; err != nil {
				t.Errorf("node: %v", err)
			}
		}
	})
	return dir
}

// runCLI runs the real command tree and returns stdout and the error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("cohort %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// protoOut parses stdout as exactly one protobuf JSON document into m.
func protoOut(t *testing.T, out string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(out), m); err != nil {
		t.Fatalf("not one %T in JSON: %v\n%s", m, err, out)
	}
}

// jsonOut parses stdout as exactly one JSON document into v, refusing
// fields v does not have.
func jsonOut(t *testing.T, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("not one %T in JSON: %v\n%s", v, err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON document:\n%s", out)
	}
}

// TestCLIJSON: every data-printing admin, dataset and buyer command prints
// one parseable JSON document with --json (a stream of them for watch),
// against real nodes; -q prints only the job id; errors exit by class.
func TestCLIJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a dev setup on three nodes")
	}
	dir := startCLIFederation(t)
	a := []string{"--dir", dir}

	var invites struct {
		Tokens    []string `json:"tokens"`
		ExpiresAt string   `json:"expires_at"`
	}
	jsonOut(t, mustCLI(t, append([]string{"admin", "invites", "--count", "2", "--json"}, a...)...), &invites)
	if len(invites.Tokens) != 2 || invites.ExpiresAt == "" {
		t.Fatalf("invites: %+v", invites)
	}
	var st cohortv1.NodeStatusResponse
	protoOut(t, mustCLI(t, append([]string{"admin", "status", "--json", "--index", "1"}, a...)...), &st)
	if st.GetNodeIndex() != 1 || len(st.GetPeers()) != 2 {
		t.Fatalf("status: %v", &st)
	}

	// One field keeps the circuit, and so the dev setup, small.
	schemaFile := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(schemaFile, []byte("id: cli-test\nfields:\n  - {name: age, type: int, min: 18, max: 100}\npurposes: [public-health]\nepoch: weekly\nmin_cohort: 20\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	setupStart := time.Now()
	var d cohortv1.DatasetDescriptor
	protoOut(t, mustCLI(t, append([]string{"dataset", "create", "--schema", schemaFile, "--insecure-dev-setup", "--exact-release-insecure-dev", "--json"}, a...)...), &d)
	if d.GetState() != cohortv1.DatasetState_DATASET_STATE_READY || d.GetId() == "" {
		t.Fatalf("dataset create --json: %v", &d)
	}
	t.Logf("dataset create: %s", time.Since(setupStart))
	var shown cohortv1.DatasetDescriptor
	protoOut(t, mustCLI(t, append([]string{"dataset", "show", d.GetId(), "--json"}, a...)...), &shown)
	if !proto.Equal(&shown, &d) {
		t.Fatalf("dataset show differs from create:\n%v\n%v", &shown, &d)
	}

	tokFile := filepath.Join(t.TempDir(), "acme.token")
	var key struct {
		BuyerID   string `json:"buyer_id"`
		KeyFile   string `json:"key_file"`
		PublicKey string `json:"public_key"`
	}
	jsonOut(t, mustCLI(t, "buyer", "--token-file", tokFile, "keygen", "acme", "--json"), &key)
	if key.BuyerID != "acme" || key.KeyFile != filepath.Join(filepath.Dir(tokFile), "buyer.key") || key.PublicKey == "" {
		t.Fatalf("buyer keygen: %+v", key)
	}
	var created struct {
		BuyerID   string `json:"buyer_id"`
		Token     string `json:"token"`
		TokenFile string `json:"token_file"`
	}
	jsonOut(t, mustCLI(t, append([]string{"admin", "buyers", "create", "acme", "--public-key", key.PublicKey, "--token-file", tokFile, "--json"}, a...)...), &created)
	if created.BuyerID != "acme" || created.TokenFile != tokFile || created.Token != "" {
		t.Fatalf("buyers create: %+v", created)
	}

	nodeAPI := ""
	if desc, err := federation.LoadDescriptor(filepath.Join(dir, "federation.yaml")); err != nil {
		t.Fatal(err)
	} else {
		nodeAPI = desc.Nodes[0].APIAddress
	}
	b := []string{"buyer", "--node", nodeAPI, "--ca", filepath.Join(dir, "ca.pem"), "--token-file", tokFile}
	var list cohortv1.ListDatasetsResponse
	protoOut(t, mustCLI(t, append(b, "datasets", "--json")...), &list)
	if len(list.GetDatasets()) != 1 || list.GetDatasets()[0].GetId() != d.GetId() {
		t.Fatalf("datasets: %v", &list)
	}

	spec := filepath.Join(t.TempDir(), "job.yaml")
	if err := os.WriteFile(spec, []byte("dataset: "+d.GetId()+"\nepoch: current\npurpose: public-health\noutputs: [count]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(mustCLI(t, append(b, "submit", spec, "-q")...))
	if id == "" || strings.ContainsAny(id, " \n") {
		t.Fatalf("submit -q printed %q", id)
	}
	// No record is in: the job is REJECTED, watch --json streams the job
	// and exits with the generic failure status.
	out, err := runCLI(t, append(b, "watch", id, "--json")...)
	if err == nil || exitCode(err) != exitFailure {
		t.Fatalf("watch of a rejected job: %v (exit %d)", err, exitCode(err))
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last cohortv1.Job
	protoOut(t, lines[len(lines)-1], &last)
	if last.GetJobId() != id || last.GetState() != cohortv1.JobState_JOB_STATE_REJECTED {
		t.Fatalf("watch --json, last line: %v", &last)
	}
	var jobs cohortv1.ListJobsResponse
	protoOut(t, mustCLI(t, append(b, "jobs", "--json")...), &jobs)
	if len(jobs.GetJobs()) != 1 || jobs.GetJobs()[0].GetJobId() != id {
		t.Fatalf("jobs: %v", &jobs)
	}
	var submitted cohortv1.Job
	protoOut(t, mustCLI(t, append(b, "submit", spec, "--json")...), &submitted)
	if submitted.GetJobId() == "" || submitted.GetJobId() == id {
		t.Fatalf("submit --json: %v", &submitted)
	}

	// buyer sign prints a signed request that the HTTP/JSON API takes as is.
	signed := mustCLI(t, append(b, "sign", spec, "--request-id", "http-1")...)
	var sreq cohortv1.SubmitJobRequest
	protoOut(t, signed, &sreq)
	if sreq.GetRequestId() != "http-1" || len(sreq.GetSubmission().GetSignature()) == 0 {
		t.Fatalf("buyer sign: %v", &sreq)
	}
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tc, err := federation.ClientTLS(caPEM)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := federation.LoadNode(filepath.Join(dir, "node-0", "node.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := nc.Config.HTTPListen
	req, _ := http.NewRequest("POST", "https://"+httpAddr+"/v1/jobs", strings.NewReader(signed))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tc}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var viaHTTP cohortv1.SubmitJobResponse
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /v1/jobs with the signed request: %d %s", resp.StatusCode, body)
	}
	protoOut(t, string(body), &viaHTTP)
	if viaHTTP.GetJob().GetJobId() == "" || viaHTTP.GetJob().GetSpec().GetDatasetId() != d.GetId() {
		t.Fatalf("POST /v1/jobs: %v", &viaHTTP)
	}

	// Rewards: a payout key with no claim holds nothing on the node; a
	// claim of a job that released nothing finds no transcript.
	idFile := filepath.Join(t.TempDir(), "identity.json")
	mustCLI(t, "contributor", "--identity", idFile, "init")
	if _, err := client.NewPayoutKey(filepath.Join(filepath.Dir(idFile), "payouts", "mine.pem")); err != nil {
		t.Fatal(err)
	}
	cb := []string{"contributor", "--identity", idFile, "--node", nodeAPI, "--ca", filepath.Join(dir, "ca.pem")}
	var payouts struct {
		Payouts []struct {
			KeyFile     string `json:"key_file"`
			PayoutKey   string `json:"payout_key"`
			Credited    uint64 `json:"credited"`
			Claims      uint64 `json:"claims"`
			Transferred uint64 `json:"transferred"`
			Balance     uint64 `json:"balance"`
		} `json:"payouts"`
		Total uint64 `json:"total"`
	}
	jsonOut(t, mustCLI(t, append(cb, "payouts", "--json")...), &payouts)
	if len(payouts.Payouts) != 1 || len(payouts.Payouts[0].PayoutKey) != 64 || payouts.Payouts[0].Credited != 0 || payouts.Payouts[0].Claims != 0 ||
		filepath.Base(payouts.Payouts[0].KeyFile) != "mine.pem" || payouts.Total != 0 {
		t.Fatalf("payouts: %+v", payouts)
	}
	if _, err := runCLI(t, append(cb, "claim", "--job", id, "--json")...); exitCode(err) != exitNotFound {
		t.Errorf("claim of a rejected job: %v (exit %d), want exit %d", err, exitCode(err), exitNotFound)
	}

	// Exit statuses by class, from real refusals.
	wrongTok := filepath.Join(t.TempDir(), "wrong.token")
	if err := os.WriteFile(wrongTok, []byte("cohort-buyer-wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{append(b, "cancel", id), exitRefused},                                    // REJECTED already: FailedPrecondition
		{append(b, "result", "no-such-job"), exitNotFound},                        // NotFound
		{append(append([]string{}, b[:len(b)-1]...), wrongTok, "jobs"), exitAuth}, // Unauthenticated
		{append(b, "submit", spec, "-q", "--json"), exitUsage},                    // mutually exclusive flags
	} {
		_, err := runCLI(t, c.args...)
		if got := exitCode(err); got != c.want {
			t.Errorf("%v: exit %d (%v), want %d", c.args[len(b):], got, err, c.want)
		}
	}
}
