package node

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/enclave"
	"github.com/cohort-dev/cohort/store"
)

// The one place where errors of the layers below become gRPC statuses:
// handlers return only status errors, and an internal failure is logged
// here and answered without its detail.

// internal logs err and returns an Internal status that does not leak it.
func (n *env) internal(what string, err error) error {
	n.log.Error(what, "error", err)
	return status.Errorf(codes.Internal, "%s failed on node %d", what, n.opts.Index)
}

// specStatus turns a spec refusal into InvalidArgument naming the field.
func specStatus(err error) error {
	var se *enclave.SpecError
	if errors.As(err, &se) {
		return status.Errorf(codes.InvalidArgument, "spec.%s: %v", se.Field, err)
	}
	return status.Errorf(codes.InvalidArgument, "spec: %v", err)
}

// peerRefusal maps a peer rule's refusal to its status.
func peerRefusal(err error) error {
	var r *enclave.Refusal
	if errors.As(err, &r) {
		return status.Error(codes.FailedPrecondition, r.Error())
	}
	return status.Errorf(codes.Internal, "job round: %v", err)
}

// listStatus is the status of a failed page of a list: a page token the
// store refuses is the caller's (InvalidArgument), anything else internal.
func (n *env) listStatus(what string, err error) error {
	if errors.Is(err, store.ErrInvalid) {
		return status.Error(codes.InvalidArgument, "page_token is malformed")
	}
	return n.internal(what, err)
}

// storeStatus is the status of a store refusal that the caller caused —
// what it names does not exist, exists already, is in another state, is
// at its limit, or is malformed — with msg as the message; any other error
// is internal.
func (n *env) storeStatus(what string, err error, msg string) error {
	for _, m := range []struct {
		sentinel error
		code     codes.Code
	}{
		{store.ErrNotFound, codes.NotFound}, {store.ErrAlreadyExists, codes.AlreadyExists},
		{store.ErrConflict, codes.FailedPrecondition}, {store.ErrLimit, codes.ResourceExhausted},
		{store.ErrInvalid, codes.InvalidArgument},
	} {
		if errors.Is(err, m.sentinel) {
			return status.Error(m.code, msg)
		}
	}
	if st, ok := status.FromError(err); ok {
		return st.Err()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	return n.internal(what, err)
}

// withFieldDetails gives an InvalidArgument status that names its field —
// handlers write "field: what is wrong" (§8.3) — a google.rpc.BadRequest
// detail with that field, so that clients need not parse the message. Any
// other error, or one with details already, is returned unchanged.
func withFieldDetails(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || len(st.Details()) > 0 {
		return err
	}
	field, desc, ok := strings.Cut(st.Message(), ": ")
	if !ok || !isFieldPath(field) {
		return err
	}
	withDetails, derr := st.WithDetails(&errdetails.BadRequest{
		FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: desc}},
	})
	if derr != nil {
		return err
	}
	return withDetails.Err()
}

// isFieldPath reports whether s looks like a request field path such as
// "spec.outputs[0].kind" or "page_token": lower-case words, digits, dots,
// underscores and indexes, nothing else.
func isFieldPath(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '[' || c == ']') {
			return false
		}
	}
	return s[0] >= 'a' && s[0] <= 'z'
}
