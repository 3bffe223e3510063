package enclave

import (
	"fmt"
	"strings"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// String lists the non-zero counts with their reasons, in rule order
// ("5 not consented to the purpose, 2 revoked"); "" when nothing was
// excluded.
func (x Exclusions) String() string {
	var parts []string
	for _, p := range []struct {
		n    uint64
		what string
	}{
		{x.Epoch, "outside the epochs"}, {x.Purpose, "not consented to the purpose"}, {x.Expired, "consent expired"},
		{x.Revoked, "revoked"}, {x.ContributorMinimum, "dropped for their contributor's minimum cohort"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

// Proto is the wire form of x.
func (x Exclusions) Proto() *cohortv1.Exclusions {
	return &cohortv1.Exclusions{Epoch: x.Epoch, Purpose: x.Purpose, Expired: x.Expired, Revoked: x.Revoked, ContributorMinimum: x.ContributorMinimum}
}

// ExclusionsOf reads the wire form (nil reads as no exclusion).
func ExclusionsOf(p *cohortv1.Exclusions) Exclusions {
	return Exclusions{Epoch: p.GetEpoch(), Purpose: p.GetPurpose(), Expired: p.GetExpired(), Revoked: p.GetRevoked(), ContributorMinimum: p.GetContributorMinimum()}
}
