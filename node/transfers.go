package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/attest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/store"
)

// Payout transfers and statements (docs/design.md §6.8). A transfer moves
// micro-credits from a payout account to a buyer's balance on the order of
// the payout key's holder, signed by the payout key and named by a
// transfer id. It is checked by the node that receives it, ordered by the
// registry sequencer — the one node that decides whether the transfer id
// is new and the account holds enough, recording the transfer, debiting
// the account and crediting the buyer in one transaction — and then sent
// to every other node, which checks it again and records it the same way,
// so the ledgers agree. A statement is one node's signed reading of a
// payout account, for whoever settles the account outside the federation.

// decodeTransfer checks a transfer request's fields and the payout key's
// signature: a malformed field is InvalidArgument, a signature that does
// not verify PermissionDenied.
func decodeTransfer(req *cohortv1.TransferPayoutRequest, at time.Time) (store.PayoutTransfer, error) {
	var t store.PayoutTransfer
	if len(req.GetPayoutKey()) != ed25519.PublicKeySize {
		return t, status.Errorf(codes.InvalidArgument, "payout_key: %d bytes, want an Ed25519 public key of %d", len(req.GetPayoutKey()), ed25519.PublicKeySize)
	}
	if !validBuyerID(req.GetBuyerId()) {
		return t, status.Error(codes.InvalidArgument, "buyer_id: not a buyer id")
	}
	if req.GetAmount() == 0 || req.GetAmount() > store.MaxAmount {
		return t, status.Errorf(codes.InvalidArgument, "amount: %d micro-credits, want 1..%d", req.GetAmount(), store.MaxAmount)
	}
	if !validJobID(req.GetTransferId()) {
		return t, status.Error(codes.InvalidArgument, "transfer_id: want 1..64 bytes of [A-Za-z0-9-]")
	}
	t = store.PayoutTransfer{ID: req.GetTransferId(), PayoutKey: [32]byte(req.GetPayoutKey()), Buyer: req.GetBuyerId(),
		Amount: req.GetAmount(), Signature: bytes.Clone(req.GetSignature()), TransferredAt: at}
	if err := attest.Verify(req.GetPayoutKey(), transferStatement(t), req.GetSignature()); err != nil {
		return t, status.Error(codes.PermissionDenied, "signature: not the payout key's signature of this transfer")
	}
	return t, nil
}

func transferStatement(t store.PayoutTransfer) attest.PayoutTransfer {
	return attest.PayoutTransfer{PayoutKey: t.PayoutKey, BuyerID: t.Buyer, Amount: t.Amount, TransferID: t.ID}
}

// sameTransfer reports whether a and b are one order.
func sameTransfer(a, b store.PayoutTransfer) bool {
	return a.ID == b.ID && a.PayoutKey == b.PayoutKey && a.Buyer == b.Buyer && a.Amount == b.Amount
}

// recordTransfer records a checked transfer on this node. A transfer id
// used before is AlreadyExists, unless same (the same order: the
// transfer this node already holds) accepts it as recorded.
func (n *Node) recordTransfer(ctx context.Context, t store.PayoutTransfer, same bool) (store.Payout, error) {
	p, _, err := n.store.TransferPayout(ctx, t)
	var exists *store.TransferExistsError
	switch {
	case errors.As(err, &exists):
		if same && sameTransfer(exists.Stored, t) {
			p, err := n.store.GetPayout(ctx, t.PayoutKey)
			if err != nil {
				return p, n.internal("read payout", err)
			}
			return p, nil
		}
		return p, status.Errorf(codes.AlreadyExists, "transfer %q was recorded at %s", t.ID, exists.Stored.TransferredAt.UTC().Format(time.RFC3339))
	case errors.Is(err, store.ErrNotFound):
		return p, status.Errorf(codes.NotFound, "node %d has no buyer %q", n.opts.Index, t.Buyer)
	case errors.Is(err, store.ErrInsufficientFunds):
		return p, status.Errorf(codes.FailedPrecondition, "the payout account holds less than %d micro-credits on node %d", t.Amount, n.opts.Index)
	case errors.Is(err, store.ErrLimit):
		return p, status.Errorf(codes.ResourceExhausted, "buyer %q: the credited total would exceed %d micro-credits", t.Buyer, store.MaxAmount)
	case err != nil:
		return p, n.internal("transfer payout", err)
	}
	return p, nil
}

// TransferPayout is ContributorService.TransferPayout: the transfer is
// checked here, then ordered by the sequencer.
func (s *contributorService) TransferPayout(ctx context.Context, req *cohortv1.TransferPayoutRequest) (*cohortv1.TransferPayoutResponse, error) {
	if _, err := decodeTransfer(req, time.Time{}); err != nil {
		return nil, err
	}
	if s.n.opts.Index == s.n.opts.Sequencer {
		return s.n.orderTransfer(ctx, req)
	}
	resp, err := callWithin(ctx, s.n, s.n.opts.Sequencer, s.n.opts.Limits.PeerTimeout+ClaimTimeout, func(ctx context.Context, pc cohortv1.PeerServiceClient) (*cohortv1.OrderPayoutTransferResponse, error) {
		return pc.OrderPayoutTransfer(ctx, &cohortv1.OrderPayoutTransferRequest{Transfer: req})
	})
	if err != nil {
		if st, ok := status.FromError(err); ok && st.Code() != codes.Unavailable && st.Code() != codes.DeadlineExceeded && st.Code() != codes.Unknown {
			return nil, err
		}
		return nil, status.Errorf(codes.Unavailable, "the sequencer (node %d) is unreachable: %s", s.n.opts.Sequencer, status.Convert(err).Message())
	}
	if resp.GetTransfer() == nil {
		return nil, status.Errorf(codes.Internal, "the sequencer (node %d) answered without the transfer", s.n.opts.Sequencer)
	}
	return resp.GetTransfer(), nil
}

