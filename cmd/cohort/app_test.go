package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/audit"
	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// requireBrowserEnv makes a missing browser toolchain a failure instead of
// a skip (CI sets it).
const requireBrowserEnv = "COHORT_REQUIRE_BROWSER"

// browserDeps finds node, the e2e suite's playwright-core and chromium;
// it returns why they are not usable, if they are not.
func browserDeps() (nodeBin, chromium, e2eDir string, missing error) {
	e2eDir, err := filepath.Abs(filepath.Join("..", "..", "webapp", "e2e"))
	if err != nil {
		return "", "", "", err
	}
	if nodeBin, err = exec.LookPath("node"); err != nil {
		return "", "", "", errors.New("node is not installed")
	}
	if _, err := os.Stat(filepath.Join(e2eDir, "node_modules", "playwright-core", "package.json")); err != nil {
		return "", "", "", fmt.Errorf("playwright-core is not installed (run npm ci in %s)", e2eDir)
	}
	chromium = os.Getenv("COHORT_CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		return "", "", "", fmt.Errorf("no chromium at %s (apt-get install chromium, or set COHORT_CHROMIUM)", chromium)
	}
	return nodeBin, chromium, e2eDir, nil
}

// appTestSchema keeps the circuit small: two numeric fields with their
// moments (for a correlation) and one category (for a histogram).
const appTestSchema = `id: app-test
fields:
  - {name: age, type: int, min: 18, max: 100}
  - {name: height, type: int, min: 100, max: 220}
  - {name: region, type: category, values: [north, south, east]}
moments: [age, height]
purposes: [research]
epoch: weekly
min_cohort: 3
max_cohort: 100
`

// appTestPrice is the app test dataset's price per counted record, in
// micro-credits.
const appTestPrice = 100

