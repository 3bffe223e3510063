package enclave

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func TestExclusions(t *testing.T) {
	if s := (Exclusions{}).String(); s != "" {
		t.Errorf("no exclusions print %q", s)
	}
	x := Exclusions{Epoch: 1, Purpose: 5, Expired: 0, Revoked: 2, ContributorMinimum: 3}
	want := "1 outside the epochs, 5 not consented to the purpose, 2 revoked, 3 dropped for their contributor's minimum cohort"
	if s := x.String(); s != want {
		t.Errorf("got %q, want %q", s, want)
	}
	if got := ExclusionsOf(x.Proto()); got != x {
		t.Errorf("round trip: %+v, want %+v", got, x)
	}
	if !proto.Equal(x.Proto(), ExclusionsOf(x.Proto()).Proto()) || ExclusionsOf(nil) != (Exclusions{}) {
		t.Error("wire form does not round-trip, or nil is not empty")
	}
}
