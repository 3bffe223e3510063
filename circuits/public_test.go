package circuits

import (
	"bytes"
	"errors"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bn254/fr"
)

// publicSamples are encodings of public inputs, MPC and HE forms, for
// RootOf's tests and fuzz seeds.
func publicSamples(t testing.TB) [][]byte {
	t.Helper()
	mpc := PublicInputs{
		Dataset: fr.NewElement(1), Epoch: 2, Root: fr.NewElement(3), Nullifier: fr.NewElement(4),
		Purposes: 5, Expiry: 6, MinCohort: 7, Revocation: fr.NewElement(8),
		ShareCommitments: []fr.Element{fr.NewElement(9), fr.NewElement(10), fr.NewElement(11)},
	}
	he := mpc
	he.ShareCommitments = nil
	he.Root.SetInt64(-1) // the largest canonical element
	var out [][]byte
	for _, p := range []PublicInputs{mpc, he} {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// agreeRootOf fails t unless RootOf agrees with UnmarshalBinary on b:
// whatever UnmarshalBinary decodes, RootOf takes, with the same root, and
// what RootOf refuses (ErrMalformed), UnmarshalBinary refuses. RootOf
// checks no field but the root, so it may take what UnmarshalBinary
// refuses for another field.
func agreeRootOf(t *testing.T, b []byte) {
	t.Helper()
	var p PublicInputs
	full := p.UnmarshalBinary(b)
	root, err := RootOf(b)
	switch {
	case full == nil && err != nil:
		t.Fatalf("RootOf refused %x, which UnmarshalBinary takes: %v", b, err)
	case full == nil && root != p.Root.Bytes():
		t.Fatalf("RootOf = %x, decoded root %x", root, p.Root.Bytes())
	case err != nil && !errors.Is(err, ErrMalformed):
		t.Fatalf("RootOf: %v, want ErrMalformed", err)
	}
}

// TestRootOf: RootOf reads the root of either form and refuses a wrong
// shape or a non-canonical root, as UnmarshalBinary does; another
// non-canonical field is not its to check.
func TestRootOf(t *testing.T) {
	samples := publicSamples(t)
	for _, b := range samples {
		agreeRootOf(t, b)
	}
	three := fr.NewElement(3)
	if root, err := RootOf(samples[0]); err != nil || root != three.Bytes() {
		t.Fatalf("RootOf = %x, %v; want the root 3", root, err)
	}
	b := samples[1]
	for name, bad := range map[string][]byte{
		"empty":            nil,
		"short":            b[:len(b)-1],
		"long":             append(bytes.Clone(b), 0),
		"version":          append([]byte{b[0] + 1}, b[1:]...),
		"one node":         append([]byte{b[0], 1}, append(bytes.Clone(b[2:]), make([]byte, fr.Bytes)...)...),
		"root = r":         withRoot(b, fr.Modulus().FillBytes(make([]byte, fr.Bytes))),
		"root all ones":    withRoot(b, bytes.Repeat([]byte{0xff}, fr.Bytes)),
		"count beyond max": append([]byte{b[0], MaxNodes + 1}, b[2:]...),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := RootOf(bad); !errors.Is(err, ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			agreeRootOf(t, bad)
		})
	}
}

// TestRootOfChecksOnlyTheRoot: a non-canonical nullifier is
// UnmarshalBinary's refusal, not RootOf's.
func TestRootOfChecksOnlyTheRoot(t *testing.T) {
	b := bytes.Clone(publicSamples(t)[0])
	copy(b[publicRootOffset+fr.Bytes:], bytes.Repeat([]byte{0xff}, fr.Bytes))
	var p PublicInputs
	if err := p.UnmarshalBinary(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("UnmarshalBinary: %v, want ErrMalformed", err)
	}
	three := fr.NewElement(3)
	if root, err := RootOf(b); err != nil || root != three.Bytes() {
		t.Fatalf("RootOf = %x, %v; want the root 3", root, err)
	}
}

// withRoot is b with its root's bytes replaced by root.
func withRoot(b, root []byte) []byte {
	out := bytes.Clone(b)
	copy(out[publicRootOffset:], root)
	return out
}

// FuzzRootOf: on any bytes RootOf agrees with UnmarshalBinary.
func FuzzRootOf(f *testing.F) {
	for _, b := range publicSamples(f) {
		f.Add(b)
		f.Add(withRoot(b, bytes.Repeat([]byte{0xff}, fr.Bytes)))
	}
	f.Fuzz(agreeRootOf)
}
