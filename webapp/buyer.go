package webapp

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/cohort-dev/cohort/client"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/render"
)

// buyer returns the buyer client, or the error that the app has no token.
func (s *Server) buyer() (*client.Buyer, error) {
	if s.cfg.Buyer == nil {
		return nil, errorf(http.StatusConflict, "FailedPrecondition", "the app has no buyer token: restart it with --token-file FILE (or COHORT_BUYER_TOKEN)")
	}
	return s.cfg.Buyer, nil
}

// jobRequest is the job builder's form. It becomes the job YAML that
// "cohort buyer submit" reads (client.ParseJobSpec; JSON is YAML), so the
// page and the command line accept exactly the same jobs.
type jobRequest struct {
	Dataset   string          `json:"dataset"`
	Purpose   string          `json:"purpose"`
	Epoch     json.RawMessage `json:"epoch,omitempty"` // a number or "current"; default current
	MinCohort *uint32         `json:"min_cohort,omitempty"`
	Rho       string          `json:"rho,omitempty"` // exact decimal or fraction; only for a noisy policy
	Outputs   []outputRequest `json:"outputs"`
}

type outputRequest struct {
	Kind     string   `json:"kind"`               // count, sum, mean, variance, stddev, histogram, covariance, correlation, linear_regression, logistic_regression
	Field    string   `json:"field,omitempty"`    // sum … histogram
	Fields   []string `json:"fields,omitempty"`   // covariance, correlation
	Target   string   `json:"target,omitempty"`   // regressions
	Features []string `json:"features,omitempty"` // regressions
}

// maxChargesListed bounds the jobs whose charge the job list reads from
// the node (one call each).
const maxChargesListed = 50

// maxOutputs bounds the outputs a form may carry before the spec's own
// checks.
const maxOutputs = 64

// specDocument writes the form as a job YAML document (in its JSON form).
func (j jobRequest) specDocument() ([]byte, error) {
	if len(j.Outputs) == 0 {
		return nil, badRequest("choose at least one output")
	}
	if len(j.Outputs) > maxOutputs {
		return nil, badRequest("%d outputs: at most %d", len(j.Outputs), maxOutputs)
	}
	doc := map[string]any{"dataset": j.Dataset, "purpose": j.Purpose, "epoch": "current"}
	if len(j.Epoch) > 0 {
		var n uint64
		var cur string
		switch {
		case json.Unmarshal(j.Epoch, &n) == nil:
			doc["epoch"] = n
		case json.Unmarshal(j.Epoch, &cur) == nil && cur == "current":
		default:
			return nil, badRequest("epoch: give a number or \"current\"")
		}
	}
	if j.MinCohort != nil {
		doc["min_cohort"] = *j.MinCohort
	}
	if j.Rho != "" {
		doc["privacy"] = map[string]string{"rho": j.Rho}
	}
	outs := make([]any, 0, len(j.Outputs))
	for _, o := range j.Outputs {
		switch o.Kind {
		case "count":
			outs = append(outs, "count")
		case "sum", "mean", "variance", "stddev", "histogram":
			outs = append(outs, map[string]string{o.Kind: o.Field})
		case "covariance", "correlation":
			outs = append(outs, map[string][]string{o.Kind: o.Fields})
		case "linear_regression", "logistic_regression":
			outs = append(outs, map[string]any{o.Kind: map[string]any{"target": o.Target, "features": o.Features}})
		default:
			return nil, badRequest("unknown output %q", o.Kind)
		}
	}
	doc["outputs"] = outs
	return json.Marshal(doc)
}

// jobJSON is a job as the pages show it.
type jobJSON struct {
	ID           string `json:"id"`
	Dataset      string `json:"dataset"`
	State        string `json:"state"` // submitted, admitted, aggregating, done, rejected, failed, cancelled
	Final        bool   `json:"final"`
	Reason       string `json:"reason,omitempty"`
	Progress     string `json:"progress,omitempty"`
	Eligible     uint64 `json:"eligible_records"`
	Cohort       uint64 `json:"cohort"`
	TranscriptID string `json:"transcript_id,omitempty"`
	Rho          string `json:"rho,omitempty"`
	SubmittedAt  string `json:"submitted_at"`
	UpdatedAt    string `json:"updated_at"`
	// Charge is the job's escrow in the node's ledger; absent for a job
	// on a free dataset (nothing held) or where it was not asked.
	Charge *chargeJSON `json:"charge,omitempty"`
}

