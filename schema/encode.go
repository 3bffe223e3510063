package schema

// Encode checks r against s and returns its encoded vector v (see Layout
// for the order of coordinates): v[0] = 1, each numeric value shifted to
// start at 0, the one-hot block of each category, and the product of every
// moment pair. Every coordinate is at most Bounds().CoordMax at its index.
//
// Errors name the offending field and wrap ErrInvalidRecord and one of
// ErrMissingField, ErrUnknownField, ErrWrongType, ErrOutOfRange,
// ErrTooManyDecimals or ErrUnknownCategory. Their messages quote the
// offending value, so they belong to the record's owner.
func (s *Schema) Encode(r Record) ([]uint64, error) {
	coords, err := s.coordinates(r)
	if err != nil {
		return nil, err
	}
	numeric, length := s.shape()
	v := make([]uint64, length)
	v[0] = 1
	value := make(map[string]uint64, numeric) // shifted value by field name, for the products
	pos := 1
	for i, f := range s.Fields {
		if f.Type.Numeric() {
			v[pos] = coords[i]
			value[f.Name] = coords[i]
			pos++
		}
	}
	for i, f := range s.Fields {
		if f.Type == Category {
			v[pos+int(coords[i])] = 1
			pos += len(f.Values)
		}
	}
	factors := make([]uint64, len(s.Moments))
	for i, m := range s.Moments {
		factors[i] = value[m]
	}
	for i, a := range factors {
		for _, b := range factors[i:] {
			v[pos] = a * b // < 2^64: both factors ≤ MaxSpan
			pos++
		}
	}
	return v, nil
}

// shape returns the number of numeric fields and the length of the encoded
// vector, without building the Layout.
func (s *Schema) shape() (numeric, length int) {
	length = 1
	for _, f := range s.Fields {
		switch {
		case f.Type.Numeric():
			numeric++
			length++
		case f.Type == Category:
			length += len(f.Values)
		}
	}
	n := len(s.Moments)
	return numeric, length + n*(n+1)/2
}
