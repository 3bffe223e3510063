package enclave

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"slices"
	"time"
)

// Selector is Select over records read one at a time, in strictly
// increasing nullifier order (as a store scan yields them): it applies the
// per-record rules as each record arrives and keeps only the eligible
// records, without their values (docs/design.md §7.6). Selection then
// applies the contributors' minimums; it equals Select over the same
// records.
type Selector struct {
	bit      uint
	from, to uint64
	at       time.Time
	eligible []Member // the eligible records so far, in nullifier order
	mins     []uint32 // their contributors' minimums
	excluded Exclusions
	last     *[32]byte
}

// NewSelector starts a selection for a job at time at over the epochs
// [epochFrom, epochTo] and the purpose bit purposeBit.
func NewSelector(purposeBit uint, epochFrom, epochTo uint64, at time.Time) *Selector {
	return &Selector{bit: purposeBit, from: epochFrom, to: epochTo, at: at}
}

// ErrOrder is a record given to a Selector or a SetHasher out of strictly
// increasing nullifier order.
var ErrOrder = errors.New("enclave: records out of nullifier order")

// Eligible applies the rules of Select that depend on r alone — epoch,
// purpose, expiry, revocation — and counts r under the first it fails.
// It reports whether r is eligible; ErrOrder if r's nullifier does not
// follow the previous record's.
func (s *Selector) Eligible(r Record) (bool, error) {
	if s.last != nil && bytes.Compare(r.Nullifier[:], s.last[:]) <= 0 {
		return false, fmt.Errorf("%w: %x… after %x…", ErrOrder, r.Nullifier[:4], s.last[:4])
	}
	nf := r.Nullifier
	s.last = &nf
	return s.rules(r), nil
}

// rules applies the per-record rules to r, counting it under the first it
// fails.
func (s *Selector) rules(r Record) bool {
	switch {
	case r.Epoch < s.from || r.Epoch > s.to:
		s.excluded.Epoch++
	case s.bit >= 64 || r.Purposes&(1<<s.bit) == 0:
		s.excluded.Purpose++
	case s.at.After(r.Expiry):
		s.excluded.Expired++
	case r.Revoked:
		s.excluded.Revoked++
	default:
		return true
	}
	return false
}

// Add applies Eligible to r and keeps r if it is eligible.
func (s *Selector) Add(r Record) error {
	_, err := s.Take(r)
	return err
}

// Take is Add, reporting whether r passed the per-record rules and was
// kept, so that a scan can take more of the records kept as they are read
// (their values, for one).
func (s *Selector) Take(r Record) (bool, error) {
	ok, err := s.Eligible(r)
	if ok {
		s.keep(r)
	}
	return ok, err
}

// Excluded counts the records left out so far by the per-record rules.
// Reserve makes room for n more eligible records, so that a selector
// told how many records a scan will pass holds its selection in one
// allocation of exactly that size rather than in a slice grown step by
// step (docs/design.md §7.6).
func (s *Selector) Reserve(n int) {
	if n > 0 {
		s.eligible, s.mins = slices.Grow(s.eligible, n), slices.Grow(s.mins, n)
	}
}

// keep keeps eligible record r: its ids, and its minimum until the
// selection is made.
func (s *Selector) keep(r Record) {
	s.eligible = append(s.eligible, r.Member())
	s.mins = append(s.mins, r.MinCohort)
}

func (s *Selector) Excluded() Exclusions { return s.excluded }

// Selection applies the contributors' minimums to the eligible records
// added and returns the selection, as Select does. The Selector is not
// used afterwards.
func (s *Selector) Selection() Selection {
	sel := Selection{Eligible: uint64(len(s.eligible)), Excluded: s.excluded}
	m := cohortBound(s.mins)
	sel.Records = s.eligible[:0] // filtered in place: writes never pass reads
	for i, r := range s.eligible {
		if uint64(s.mins[i]) <= m {
			sel.Records = append(sel.Records, r)
		} else {
			sel.Excluded.ContributorMinimum++
		}
	}
	s.eligible, s.mins = nil, nil
	return sel
}

// SetHasher computes SetDigest over records given one at a time in
// strictly increasing nullifier order, for a set whose size is known
// before its records are read (the digest encodes it first).
type SetHasher struct {
	h          hash.Hash
	count, got uint64
	last       *[32]byte
}

// NewSetHasher starts the digest of a set of count records of a job.
func NewSetHasher(jobID, datasetID string, count uint64) *SetHasher {
	h := sha256.New()
	h.Write([]byte(setDigestTag))
	var u [8]byte
	for _, s := range []string{jobID, datasetID} {
		binary.BigEndian.PutUint64(u[:], uint64(len(s)))
		h.Write(u[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(u[:], count)
	h.Write(u[:])
	return &SetHasher{h: h, count: count}
}

// Add adds a record of the set: ErrOrder if its nullifier does not follow
// the previous one's, an error beyond the announced count.
func (s *SetHasher) Add(r Member) error {
	if s.last != nil && bytes.Compare(r.Nullifier[:], s.last[:]) <= 0 {
		return fmt.Errorf("%w: %x… after %x…", ErrOrder, r.Nullifier[:4], s.last[:4])
	}
	if s.got == s.count {
		return fmt.Errorf("enclave: set digest: more than the %d records announced", s.count)
	}
	nf := r.Nullifier
	s.last = &nf
	s.got++
	s.h.Write(r.Nullifier[:])
	s.h.Write(r.PayloadDigest[:])
	return nil
}

// Count is the number of records added.
func (s *SetHasher) Count() uint64 { return s.got }

// Sum returns the set's digest; an error unless exactly the announced
// count of records was added.
func (s *SetHasher) Sum() ([32]byte, error) {
	if s.got != s.count {
		return [32]byte{}, fmt.Errorf("enclave: set digest: %d records added, %d announced", s.got, s.count)
	}
	var d [32]byte
	s.h.Sum(d[:0])
	return d, nil
}
