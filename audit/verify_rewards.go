package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/circuits"
	"github.com/cohort-dev/cohort/circuits/setup"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Auditing a dataset's reward claims (docs/design.md §9.5). A node
// publishes the claims it recorded (AuditService.ListClaims: job, claim
// nullifier, payout key, proof, amount) and the claim keys' ceremony
// (GetClaimCeremony); the jobs' transcripts give each job's nullifier
// root, reward per record and counted records. Rewards checks, from those
// alone, that the claim keys come from a ceremony of the federation that
// signed the transcripts, that every claim's proof verifies against them
// and its job's root, that no claim nullifier is used twice, that no job
// has more claims than counted records and that every credit is the job's
// reward per record.

// RewardsInput is what Rewards checks.
type RewardsInput struct {
	// DatasetID is the dataset audited.
	DatasetID string
	// Ceremony and CeremonyTranscript are the claim keys' ceremony as a
	// node serves it.
	Ceremony           *cohortv1.ClaimCeremony
	CeremonyTranscript []byte
	// Bundles are the dataset's released transcripts (the ceremony
	// transcript may be left out).
	Bundles []*Bundle
	// Claims are the claims a node recorded for the dataset's jobs.
	Claims []*cohortv1.RewardClaim
}

// RewardsReport is the outcome of Rewards. It renders as text (WriteText)
// and as JSON (with an "ok" field added).
type RewardsReport struct {
	DatasetID string `json:"dataset_id"`
	// ClaimSetup says what the check of the claim keys' ceremony found.
	ClaimSetup string `json:"claim_setup"`
	// Jobs are the released jobs, by id.
	Jobs []RewardJob `json:"jobs"`
	// Claims counts the claims read; Credited what they credited in all.
	Claims   int    `json:"claims"`
	Credited uint64 `json:"credited"`
	// Violations names every problem found; empty when the claims hold.
	Violations []string `json:"violations,omitempty"`
}

// RewardJob is one released job's claims.
type RewardJob struct {
	JobID    string `json:"job_id"`
	Counted  int    `json:"counted"`
	Reward   uint64 `json:"reward_per_record"`
	Claims   int    `json:"claims"`
	Credited uint64 `json:"credited"`
}

// OK reports whether no violation was found.
func (r *RewardsReport) OK() bool { return r != nil && len(r.Violations) == 0 }

// MarshalJSON encodes the report with its verdict as "ok".
func (r *RewardsReport) MarshalJSON() ([]byte, error) {
	type plain RewardsReport
	return json.Marshal(struct {
		OK bool `json:"ok"`
		*plain
	}{r.OK(), (*plain)(r)})
}

