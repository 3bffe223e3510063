package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Uploads are idempotent: the same payload sent again, to any node, is
// answered with the same receipt (docs/design.md §7.4). So a contributor's
// upload is retried when the answer says a retry can help — the node or a
// peer was unreachable (Unavailable, DeadlineExceeded) or it lost a race it
// will settle (Aborted) — with exponential backoff and jitter, and, when the
// node it talks to stays unreachable and the client pinned the federation,
// sent to the federation's other nodes in turn. Any other answer is final.

// Retry bounds of an upload.
const (
	uploadAttempts    = 4                      // per node
	uploadBackoff     = 250 * time.Millisecond // before the second attempt; doubled each time
	uploadMaxBackoff  = 4 * time.Second
	uploadCallTimeout = 2 * time.Minute // one Contribute call: every node verifies the proof
)

// retryable reports whether an upload answered with err may succeed if
// sent again.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted:
		return true
	}
	return false
}

// unreachable reports whether err says the node itself could not be
// reached, so that another node may do better.
func unreachable(err error) bool {
	return status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded
}

// upload sends req to the node the client talks to, retrying, then to the
// pinned federation's other nodes.
func (c *Client) upload(ctx context.Context, req *cohortv1.ContributeRequest) (*cohortv1.ContributeResponse, error) {
	resp, err := retryContribute(ctx, c.api, req)
	if err == nil || !unreachable(err) || c.anchor == nil {
		return resp, wrapUpload("node", err)
	}
	first := err
	for _, n := range c.anchor.Nodes {
		if n.APIAddress == c.addr {
			continue
		}
		conn, derr := grpc.NewClient(n.APIAddress,
			grpc.WithTransportCredentials(c.cfg.creds),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(c.cfg.maxBytes), grpc.MaxCallSendMsgSize(c.cfg.maxBytes)))
		if derr != nil {
			continue
		}
		resp, err = retryContribute(ctx, cohortv1.NewContributorServiceClient(conn), req)
		conn.Close()
		if err == nil || !unreachable(err) {
			return resp, wrapUpload("node "+n.APIAddress+" (after "+c.addr+" did not answer)", err)
		}
	}
	return nil, wrapUpload("node", status.Errorf(status.Code(first), "%s (and no other node of the federation answered)", status.Convert(first).Message()))
}

// wrapUpload is err as the contributor reads it; who is the node that
// answered.
func wrapUpload(who string, err error) error {
	if err == nil {
		return nil
	}
	return rpcError(who+" refused the contribution", err)
}

// retryContribute calls Contribute up to uploadAttempts times while the
// answer is retryable, waiting an exponentially growing, jittered time
// between attempts.
func retryContribute(ctx context.Context, api cohortv1.ContributorServiceClient, req *cohortv1.ContributeRequest) (*cohortv1.ContributeResponse, error) {
	wait := uploadBackoff
	var err error
	for attempt := 1; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, uploadCallTimeout)
		var resp *cohortv1.ContributeResponse
		resp, err = api.Contribute(cctx, req)
		cancel()
		if err == nil || !retryable(err) || attempt == uploadAttempts {
			return resp, err
		}
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(jitter(wait)):
		}
		wait = min(2*wait, uploadMaxBackoff)
	}
}

// jitter returns a duration uniformly in [d/2, d), so that contributors
// refused together do not retry together.
func jitter(d time.Duration) time.Duration {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return d
	}
	half := d / 2
	return half + time.Duration(binary.LittleEndian.Uint64(b[:])%uint64(half))
}
