package audit

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// region is a named byte range of an encoded bundle.
type region struct {
	name       string
	start, end int
}

// bundleRegions splits f's encoded bundle into its parts (see the layout
// in bundle.go); the framing (magic, version, lengths) is a region too.
func bundleRegions(t testing.TB, f *fixture) []region {
	t.Helper()
	b := f.bundle
	tr, err := b.Transcript.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var out []region
	at := 0
	add := func(name string, n int) {
		if n > 0 {
			out = append(out, region{name, at, at + n})
		}
		at += n
	}
	add("header and transcript length", 5+8)
	add("transcript", len(tr))
	add("signature count", 4)
	add("transcript signatures", len(b.Signatures)*SignatureSize)
	add("descriptor length", 8)
	add("descriptor", len(b.Descriptor))
	add("verifying key length", 8)
	add("verifying key", len(b.VerifyingKey))
	add("ceremony length", 8)
	add("ceremony transcript", len(b.Ceremony))
	if at != len(f.encoded) {
		t.Fatalf("regions cover %d of %d bytes", at, len(f.encoded))
	}
	return out
}

// flipEverywhere flips one byte (XOR with a random non-zero mask) at
// evenly spaced positions of every region, at most perRegion each, and at
// extra random positions, and requires every copy to be refused: by
// UnmarshalBundle or by Verify.
func flipEverywhere(t *testing.T, f *fixture, perRegion, extra int) {
	rnd := rand.New(rand.NewPCG(1, uint64(len(f.encoded))))
	var positions []int
	for _, r := range bundleRegions(t, f) {
		n := r.end - r.start
		step := max(1, n/perRegion)
		for p := r.start; p < r.end; p += step {
			positions = append(positions, p)
		}
	}
	for range extra {
		positions = append(positions, rnd.IntN(len(f.encoded)))
	}
	regions := bundleRegions(t, f)
	where := func(p int) string {
		for _, r := range regions {
			if p >= r.start && p < r.end {
				return fmt.Sprintf("%s byte %d", r.name, p-r.start)
			}
		}
		return "?"
	}
	decoded, data := 0, make([]byte, len(f.encoded))
	for _, p := range positions {
		copy(data, f.encoded)
		data[p] ^= byte(1 + rnd.IntN(255))
		b, err := UnmarshalBundle(data, DefaultLimits())
		if err != nil {
			continue
		}
		decoded++
		if r := Verify(b, f.opts...); r.OK() {
			t.Errorf("flipped %s (offset %d): the bundle still verifies", where(p), p)
		}
	}
	t.Logf("%d flipped copies: %d refused by the decoder, %d decoded and failed verification", len(positions), len(positions)-decoded, decoded)
}

func TestEveryFlipRejected(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies hundreds of altered bundles")
	}
	flipEverywhere(t, getFixture(t, devSetup), 40, 100)
}
