package setup

import (
	"testing"

	"github.com/consensys/gnark/backend/groth16"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips every wire type of the package: key metadata,
// proving and verifying keys, phase-1 and phase-2 contributions and the
// ceremony transcript.
func TestWireTypes(t *testing.T) {
	c := fixture(t)
	var p1 Phase1
	if err := p1.UnmarshalBinary(c.transcript.Phase1[0]); err != nil {
		t.Fatal(err)
	}
	var p2 Phase2
	if err := p2.UnmarshalBinary(c.transcript.Phase2[1]); err != nil {
		t.Fatal(err)
	}
	meta := c.keys.Meta
	dev := KeyMeta{Kind: InsecureDev, CircuitDigest: meta.CircuitDigest}
	wiretest.Run(t, []wiretest.Case{
		wiretest.Binary("key meta (ceremony)", &meta),
		wiretest.Binary("key meta (insecure dev)", &dev),
		wiretest.Func("proving key", c.keys.PK, MarshalProvingKey, UnmarshalProvingKey),
		wiretest.Func("verifying key", groth16.VerifyingKey(c.keys.VK), MarshalVerifyingKey, UnmarshalVerifyingKey),
		wiretest.Binary("phase 1 contribution", &p1),
		wiretest.Binary("phase 2 contribution", &p2),
		wiretest.Binary("transcript", c.transcript),
	})
}
