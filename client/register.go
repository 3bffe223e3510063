package client

import (
	"context"
	"fmt"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// MaxInviteLen is the longest invite token a node accepts.
const MaxInviteLen = 128

// Register asks the node to admit the identity's commitment to its
// federation's registry with a single-use invite token, then fetches the
// membership path of the position the node names and checks that it leads
// from the commitment to a root: the node did place it there. A commitment
// already admitted is answered with its existing membership and consumes no
// token. The returned membership names the federation by the address the
// client was dialled with; the caller records it (Identity.Member, Update).
func (c *Client) Register(ctx context.Context, id *Identity, invite string) (Membership, error) {
	if invite == "" || len(invite) > MaxInviteLen {
		return Membership{}, fmt.Errorf("%w: invite token of %d bytes, want 1..%d", ErrInvalidOptions, len(invite), MaxInviteLen)
	}
	ic := id.Commitment()
	resp, err := c.api.Register(ctx, &cohortv1.RegisterRequest{IdentityCommitment: ic[:], InviteToken: invite})
	if err != nil {
		return Membership{}, rpcError("node refused the registration", err)
	}
	root, err := element(resp.GetRoot())
	if err != nil {
		return Membership{}, fmt.Errorf("%w: registry root: %v", ErrBadResponse, err)
	}
	if _, _, err := c.membershipPath(ctx, id.ic(), resp.GetMemberIndex(), 0); err != nil {
		return Membership{}, fmt.Errorf("client: checking the new membership: %w", err)
	}
	return Membership{Federation: c.addr, Index: resp.GetMemberIndex(), Root: root.Bytes(), Sequence: resp.GetSequence()}, nil
}
