// Package wiretest checks that wire types round-trip. It is for tests
// only: import it from _test.go files, never from a production package.
//
// A round trip encodes a value, decodes the bytes, and requires that the
// decoded value encodes to the same bytes (encodings are hashed and signed,
// so a value has one encoding) and that every strict prefix of the bytes
// fails to decode without a panic. Encodings longer than FullPrefixLimit
// bytes have their prefixes sampled: every one of the first and last
// EdgePrefixes, and SampledPrefixes spread evenly between; under -short,
// ShortSample of each.
package wiretest

import (
	"bytes"
	"encoding"
	"fmt"
	"testing"
)

// Prefix sampling for long encodings.
const (
	FullPrefixLimit = 1 << 13
	EdgePrefixes    = 1 << 11
	SampledPrefixes = 1 << 10
	ShortSample     = 1 << 7
)

// A Case is one wire type's round trip, for a table test.
type Case struct {
	Name  string
	check func(t testing.TB)
}

// Func is the Case of a type encoded and decoded by a function pair.
func Func[T any](name string, v T, encode func(T) ([]byte, error), decode func([]byte) (T, error)) Case {
	return Case{Name: name, check: func(t testing.TB) { RoundTrip(t, v, encode, decode) }}
}

// Binary is the Case of a type with MarshalBinary and UnmarshalBinary.
func Binary[T any, P interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}](name string, v P) Case {
	return Func(name, v, P.MarshalBinary, func(b []byte) (P, error) {
		out := P(new(T))
		if err := out.UnmarshalBinary(b); err != nil {
			return nil, err
		}
		return out, nil
	})
}

// Run runs every case as a subtest.
func Run(t *testing.T, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { c.check(t) })
	}
}

// RoundTrip checks v's round trip (see the package doc).
func RoundTrip[T any](t testing.TB, v T, encode func(T) ([]byte, error), decode func([]byte) (T, error)) {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	got, panicked, err := safeDecode(decode, bytes.Clone(b))
	if panicked || err != nil {
		t.Fatalf("decode: %v", err)
	}
	again, err := encode(got)
	if err != nil {
		t.Fatalf("encode the decoded value: %v", err)
	}
	if !bytes.Equal(b, again) {
		t.Fatalf("the decoded value encodes to other bytes (%d bytes, was %d)", len(again), len(b))
	}
	for _, n := range prefixes(len(b), testing.Short()) {
		_, panicked, err := safeDecode(decode, bytes.Clone(b[:n]))
		switch {
		case panicked:
			t.Fatalf("the prefix of %d of %d bytes: %v", n, len(b), err)
		case err == nil:
			t.Fatalf("the prefix of %d of %d bytes decodes", n, len(b))
		}
	}
}

// prefixes are the lengths of the strict prefixes RoundTrip tries for an
// encoding of n bytes: all of them up to FullPrefixLimit, a sample beyond.
func prefixes(n int, short bool) []int {
	if n <= FullPrefixLimit {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	edge, spread := EdgePrefixes, SampledPrefixes
	if short {
		edge, spread = ShortSample, ShortSample
	}
	out := make([]int, 0, 2*edge+spread)
	for i := 0; i < edge; i++ {
		out = append(out, i)
	}
	span := n - 2*edge
	for i := 0; i < spread; i++ {
		out = append(out, edge+i*span/spread)
	}
	for i := n - edge; i < n; i++ {
		out = append(out, i)
	}
	return out
}

// safeDecode turns a panic of decode into an error: a decoder of outside
// bytes must not panic, and the test says so instead of crashing.
func safeDecode[T any](decode func([]byte) (T, error), b []byte) (v T, panicked bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			panicked, err = true, fmt.Errorf("decoder panicked: %v", r)
		}
	}()
	v, err = decode(b)
	return v, false, err
}
