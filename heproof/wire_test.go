package heproof

import (
	"testing"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips the package's one wire type, the payload.
func TestWireTypes(t *testing.T) {
	p, b := testPayload(t)
	pay, err := UnmarshalPayload(b, p)
	if err != nil {
		t.Fatal(err)
	}
	wiretest.Run(t, []wiretest.Case{
		wiretest.Func("payload", pay, (*Payload).MarshalBinary, func(b []byte) (*Payload, error) { return UnmarshalPayload(b, p) }),
	})
}
