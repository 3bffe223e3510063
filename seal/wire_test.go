package seal

import (
	"testing"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips both key encodings.
func TestWireTypes(t *testing.T) {
	k := fixedKey(t, 3)
	wiretest.Run(t, []wiretest.Case{
		wiretest.Func("private key", k, (*PrivateKey).Marshal, ParsePrivateKey),
		wiretest.Func("public key", k.Public(), marshalPublic, ParsePublicKey),
	})
}
