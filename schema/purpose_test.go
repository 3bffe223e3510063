package schema

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestPurposeMask(t *testing.T) {
	s := Default()
	tests := []struct {
		names []string
		mask  uint64
		err   bool
	}{
		{nil, 0, false},
		{[]string{"public-health"}, 1, false},
		{[]string{"commercial-training", "public-health"}, 5, false},
		{[]string{"academic-research", "academic-research"}, 2, false},
		{[]string{"public-health", "marketing"}, 0, true},
		{[]string{"Public-Health"}, 0, true},
	}
	for _, tc := range tests {
		mask, err := s.PurposeMask(tc.names)
		if tc.err {
			if !errors.Is(err, ErrUnknownPurpose) {
				t.Errorf("PurposeMask(%q) error = %v, want ErrUnknownPurpose", tc.names, err)
			}
			continue
		}
		if err != nil || mask != tc.mask {
			t.Errorf("PurposeMask(%q) = %b, %v; want %b", tc.names, mask, err, tc.mask)
		}
	}
}

func TestPurposeNames(t *testing.T) {
	s := Default()
	names, err := s.PurposeNames(5)
	if err != nil || !reflect.DeepEqual(names, []string{"public-health", "commercial-training"}) {
		t.Errorf("PurposeNames(5) = %q, %v", names, err)
	}
	if names, err := s.PurposeNames(0); err != nil || len(names) != 0 {
		t.Errorf("PurposeNames(0) = %q, %v", names, err)
	}
	for _, bad := range []uint64{8, 1 << 63, 9} {
		if _, err := s.PurposeNames(bad); !errors.Is(err, ErrUnknownPurpose) {
			t.Errorf("PurposeNames(%#x) error = %v, want ErrUnknownPurpose", bad, err)
		}
	}

	// With 64 purposes every bit is meaningful.
	s.Purposes = nil
	for i := range MaxPurposes {
		s.Purposes = append(s.Purposes, fmt.Sprintf("p%d", i))
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	mask, err := s.PurposeMask([]string{"p63", "p0"})
	if err != nil || mask != 1<<63|1 {
		t.Errorf("PurposeMask = %#x, %v", mask, err)
	}
	names, err = s.PurposeNames(^uint64(0))
	if err != nil || len(names) != 64 || names[63] != "p63" {
		t.Errorf("PurposeNames(all) = %d names, %v", len(names), err)
	}
}
