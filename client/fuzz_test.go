package client

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/cohort-dev/cohort/client/clienttest"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// FuzzParseIdentity: identity files never panic the parser, and what it
// accepts re-encodes to a file it accepts again with the same contents.
func FuzzParseIdentity(f *testing.F) {
	f.Add([]byte(validIdentityJSON(f)))
	f.Add([]byte(`{"version":1,"secret":"` + "01" + string(bytes.Repeat([]byte("0"), 62)) + `","memberships":[]}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id, err := parseIdentity(data)
		if err != nil {
			return
		}
		out, err := id.marshal()
		if err != nil {
			t.Fatalf("accepted identity does not re-encode: %v", err)
		}
		again, err := parseIdentity(out)
		if err != nil {
			t.Fatalf("re-encoded identity refused: %v", err)
		}
		if !again.Secret.Equal(&id.Secret) || (again.Member == nil) != (id.Member == nil) || again.Member != nil && *again.Member != *id.Member {
			t.Fatal("round trip changed the identity")
		}
	})
}

// FuzzPathFromResponse: membership-path answers never panic the decoder,
// and an accepted path has the depth asked for.
func FuzzPathFromResponse(f *testing.F) {
	el := make([]byte, 32)
	ok, _ := proto.Marshal(&cohortv1.GetMembershipPathResponse{Siblings: [][]byte{el, el, el}, Root: el})
	f.Add(ok, uint64(3), 3)
	f.Add(ok, uint64(8), 0)
	f.Add([]byte{}, uint64(0), 0)
	f.Fuzz(func(t *testing.T, data []byte, index uint64, depth int) {
		var resp cohortv1.GetMembershipPathResponse
		if proto.Unmarshal(data, &resp) != nil {
			return
		}
		depth %= 40
		if depth < 0 {
			depth = -depth
		}
		p, _, err := pathFromResponse(&resp, index, depth)
		if err != nil {
			return
		}
		if depth != 0 && len(p.Siblings) != depth || p.Index != index {
			t.Fatalf("accepted a path of depth %d at %d for depth %d at %d", len(p.Siblings), p.Index, depth, index)
		}
	})
}

// FuzzVerifyReceipt: receipts and revocation answers from a node never
// panic the checks, and none verifies without the nodes' signatures.
func FuzzVerifyReceipt(f *testing.F) {
	fed := clienttest.New(f, clienttest.Options{})
	nf, digest, root := [32]byte{1}, [32]byte{2}, [32]byte{3}
	honest, _ := proto.Marshal(signedReceipt(fed, nf, digest, root, 5))
	f.Add(honest)
	f.Add([]byte{})
	rev, _ := proto.Marshal(signedRevocation(fed.Dataset, fed.Signing, nf, 1700000000))
	f.Add(rev)
	f.Fuzz(func(t *testing.T, data []byte) {
		var r cohortv1.Receipt
		if proto.Unmarshal(data, &r) == nil {
			if err := VerifyReceipt(fed.Dataset, &r, nf); err == nil && !bytes.Equal(data, honest) && len(r.GetAcks()) != 3 {
				t.Fatal("a receipt without three acknowledgments verified")
			}
		}
		var rv cohortv1.RevokeResponse
		if proto.Unmarshal(data, &rv) == nil {
			_ = verifyRevocation(fed.Dataset, &rv, nf)
		}
	})
}
