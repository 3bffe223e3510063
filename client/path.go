package client

import (
	"context"
	"fmt"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"

	"github.com/cohort-dev/cohort/circuits/merkle"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// membershipPath fetches the Merkle path of registry position index and
// checks that it leads from commitment ic to the root the node names. depth
// is the registry depth the path must have, or 0 for any depth 1..32.
func (c *Client) membershipPath(ctx context.Context, ic fr.Element, index uint64, depth int) (merkle.Path, fr.Element, error) {
	resp, err := c.api.GetMembershipPath(ctx, &cohortv1.GetMembershipPathRequest{MemberIndex: index})
	if err != nil {
		return merkle.Path{}, fr.Element{}, rpcError("fetching the membership path", err)
	}
	path, root, err := pathFromResponse(resp, index, depth)
	if err != nil {
		return merkle.Path{}, fr.Element{}, err
	}
	if got := path.Root(ic); !got.Equal(&root) {
		rb := root.Bytes()
		return merkle.Path{}, fr.Element{}, fmt.Errorf("%w: registry position %d does not hold this identity's commitment under root %x (the member was removed, or the node's registry is not the federation's)",
			ErrBadResponse, index, rb)
	}
	return path, root, nil
}

// pathFromResponse decodes a membership path: depth siblings (any count in
// 1..merkle.MaxDepth when depth is 0) and a root, each a 32-byte canonical
// field element, for a position that fits the depth.
func pathFromResponse(resp *cohortv1.GetMembershipPathResponse, index uint64, depth int) (merkle.Path, fr.Element, error) {
	n := len(resp.GetSiblings())
	if depth == 0 && (n < 1 || n > merkle.MaxDepth) || depth != 0 && n != depth {
		return merkle.Path{}, fr.Element{}, fmt.Errorf("%w: membership path of depth %d, registry depth %d", ErrBadResponse, n, depth)
	}
	if n < 64 && index>>uint(n) != 0 {
		return merkle.Path{}, fr.Element{}, fmt.Errorf("%w: position %d does not fit a registry of depth %d", ErrBadResponse, index, n)
	}
	p := merkle.Path{Index: index, Siblings: make([]fr.Element, n)}
	for i, s := range resp.GetSiblings() {
		e, err := element(s)
		if err != nil {
			return merkle.Path{}, fr.Element{}, fmt.Errorf("%w: membership path sibling %d: %v", ErrBadResponse, i, err)
		}
		p.Siblings[i] = e
	}
	root, err := element(resp.GetRoot())
	if err != nil {
		return merkle.Path{}, fr.Element{}, fmt.Errorf("%w: registry root: %v", ErrBadResponse, err)
	}
	return p, root, nil
}