// OrderPayoutTransfer is PeerService.OrderPayoutTransfer, on the sequencer.
func (s *peerService) OrderPayoutTransfer(ctx context.Context, req *cohortv1.OrderPayoutTransferRequest) (*cohortv1.OrderPayoutTransferResponse, error) {
	if s.n.opts.Index != s.n.opts.Sequencer {
		return nil, status.Errorf(codes.FailedPrecondition, "node %d is not the sequencer (node %d is)", s.n.opts.Index, s.n.opts.Sequencer)
	}
	resp, err := s.n.orderTransfer(ctx, req.GetTransfer())
	if err != nil {
		return nil, err
	}
	return &cohortv1.OrderPayoutTransferResponse{Transfer: resp}, nil
}

// orderTransfer records a transfer on the sequencer, the one place that
// decides whether its transfer id is new, then sends it to every other
// node. A transfer id used before is AlreadyExists; when it is the same
// order it is first sent again to every node, so that a node that missed
// it catches up.
func (n *Node) orderTransfer(ctx context.Context, req *cohortv1.TransferPayoutRequest) (*cohortv1.TransferPayoutResponse, error) {
	t, err := decodeTransfer(req, n.now().Truncate(time.Second))
	if err != nil {
		return nil, err
	}
	p, err := n.recordTransfer(ctx, t, false)
	if status.Code(err) == codes.AlreadyExists {
		if prev, gerr := n.store.GetPayoutTransfer(ctx, t.ID); gerr == nil && sameTransfer(prev, t) {
			n.pushTransfer(ctx, req, prev.TransferredAt)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	n.pushTransfer(ctx, req, t.TransferredAt)
	n.log.Info("payout transferred", "transfer", t.ID, "buyer", t.Buyer, "amount", t.Amount)
	return &cohortv1.TransferPayoutResponse{Payout: payoutProto(p), TransferredAt: apiTime(t.TransferredAt)}, nil
}

// pushTransfer sends a recorded transfer to every other node. The transfer
// stands on the sequencer whatever they answer; a node that missed it is
// sent it again when the transfer is made again (answered AlreadyExists).
func (n *Node) pushTransfer(ctx context.Context, req *cohortv1.TransferPayoutRequest, at time.Time) {
	ctx = context.WithoutCancel(ctx)
	_, errs := fanOutWithin(ctx, n, n.opts.Limits.PeerTimeout, func(ctx context.Context, _ uint32, pc cohortv1.PeerServiceClient) (*cohortv1.StorePayoutTransferResponse, error) {
		return pc.StorePayoutTransfer(ctx, &cohortv1.StorePayoutTransferRequest{Transfer: req, TransferredAt: at.Unix()})
	})
	for _, i := range sortedKeys(errs) {
		n.log.Warn("a node did not record a payout transfer", "node", i, "transfer", req.GetTransferId(), "error", status.Convert(errs[i]).Message())
	}
}

// StorePayoutTransfer is PeerService.StorePayoutTransfer: a transfer the
// sequencer ordered, checked again and recorded here.
func (s *peerService) StorePayoutTransfer(ctx context.Context, req *cohortv1.StorePayoutTransferRequest) (*cohortv1.StorePayoutTransferResponse, error) {
	if from, _ := callerPeer(ctx); from != s.n.opts.Sequencer || s.n.opts.Index == s.n.opts.Sequencer {
		return nil, status.Errorf(codes.PermissionDenied, "only the sequencer (node %d) orders payout transfers", s.n.opts.Sequencer)
	}
	t, err := decodeTransfer(req.GetTransfer(), time.Unix(req.GetTransferredAt(), 0))
	if err != nil {
		return nil, err
	}
	if _, err := s.n.recordTransfer(ctx, t, true); err != nil {
		return nil, err
	}
	return &cohortv1.StorePayoutTransferResponse{}, nil
}

// payoutStatement is this node's statement of payout account p at at.
func (n *Node) payoutStatement(p store.Payout, at time.Time) attest.PayoutStatement {
	return attest.PayoutStatement{PayoutKey: p.Key, Credited: p.Credited, Transferred: p.Transferred, Balance: p.Balance(),
		Claims: p.Claims, At: at.Unix(), Node: n.opts.Index}
}

// SignPayoutStatement is ContributorService.SignPayoutStatement: this node's
// reading of a payout account, signed by its signing key. Like the
// account, it is public to whoever knows the key.
func (s *contributorService) SignPayoutStatement(ctx context.Context, req *cohortv1.SignPayoutStatementRequest) (*cohortv1.SignPayoutStatementResponse, error) {
	if len(req.GetPayoutKey()) != ed25519.PublicKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "payout_key: %d bytes, want %d", len(req.GetPayoutKey()), ed25519.PublicKeySize)
	}
	p, err := s.n.store.GetPayout(ctx, [32]byte(req.GetPayoutKey()))
	if err != nil {
		return nil, s.n.internal("read payout", err)
	}
	st := s.n.payoutStatement(p, s.n.now().Truncate(time.Second))
	return &cohortv1.SignPayoutStatementResponse{Statement: &cohortv1.PayoutStatement{
		PayoutKey: bytes.Clone(p.Key[:]), Credited: st.Credited, Transferred: st.Transferred, Balance: st.Balance,
		Claims: st.Claims, At: st.At, NodeIndex: st.Node, Signature: attest.Sign(s.n.opts.Signing, st)}}, nil
}
