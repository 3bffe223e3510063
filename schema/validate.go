package schema

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Validate checks every rule of a schema (see the package documentation) and
// returns the first violation as a *FieldError wrapping ErrInvalidSchema.
func (s *Schema) Validate() error {
	return s.validate(nil)
}

// validate checks s; lines, when not nil, supplies YAML line numbers.
func (s *Schema) validate(lines *lineIndex) error {
	bad := func(field string, line int, format string, args ...any) error {
		return &FieldError{Field: field, Line: line, Err: ErrInvalidSchema, Msg: fmt.Sprintf(format, args...)}
	}

	switch {
	case s.ID == "":
		return bad("id", lines.key("id"), "required")
	case len(s.ID) > MaxIDLen:
		return bad("id", lines.key("id"), "%d bytes, at most %d", len(s.ID), MaxIDLen)
	case !isID(s.ID):
		return bad("id", lines.key("id"), "%q may only hold lowercase letters, digits and '-'", s.ID)
	}

	if len(s.Fields) == 0 {
		return bad("fields", lines.key("fields"), "at least one field is required")
	}
	if len(s.Fields) > MaxFields {
		return bad("fields", lines.key("fields"), "%d fields, at most %d", len(s.Fields), MaxFields)
	}
	seen := make(map[string]int, len(s.Fields))
	for i, f := range s.Fields {
		if err := f.validate(i, lines); err != nil {
			return err
		}
		if j, dup := seen[f.Name]; dup {
			return bad(f.Name, lines.field(i, "name"), "duplicate field name (also fields[%d])", j)
		}
		seen[f.Name] = i
	}

	if len(s.Moments) > MaxMoments {
		return bad("moments", lines.key("moments"), "%d entries, at most %d", len(s.Moments), MaxMoments)
	}
	inMoments := make(map[string]bool, len(s.Moments))
	for i, m := range s.Moments {
		at := fmt.Sprintf("moments[%d]", i)
		j, ok := seen[m]
		switch {
		case !ok:
			return bad(at, lines.item("moments", i), "unknown field %q", m)
		case !s.Fields[j].Type.Numeric():
			return bad(at, lines.item("moments", i), "%q is a %s field; only int, fixed and bool fields can be moments", m, s.Fields[j].Type)
		case inMoments[m]:
			return bad(at, lines.item("moments", i), "%q listed twice", m)
		}
		inMoments[m] = true
	}

	if len(s.Purposes) == 0 {
		return bad("purposes", lines.key("purposes"), "at least one purpose is required")
	}
	if len(s.Purposes) > MaxPurposes {
		return bad("purposes", lines.key("purposes"), "%d purposes, at most %d", len(s.Purposes), MaxPurposes)
	}
	purposes := make(map[string]bool, len(s.Purposes))
	for i, p := range s.Purposes {
		at := fmt.Sprintf("purposes[%d]", i)
		switch {
		case p == "" || len(p) > MaxNameLen || !isPurpose(p):
			return bad(at, lines.item("purposes", i), "%q is not a purpose name: 1..%d bytes of [a-z0-9_-]", p, MaxNameLen)
		case purposes[p]:
			return bad(at, lines.item("purposes", i), "%q listed twice", p)
		}
		purposes[p] = true
	}

	if _, ok := epochNames[s.Epoch]; !ok {
		return bad("epoch", lines.key("epoch"), "invalid period %v (want daily, weekly or monthly)", s.Epoch)
	}
	if s.MinCohort < 1 {
		return bad("min_cohort", lines.key("min_cohort"), "must be at least 1")
	}
	if s.MaxCohort < uint64(s.MinCohort) {
		return bad("max_cohort", lines.key("max_cohort"), "%d is below min_cohort %d", s.MaxCohort, s.MinCohort)
	}
	return nil
}

// validate checks field i on its own (names are checked for uniqueness by
// the caller).
func (f Field) validate(i int, lines *lineIndex) error {
	name := f.Name
	if !isIdentifier(name) {
		name = fmt.Sprintf("fields[%d]", i)
	}
	bad := func(key, format string, args ...any) error {
		return &FieldError{Field: name, Line: lines.field(i, key), Err: ErrInvalidSchema, Msg: fmt.Sprintf(format, args...)}
	}
	if f.Name == "" {
		return bad("name", "name is required")
	}
	if !isIdentifier(f.Name) {
		return bad("name", "name %q is not an identifier: [a-z_][a-z0-9_]*, at most %d bytes", f.Name, MaxNameLen)
	}
	switch f.Type {
	case Int, Fixed:
		if f.Type == Int && f.Decimals != 0 {
			return bad("decimals", "int takes no decimals (use type fixed)")
		}
		if f.Decimals < 0 || f.Decimals > MaxDecimals {
			return bad("decimals", "decimals %d outside 0..%d", f.Decimals, MaxDecimals)
		}
		if f.Values != nil {
			return bad("values", "%s takes no values", f.Type)
		}
		if f.Min >= f.Max {
			return bad("min", "min %s is not below max %s", formatScaled(f.Min, f.Decimals), formatScaled(f.Max, f.Decimals))
		}
		if span := f.span(); span > MaxSpan {
			unit := ""
			if f.Decimals > 0 {
				unit = fmt.Sprintf(" (in units of 10^-%d)", f.Decimals)
			}
			return bad("max", "span max−min = %d%s exceeds 2^32−1 = %d, so a product of two values could overflow 64 bits; narrow the range or use fewer decimals",
				span, unit, uint64(MaxSpan))
		}
	case Bool:
		if f.Min != 0 || f.Max != 0 {
			return bad("min", "bool takes no min/max (its range is 0..1)")
		}
		if f.Decimals != 0 {
			return bad("decimals", "bool takes no decimals")
		}
		if f.Values != nil {
			return bad("values", "bool takes no values")
		}
	case Category:
		if f.Min != 0 || f.Max != 0 {
			return bad("min", "category takes no min/max")
		}
		if f.Decimals != 0 {
			return bad("decimals", "category takes no decimals")
		}
		if len(f.Values) < MinCategoryValues || len(f.Values) > MaxCategoryValues {
			return bad("values", "%d values, want %d..%d", len(f.Values), MinCategoryValues, MaxCategoryValues)
		}
		seen := make(map[string]bool, len(f.Values))
		for _, v := range f.Values {
			switch {
			case v == "":
				return bad("values", "empty value")
			case len(v) > MaxNameLen || !isPrintable(v):
				return bad("values", "value %q is not 1..%d bytes of printable UTF-8", v, MaxNameLen)
			case seen[v]:
				return bad("values", "value %q listed twice", v)
			}
			seen[v] = true
		}
	default:
		return bad("type", "invalid type %v (want int, fixed, bool or category)", f.Type)
	}
	return nil
}

func isID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isIdentifier reports whether s matches [a-z_][a-z0-9_]* and is at most
// MaxNameLen bytes.
func isIdentifier(s string) bool {
	if s == "" || len(s) > MaxNameLen || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func isPurpose(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}
