package backend

import (
	"errors"
	"slices"
	"testing"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

func TestFor(t *testing.T) {
	k := newNodeKeys(t)
	s := testSchema()
	be, err := For(k.dataset(s, cohortv1.Backend_BACKEND_MPC))
	if err != nil || be.Kind() != cohortv1.Backend_BACKEND_MPC {
		t.Fatalf("MPC dataset: %v, %v", be, err)
	}
	if _, err := For(k.dataset(s, cohortv1.Backend_BACKEND_HE)); err == nil {
		t.Fatal("an HE dataset without its collective key has a backend")
	}
	if _, err := For(k.dataset(s, cohortv1.Backend(7))); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown backend: %v, want ErrUnknown", err)
	}
	if _, err := For(k.dataset(s, cohortv1.Backend_BACKEND_UNSPECIFIED)); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unspecified backend: %v, want ErrUnknown", err)
	}
	f := getHEFixture(t)
	if f.b.Kind() != cohortv1.Backend_BACKEND_HE {
		t.Fatalf("HE dataset: kind %s", f.b.Kind())
	}
}

func TestNameParse(t *testing.T) {
	for _, kind := range []cohortv1.Backend{cohortv1.Backend_BACKEND_MPC, cohortv1.Backend_BACKEND_HE} {
		got, ok := Parse(Name(kind))
		if !ok || got != kind {
			t.Errorf("Parse(Name(%s)) = %s, %v", kind, got, ok)
		}
	}
	for _, bad := range []string{"", "MPC", "he ", "tee"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func TestAuditSlots(t *testing.T) {
	mpcSlots := AuditSlotsOf(cohortv1.Backend_BACKEND_MPC)
	if len(mpcSlots.Records) != 0 || !slices.Equal(mpcSlots.Combination, []string{CheckPartials}) {
		t.Fatalf("MPC slots %+v", mpcSlots)
	}
	heSlots := AuditSlotsOf(cohortv1.Backend_BACKEND_HE)
	if !slices.Equal(heSlots.Records, []string{CheckCiphertexts}) ||
		!slices.Equal(heSlots.Combination, []string{CheckAggregate, CheckDecryptionSet, CheckDecryption}) {
		t.Fatalf("HE slots %+v", heSlots)
	}
	if got := AuditSlotsOf(cohortv1.Backend_BACKEND_UNSPECIFIED); !slices.Equal(got.Combination, mpcSlots.Combination) {
		t.Fatalf("an unknown backend gets %+v, want MPC's", got)
	}
	// Every slot name is a check the backend runs.
	k := newNodeKeys(t)
	mb, err := For(k.dataset(testSchema(), cohortv1.Backend_BACKEND_MPC))
	if err != nil {
		t.Fatal(err)
	}
	f := getHEFixture(t)
	for _, c := range []struct {
		be    Backend
		slots AuditSlots
	}{{mb, mpcSlots}, {f.b, heSlots}} {
		checks, pass := c.be.AuditChecks(&AuditJob{})
		// The Records-slot checks report what the record pass found.
		if (pass != nil) != (len(c.slots.Records) > 0) {
			t.Errorf("%s: record pass %v for %d Records-slot checks", c.be.Kind(), pass != nil, len(c.slots.Records))
		}
		names := append(slices.Clone(c.slots.Records), c.slots.Combination...)
		if len(checks) != len(names) {
			t.Errorf("%s: %d checks for %d slots", c.be.Kind(), len(checks), len(names))
		}
		for _, n := range names {
			if checks[n] == nil {
				t.Errorf("%s: no %s check", c.be.Kind(), n)
			}
		}
	}
}