// TestAppShutdown: the app refuses a non-loopback --listen, and serves
// and stops cleanly against a node that is not there.
func TestAppShutdown(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:7480", "192.168.1.1:7480", ":7480"} {
		_, err := runCLI(t, "app", "--node", "127.0.0.1:1", "--insecure-plaintext", "--listen", addr)
		if err == nil || exitCode(err) != exitUsage || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--listen %s: %v (exit %d)", addr, err, exitCode(err))
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out bytes.Buffer
	f := &appFlags{contributorFlags: contributorFlags{node: "127.0.0.1:1", insecure: true}}
	go func() { done <- runApp(ctx, f, lis, &lockedWriter{w: &out}, io.Discard) }()
	url := "http://" + lis.Addr().String() + "/api/session"
	var resp *http.Response
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(url); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		Node   string `json:"node"`
		Pinned bool   `json:"pinned"`
		Buyer  bool   `json:"buyer"`
	}
	err = json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if err != nil || sess.Node != "127.0.0.1:1" || sess.Pinned || sess.Buyer {
		t.Fatalf("session %+v: %v", sess, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAppBrowser drives the app in headless Chromium against three real
// nodes: a contributor from identity to receipt, a buyer's job on a priced
// dataset to its charts and its charge, the contributor's claim of the
// job's reward and payout balance, and audits of a good and a tampered
// bundle. Screenshots go to
// $COHORT_ARTIFACTS (or a temporary directory, logged).
func TestAppBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a dev setup on three nodes and a browser")
	}
	nodeBin, chromium, e2eDir, missing := browserDeps()
	if missing != nil {
		if os.Getenv(requireBrowserEnv) == "1" {
			t.Fatalf("%s=1 but the browser test cannot run: %v", requireBrowserEnv, missing)
		}
		t.Skipf("browser test skipped: %v (set %s=1 to make this a failure)", missing, requireBrowserEnv)
	}
	artifacts := os.Getenv("COHORT_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	artifacts = filepath.Join(artifacts, "app-browser")
	t.Logf("screenshots: %s", artifacts)

	dir := startCLIFederation(t)
	a := []string{"--dir", dir}
	var invites struct {
		Tokens    []string `json:"tokens"`
		ExpiresAt string   `json:"expires_at"`
	}
	jsonOut(t, mustCLI(t, append([]string{"admin", "invites", "--count", "4", "--json"}, a...)...), &invites)
	schemaFile := filepath.Join(t.TempDir(), "schema.yaml")
	if err := os.WriteFile(schemaFile, []byte(appTestSchema), 0o644); err != nil {
		t.Fatal(err)
	}
	var d cohortv1.DatasetDescriptor
	protoOut(t, mustCLI(t, append([]string{"dataset", "create", "--schema", schemaFile, "--insecure-dev-setup", "--exact-release-insecure-dev", "--price", strconv.Itoa(appTestPrice), "--json"}, a...)...), &d)
	tokFile := filepath.Join(t.TempDir(), "buyer.token")
	var key struct {
		PublicKey string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, "buyer", "--token-file", tokFile, "keygen", "acme", "--json")), &key); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, append([]string{"admin", "buyers", "create", "acme", "--public-key", key.PublicKey, "--token-file", tokFile}, a...)...)
	mustCLI(t, append([]string{"admin", "buyers", "credit", "acme", "1000000"}, a...)...)
	fedFile := filepath.Join(dir, "federation.yaml")
	desc, err := federation.LoadDescriptor(fedFile)
	if err != nil {
		t.Fatal(err)
	}
	node := desc.Nodes[0].APIAddress
	cache := t.TempDir()

	// Three records from the Go client, so that the browser's makes four
	// and a job over the first three gives the audit a bundle.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
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
	for i, rec := range []string{`{"age": 34, "height": 170, "region": "north"}`, `{"age": 51, "height": 182, "region": "south"}`, `{"age": 27, "height": 158, "region": "south"}`} {
		start := time.Now()
		id, err := client.NewIdentity(nil)
		if err != nil {
			t.Fatal(err)
		}
		m, err := c.Register(ctx, id, invites.Tokens[i])
		if err != nil {
			t.Fatal(err)
		}
		id.Member = &m
		r, err := ds.Schema.ParseRecordJSON([]byte(rec))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Contribute(ctx, id, client.ContributeOptions{
			Dataset: ds, Epoch: epoch, Record: r, Purposes: []string{"research"},
			Expiry: time.Now().Add(24 * time.Hour), MinCohort: 3, CacheDir: cache,
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("record %d: %s", i, time.Since(start))
	}
	good, tampered := auditBundles(ctx, t, node, desc, tokFile, d.GetId())
	bundles := t.TempDir()
	goodFile, tamperedFile := filepath.Join(bundles, "good.bundle"), filepath.Join(bundles, "tampered.bundle")
	if err := os.WriteFile(goodFile, good, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tamperedFile, tampered, 0o644); err != nil {
		t.Fatal(err)
	}

	// The app, in process, on a loopback port.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appCtx, stopApp := context.WithCancel(context.Background())
	appDone := make(chan error, 1)
	f := &appFlags{contributorFlags: contributorFlags{node: node, fed: fedFile, cache: cache, identity: filepath.Join(t.TempDir(), "default-identity.json")}, tokenFile: tokFile}
	var appOut lockedWriter
	appOut.w = &bytes.Buffer{}
	go func() { appDone <- runApp(appCtx, f, lis, &appOut, &appOut) }()
	defer func() {
		stopApp()
		if err := <-appDone; err != nil {
			t.Errorf("app: %v", err)
		}
	}()

	identity := filepath.Join(t.TempDir(), "me", "identity.json")
	cmd := exec.CommandContext(ctx, nodeBin, "run.mjs")
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(),
		"COHORT_APP_URL=http://"+lis.Addr().String()+"/",
		"COHORT_CHROMIUM="+chromium,
		"COHORT_ARTIFACTS="+artifacts,
		"COHORT_IDENTITY="+identity,
		"COHORT_INVITE="+invites.Tokens[3],
		"COHORT_DATASET="+d.GetId(),
		`COHORT_RECORD={"age": "42", "height": "175", "region": "east"}`,
		"COHORT_PURPOSE=research",
		"COHORT_PRICE="+strconv.Itoa(appTestPrice),
		"COHORT_GOOD_BUNDLE="+goodFile,
		"COHORT_TAMPERED_BUNDLE="+tamperedFile,
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("browser run (%s):\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("browser run: %v", err)
	}
	// The browser's record is real: its identity file holds a membership
	// and the node has its receipt.
	id, err := client.LoadIdentity(identity)
	if err != nil || id.Member == nil {
		t.Fatalf("identity after the run: %v", err)
	}
	if _, err := c.Receipt(ctx, d.GetId(), id.Nullifier(d.GetId(), epoch)); err != nil {
		t.Fatalf("receipt of the browser's record: %v", err)
	}
	// Its claim is real: the claim book beside the identity holds it, and
	// the node credited the payout key it names.
	book, err := client.OpenClaimBook(client.ClaimBookPath(identity))
	if err != nil {
		t.Fatal(err)
	}
	rewards, err := c.Rewards(ctx, id, d.GetId(), book)
	if err != nil || len(rewards) != 1 || rewards[0].Claimed == nil || rewards[0].Claimed.Amount != appTestPrice || rewards[0].PerRecord != appTestPrice {
		t.Fatalf("rewards after the browser's claim: %+v, %v", rewards, err)
	}
	pub, err := hex.DecodeString(rewards[0].Claimed.PayoutKey)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := c.Payout(ctx, pub); err != nil || p.GetCredited() != appTestPrice || p.GetClaims() != 1 {
		t.Fatalf("payout account of the browser's claim: %v, %v", p, err)
	}
	for _, shot := range []string{"home", "contributor", "buyer", "contributor-rewards", "auditor-good", "auditor-tampered"} {
		if st, err := os.Stat(filepath.Join(artifacts, shot+".png")); err != nil || st.Size() == 0 {
			t.Errorf("screenshot %s: %v", shot, err)
		}
	}
}

// auditBundles runs a count job over the records in, fetches its
// transcript bundle and returns it with a copy whose first node signature
// has one byte changed.
func auditBundles(ctx context.Context, t *testing.T, node string, desc *federation.Descriptor, tokFile, datasetID string) (good, tampered []byte) {
	t.Helper()
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := client.ReadBuyerKey(filepath.Join(filepath.Dir(tokFile), "buyer.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := client.DialBuyer(node, strings.TrimSpace(string(tok)), client.WithCA([]byte(desc.CA)), client.WithBuyerKey(key))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	spec, err := client.ParseJobSpec([]byte("dataset: "+datasetID+"\nepoch: current\npurpose: research\noutputs: [count]\n"), func(id string) (uint64, error) { return b.CurrentEpoch(ctx, id) })
	if err != nil {
		t.Fatal(err)
	}
	job, err := b.SubmitJob(ctx, spec, "")
	if err != nil {
		t.Fatal(err)
	}
	final, err := b.WatchJob(ctx, job.GetJobId(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if final.GetState() != cohortv1.JobState_JOB_STATE_DONE {
		t.Fatalf("audit job: %v %s", final.GetState(), final.GetReason())
	}
	c, err := client.Dial(node, client.WithCA([]byte(desc.CA)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	good, err = c.Transcript(ctx, final.GetTranscriptId())
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := audit.UnmarshalBundle(good, audit.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bundle.Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The layout of bundle.go: magic and version (5 bytes), the
	// transcript's length (8) and bytes, the signature count (4), then
	// the signatures.
	at := 5 + 8 + len(tr) + 4
	tampered = bytes.Clone(good)
	tampered[at] ^= 0x01
	if rep := audit.VerifyEncoded(tampered, audit.DefaultLimits(), audit.AllowInsecureDevSetup(), audit.WithFederation(desc)); rep.OK() {
		t.Fatal("the tampered bundle verifies")
	}
	if rep := audit.VerifyEncoded(good, audit.DefaultLimits(), audit.AllowInsecureDevSetup(), audit.WithFederation(desc)); !rep.OK() {
		t.Fatalf("the good bundle does not verify:\n%s", rep)
	}
	return good, tampered
}

// TestAppConfig: cohort app takes the client flags from the environment
// and from a profile's app section, like the client commands.
func TestAppConfig(t *testing.T) {
	dir := t.TempDir()
	prof := filepath.Join(dir, "profile.yaml")
	if err := os.WriteFile(prof, []byte("node: 10.0.0.1:7400\napp:\n  federation: fed/federation.yaml\n  token-file: acme.token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(profileEnv, prof)
	t.Setenv(buyerTokenEnv, "")
	got, err := runFlags(t, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got["node"] != "10.0.0.1:7400" || got["federation"] != filepath.Join(dir, "fed/federation.yaml") || got["token-file"] != filepath.Join(dir, "acme.token") {
		t.Fatalf("from the profile: %v", got)
	}
	t.Setenv("COHORT_NODE", "10.0.0.3:7400")
	t.Setenv("COHORT_IDENTITY", "/x/id.json")
	if got, err = runFlags(t, "app", "--federation", "/y/f.yaml"); err != nil || got["node"] != "10.0.0.3:7400" || got["identity"] != "/x/id.json" || got["federation"] != "/y/f.yaml" {
		t.Fatalf("from the environment and the command line: %v, %v", got, err)
	}
}
