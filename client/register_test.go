package client

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cohort-dev/cohort/client/clienttest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestRegister(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	ctx := testContext(t)
	id := registered(t, c, f, 1)
	if id.Member.Index != 3 || id.Member.Federation != f.Addr || id.Member.Sequence != 4 {
		t.Fatalf("membership %+v", id.Member)
	}
	// Registering again is idempotent and needs no valid token.
	again, err := c.Register(ctx, id, "spent")
	if err != nil {
		t.Fatal(err)
	}
	if again.Index != id.Member.Index {
		t.Fatalf("re-registration moved the member: %d, was %d", again.Index, id.Member.Index)
	}

	_, err = c.Register(ctx, testIdentity(t, 2), "no-such-invite")
	var re *RPCError
	if !errors.As(err, &re) || status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "node refused the registration: PermissionDenied") {
		t.Fatalf("unknown invite: %v", err)
	}
	for _, bad := range []string{"", strings.Repeat("x", MaxInviteLen+1)} {
		if _, err := c.Register(ctx, testIdentity(t, 2), bad); !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("invite of %d bytes: %v", len(bad), err)
		}
	}
}

// TestRegisterChecksPlacement: a node that names a position whose path does
// not lead from the commitment is caught.
func TestRegisterChecksPlacement(t *testing.T) {
	f := clienttest.New(t, clienttest.Options{})
	c := dialFake(t, f)
	f.SetHooks(clienttest.Hooks{MembershipPath: func(r *cohortv1.GetMembershipPathResponse) {
		r.Siblings[1][31] ^= 1
	}})
	if _, err := c.Register(testContext(t), testIdentity(t, 1), f.Invite()); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("Register with a wrong path = %v, want ErrBadResponse", err)
	}
}

func TestPathFromResponse(t *testing.T) {
	el := func(b byte) []byte { e := make([]byte, 32); e[31] = b; return e }
	valid := &cohortv1.GetMembershipPathResponse{Siblings: [][]byte{el(1), el(2), el(3)}, Root: el(4)}
	if p, _, err := pathFromResponse(valid, 5, 3); err != nil || len(p.Siblings) != 3 || p.Index != 5 {
		t.Fatalf("valid path: %v", err)
	}
	if _, _, err := pathFromResponse(valid, 5, 0); err != nil {
		t.Fatalf("any depth: %v", err)
	}
	nonCanonical := make([]byte, 32)
	for i := range nonCanonical {
		nonCanonical[i] = 0xff
	}
	cases := map[string]struct {
		r     *cohortv1.GetMembershipPathResponse
		index uint64
		depth int
	}{
		"wrong depth":        {valid, 5, 4},
		"index too large":    {valid, 8, 3},
		"no siblings":        {&cohortv1.GetMembershipPathResponse{Root: el(1)}, 0, 0},
		"too deep":           {&cohortv1.GetMembershipPathResponse{Siblings: make([][]byte, 33), Root: el(1)}, 0, 0},
		"short sibling":      {&cohortv1.GetMembershipPathResponse{Siblings: [][]byte{el(1)[:31]}, Root: el(1)}, 0, 1},
		"non-canonical":      {&cohortv1.GetMembershipPathResponse{Siblings: [][]byte{nonCanonical}, Root: el(1)}, 0, 1},
		"missing root":       {&cohortv1.GetMembershipPathResponse{Siblings: [][]byte{el(1)}}, 0, 1},
		"non-canonical root": {&cohortv1.GetMembershipPathResponse{Siblings: [][]byte{el(1)}, Root: nonCanonical}, 0, 1},
	}
	for name, tc := range cases {
		if _, _, err := pathFromResponse(tc.r, tc.index, tc.depth); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %v, want ErrBadResponse", name, err)
		}
	}
}
