package schema

import "fmt"

// PurposeMask returns the bitmask with bit i set for each name equal to
// Purposes[i]. Repeated names are harmless; an unknown name is an error
// wrapping ErrUnknownPurpose.
func (s *Schema) PurposeMask(names []string) (uint64, error) {
	var mask uint64
	for _, n := range names {
		i := s.purposeIndex(n)
		if i < 0 {
			return 0, fmt.Errorf("schema: %w %q in dataset %q", ErrUnknownPurpose, n, s.ID)
		}
		mask |= 1 << uint(i)
	}
	return mask, nil
}

// PurposeNames returns the purposes whose bits are set in mask, in schema
// order. A bit beyond the schema's purposes is an error wrapping
// ErrUnknownPurpose.
func (s *Schema) PurposeNames(mask uint64) ([]string, error) {
	if n := len(s.Purposes); n < 64 && mask>>uint(n) != 0 {
		return nil, fmt.Errorf("schema: %w: mask %#x has bits beyond the %d purposes of dataset %q", ErrUnknownPurpose, mask, n, s.ID)
	}
	var names []string
	for i, p := range s.Purposes {
		if mask&(1<<uint(i)) != 0 {
			names = append(names, p)
		}
	}
	return names, nil
}

func (s *Schema) purposeIndex(name string) int {
	for i, p := range s.Purposes {
		if p == name && i < 64 {
			return i
		}
	}
	return -1
}
