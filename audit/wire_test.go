package audit

import (
	"testing"

	"github.com/cohort-dev/cohort/wire/wiretest"
)

// TestWireTypes round-trips every wire type of the package: transcripts
// and bundles of both backends.
func TestWireTypes(t *testing.T) {
	mpcFx, heFx := getFixture(t, devSetup), getHEFixture(t)
	lim := DefaultLimits()
	decodeTranscript := func(b []byte) (*Transcript, error) { return UnmarshalTranscript(b, lim) }
	decodeBundle := func(b []byte) (*Bundle, error) { return UnmarshalBundle(b, lim) }
	wiretest.Run(t, []wiretest.Case{
		wiretest.Func("transcript (MPC)", mpcFx.bundle.Transcript, (*Transcript).MarshalBinary, decodeTranscript),
		wiretest.Func("bundle (MPC)", mpcFx.bundle, (*Bundle).MarshalBinary, decodeBundle),
		wiretest.Func("transcript (HE)", heFx.bundle.Transcript, (*Transcript).MarshalBinary, decodeTranscript),
		wiretest.Func("bundle (HE)", heFx.bundle, (*Bundle).MarshalBinary, decodeBundle),
	})
}
