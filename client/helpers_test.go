package client

import (
	"context"
	"testing"
	"time"

	"github.com/cohort-dev/cohort/client/clienttest"
)

// dialFake returns a plaintext client for a fake federation, pinning its
// descriptor.
func dialFake(t *testing.T, f *clienttest.Federation) *Client {
	t.Helper()
	c, err := Dial(f.Addr, WithInsecure(), WithFederation(f.Federation))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// registered returns an identity admitted to f, at a position after a few
// other members so that its path is not trivial.
func registered(t *testing.T, c *Client, f *clienttest.Federation, seed byte) *Identity {
	t.Helper()
	for i := range 3 {
		other := testIdentity(t, 100+seed+byte(i))
		if _, err := f.AddMember(other.ic()); err != nil {
			t.Fatal(err)
		}
	}
	id := testIdentity(t, seed)
	m, err := c.Register(testContext(t), id, f.Invite())
	if err != nil {
		t.Fatal(err)
	}
	id.Member = &m
	return id
}
