package client

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// TestRewards: the rewards listed are the paying jobs that counted a
// record of mine, once per job, marked with what the claim book
// remembers; free jobs and jobs that did not count me are left out.
func TestRewards(t *testing.T) {
	me, other := testIdentity(t, 1), testIdentity(t, 2)
	const ds = "fitness-2026"
	f := &fakeAudit{
		infos: []*cohortv1.TranscriptInfo{
			{TranscriptId: "job-4", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_400, 0)), CohortSize: 3},
			{TranscriptId: "job-3", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_300, 0)), CohortSize: 2},
			{TranscriptId: "job-2", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_200, 0)), CohortSize: 1},
			{TranscriptId: "job-1", DatasetId: ds, ReleasedAt: timestamppb.New(time.Unix(1_800_000_100, 0)), CohortSize: 2},
		},
		bundles: map[string][]byte{
			// Two epochs of mine: one reward.
			"job-4": rewardBundle(t, "job-4", 5, record(t, me.Nullifier(ds, 7), 7), record(t, me.Nullifier(ds, 8), 8), record(t, other.Nullifier(ds, 7), 7)),
			// Not mine.
			"job-3": rewardBundle(t, "job-3", 5, record(t, other.Nullifier(ds, 7), 7), record(t, other.Nullifier(ds, 8), 8)),
			// Mine, but it pays nothing.
			"job-2": bundle(t, "job-2", record(t, me.Nullifier(ds, 6), 6)),
			"job-1": rewardBundle(t, "job-1", 9, record(t, me.Nullifier(ds, 6), 6), record(t, other.Nullifier(ds, 6), 6)),
		},
	}
	c := serveAudit(t, f)
	dir := t.TempDir()
	book, err := OpenClaimBook(ClaimBookPath(filepath.Join(dir, "identity.json")))
	if err != nil {
		t.Fatal(err)
	}
	if book.Path() != filepath.Join(dir, "identity.claims.json") {
		t.Fatalf("book path %s", book.Path())
	}
	got, err := c.Rewards(testContext(t), me, ds, book)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].JobID != "job-4" || got[1].JobID != "job-1" {
		t.Fatalf("rewards %+v, want job-4 and job-1", got)
	}
	slices.Sort(got[0].Epochs)
	if r := got[0]; r.PerRecord != 5 || r.CohortSize != 3 || !slices.Equal(r.Epochs, []uint64{7, 8}) || r.Claimed != nil ||
		!r.ReleasedAt.Equal(time.Unix(1_800_000_400, 0)) || r.DatasetID != ds {
		t.Errorf("job-4: %+v", r)
	}
	if r := got[1]; r.PerRecord != 9 || !slices.Equal(r.Epochs, []uint64{6}) || r.Claimed != nil {
		t.Errorf("job-1: %+v", r)
	}

	// What the book remembers marks the reward, and survives reopening.
	at := time.Unix(1_800_000_500, 0).UTC()
	if err := book.Record(ClaimRecord{JobID: "job-1", Amount: 9, PayoutKey: "ab", KeyFile: "/k.pem", ClaimedAt: at}); err != nil {
		t.Fatal(err)
	}
	// A refusal as made already does not replace a credited claim.
	if err := book.Record(ClaimRecord{JobID: "job-1", Elsewhere: true, ClaimedAt: at}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(book.Path())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("book file: %v, %v", st, err)
	}
	reopened, err := OpenClaimBook(book.Path())
	if err != nil {
		t.Fatal(err)
	}
	got, err = c.Rewards(testContext(t), me, ds, reopened)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Claimed != nil || got[1].Claimed == nil ||
		*got[1].Claimed != (ClaimRecord{JobID: "job-1", Amount: 9, PayoutKey: "ab", KeyFile: "/k.pem", ClaimedAt: at}) {
		t.Fatalf("after a claim: %+v", got)
	}
	// Without a book nothing is marked.
	if got, err := c.Rewards(testContext(t), me, ds, nil); err != nil || len(got) != 2 || got[1].Claimed != nil {
		t.Fatalf("without a book: %+v, %v", got, err)
	}
	if got, err := c.Rewards(testContext(t), other, "other-dataset", nil); err != nil || len(got) != 0 {
		t.Errorf("no transcripts: %+v, %v", got, err)
	}
	if _, err := c.Rewards(testContext(t), nil, ds, nil); err == nil {
		t.Error("no identity accepted")
	}
	// A transcript of another job than the one listed is refused.
	f.bundles["job-3"] = f.bundles["job-1"]
	if _, err := c.Rewards(testContext(t), me, ds, nil); err == nil || !strings.Contains(err.Error(), "transcript job-3") {
		t.Errorf("another job's transcript: %v", err)
	}
}

// TestClaimBookRefusals: a book others may read, an unknown version or
// unknown members are refused.
func TestClaimBookRefusals(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		body string
		mode os.FileMode
		want string
	}{
		"world-readable": {`{"version": 1, "claims": []}`, 0o644, "chmod 600"},
		"version 2":      {`{"version": 2, "claims": []}`, 0o600, "version 2"},
		"unknown member": {`{"version": 1, "claims": [], "secret": "x"}`, 0o600, "unknown field"},
		"not JSON":       {`claims`, 0o600, "invalid character"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, []byte(c.body), c.mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenClaimBook(path); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

// TestPayoutKeyFile: a payout key is written once, mode 0600, and reads
// back as the same public key; an existing file is never replaced, and a
// file that is not an Ed25519 PKCS #8 key is refused.
func TestPayoutKeyFile(t *testing.T) {
	dir := PayoutsDir(filepath.Join(t.TempDir(), "identity.json"))
	path := filepath.Join(dir, "k.pem")
	pub, err := NewPayoutKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", st, err)
	}
	got, err := LoadPayoutKey(path)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("loaded %x, %v; want %x", got, err, pub)
	}
	if _, err := NewPayoutKey(path); err == nil {
		t.Fatal("an existing key file was replaced")
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPayoutKey(bad); err == nil {
		t.Fatal("a malformed key file loads")
	}
	files, err := PayoutKeyFiles(dir)
	if err != nil || !slices.Equal(files, []string{path}) {
		t.Fatalf("key files %v, %v", files, err)
	}
	if files, err := PayoutKeyFiles(filepath.Join(dir, "none")); err != nil || len(files) != 0 {
		t.Fatalf("no directory: %v, %v", files, err)
	}
}
