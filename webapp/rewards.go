package webapp

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Rewards (docs/design.md §6.8): the page lists the open identity's
// rewards (client.Rewards, searched in this process), claims one as a task
// (client.ClaimInto: proved here, paid to a fresh payout key in the
// payouts directory beside the identity file, remembered in its claim
// book) and shows the payout keys' balance. Neither the identity secret nor
// a payout private key is in any response.

// claimSteps are client.ClaimReward's steps, in order: the task's
// progress is the step reached.
var claimSteps = []string{
	"fetching the job's transcript",
	"fetching the claim proving key",
	"compiling the claim circuit",
	"proving the claim",
	"submitting the claim",
}

// rewardJSON is a reward as the page shows it.
type rewardJSON struct {
	Job        string   `json:"job"`
	Dataset    string   `json:"dataset"`
	ReleasedAt string   `json:"released_at"`
	Cohort     uint64   `json:"cohort"`
	Reward     uint64   `json:"reward"` // micro-credits per claim
	Epochs     []uint64 `json:"epochs"`
	Status     string   `json:"status"` // claimable, claimed, claimed_elsewhere
	Amount     uint64   `json:"amount,omitempty"`
	ClaimedAt  string   `json:"claimed_at,omitempty"`
	PayoutKey  string   `json:"payout_key,omitempty"` // public key, hex
}

func rewardSummary(r client.Reward) rewardJSON {
	out := rewardJSON{
		Job: r.JobID, Dataset: r.DatasetID, ReleasedAt: r.ReleasedAt.UTC().Format(time.RFC3339),
		Cohort: r.CohortSize, Reward: r.PerRecord, Epochs: r.Epochs, Status: "claimable",
	}
	if c := r.Claimed; c != nil {
		out.Status, out.Amount, out.PayoutKey = "claimed", c.Amount, c.PayoutKey
		out.ClaimedAt = c.ClaimedAt.UTC().Format(time.RFC3339)
		if c.Elsewhere {
			out.Status = "claimed_elsewhere"
		}
	}
	return out
}

// payoutsJSON is the balance of the payout keys in the payouts directory.
type payoutsJSON struct {
	Dir   string          `json:"dir"`
	Keys  []payoutKeyJSON `json:"keys"`
	Total uint64          `json:"total"`
}

// payoutKeyJSON is one payout key's account on the node.
type payoutKeyJSON struct {
	PayoutKey string `json:"payout_key"` // public key, hex
	Credited  uint64 `json:"credited"`
	Claims    uint64 `json:"claims"`
}

// payouts reads the node's account of every payout key beside the
// identity file at idPath.
func (s *Server) payouts(ctx context.Context, idPath string) (*payoutsJSON, error) {
	out := &payoutsJSON{Dir: client.PayoutsDir(idPath), Keys: []payoutKeyJSON{}}
	files, err := client.PayoutKeyFiles(out.Dir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		pub, err := client.LoadPayoutKey(f)
		if err != nil {
			return nil, err
		}
		p, err := s.cfg.Client.Payout(ctx, pub)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, payoutKeyJSON{hex.EncodeToString(pub), p.GetCredited(), p.GetClaims()})
		out.Total += p.GetCredited()
	}
	return out, nil
}

// handleRewards lists the open identity's rewards on ?dataset= and the
// payout balance.
func (s *Server) handleRewards(w http.ResponseWriter, r *http.Request) {
	idPath, id, err := s.identity()
	if err != nil {
		writeError(w, err)
		return
	}
	dsID := r.URL.Query().Get("dataset")
	if _, err := s.dataset(r, dsID); err != nil {
		writeError(w, err)
		return
	}
	book, err := client.OpenClaimBook(client.ClaimBookPath(idPath))
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*callTimeout)
	defer cancel()
	rewards, err := s.cfg.Client.Rewards(ctx, id, dsID, book)
	if err != nil {
		writeError(w, err)
		return
	}
	bal, err := s.payouts(ctx, idPath)
	if err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		Rewards   []rewardJSON `json:"rewards"`
		Claimable uint64       `json:"claimable"` // micro-credits not claimed yet
		Payouts   *payoutsJSON `json:"payouts"`
	}{Rewards: []rewardJSON{}, Payouts: bal}
	for _, rw := range rewards {
		js := rewardSummary(rw)
		if js.Status == "claimable" {
			out.Claimable += js.Reward
		}
		out.Rewards = append(out.Rewards, js)
	}
	writeJSON(w, out)
}

// claimResult is a finished claim.
type claimResult struct {
	Job         string `json:"job"`
	Amount      uint64 `json:"amount"`
	PayoutKey   string `json:"payout_key"` // public key, hex
	ClaimedAt   string `json:"claimed_at"`
	InsecureDev bool   `json:"insecure_dev"` // the claim keys come from a single-party setup
}

// handleClaim starts claiming a job's reward for the open identity as a
// task; it answers with the task id at once. Claims run one at a time.
func (s *Server) handleClaim(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Job string `json:"job"`
	}
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.Job == "" {
		writeError(w, badRequest("name the job whose reward to claim"))
		return
	}
	idPath, id, err := s.identity()
	if err != nil {
		writeError(w, err)
		return
	}
	if id.Member == nil {
		writeError(w, errorf(http.StatusConflict, "FailedPrecondition", "this identity is not registered: it has no record to claim for"))
		return
	}
	taskID, err := s.tasks.start("claim", func(update func(func(*task))) (any, error) {
		s.claimMu.Lock()
		defer s.claimMu.Unlock()
		book, err := client.OpenClaimBook(client.ClaimBookPath(idPath))
		if err != nil {
			return nil, err
		}
		keyFile := filepath.Join(client.PayoutsDir(idPath), fmt.Sprintf("%s-%d.pem", req.Job, time.Now().UnixNano()))
		pub, err := client.NewPayoutKey(keyFile)
		if err != nil {
			return nil, fmt.Errorf("making a payout key: %w", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
		defer cancel()
		update(func(t *task) { t.Total = len(claimSteps) })
		claim, err := s.cfg.Client.ClaimInto(ctx, book, id, req.Job, pub, keyFile, func(step string) {
			done := 0
			for i, st := range claimSteps {
				if st == step {
					done = i
				}
			}
			update(func(t *task) { t.Stage, t.Done = step, done })
		})
		if status.Code(err) == codes.AlreadyExists {
			return nil, errorf(http.StatusConflict, "AlreadyExists", "the node says this job's reward was claimed already for your identity (from this computer or another); each person claims a job once")
		}
		if claim == nil {
			return nil, err
		}
		update(func(t *task) { t.Done = len(claimSteps) })
		res := claimResult{
			Job: req.Job, Amount: claim.Response.GetAmount(), PayoutKey: hex.EncodeToString(pub),
			ClaimedAt:   apiTime(claim.Response.GetClaimedAt()),
			InsecureDev: claim.SetupKind == cohortv1.SetupKind_SETUP_KIND_INSECURE_DEV,
		}
		return res, err
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Task  string `json:"task"`
		Steps int    `json:"steps"`
	}{taskID, len(claimSteps)})
}
