package client

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Sentinel errors. Every error this package returns that a caller may branch
// on wraps one of these (test with errors.Is), or is an *RPCError.
var (
	// ErrIdentityFile reports an identity file that cannot be used: readable
	// by others, malformed, too large, or holding another identity than the
	// one being written over it.
	ErrIdentityFile = errors.New("client: unusable identity file")

	// ErrNotRegistered reports an identity with no registry membership yet.
	ErrNotRegistered = errors.New("client: identity is not registered")

	// ErrDatasetNotReady reports a dataset whose Groth16 keys are not sealed
	// (state SETUP or FAILED): it accepts no contribution.
	ErrDatasetNotReady = errors.New("client: dataset is not ready")

	// ErrInvalidOptions reports a contribution the client refuses to build:
	// no purpose, an expiry in the past or beyond the circuit's range, an
	// epoch beyond its range, or a record the schema refuses.
	ErrInvalidOptions = errors.New("client: invalid contribution options")

	// ErrProvingKey reports a proving key that was refused: a stream that
	// breaks the header/chunk protocol, is larger than MaxProvingKeySize,
	// ends early or does not hash to its header; a key that does not decode
	// or does not belong to the dataset's verifying key; or a proof made
	// with it that does not verify.
	ErrProvingKey = errors.New("client: proving key refused")

	// ErrBadResponse reports a node answer that is malformed or
	// inconsistent with what was asked: a field element of the wrong size or
	// not canonical, a membership path of the wrong depth or one that does
	// not lead from the identity's commitment to the root it names.
	ErrBadResponse = errors.New("client: malformed node response")

	// ErrBadReceipt reports a receipt or revocation whose acknowledgments do
	// not prove what the client asked for: a missing or extra
	// acknowledgment, one for another record or payload, or a signature that
	// does not verify under the dataset's node keys.
	ErrBadReceipt = errors.New("client: receipt does not verify")

	// ErrNoFederation reports a contribution asked of a client dialled
	// without WithFederation: nothing could tell the dataset's node keys
	// from keys of the node's own choosing, so nothing is sealed.
	ErrNoFederation = errors.New("client: no federation pinned (WithFederation)")

	// ErrBadStatement reports a payout statement whose signature is not
	// that of the node it names under the pinned federation's keys, or
	// that is about another payout key.
	ErrBadStatement = errors.New("client: payout statement does not verify")
)

// RPCError is a refusal by the node: the gRPC status it answered, with what
// the client was doing. status.Code and status.FromError see through it.
type RPCError struct {
	Op     string // what was refused, such as "node refused the contribution"
	Status *status.Status
}

// Error reads "op: Code: message".
func (e *RPCError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Op, e.Status.Code(), e.Status.Message())
}

// GRPCStatus returns the node's status.
func (e *RPCError) GRPCStatus() *status.Status { return e.Status }

// rpcError wraps an error returned by a gRPC call.
func rpcError(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		st = status.New(codes.Unknown, err.Error())
	}
	return &RPCError{Op: op, Status: st}
}

// ExistingReceipt returns the receipt a node attached to an AlreadyExists
// refusal of a contribution: the record it already holds for that
// nullifier. The receipt is as the node sent it; check it with
// VerifyReceipt before trusting it.
func ExistingReceipt(err error) (*cohortv1.Receipt, bool) {
	var re *RPCError
	if !errors.As(err, &re) || re.Status.Code() != codes.AlreadyExists {
		return nil, false
	}
	for _, d := range re.Status.Details() {
		if r, ok := d.(*cohortv1.Receipt); ok {
			return r, true
		}
	}
	return nil, false
}
