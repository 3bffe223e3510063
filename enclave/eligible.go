package enclave

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"time"
)

// Record is what eligibility is decided on for one stored contribution:
// its consent and provenance, never its values.
type Record struct {
	// Nullifier identifies the contribution (one per contributor, dataset
	// and epoch); records given to Select have distinct nullifiers.
	Nullifier [32]byte
	// PayloadDigest is the digest of the stored payload (its shares or
	// ciphertext), so that nodes agreeing on a set agree on its contents.
	PayloadDigest [32]byte
	// Epoch is the epoch the record belongs to.
	Epoch uint64
	// Purposes is the consented purpose mask: bit i is the schema's
	// purposes[i].
	Purposes uint64
	// Expiry is the end of the consent; the record is eligible for a job
	// at time at ≤ Expiry. The zero time is always in the past.
	Expiry time.Time
	// MinCohort is the smallest cohort the contributor lets the record be
	// counted in (0 and 1: any).
	MinCohort uint32
	// Revoked reports that the contributor withdrew the record.
	Revoked bool
}

// Exclusions counts the records Select left out, by the first rule each
// failed. It holds counts only, never identities, so it may be shown to the
// buyer.
// Member is what a job keeps of a record of its cohort once it is
// selected: the two ids its set digest and its later reads of the record
// need, 64 bytes (docs/design.md §7.6).
type Member struct {
	Nullifier     [32]byte
	PayloadDigest [32]byte
}

// Member is what a cohort keeps of r.
func (r Record) Member() Member {
	return Member{Nullifier: r.Nullifier, PayloadDigest: r.PayloadDigest}
}

type Exclusions struct {
	Epoch              uint64 // epoch outside [from, to]
	Purpose            uint64 // purpose not consented to
	Expired            uint64 // consent expired before the job time
	Revoked            uint64 // revoked by the contributor
	ContributorMinimum uint64 // contributor demanded a larger cohort than the final one
}

// Selection is the outcome of Select.
type Selection struct {
	// Records is the final cohort, sorted by nullifier.
	Records []Member
	// Eligible counts the records that passed the epoch, purpose, expiry
	// and revocation rules, before contributors' minimums were applied.
	Eligible uint64
	// Excluded counts the records left out, by reason.
	Excluded Exclusions
}

// Cohort returns the size of the final cohort.
func (s Selection) Cohort() uint64 { return uint64(len(s.Records)) }

// Select decides which records a job counts. A record is eligible when, in
// this order, its epoch lies in [epochFrom, epochTo], its Purposes has bit
// purposeBit set (no bit ≥ 64 is ever set), its consent has not expired at
// the job time (at ≤ Expiry), and it is not revoked; a record that is not
// is counted under the first rule it fails. Then contributors' own
// minimums apply: the final cohort is the largest subset C of the eligible
// records E in which every record's MinCohort ≤ |C|. It is what the fixpoint
// n = |E|, drop every record with MinCohort > n, repeat, converges to, and
// is computed directly as the records with MinCohort ≤ m for the largest m
// such that at least m eligible records have MinCohort ≤ m (m = 0 when no
// record may be counted). Dropped records count as ContributorMinimum.
//
// The input is not modified. Its order does not matter: records are sorted
// by nullifier. Records must have distinct nullifiers; should one repeat,
// only the least of its records (ordered by all their fields) is
// considered and the others are not counted anywhere, so the result still
// does not depend on the input order.
func Select(records []Record, purposeBit uint, epochFrom, epochTo uint64, at time.Time) Selection {
	sorted := slices.Clone(records)
	slices.SortFunc(sorted, compareRecords)
	sorted = slices.CompactFunc(sorted, func(a, b Record) bool { return a.Nullifier == b.Nullifier })

	s := NewSelector(purposeBit, epochFrom, epochTo, at)
	for _, r := range sorted {
		if s.rules(r) {
			s.keep(r)
		}
	}
	return s.Selection()
}

// cohortBound returns the largest m ≤ len(mins) such that at least m
// records have MinCohort ≤ m (0 when there is none), mins being the
// records' minimums. Exactly m records then have MinCohort ≤ m, and they
// are the greatest fixpoint of "drop every record whose minimum exceeds
// the set's size".
func cohortBound(mins []uint32) uint64 {
	sorted := slices.Clone(mins)
	slices.Sort(sorted)
	// The m-th smallest minimum is ≤ m exactly when at least m records
	// have a minimum ≤ m.
	for m := uint64(len(sorted)); m > 0; m-- {
		if uint64(sorted[m-1]) <= m {
			return m
		}
	}
	return 0
}

// compareRecords orders records by nullifier, then by every other field,
// so that sorting is deterministic even for repeated nullifiers.
func compareRecords(a, b Record) int {
	if c := bytes.Compare(a.Nullifier[:], b.Nullifier[:]); c != 0 {
		return c // the common case: the rest only breaks ties
	}
	return cmp.Or(
		bytes.Compare(a.PayloadDigest[:], b.PayloadDigest[:]),
		cmp.Compare(a.Epoch, b.Epoch),
		cmp.Compare(a.Purposes, b.Purposes),
		a.Expiry.Compare(b.Expiry),
		cmp.Compare(a.MinCohort, b.MinCohort),
		compareBool(a.Revoked, b.Revoked),
	)
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case b:
		return -1
	}
	return 1
}

// setDigestTag separates set digests from every other hash in the system.
const setDigestTag = "cohort/v1/job-eligible-set"

// SetDigest returns the digest nodes compare to agree on a job's cohort:
//
//	SHA-256( "cohort/v1/job-eligible-set"
//	       ‖ u64(len(jobID)) ‖ jobID ‖ u64(len(datasetID)) ‖ datasetID
//	       ‖ u64(count)
//	       ‖ nullifier₁ ‖ payloadDigest₁ ‖ … ‖ nullifier_count ‖ payloadDigest_count )
//
// with u64 an 8-byte big-endian integer and the records in nullifier order
// (then payload digest order; SetDigest sorts a copy, so the input order
// does not matter). The length prefixes keep the encoding injective: no
// two (job, dataset, set) triples hash the same input. Binding the payload
// digests means that nodes agreeing on the digest agree on the very
// payloads counted, not only on which contributors.
func SetDigest(jobID, datasetID string, records []Member) [32]byte {
	sorted := slices.Clone(records)
	slices.SortFunc(sorted, func(a, b Member) int {
		return cmp.Or(bytes.Compare(a.Nullifier[:], b.Nullifier[:]), bytes.Compare(a.PayloadDigest[:], b.PayloadDigest[:]))
	})
	h := sha256.New()
	h.Write([]byte(setDigestTag))
	var u [8]byte
	for _, s := range []string{jobID, datasetID} {
		binary.BigEndian.PutUint64(u[:], uint64(len(s)))
		h.Write(u[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(u[:], uint64(len(sorted)))
	h.Write(u[:])
	for _, r := range sorted {
		h.Write(r.Nullifier[:])
		h.Write(r.PayloadDigest[:])
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