// chargeJSON is what a job holds or was charged, micro-credits.
type chargeJSON struct {
	State    string `json:"state"` // held, settled, refunded
	Held     uint64 `json:"held"`  // the quote: price × largest cohort + fee
	Charged  uint64 `json:"charged"`
	Refunded uint64 `json:"refunded"`
	Price    uint64 `json:"price_per_record"`
	Fee      uint64 `json:"job_fee"`
}

// withCharge adds the job's escrow, as the node's ledger holds it.
func withCharge(ctx context.Context, b *client.Buyer, js *jobJSON) error {
	resp, err := b.Balance(ctx, js.ID)
	if err != nil {
		return err
	}
	e := resp.GetEscrow()
	if e == nil {
		return nil
	}
	c := &chargeJSON{State: enumName(e.GetState().String(), "ESCROW_STATE_"), Held: e.GetHeld(), Charged: e.GetCharged(), Price: e.GetPricePerRecord(), Fee: e.GetJobFee()}
	switch e.GetState() {
	case cohortv1.EscrowState_ESCROW_STATE_SETTLED:
		c.Refunded = e.GetHeld() - min(e.GetCharged(), e.GetHeld())
	case cohortv1.EscrowState_ESCROW_STATE_REFUNDED:
		c.Refunded = e.GetHeld()
	}
	js.Charge = c
	return nil
}

func jobSummary(j *cohortv1.Job) *jobJSON {
	return &jobJSON{
		ID:           j.GetJobId(),
		Dataset:      j.GetSpec().GetDatasetId(),
		State:        enumName(j.GetState().String(), "JOB_STATE_"),
		Final:        client.FinalState(j.GetState()),
		Reason:       j.GetReason(),
		Progress:     j.GetProgress(),
		Eligible:     j.GetEligibleRecords(),
		Cohort:       j.GetCohortSize(),
		TranscriptID: j.GetTranscriptId(),
		Rho:          j.GetRho(),
		SubmittedAt:  apiTime(j.GetSubmittedAt()),
		UpdatedAt:    apiTime(j.GetUpdatedAt()),
	}
}

// handleSubmit submits the job and starts following it (WatchJob) as a
// task the page polls.
func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) {
	b, err := s.buyer()
	if err != nil {
		writeError(w, err)
		return
	}
	var req jobRequest
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	doc, err := req.specDocument()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	spec, err := client.ParseJobSpec(doc, func(id string) (uint64, error) { return b.CurrentEpoch(ctx, id) })
	if err != nil {
		writeError(w, err)
		return
	}
	job, err := b.SubmitJob(ctx, spec, "")
	if err != nil {
		writeError(w, err)
		return
	}
	first := jobSummary(job)
	taskID, err := s.tasks.start("job", func(update func(func(*task))) (any, error) {
		update(func(t *task) { t.Stage, t.Result = first.State, first })
		wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Hour)
		defer wcancel()
		final, err := b.WatchJob(wctx, job.GetJobId(), func(j *cohortv1.Job) {
			js := jobSummary(j)
			update(func(t *task) { t.Stage, t.Result = js.State, js })
		})
		if err != nil {
			return nil, err
		}
		return jobSummary(final), nil
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Task string   `json:"task"`
		Job  *jobJSON `json:"job"`
	}{taskID, first})
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) {
	b, err := s.buyer()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	list, err := b.Jobs(ctx, client.JobFilter{DatasetID: r.URL.Query().Get("dataset")})
	if err != nil {
		writeError(w, err)
		return
	}
	out := struct {
		Jobs []*jobJSON `json:"jobs"`
	}{Jobs: []*jobJSON{}}
	for i, j := range list {
		js := jobSummary(j)
		// The charges of the most recent jobs; older ones on their own page.
		if i < maxChargesListed {
			if err := withCharge(ctx, b, js); err != nil {
				writeError(w, err)
				return
			}
		}
		out.Jobs = append(out.Jobs, js)
	}
	writeJSON(w, out)
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	b, err := s.buyer()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	j, err := b.Job(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	js := jobSummary(j)
	if err := withCharge(ctx, b, js); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, js)
}

