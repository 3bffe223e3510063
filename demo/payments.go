package demo

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/render"
)

// The demo's money (docs/design.md §6.8): the dataset is priced per
// counted record with a fee per job, the buyer is credited before the
// jobs, each job holds its largest quote in escrow, is charged price ×
// cohort + fee on release and refunded the rest; after the jobs, some
// contributors claim each job's reward per counted record, anonymously,
// with keys from the federation's claim ceremony.
const (
	// PricePerRecord and JobFee are the demo dataset's prices, in
	// micro-credits.
	PricePerRecord = 5
	JobFee         = 100
	// BuyerCredit is what the demo credits its buyer, micro-credits: more
	// than a job's largest quote (5 × the schema's max_cohort of 1,000,000
	// + 100), which each job holds in escrow while it runs.
	BuyerCredit = 20_000_000
	// Claimants is how many contributors claim their rewards.
	Claimants = 2
)

// claimKeys runs the claim keys' ceremony on node 0, among every node.
func (r *run) claimKeys(ctx context.Context) error {
	began := time.Now()
	api, actx, done, err := r.fed.admin(ctx, 0)
	if err != nil {
		return err
	}
	defer done()
	source := fmt.Sprintf("cohort demo claim keys, %s: no external beacon; each phase's beacon is derived from its last contribution", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(r.out, "           claim keys: the Groth16 ceremony of the claim circuit among the %d nodes…\n", Nodes)
	resp, err := api.SetupClaimKeys(actx, &cohortv1.SetupClaimKeysRequest{BeaconSource: source})
	if err != nil {
		return rpcErr("set up the claim keys", err)
	}
	rec := resp.GetCeremony()
	vkd := sha256.Sum256(rec.GetVerifyingKey())
	r.step(began, "claim keys from ceremony %s: %d contributions, each attested by its node, the record signed by every node; verifying key %x…",
		rec.GetCeremony().GetCeremonyId(), len(rec.GetContributions()), vkd[:6])
	return nil
}

// credit credits the demo buyer on every node.
func (r *run) credit(ctx context.Context, buyerID string) error {
	api, actx, done, err := r.fed.admin(ctx, 0)
	if err != nil {
		return err
	}
	defer done()
	if _, err := api.CreditBuyer(actx, &cohortv1.CreditBuyerRequest{BuyerId: buyerID, Amount: BuyerCredit, CreditId: "demo-credit-1"}); err != nil {
		return rpcErr("credit the buyer", err)
	}
	return nil
}

// charge reads what job j was charged and prints it.
func (r *run) charge(ctx context.Context, b *client.Buyer, j *jobRun) error {
	resp, err := b.Balance(ctx, j.job.GetJobId())
	if err != nil {
		return err
	}
	e := resp.GetEscrow()
	if e == nil {
		fmt.Fprintf(r.out, "           charge: none (the job paid nothing)\n")
		return nil
	}
	if e.GetState() != cohortv1.EscrowState_ESCROW_STATE_SETTLED || e.GetCharged() > e.GetHeld() {
		return fmt.Errorf("demo: job %s's escrow is %s (held %d, charged %d), want it settled", j.job.GetJobId(), e.GetState(), e.GetHeld(), e.GetCharged())
	}
	j.charge = e
	fmt.Fprintf(r.out, "           charge: %d micro-credits (%d per record × %d counted + %d fee); %d of the %d held in escrow refunded\n",
		e.GetCharged(), e.GetPricePerRecord(), e.GetCohort(), e.GetJobFee(), e.GetHeld()-e.GetCharged(), e.GetHeld())
	return nil
}

// balance prints the buyer's balance after the jobs.
func (r *run) balance(ctx context.Context, b *client.Buyer) error {
	resp, err := b.Balance(ctx, "")
	if err != nil {
		return err
	}
	bal := resp.GetBalance()
	fmt.Fprintf(r.out, "           buyer's balance: credited %d, charged %d, held %d, available %d micro-credits\n",
		bal.GetCredited(), bal.GetCharged(), bal.GetHeld(), bal.GetAvailable())
	return nil
}

// claims has the first Claimants contributors whose records the jobs
// counted claim every job's reward, each to a fresh payout key of their
// own, proving on their side; then one claims a job again, which every
// node refuses. It records the claims on the jobs.
func (r *run) claims(ctx context.Context, d *contributorSet, jobs []*jobRun) error {
	if r.o.ExactInsecureDev {
		fmt.Fprintln(r.out, "           exact release (development): no claim keys were made and no rewards are claimed")
		return nil
	}
	var paying []*jobRun
	for _, j := range jobs {
		if j.reward > 0 {
			paying = append(paying, j)
		}
	}
	if len(paying) == 0 {
		fmt.Fprintln(r.out, "           no job pays a reward per record (its transcript says 0): nothing to claim")
		return nil
	}
	began := time.Now()
	claimed := 0
	var again struct {
		id  *client.Identity
		job string
		c   *client.Client
	}
	for i := 0; i < len(d.ids) && claimed < Claimants; i++ {
		id, c := d.ids[i], d.client(i)
		if id == nil {
			continue
		}
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			return err
		}
		var total uint64
		counted := true
		for _, j := range paying {
			t := time.Now()
			cl, err := c.ClaimReward(ctx, id, j.job.GetJobId(), pub, nil)
			if errors.Is(err, client.ErrNotCounted) {
				counted = false
				break
			}
			if err != nil {
				return fmt.Errorf("demo: contributor %d's claim of job %s: %w", i, j.job.GetJobId(), err)
			}
			if cl.SetupKind != cohortv1.SetupKind_SETUP_KIND_CEREMONY {
				return fmt.Errorf("demo: the claim keys are not the ceremony's (%s)", cl.SetupKind)
			}
			total += cl.Response.GetAmount()
			j.claims = append(j.claims, render.RewardClaim{PayoutKey: pub, Amount: cl.Response.GetAmount(), ClaimedAt: cl.Response.GetClaimedAt().GetSeconds()})
			fmt.Fprintf(r.out, "           contributor %d claimed job %s through node %d: +%d micro-credits to a fresh payout key %x… (proved in %s)\n",
				i, j.job.GetJobId(), i%Nodes, cl.Response.GetAmount(), pub[:4], since(t))
			again.id, again.job, again.c = id, j.job.GetJobId(), d.client(i+1)
		}
		if !counted {
			continue
		}
		// The account is the same on every node.
		p, err := d.client(i+1).Payout(ctx, pub)
		if err != nil {
			return err
		}
		if p.GetCredited() != total {
			return fmt.Errorf("demo: contributor %d's payout account holds %d on node %d, claims credited %d", i, p.GetCredited(), (i+1)%Nodes, total)
		}
		fmt.Fprintf(r.out, "           contributor %d's payout account %x…: %d micro-credits from %d claims (read on node %d)\n",
			i, pub[:4], p.GetCredited(), p.GetClaims(), (i+1)%Nodes)
		claimed++
	}
	if again.id != nil {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			return err
		}
		_, err = again.c.ClaimReward(ctx, again.id, again.job, pub, nil)
		if !isAlreadyExists(err) {
			return fmt.Errorf("demo: a second claim of job %s was not refused: %v", again.job, err)
		}
		fmt.Fprintf(r.out, "           a second claim of job %s by the same contributor, at another node under another payout key: refused (AlreadyExists)\n", again.job)
	}
	r.step(began, "%d contributors claimed their rewards anonymously: the nodes learned that some counted record of each job was claimed, not whose", claimed)
	return nil
}

// isAlreadyExists reports whether err carries the AlreadyExists status.
func isAlreadyExists(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.AlreadyExists
}
