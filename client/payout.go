package client

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cohort-dev/cohort/attest"
	"github.com/cohort-dev/cohort/federation"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Payout transfers and statements (docs/design.md §6.8).

// NewTransferID draws a fresh transfer id from crypto/rand: 32 hex
// digits, so two transfers never share one by chance.
func NewTransferID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// TransferPayout moves amount micro-credits from the payout account of key
// to buyerID's balance, signing the order (attest.PayoutTransfer) with
// key. transferID names the transfer once in all (NewTransferID): sending
// the same order again is refused with AlreadyExists and moves nothing.
// The node answers with the account after the transfer.
func (c *Client) TransferPayout(ctx context.Context, key ed25519.PrivateKey, buyerID string, amount uint64, transferID string) (*cohortv1.TransferPayoutResponse, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("client: transfer: payout key of %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	pub := key.Public().(ed25519.PublicKey)
	st := attest.PayoutTransfer{PayoutKey: [32]byte(pub), BuyerID: buyerID, Amount: amount, TransferID: transferID}
	resp, err := c.api.TransferPayout(ctx, &cohortv1.TransferPayoutRequest{PayoutKey: pub, BuyerId: buyerID, Amount: amount,
		TransferId: transferID, Signature: attest.Sign(key, st)})
	if err != nil {
		return nil, rpcError("transferring from the payout account", err)
	}
	return resp, nil
}

// PayoutStatement asks the node for its signed statement of the payout
// account of payoutKey and checks it against the pinned federation
// (VerifyPayoutStatement); ErrNoFederation without one.
func (c *Client) PayoutStatement(ctx context.Context, payoutKey ed25519.PublicKey) (*cohortv1.PayoutStatement, error) {
	if c.anchor == nil {
		return nil, ErrNoFederation
	}
	resp, err := c.api.SignPayoutStatement(ctx, &cohortv1.SignPayoutStatementRequest{PayoutKey: payoutKey})
	if err != nil {
		return nil, rpcError("reading the payout statement", err)
	}
	st := resp.GetStatement()
	if err := VerifyPayoutStatement(c.anchor, payoutKey, st); err != nil {
		return nil, err
	}
	return st, nil
}

// VerifyPayoutStatement checks a node's payout statement as anyone
// settling the account would: it is about payoutKey, its balance is its
// credited minus transferred amounts, and it carries the signature of the
// node it names under fed's signing key of that node. It says nothing of
// the other nodes' ledgers: a settler asks each node for its own.
func VerifyPayoutStatement(fed *federation.Descriptor, payoutKey ed25519.PublicKey, st *cohortv1.PayoutStatement) error {
	if fed == nil {
		return ErrNoFederation
	}
	if st == nil || len(payoutKey) != ed25519.PublicKeySize || string(st.GetPayoutKey()) != string(payoutKey) {
		return fmt.Errorf("%w: not a statement of this payout key", ErrBadStatement)
	}
	if st.GetTransferred() > st.GetCredited() || st.GetBalance() != st.GetCredited()-st.GetTransferred() {
		return fmt.Errorf("%w: balance %d is not credited %d - transferred %d", ErrBadStatement, st.GetBalance(), st.GetCredited(), st.GetTransferred())
	}
	i := st.GetNodeIndex()
	if int(i) >= len(fed.Nodes) {
		return fmt.Errorf("%w: node %d is not in federation %s", ErrBadStatement, i, fed.Name)
	}
	m := attest.PayoutStatement{PayoutKey: [32]byte(payoutKey), Credited: st.GetCredited(), Transferred: st.GetTransferred(),
		Balance: st.GetBalance(), Claims: st.GetClaims(), At: st.GetAt(), Node: i}
	if err := attest.Verify(fed.Nodes[i].SigningPublicKey, m, st.GetSignature()); err != nil {
		if errors.Is(err, attest.ErrBadSignature) {
			return fmt.Errorf("%w: not signed by node %d (%s)", ErrBadStatement, i, fed.Nodes[i].Name)
		}
		return fmt.Errorf("%w: %v", ErrBadStatement, err)
	}
	return nil
}
