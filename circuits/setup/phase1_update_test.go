package setup

import (
	"bytes"
	"testing"

	"github.com/consensys/gnark/backend/groth16/bn254/mpcsetup"
)

// gnarkState decodes a copy of p's gnark state, for gnark's own methods
// (which modify their receiver).
func gnarkState(tb testing.TB, p *Phase1) *mpcsetup.Phase1 {
	tb.Helper()
	enc, err := p.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	s := new(mpcsetup.Phase1)
	if _, err := s.ReadFrom(bytes.NewReader(enc)); err != nil {
		tb.Fatal(err)
	}
	return s
}

func commonsBytes(tb testing.TB, c *mpcsetup.SrsCommons) []byte {
	tb.Helper()
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// TestPhase1UpdateMatchesGnark checks the parallel phase-1 update against
// gnark's: a contribution made by Contribute passes gnark's Verify, two in
// a row seal (sealPhase1) to the SRS byte for byte that gnark's
// VerifyPhase1 and Seal compute from the same contributions, for several
// domain sizes (one point per CPU part and uneven parts included); Contribute
// and sealPhase1 leave their argument as it was.
func TestPhase1UpdateMatchesGnark(t *testing.T) {
	for _, n := range []uint64{2, 8, 64, 512} {
		p0, err := NewPhase1(n)
		if err != nil {
			t.Fatal(err)
		}
		p1, err := p0.Contribute()
		if err != nil {
			t.Fatal(err)
		}
		p2, err := p1.Contribute()
		if err != nil {
			t.Fatal(err)
		}
		before, _ := p2.MarshalBinary()
		for i, pair := range [][2]*Phase1{{p0, p1}, {p1, p2}} {
			if err := gnarkState(t, pair[0]).Verify(gnarkState(t, pair[1])); err != nil {
				t.Fatalf("N = %d: gnark's Verify refuses contribution %d: %v", n, i+1, err)
			}
		}
		srs, err := SealPhase1(n, beacon1, p1, p2)
		if err != nil {
			t.Fatal(err)
		}
		want, err := mpcsetup.VerifyPhase1(n, beacon1, gnarkState(t, p1), gnarkState(t, p2))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(commonsBytes(t, &srs.commons), commonsBytes(t, &want)) {
			t.Fatalf("N = %d: the sealed SRS differs from gnark's", n)
		}
		if after, _ := p2.MarshalBinary(); !bytes.Equal(before, after) {
			t.Fatalf("N = %d: sealing modified the last contribution", n)
		}
		// Another beacon gives another SRS: the beacon is in the scalars.
		other, err := SealPhase1(n, beacon2, p1, p2)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(commonsBytes(t, &srs.commons), commonsBytes(t, &other.commons)) {
			t.Fatalf("N = %d: two beacons seal to the same SRS", n)
		}
	}
}

// TestPhase1ContributionDecodes checks that a contribution made by
// Contribute re-encodes canonically: the strict decoder takes its bytes
// back, to the same bytes.
func TestPhase1ContributionDecodes(t *testing.T) {
	p0, err := NewPhase1(64)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := p0.Contribute()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := p1.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(enc)) != phase1Size(64, challengeSize) {
		t.Fatalf("a contribution of %d bytes, want %d", len(enc), phase1Size(64, challengeSize))
	}
	var q Phase1
	if err := q.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	if again, _ := q.MarshalBinary(); !bytes.Equal(again, enc) {
		t.Fatal("the decoded contribution re-encodes to other bytes")
	}
}