// handleResult answers the job's result as the results document
// (render.ResultsJSON, the format of "cohort buyer result --json"), whose
// one job the page draws as tables and charts, with the ρ left after it.
func (s *Server) handleResult(w http.ResponseWriter, r *http.Request) {
	b, err := s.buyer()
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	j, err := b.Job(ctx, r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := b.Result(ctx, j.GetJobId())
	if err != nil {
		writeError(w, err)
		return
	}
	jr := render.JobResult{Job: j, Result: res}
	if res.GetRelease().GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_DISCRETE_GAUSSIAN {
		sp := j.GetSpec()
		if bud, err := b.Budget(ctx, sp.GetDatasetId(), sp.GetEpochFrom(), sp.GetEpochTo()); err == nil {
			jr.BudgetLeft = bud.GetAvailableRho()
		}
	}
	doc, err := render.ResultsJSON(res.GetDatasetId(), []render.JobResult{jr})
	if err != nil {
		writeError(w, err)
		return
	}
	js := jobSummary(j)
	if err := withCharge(ctx, b, js); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, struct {
		Job     *jobJSON        `json:"job"`
		Results json.RawMessage `json:"results"`
	}{js, doc})
}

// handleBudget answers the buyer's budget on a dataset's epochs (?from=,
// ?to=; default the current epoch).
func (s *Server) handleBudget(w http.ResponseWriter, r *http.Request) {
	b, err := s.buyer()
	if err != nil {
		writeError(w, err)
		return
	}
	dsID := r.URL.Query().Get("dataset")
	ds, err := s.dataset(r, dsID)
	if err != nil {
		writeError(w, err)
		return
	}
	cur := ds.Schema.Epoch.Index(time.Now())
	from, to := cur, cur
	for _, p := range []struct {
		name string
		v    *uint64
	}{{"from", &from}, {"to", &to}} {
		if q := r.URL.Query().Get(p.name); q != "" {
			n, err := strconv.ParseUint(q, 10, 32)
			if err != nil {
				writeError(w, badRequest("%s %q: give an epoch number", p.name, q))
				return
			}
			*p.v = n
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	resp, err := b.Budget(ctx, dsID, from, to)
	if err != nil {
		writeError(w, err)
		return
	}
	type epochJSON struct {
		Epoch      uint64 `json:"epoch"`
		SpentAll   string `json:"spent_all"`
		TotalAll   string `json:"total_all"`
		SpentBuyer string `json:"spent_buyer"`
		TotalBuyer string `json:"total_buyer"`
	}
	out := struct {
		Dataset   string       `json:"dataset"`
		Mechanism string       `json:"mechanism"`
		Exact     bool         `json:"exact"` // no budget applies
		Available string       `json:"available_rho"`
		Epochs    []epochJSON  `json:"epochs"`
		Balance   *balanceJSON `json:"balance,omitempty"` // absent if the node did not answer it
	}{
		Dataset:   dsID,
		Mechanism: enumName(resp.GetPolicy().GetMechanism().String(), "RELEASE_MECHANISM_"),
		Exact:     resp.GetPolicy().GetMechanism() == cohortv1.ReleaseMechanism_RELEASE_MECHANISM_EXACT_INSECURE_DEV,
		Available: resp.GetAvailableRho(),
		Epochs:    []epochJSON{},
	}
	for _, e := range resp.GetEpochs() {
		out.Epochs = append(out.Epochs, epochJSON{e.GetEpoch(), e.GetEpochSpentAfter(), e.GetEpochTotal(), e.GetBuyerSpentAfter(), e.GetBuyerTotal()})
	}
	if bal, err := b.Balance(ctx, ""); err == nil {
		v := bal.GetBalance()
		out.Balance = &balanceJSON{Credited: v.GetCredited(), Charged: v.GetCharged(), Held: v.GetHeld(), Available: v.GetAvailable()}
	}
	writeJSON(w, out)
}

// balanceJSON is the buyer's payment balance on the node, in micro-credits.
type balanceJSON struct {
	Credited  uint64 `json:"credited"`
	Charged   uint64 `json:"charged"`
	Held      uint64 `json:"held"` // in escrow for jobs not ended
	Available uint64 `json:"available"`
}
