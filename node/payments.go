package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// A node's payment ledger (docs/design.md §6.8): every node keeps every
// buyer's balance and one escrow per priced job it takes part in, and
// changes them only in the store transaction of the state change that
// causes them. The coordinator holds the quote when it admits the job and
// settles or refunds it when the job ends; a peer holds it when it first
// prepares the job, settles it when it releases its partial and refunds it
// when the coordinator aborts the job.

// priced reports whether jobs on the dataset cost anything.
func priced(ds *dataset.Dataset) bool {
	return ds.Desc.GetPricePerRecord() > 0 || ds.Desc.GetJobFee() > 0
}

// jobEscrow is what a priced job holds on this node: the dataset's price
// and fee over its largest cohort.
func (n *Node) jobEscrow(ds *dataset.Dataset, jobID, buyer string) store.Escrow {
	return store.Escrow{
		JobID: jobID, Buyer: buyer, DatasetID: ds.Desc.GetId(),
		Price: ds.Desc.GetPricePerRecord(), Fee: ds.Desc.GetJobFee(), MaxCohort: ds.Schema.MaxCohort,
		HeldAt: n.now(),
	}
}

// fundsStatus is a hold the buyer's balance cannot pay: FailedPrecondition
// naming the balance; nothing was stored or charged.
func (n *Node) fundsStatus(jobID string, err error) error {
	var fe *store.InsufficientFundsError
	if errors.As(err, &fe) {
		return status.Errorf(codes.FailedPrecondition,
			"balance: on node %d buyer %q has %d micro-credits available, less than the job's quote of %d (price per record × the dataset's largest cohort + fee); nothing was stored or charged",
			n.opts.Index, fe.Buyer, fe.Available, fe.Quote)
	}
	if errors.Is(err, store.ErrInvalid) {
		return status.Errorf(codes.FailedPrecondition, "job %s: the quote cannot be held: %v", jobID, err)
	}
	if errors.Is(err, store.ErrNotFound) {
		return status.Errorf(codes.FailedPrecondition, "job %s: node %d does not know the buyer", jobID, n.opts.Index)
	}
	return n.internal("hold escrow", err)
}

// payJobEnd settles, inside tx, the escrow of a job that ended in st on
// this node: charged for cohort records when it was released (DONE),
// refunded in full otherwise. A job without an escrow (a free dataset)
// changes nothing; neither does a state that is not final.
func (n *env) payJobEnd(ctx context.Context, tx store.Tx, jobID string, st cohortv1.JobState, cohort uint64) error {
	if !enclave.Final(st) {
		return nil
	}
	var err error
	if st == cohortv1.JobState_JOB_STATE_DONE {
		_, err = tx.SettleEscrow(ctx, jobID, cohort, n.now())
	} else {
		_, err = tx.RefundEscrow(ctx, jobID, n.now())
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("settle escrow: %w", err)
	}
	return nil
}

// endJob writes a job's next state over from and, when it is final,
// settles its escrow and records what the end owes the other nodes
// (putJobNotices) in the same transaction (see payJobEnd); ErrConflict
// from UpdateJob is returned as is. Only a DONE job, which commit writes,
// does not end here.
func (n *env) endJob(ctx context.Context, next store.Job, from int32) error {
	if !enclave.Final(cohortv1.JobState(next.State)) {
		return n.store.UpdateJob(ctx, next, from)
	}
	return n.store.InTx(ctx, func(tx store.Tx) error {
		if err := tx.UpdateJob(ctx, next, from); err != nil {
			return err
		}
		if err := n.putJobNotices(ctx, tx, next.ID, cohortv1.JobState(next.State)); err != nil {
			return err
		}
		return n.payJobEnd(ctx, tx, next.ID, cohortv1.JobState(next.State), next.CohortSize)
	})
}

// abortPeers tells every node, in the background, that a job this node
// coordinated ended without a release, so that each releases nothing more
// and refunds its escrow; this node's own record of the round is aborted
// too. The notices were recorded with the job's final state (endJob):
// those not confirmed now are sent again every second, across restarts
// (notices.go). A node that had no record of the job is told again until
// the peer timeout has passed since the end: a prepare this node sent
// before the job ended ends by then, committed or not, so none can hold
// an escrow after that. A node that cannot be reached keeps its escrow
// held until it is told (AdminService.CheckBalances shows the
// difference meanwhile).
func (n *Node) abortPeers(jobID string, st cohortv1.JobState) {
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		n.sendJobNotices(n.ctx, n.jobNotices(jobID, st), nil)
	}()
}

