package audit

import (
	"bytes"
	"errors"
	"testing"
)

// TestAttachCeremony: a bundle sent without its ceremony transcript gets it
// back byte for byte, verifies as the stored one does, and refuses a
// ceremony other than its descriptor's, a second one, and one for a
// development setup.
func TestAttachCeremony(t *testing.T) {
	f := getFixture(t, ceremonySetup)
	lim := DefaultLimits()
	full, err := f.bundle.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	light, err := WithoutCeremony(full, lim)
	if err != nil {
		t.Fatal(err)
	}
	if lb, err := UnmarshalBundle(light, lim); err != nil || len(lb.Ceremony) != 0 {
		t.Fatalf("the bundle without its ceremony: %v, %d ceremony bytes", err, len(lb.Ceremony))
	}
	if len(full)-len(light) != len(f.ceremony) {
		t.Fatalf("leaving the ceremony out saved %d bytes, want %d", len(full)-len(light), len(f.ceremony))
	}
	// Without it the setup check fails: the ceremony is needed to audit.
	if lb, _ := UnmarshalBundle(light, lim); Verify(lb, WithCache(f.cache)).OK() {
		t.Fatal("a bundle without its ceremony transcript verifies")
	}
	back, err := AttachCeremony(light, f.ceremony, lim)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, full) {
		t.Fatal("the reattached bundle is not the stored one")
	}
	if b, err := UnmarshalBundle(back, lim); err != nil || !Verify(b, WithCache(f.cache)).OK() {
		t.Fatalf("the reattached bundle does not verify: %v", err)
	}

	tampered := bytes.Clone(f.ceremony)
	tampered[len(tampered)/2] ^= 1
	if _, err := AttachCeremony(light, tampered, lim); !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrMalformed) {
		t.Errorf("a tampered ceremony: %v", err)
	}
	if _, err := AttachCeremony(full, f.ceremony, lim); !errors.Is(err, ErrInvalid) {
		t.Errorf("a second ceremony: %v", err)
	}
	dev := getFixture(t, devSetup)
	devEnc, err := dev.bundle.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := AttachCeremony(devEnc, f.ceremony, lim); !errors.Is(err, ErrInvalid) {
		t.Errorf("a ceremony for a development setup: %v", err)
	}
	if _, err := AttachCeremony([]byte("not a bundle"), f.ceremony, lim); !errors.Is(err, ErrMalformed) {
		t.Errorf("malformed bytes: %v", err)
	}
}
