package backend

import (
	"errors"
	"testing"

	"github.com/cohort-dev/cohort/circuits"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/heproof"
)

// FuzzDecode: whatever the bytes, Decode returns a payload or an
// ErrMalformed error, never a panic or both; a decoded payload gives a
// statement.
func FuzzDecode(f *testing.F) {
	k := newNodeKeys(f)
	s := testSchema()
	mb, err := For(k.dataset(s, cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		f.Fatal(err)
	}
	fx := getHEFixture(f)
	he, err := (&heproof.Payload{Public: *fx.records[0].Public, Proof: new(circuits.Proof), Ciphertext: fx.cts[0]}).MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(he)
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, be := range []Backend{mb, fx.b} {
			p, err := be.Decode(raw)
			if (p == nil) == (err == nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("%s: %v, %v", be.Kind(), p, err)
			}
			if p != nil {
				if _, err := p.Statement(); err != nil && !errors.Is(err, ErrMalformed) {
					t.Fatalf("%s: statement: %v", be.Kind(), err)
				}
			}
		}
	})
}