// abortPeerJob aborts this node's record of a job from coordinator and
// refunds its escrow, in one transaction.
func (n *env) abortPeerJob(ctx context.Context, from uint32, jobID string, st cohortv1.JobState) error {
	p, err := n.store.GetPeerJob(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return status.Errorf(codes.NotFound, "node %d has no record of job %s", n.opts.Index, jobID)
	}
	if err != nil {
		return n.internal("read peer job", err)
	}
	rec := enclave.PeerRecord{JobID: p.JobID, Coordinator: p.Coordinator, State: enclave.PeerState(p.State)}
	next, err := enclave.PeerAbort(rec, from)
	if err != nil {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	err = n.store.InTx(ctx, func(tx store.Tx) error {
		if rec.State != enclave.PeerAborted {
			row := p
			row.State, row.UpdatedAt = store.PeerJobState(next.State), n.now()
			if err := tx.UpdatePeerJob(ctx, row, p.State); err != nil {
				return err
			}
		}
		if from == n.opts.Index {
			return nil // the coordinator's escrow ends with its job
		}
		_, err := tx.RefundEscrow(ctx, jobID, n.now())
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
			return nil // free, or refunded by an earlier abort
		}
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return status.Errorf(codes.Aborted, "job %s changed on node %d while this request ran; try again", jobID, n.opts.Index)
	}
	if err != nil {
		return n.internal("abort peer job", err)
	}
	n.log.Info("job aborted by its coordinator", "job", jobID, "coordinator", from, "state", st.String())
	return nil
}

// AbortJob is PeerService.AbortJob.
func (s *peerService) AbortJob(ctx context.Context, req *cohortv1.AbortJobRequest) (*cohortv1.AbortJobResponse, error) {
	from, ok := callerPeer(ctx)
	if !ok {
		return nil, status.Error(codes.PermissionDenied, "peer calls only")
	}
	if !validJobID(req.GetJobId()) {
		return nil, status.Error(codes.InvalidArgument, "job_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	switch req.GetState() {
	case cohortv1.JobState_JOB_STATE_REJECTED, cohortv1.JobState_JOB_STATE_FAILED, cohortv1.JobState_JOB_STATE_CANCELLED:
	default:
		return nil, status.Errorf(codes.InvalidArgument, "state %s: want REJECTED, FAILED or CANCELLED", req.GetState())
	}
	if err := s.n.abortPeerJob(ctx, from, req.GetJobId(), req.GetState()); err != nil {
		return nil, err
	}
	return &cohortv1.AbortJobResponse{}, nil
}

// settleSigned charges, when this node signs a job's transcript, the
// escrow of a job it prepared but released no partial for (an HE job whose
// decryption set left it out): the job is released over the cohort this
// node prepared, which the transcript's records were just checked to be.
// An escrow settled at the partial, refunded, or absent (a free job, or
// this node coordinates) is left as it is.
func (n *env) settleSigned(ctx context.Context, jobID string) error {
	p, err := n.store.GetPeerJob(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return n.internal("read peer job", err)
	}
	if p.State != store.PeerJobPrepared || p.Coordinator == n.opts.Index {
		return nil
	}
	_, err = n.store.SettleEscrow(ctx, jobID, p.Cohort, n.now())
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		return n.internal("settle escrow", err)
	}
	return nil
}

// balanceProto is the wire form of a balance.
func balanceProto(b store.Balance) *cohortv1.BuyerBalance {
	return &cohortv1.BuyerBalance{BuyerId: b.Buyer, Credited: b.Credited, Charged: b.Charged, Held: b.Held, Available: b.Available()}
}

// escrowProto is the wire form of an escrow.
func escrowProto(e store.Escrow) *cohortv1.Escrow {
	return &cohortv1.Escrow{
		JobId: e.JobID, DatasetId: e.DatasetID, State: cohortv1.EscrowState(e.State), PricePerRecord: e.Price, JobFee: e.Fee,
		MaxCohort: e.MaxCohort, Held: e.Held, Cohort: e.Cohort, Charged: e.Charged,
	}
}

// MaxCreditAmount bounds one credit, micro-credits.
const MaxCreditAmount = store.MaxAmount

// CreditBuyer records the credit on this node, then on every peer: each
// applies it once per credit id, so a retry after a peer failed completes
// it without crediting twice.
func (s *adminService) CreditBuyer(ctx context.Context, req *cohortv1.CreditBuyerRequest) (*cohortv1.CreditBuyerResponse, error) {
	c, err := creditOf(req.GetCreditId(), req.GetBuyerId(), req.GetAmount(), s.n.now().Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	b, err := s.n.credit(ctx, c)
	if err != nil {
		return nil, err
	}
	_, errs := fanOut(ctx, s.n, func(ctx context.Context, _ uint32, pc cohortv1.PeerServiceClient) (*cohortv1.StoreCreditResponse, error) {
		return pc.StoreCredit(ctx, &cohortv1.StoreCreditRequest{CreditId: c.ID, BuyerId: c.Buyer, Amount: c.Amount, CreditedAt: c.At.Unix()})
	})
	for _, i := range sortedKeys(errs) {
		return nil, status.Errorf(codes.Unavailable, "credit %q was recorded on node %d but node %d did not record it (%s); retry with the same credit_id",
			c.ID, s.n.opts.Index, i, status.Convert(errs[i]).Message())
	}
	s.n.log.Info("buyer credited", "buyer", c.Buyer, "credit", c.ID, "amount", c.Amount)
	return &cohortv1.CreditBuyerResponse{Balance: balanceProto(b)}, nil
}

// creditOf validates a credit's fields.
func creditOf(id, buyer string, amount uint64, at time.Time) (store.Credit, error) {
	if !validJobID(id) {
		return store.Credit{}, status.Error(codes.InvalidArgument, "credit_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	if !validBuyerID(buyer) {
		return store.Credit{}, status.Error(codes.InvalidArgument, "buyer_id: want 1..64 bytes of [A-Za-z0-9._-]")
	}
	if amount == 0 || amount > MaxCreditAmount {
		return store.Credit{}, status.Errorf(codes.InvalidArgument, "amount %d: want 1..%d micro-credits", amount, MaxCreditAmount)
	}
	return store.Credit{ID: id, Buyer: buyer, Amount: amount, At: at}, nil
}

// credit applies a credit to this node's ledger.
func (n *Node) credit(ctx context.Context, c store.Credit) (store.Balance, error) {
	b, err := n.store.CreditBuyer(ctx, c)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Balance{}, status.Errorf(codes.NotFound, "node %d has no buyer %q", n.opts.Index, c.Buyer)
	case errors.Is(err, store.ErrAlreadyExists):
		return store.Balance{}, status.Errorf(codes.AlreadyExists, "credit %q was used for another buyer or amount", c.ID)
	case errors.Is(err, store.ErrLimit):
		return store.Balance{}, status.Errorf(codes.ResourceExhausted, "buyer %q: the credited total would exceed %d micro-credits", c.Buyer, store.MaxAmount)
	case err != nil:
		return store.Balance{}, n.internal("credit buyer", err)
	}
	return b, nil
}

// StoreCredit is PeerService.StoreCredit.
func (s *peerService) StoreCredit(ctx context.Context, req *cohortv1.StoreCreditRequest) (*cohortv1.StoreCreditResponse, error) {
	c, err := creditOf(req.GetCreditId(), req.GetBuyerId(), req.GetAmount(), time.Unix(req.GetCreditedAt(), 0))
	if err != nil {
		return nil, err
	}
	if _, err := s.n.credit(ctx, c); err != nil {
		return nil, err
	}
	return &cohortv1.StoreCreditResponse{}, nil
}

// GetBalance is BuyerService.GetBalance.
func (s *buyerService) GetBalance(ctx context.Context, req *cohortv1.GetBalanceRequest) (*cohortv1.GetBalanceResponse, error) {
	b, err := buyerOf(ctx)
	if err != nil {
		return nil, err
	}
	resp := new(cohortv1.GetBalanceResponse)
	if req.GetJobId() != "" {
		j, err := s.n.ownJob(ctx, req.GetJobId())
		if err != nil {
			return nil, err
		}
		e, err := s.n.store.GetEscrow(ctx, j.ID)
		if err == nil {
			resp.Escrow = escrowProto(e)
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, s.n.internal("read escrow", err)
		}
	}
	bal, err := s.n.store.BuyerBalance(ctx, b.ID)
	if err != nil {
		return nil, s.n.internal("read balance", err)
	}
	resp.Balance = balanceProto(bal)
	return resp, nil
}

// GetBalances is PeerService.GetBalances.
func (s *peerService) GetBalances(ctx context.Context, req *cohortv1.GetBalancesRequest) (*cohortv1.GetBalancesResponse, error) {
	rows, next, err := s.n.store.ListBalances(ctx, req.GetPageToken(), store.MaxPageSize)
	if err != nil {
		return nil, s.n.listStatus("list balances", err)
	}
	resp := &cohortv1.GetBalancesResponse{NextPageToken: next}
	for _, b := range rows {
		resp.Balances = append(resp.Balances, balanceProto(b))
	}
	return resp, nil
}

// MaxCheckedBalances bounds the balances CheckBalances reads from one node.
const MaxCheckedBalances = 100 * store.MaxPageSize

// CheckBalances reads every node's ledger and lists the buyers whose
// balances differ: after every job has ended on every node, they agree.
func (s *adminService) CheckBalances(ctx context.Context, _ *cohortv1.CheckBalancesRequest) (*cohortv1.CheckBalancesResponse, error) {
	n := s.n
	own, err := collectBalances(ctx, func(ctx context.Context, tok string) (*cohortv1.GetBalancesResponse, error) {
		return (&peerService{n: n}).GetBalances(ctx, &cohortv1.GetBalancesRequest{PageToken: tok})
	})
	if err != nil {
		return nil, err
	}
	ledgers := map[uint32][]*cohortv1.BuyerBalance{n.opts.Index: own}
	resp := new(cohortv1.CheckBalancesResponse)
	vals, errs := fanOut(ctx, n, func(ctx context.Context, _ uint32, c cohortv1.PeerServiceClient) ([]*cohortv1.BuyerBalance, error) {
		return collectBalances(ctx, func(ctx context.Context, tok string) (*cohortv1.GetBalancesResponse, error) {
			return c.GetBalances(ctx, &cohortv1.GetBalancesRequest{PageToken: tok})
		})
	})
	for i, v := range vals {
		ledgers[i] = v
	}
	resp.Unreachable = sortedKeys(errs)
	resp.DisagreeingBuyers = disagreeing(ledgers)
	for _, i := range sortedKeys(ledgers) {
		resp.Nodes = append(resp.Nodes, &cohortv1.NodeBalances{NodeIndex: i, Balances: ledgers[i]})
	}
	return resp, nil
}

// collectBalances reads a ledger page by page, up to MaxCheckedBalances.
func collectBalances(ctx context.Context, page func(context.Context, string) (*cohortv1.GetBalancesResponse, error)) ([]*cohortv1.BuyerBalance, error) {
	var out []*cohortv1.BuyerBalance
	for tok := ""; ; {
		r, err := page(ctx, tok)
		if err != nil {
			return nil, err
		}
		out = append(out, r.GetBalances()...)
		if len(out) > MaxCheckedBalances {
			return nil, status.Errorf(codes.ResourceExhausted, "more than %d balances", MaxCheckedBalances)
		}
		if r.GetNextPageToken() == "" || r.GetNextPageToken() == tok {
			return out, nil
		}
		tok = r.GetNextPageToken()
	}
}

// disagreeing lists, sorted, the buyers whose balance is not the same in
// every ledger (a buyer missing from a ledger has the zero balance there).
func disagreeing(ledgers map[uint32][]*cohortv1.BuyerBalance) []string {
	type amounts struct{ credited, charged, held uint64 }
	byBuyer := map[string]map[uint32]amounts{}
	for i, l := range ledgers {
		for _, b := range l {
			if byBuyer[b.GetBuyerId()] == nil {
				byBuyer[b.GetBuyerId()] = map[uint32]amounts{}
			}
			byBuyer[b.GetBuyerId()][i] = amounts{b.GetCredited(), b.GetCharged(), b.GetHeld()}
		}
	}
	var out []string
	for buyer, per := range byBuyer {
		var first *amounts
		for i := range ledgers {
			a := per[i]
			if first == nil {
				first = &a
			} else if a != *first {
				out = append(out, buyer)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// sortedKeys returns a map's node indices in order.
func sortedKeys[T any](m map[uint32]T) []uint32 {
	out := make([]uint32, 0, len(m))
	for i := range m {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}
