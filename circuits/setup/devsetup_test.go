package setup

import (
	"errors"
	"strings"
	"testing"
)

func TestInsecureDevSetup(t *testing.T) {
	ccs := fixtureCircuit()
	if _, err := InsecureDevSetup(ccs, InsecureDevAck{}); !errors.Is(err, ErrNotAcknowledged) {
		t.Fatalf("zero acknowledgment: %v, want ErrNotAcknowledged", err)
	}
	keys, err := InsecureDevSetup(ccs, IUnderstandTheToxicWasteIsKnown())
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := CircuitDigest(ccs)
	if keys.Meta != (KeyMeta{Kind: InsecureDev, CircuitDigest: digest}) {
		t.Fatalf("meta = %+v", keys.Meta)
	}
	for _, s := range []string{keys.Meta.String(), keys.String(), keys.Meta.Kind.String()} {
		if !strings.Contains(s, "INSECURE") {
			t.Fatalf("%q does not say INSECURE", s)
		}
	}
	if strings.Contains(fixture(t).keys.String(), "INSECURE") {
		t.Fatal("ceremony keys described as insecure")
	}
	xs := []uint64{5, 6, 7, 8}
	if err := proveAndVerify(t, ccs, keys.PK, keys.VK, xs, 26); err != nil {
		t.Fatal(err)
	}
	if err := proveAndVerify(t, ccs, keys.PK, keys.VK, xs, 27); err == nil {
		t.Fatal("dev keys verified a wrong public input")
	}
}

func TestKeyMetaEncoding(t *testing.T) {
	c := fixture(t)
	dev := KeyMeta{Kind: InsecureDev, CircuitDigest: c.keys.Meta.CircuitDigest}
	for _, m := range []KeyMeta{c.keys.Meta, dev} {
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var got KeyMeta
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if got != m {
			t.Fatalf("round trip: %+v, want %+v", got, m)
		}
	}
	good, _ := c.keys.Meta.MarshalBinary()
	bad := map[string]func([]byte) []byte{
		"short":            func(b []byte) []byte { return b[:len(b)-1] },
		"trailing":         func(b []byte) []byte { return append(b, 0) },
		"magic":            func(b []byte) []byte { b[0] ^= 1; return b },
		"version":          func(b []byte) []byte { b[4] = 2; return b },
		"zero kind":        func(b []byte) []byte { b[5] = 0; return b },
		"unknown kind":     func(b []byte) []byte { b[5] = 9; return b },
		"no participants":  func(b []byte) []byte { b[6], b[7], b[8], b[9] = 0, 0, 0, 0; return b },
		"dev with history": func(b []byte) []byte { b[5] = byte(InsecureDev); return b },
	}
	for name, f := range bad {
		t.Run(name, func(t *testing.T) {
			var m KeyMeta
			if err := m.UnmarshalBinary(f(append([]byte(nil), good...))); !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v, want ErrMalformed", err)
			}
		})
	}
	if _, err := (KeyMeta{}).MarshalBinary(); err == nil {
		t.Fatal("zero KeyMeta encoded")
	}
}
