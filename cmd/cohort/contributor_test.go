package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/client"
	"github.com/cohort-dev/cohort/client/clienttest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// runContributor runs `cohort contributor args…` and returns its output.
func runContributor(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := newContributorCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errb.String(), err
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runContributor(t, args...)
	if err != nil {
		t.Fatalf("contributor %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func TestContributorInit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id", "identity.json")
	out := mustRun(t, "--identity", path, "init")
	id, err := client.LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	ic := id.Commitment()
	if !strings.Contains(out, hex.EncodeToString(ic[:])) {
		t.Fatalf("init does not print the commitment:\n%s", out)
	}
	s := id.Secret.Bytes()
	if strings.Contains(out, hex.EncodeToString(s[:])) {
		t.Fatal("init printed the secret")
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode %04o", fi.Mode().Perm())
	}
	var asJSON struct {
		IdentityFile string `json:"identity_file"`
		Commitment   string `json:"commitment"`
	}
	other := filepath.Join(t.TempDir(), "other.json")
	jsonOut(t, mustRun(t, "--identity", other, "init", "--json"), &asJSON)
	if oid, err := client.LoadIdentity(other); err != nil {
		t.Fatal(err)
	} else if oc := oid.Commitment(); asJSON.IdentityFile != other || asJSON.Commitment != hex.EncodeToString(oc[:]) {
		t.Fatalf("init --json = %+v", asJSON)
	}
	if _, _, err := runContributor(t, "--identity", path, "init"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("second init: %v", err)
	}
	if again, _ := client.LoadIdentity(path); !again.Secret.Equal(&id.Secret) {
		t.Fatal("second init replaced the identity")
	}
	os.Chmod(path, 0o644)
	if _, _, err := runContributor(t, "--identity", path, "--node", "127.0.0.1:1", "--insecure-plaintext", "register", "--invite", "x"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable identity: %v", err)
	}
}

func TestContributorTransportFlags(t *testing.T) {
	path := filepath.Join(t.TempDir(), "identity.json")
	mustRun(t, "--identity", path, "init")
	cases := map[string]struct {
		args []string
		want string
	}{
		"no node":  {[]string{"register", "--invite", "x"}, "--node"},
		"no ca":    {[]string{"--node", "127.0.0.1:1", "register", "--invite", "x"}, "--ca is required"},
		"both":     {[]string{"--node", "127.0.0.1:1", "--ca", "ca.pem", "--insecure-plaintext", "register", "--invite", "x"}, "not both"},
		"ca file":  {[]string{"--node", "127.0.0.1:1", "--ca", filepath.Join(t.TempDir(), "none.pem"), "register", "--invite", "x"}, "--ca"},
		"fed file": {[]string{"--node", "127.0.0.1:1", "--federation", filepath.Join(t.TempDir(), "none.yaml"), "register", "--invite", "x"}, "--federation"},
		"no id":    {[]string{"--identity", filepath.Join(t.TempDir(), "none.json"), "revoke", "--dataset", "d", "--epoch", "1"}, "contributor init"},
		"epoch":    {[]string{"--node", "127.0.0.1:1", "--insecure-plaintext", "revoke", "--dataset", "d", "--epoch", "last"}, "--epoch"},
		"unregist": {[]string{"--node", "127.0.0.1:1", "--insecure-plaintext", "contribute", "--dataset", "d", "--record", "r", "--purposes", "p", "--expiry", "2030-01-01"}, "not registered"},
	}
	for name, tc := range cases {
		args := append([]string{"--identity", path}, tc.args...)
		if name == "no id" {
			args = tc.args
		}
		if _, _, err := runContributor(t, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

func TestParseExpiryAndEpoch(t *testing.T) {
	got, err := parseExpiry("2027-01-31")
	if err != nil || !got.Equal(time.Date(2027, 1, 31, 23, 59, 59, 0, time.UTC)) {
		t.Fatalf("date: %v, %v", got, err)
	}
	got, err = parseExpiry("2027-01-31T10:00:00+01:00")
	if err != nil || !got.Equal(time.Date(2027, 1, 31, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("RFC 3339: %v, %v", got, err)
	}
	for _, bad := range []string{"", "31/01/2027", "2027-02-30", "tomorrow"} {
		if _, err := parseExpiry(bad); err == nil {
			t.Errorf("expiry %q accepted", bad)
		}
	}
	s := schema.Default()
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	if e, err := parseEpoch("current", s, now); err != nil || e != s.Epoch.Index(now) {
		t.Fatalf("current: %d, %v", e, err)
	}
	if e, err := parseEpoch("2950", nil, now); err != nil || e != 2950 {
		t.Fatalf("number: %d, %v", e, err)
	}
	for _, bad := range []string{"", "-1", "4294967296", "now"} {
		if _, err := parseEpoch(bad, s, now); err == nil {
			t.Errorf("epoch %q accepted", bad)
		}
	}
}

// TestContributorRegisterTLS registers over TLS, authenticated by the
// federation's CA file.
func TestContributorRegisterTLS(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{TLS: true})
	dir := t.TempDir()
	path, ca := filepath.Join(dir, "identity.json"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, f.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, "--identity", path, "init")
	out := mustRun(t, "--identity", path, "--node", f.Addr, "--ca", ca, "register", "--invite", f.Invite())
	id, err := client.LoadIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if id.Member == nil || id.Member.Federation != f.Addr || !strings.Contains(out, "member index   0") {
		t.Fatalf("membership %v after:\n%s", id, out)
	}
	_, _, err = runContributor(t, "--identity", path, "--node", "127.0.0.1:1", "--ca", ca, "register", "--invite", "x")
	if err == nil || !strings.Contains(err.Error(), "separate identity file") {
		t.Fatalf("registering with a second federation: %v", err)
	}
	_, _, err = runContributor(t, "--identity", filepath.Join(dir, "other.json"), "init")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = runContributor(t, "--identity", filepath.Join(dir, "other.json"), "--node", f.Addr, "--ca", ca, "register", "--invite", "spent")
	if err == nil || !strings.Contains(err.Error(), "node refused the registration: PermissionDenied") {
		t.Fatalf("bad invite: %v", err)
	}
}

func TestContributorContribute(t *testing.T) {
	if testing.Short() {
		t.Skip("Groth16 setup and proving")
	}
	f := clienttest.New(t, clienttest.Options{Proving: true})
	dir := t.TempDir()
	path, record := filepath.Join(dir, "identity.json"), filepath.Join(dir, "record.json")
	err := os.WriteFile(record, []byte(`{"age": 52, "steps": 7400, "resting_hr": 66, "sleep_h": 6.75, "smoker": true, "region": "north"}`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fedFile := filepath.Join(dir, "federation.yaml")
	fedYAML, err := f.Federation.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fedFile, fedYAML, 0o644); err != nil {
		t.Fatal(err)
	}
	g := []string{"--identity", path, "--node", f.Addr, "--insecure-plaintext", "--cache", filepath.Join(dir, "cache")}
	mustRun(t, "--identity", path, "init")
	mustRun(t, append(g, "register", "--invite", f.Invite())...)

	ds := f.Dataset.Desc.GetId()
	terms := []string{"contribute", "--dataset", ds, "--epoch", "current", "--record", record,
		"--purposes", "public-health, academic-research", "--expiry", time.Now().AddDate(1, 0, 0).Format(time.DateOnly)}
	// Without the federation's descriptor nothing is sealed.
	if _, _, err := runContributor(t, append(slices.Clone(g), terms...)...); err == nil || !strings.Contains(err.Error(), "--federation FILE is required") {
		t.Fatalf("contribute without --federation: %v", err)
	}
	if len(f.Accepted()) != 0 || f.ChunksSent() != 0 {
		t.Fatal("contribute without --federation fetched or sent something")
	}
	g = append(g, "--federation", fedFile)
	// A node serving another seal key for node 1 is refused before proving.
	f.SetHooks(clienttest.Hooks{Dataset: func(d *cohortv1.DatasetDescriptor) { d.Nodes[1].SealPublicKey = d.Nodes[0].SealPublicKey }})
	if _, _, err := runContributor(t, append(slices.Clone(g), terms...)...); err == nil || !strings.Contains(err.Error(), "not the federation's") {
		t.Fatalf("contribute to a substituted descriptor: %v", err)
	}
	if len(f.Accepted()) != 0 || f.ChunksSent() != 0 {
		t.Fatal("contribute to a substituted descriptor fetched or sent something")
	}
	f.SetHooks(clienttest.Hooks{})
	contribute := append(slices.Clone(g), terms...)
	out, errOut, err := runContributor(t, contribute...)
	if err != nil {
		t.Fatalf("contribute: %v\n%s\n%s", err, out, errOut)
	}
	id, _ := client.LoadIdentity(path)
	epoch := f.Dataset.Schema.Epoch.Index(time.Now())
	nf := id.Nullifier(ds, epoch)
	for _, want := range []string{"record accepted by all 3 nodes", hex.EncodeToString(nf[:]), "minimum cohort 20", "node 2", "signature verified"} {
		if !strings.Contains(out, want) {
			t.Errorf("contribute output lacks %q:\n%s", want, out)
		}
	}
	for _, want := range []string{"INSECURE DEVELOPMENT SETUP", "proving done", "uploading done", "--insecure-plaintext"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("contribute stderr lacks %q:\n%s", want, errOut)
		}
	}
	if p := f.Accepted()[0].Payload.Public; p.MinCohort != 20 || p.Purposes != 0b011 {
		t.Fatalf("terms %+v", p)
	}

	out, _, err = runContributor(t, contribute...)
	if err == nil || !strings.Contains(err.Error(), "node refused the contribution: AlreadyExists") || !strings.Contains(out, "already accepted") {
		t.Fatalf("second contribution: %v\n%s", err, out)
	}

	// Node 2 was down when the record was stored: the receipt says it is
	// pending, and shows its acknowledgment once it caught up.
	f.SetHooks(clienttest.Hooks{Receipt: func(r *cohortv1.Receipt) {
		r.Acks[2], r.PendingNodes = &cohortv1.ContributionAck{}, []uint32{2}
	}})
	out = mustRun(t, append(g, "receipt", "--dataset", ds, "--epoch", "current")...)
	if !strings.Contains(out, "node 2") || !strings.Contains(out, "pending: was down") || strings.Count(out, "signature verified") != 2 {
		t.Fatalf("receipt with node 2 pending:\n%s", out)
	}
	f.SetHooks(clienttest.Hooks{})
	out = mustRun(t, append(g, "receipt", "--dataset", ds, "--epoch", "current")...)
	if !strings.Contains(out, "ACCEPTED") || !strings.Contains(out, hex.EncodeToString(nf[:])) ||
		strings.Contains(out, "pending") || strings.Count(out, "signature verified") != 3 {
		t.Fatalf("receipt:\n%s", out)
	}
	var rc cohortv1.Receipt
	protoOut(t, mustRun(t, append(g, "receipt", "--dataset", ds, "--epoch", "current", "--json")...), &rc)
	if rc.GetStatus() != cohortv1.ReceiptStatus_RECEIPT_STATUS_ACCEPTED || !bytes.Equal(rc.GetNullifier(), nf[:]) || len(rc.GetAcks()) != 3 {
		t.Fatalf("receipt --json: %v", &rc)
	}
	out = mustRun(t, append(g, "revoke", "--dataset", ds, "--epoch", "current")...)
	if !strings.Contains(out, hex.EncodeToString(nf[:])) || !strings.Contains(out, "revoked at") {
		t.Fatalf("revoke:\n%s", out)
	}
	out = mustRun(t, append(g, "receipt", "--dataset", ds, "--epoch", strconv.FormatUint(epoch, 10))...)
	if !strings.Contains(out, "REVOKED") {
		t.Fatalf("receipt after revocation:\n%s", out)
	}
	s := id.Secret.Bytes()
	data, _ := os.ReadFile(path)
	if bytes.Count(data, []byte(hex.EncodeToString(s[:]))) != 1 {
		t.Fatal("the identity file does not hold the secret once")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cache", "*.pk"))
	if len(files) != 1 {
		t.Fatalf("cache: %v", files)
	}
}
