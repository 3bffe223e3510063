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

// bundleRegions splits an encoded bundle into its parts (see the layout
// in bundle.go); the framing (magic, version, lengths) is a region too.
func bundleRegions(t testing.TB, b *Bundle, encoded []byte) []region {
	t.Helper()
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
	if at != len(encoded) {
		t.Fatalf("regions cover %d of %d bytes", at, len(encoded))
	}
	return out
}

// flipEverywhere flips one byte (XOR with a random non-zero mask) at
// evenly spaced positions of every region of an honest bundle's encoding,
// at most perRegion each, and at extra random positions, and requires
// every copy to be refused: by UnmarshalBundle or by Verify with opts.
func flipEverywhere(t *testing.T, honest *Bundle, encoded []byte, opts []Option, perRegion, extra int) {
	rnd := rand.New(rand.NewPCG(1, uint64(len(encoded))))
	var positions []int
	regions := bundleRegions(t, honest, encoded)
	for _, r := range regions {
		n := r.end - r.start
		step := max(1, n/perRegion)
		for p := r.start; p < r.end; p += step {
			positions = append(positions, p)
		}
	}
	for range extra {
		positions = append(positions, rnd.IntN(len(encoded)))
	}
	where := func(p int) string {
		for _, r := range regions {
			if p >= r.start && p < r.end {
				return fmt.Sprintf("%s byte %d", r.name, p-r.start)
			}
		}
		return "?"
	}
	decoded, data := 0, make([]byte, len(encoded))
	for _, p := range positions {
		copy(data, encoded)
		data[p] ^= byte(1 + rnd.IntN(255))
		b, err := UnmarshalBundle(data, DefaultLimits())
		if err != nil {
			continue
		}
		decoded++
		if r := Verify(b, opts...); r.OK() {
			t.Errorf("flipped %s (offset %d): the bundle still verifies", where(p), p)
		}
	}
	t.Logf("%d flipped copies: %d refused by the decoder, %d decoded and failed verification", len(positions), len(positions)-decoded, decoded)
}

func TestEveryFlipRejected(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies hundreds of altered bundles")
	}
	f := getFixture(t, devSetup)
	flipEverywhere(t, f.bundle, f.encoded, f.opts, 40, 100)
}

func TestEveryFlipRejectedHE(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies hundreds of altered bundles")
	}
	f := getHEFixture(t)
	flipEverywhere(t, f.bundle, f.encoded, f.opts, 30, 60)
}

func TestEveryFlipRejectedDP(t *testing.T) {
	if testing.Short() {
		t.Skip("verifies hundreds of altered bundles")
	}
	f := getDPFixture(t)
	flipEverywhere(t, f.bundle, f.encoded, f.opts, 30, 60)
}