// WriteText writes the report for people.
func (r *RewardsReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cohort audit rewards: dataset %s\nclaim keys: %s\n", r.DatasetID, r.ClaimSetup)
	for _, j := range r.Jobs {
		fmt.Fprintf(&b, "  job %s: %d of %d counted records claimed, %d micro-credits per record, %d credited\n",
			j.JobID, j.Claims, j.Counted, j.Reward, j.Credited)
	}
	fmt.Fprintf(&b, "%d claims crediting %d micro-credits\n", r.Claims, r.Credited)
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "✗ %s\n", v)
	}
	if r.OK() {
		b.WriteString("OK: every claim proof verifies, no claim nullifier twice, no job over its counted records, every credit its job's reward\n")
	} else {
		fmt.Fprintf(&b, "FAILED: %d violations\n", len(r.Violations))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Rewards checks a dataset's claims (see RewardsInput). It never stops at
// the first violation: each is listed.
func Rewards(in RewardsInput) *RewardsReport {
	r := &RewardsReport{DatasetID: in.DatasetID}
	bad := func(format string, args ...any) { r.Violations = append(r.Violations, fmt.Sprintf(format, args...)) }

	var verifier *circuits.Verifier
	switch chk, err := VerifyClaimCeremony(in.Ceremony, in.CeremonyTranscript); {
	case in.Ceremony == nil:
		r.ClaimSetup = "no ceremony"
		bad("the claim keys' ceremony is missing: without it no claim proof can be checked")
	case err != nil:
		r.ClaimSetup = "refused"
		bad("the claim keys' ceremony: %v", err)
	default:
		vk, err := setup.UnmarshalVerifyingKey(chk.VerifyingKey)
		if err == nil {
			verifier, err = circuits.NewVerifier(vk, circuits.ClaimPublicInputs)
		}
		if err != nil {
			r.ClaimSetup = "refused"
			bad("the claim verifying key: %v", err)
			break
		}
		r.ClaimSetup = fmt.Sprintf("ceremony %s re-verified: %d nodes, one contribution each per phase, each attested, the record signed by every node",
			clip(in.Ceremony.GetCeremony().GetCeremonyId()), chk.Nodes)
	}

	type job struct {
		t       *Transcript
		root    fr.Element
		ok      bool
		claims  int
		credits uint64
	}
	jobs := map[string]*job{}
	for i, b := range in.Bundles {
		t := b.Transcript
		if t == nil {
			bad("bundle %d has no transcript", i)
			continue
		}
		if t.DatasetID != in.DatasetID {
			bad("job %s is of dataset %q, not %q", t.JobID, t.DatasetID, in.DatasetID)
			continue
		}
		if _, dup := jobs[t.JobID]; dup {
			bad("job %s is given twice", t.JobID)
			continue
		}
		j := &job{t: t}
		jobs[t.JobID] = j
		root, err := ClaimRootOf(t.Records)
		switch {
		case err != nil || root != t.ClaimRoot:
			bad("job %s: its claim root is not the root of its %d counted nullifiers", t.JobID, len(t.Records))
		case j.root.SetBytesCanonical(t.ClaimRoot[:]) != nil:
			bad("job %s: its claim root is not a field element", t.JobID)
		default:
			j.ok = true
		}
		// The ceremony's nodes must be the ones that signed the job.
		var d cohortv1.DatasetDescriptor
		if err := proto.Unmarshal(b.Descriptor, &d); err != nil {
			bad("job %s: its bundle's descriptor does not decode", t.JobID)
		} else if in.Ceremony != nil && !sameSigningKeys(in.Ceremony.GetNodes(), d.GetNodes()) {
			bad("job %s: its dataset's nodes are not the claim ceremony's", t.JobID)
		}
	}

	seen := map[string]string{}
	for i, c := range in.Claims {
		req := c.GetClaim()
		name := fmt.Sprintf("claim %d (job %s, claim nullifier %x…)", i, clip(req.GetJobId()), prefix(req.GetClaimNullifier()))
		nf := string(req.GetClaimNullifier())
		if prev, dup := seen[nf]; dup {
			bad("%s: the claim nullifier was used before, by %s", name, prev)
			continue
		}
		seen[nf] = name
		r.Claims++
		r.Credited += c.GetAmount()
		j := jobs[req.GetJobId()]
		if j == nil {
			bad("%s: no released transcript of the dataset names the job", name)
			continue
		}
		j.claims++
		j.credits += c.GetAmount()
		if c.GetAmount() != j.t.RewardPerRecord {
			bad("%s: credited %d micro-credits, the job's reward per record is %d", name, c.GetAmount(), j.t.RewardPerRecord)
		}
		if verifier == nil || !j.ok {
			continue
		}
		if err := verifyClaimProof(verifier, j.root, j.t, req); err != nil {
			bad("%s: %v", name, err)
		}
	}
	ids := make([]string, 0, len(jobs))
	for id := range jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		j := jobs[id]
		if j.claims > len(j.t.Records) {
			bad("job %s: %d claims for %d counted records", id, j.claims, len(j.t.Records))
		}
		if want := uint64(j.claims) * j.t.RewardPerRecord; j.credits != want {
			bad("job %s: %d micro-credits credited, %d claims × %d per record is %d", id, j.credits, j.claims, j.t.RewardPerRecord, want)
		}
		r.Jobs = append(r.Jobs, RewardJob{JobID: id, Counted: len(j.t.Records), Reward: j.t.RewardPerRecord, Claims: j.claims, Credited: j.credits})
	}
	return r
}

// verifyClaimProof checks one claim's proof against its job's root.
func verifyClaimProof(v *circuits.Verifier, root fr.Element, t *Transcript, req *cohortv1.ClaimRewardRequest) error {
	var nf fr.Element
	if err := nf.SetBytesCanonical(req.GetClaimNullifier()); err != nil {
		return fmt.Errorf("the claim nullifier is not a field element")
	}
	if len(req.GetProof()) == 0 {
		return fmt.Errorf("the node published no proof for it")
	}
	p := new(circuits.Proof)
	if err := p.UnmarshalBinary(req.GetProof()); err != nil {
		return fmt.Errorf("the proof does not decode: %v", err)
	}
	pub := circuits.ClaimPublic{Root: root, Job: circuits.JobField(t.JobID), Dataset: circuits.DatasetField(t.DatasetID),
		ClaimNullifier: nf, Payout: circuits.PayoutField(req.GetPayoutKey())}
	if err := v.Verify(circuits.Statement{Proof: p, Public: pub.Vector()}); err != nil {
		return fmt.Errorf("the proof does not verify for its job's root, claim nullifier and payout key")
	}
	return nil
}

// sameSigningKeys reports whether a and b name the same nodes' signing
// keys, in order.
func sameSigningKeys(a, b []*cohortv1.NodeInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].GetIndex() != b[i].GetIndex() || !bytes.Equal(a[i].GetSigningPublicKey(), b[i].GetSigningPublicKey()) {
			return false
		}
	}
	return true
}
