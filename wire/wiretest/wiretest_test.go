package wiretest

import (
	"errors"
	"slices"
	"testing"

	"github.com/cohort-dev/cohort/wire"
)

type pair struct{ a, b []byte }

func (p *pair) MarshalBinary() ([]byte, error) {
	w := wire.NewWriter(wire.BigEndian, 0)
	w.Bytes16(p.a)
	w.Bytes32(p.b)
	return w.Bytes()
}

func (p *pair) UnmarshalBinary(b []byte) error {
	r := wire.NewReader(wire.BigEndian, b)
	a, c := r.Bytes16(100), r.Bytes32(1<<20)
	if err := r.End(); err != nil {
		return err
	}
	p.a, p.b = a, c
	return nil
}

func TestRunAcceptsAWellBehavedType(t *testing.T) {
	Run(t, []Case{
		Binary("short", &pair{a: []byte("x"), b: []byte("yz")}),
		Binary("long", &pair{a: []byte("x"), b: make([]byte, 3*FullPrefixLimit)}),
	})
}

// recorder catches the failures of a check without failing the test.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Fatalf(string, ...any) { r.failed = true; panic(r) }

func fails(check func(t testing.TB)) (failed bool) {
	r := &recorder{}
	defer func() {
		if v := recover(); v != nil && v != any(r) {
			panic(v)
		}
		failed = r.failed
	}()
	check(r)
	return false
}

func TestRoundTripCatches(t *testing.T) {
	enc := func(v []byte) ([]byte, error) { return v, nil }
	for name, dec := range map[string]func([]byte) ([]byte, error){
		"a prefix that decodes":  func(b []byte) ([]byte, error) { return b, nil },
		"a decoder that panics":  func(b []byte) ([]byte, error) { return nil, []error{}[len(b)] },
		"a decoder that refuses": func(b []byte) ([]byte, error) { return nil, errors.New("no") },
		"another re-encoding": func(b []byte) ([]byte, error) {
			if len(b) < 3 {
				return nil, errors.New("short")
			}
			return append(b, 0), nil
		},
	} {
		if !fails(func(t testing.TB) { RoundTrip(t, []byte{1, 2, 3}, enc, dec) }) {
			t.Errorf("%s: not caught", name)
		}
	}
}

func TestPrefixes(t *testing.T) {
	if got := prefixes(3, false); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("%v", got)
	}
	n := 10 * FullPrefixLimit
	for _, short := range []bool{false, true} {
		got := prefixes(n, short)
		if !slices.IsSorted(got) || got[0] != 0 || got[len(got)-1] != n-1 {
			t.Fatalf("short %v: %d prefixes from %d to %d", short, len(got), got[0], got[len(got)-1])
		}
	}
}
