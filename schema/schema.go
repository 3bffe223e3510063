package schema

import "fmt"

// Limits enforced by Validate. They bound the size of the encoded vector
// (at most 1 + 256·64 + 128·129/2 = 24 641 coordinates) and of every name.
const (
	MaxIDLen          = 64        // bytes of a dataset id
	MaxNameLen        = 64        // bytes of a field name, category value or purpose
	MaxFields         = 256       // fields per schema
	MaxMoments        = 128       // entries of moments
	MinCategoryValues = 2         // values per category field, at least
	MaxCategoryValues = 64        // values per category field, at most
	MaxPurposes       = 64        // purposes (one bit each of a uint64 mask)
	MaxSpan           = 1<<32 - 1 // largest max−min of a numeric field, in scaled units
	DefaultMaxCohort  = 1_000_000 // max_cohort when the YAML does not give one
	MaxSchemaBytes    = 1 << 20   // largest YAML input Parse accepts
	MaxRecordBytes    = 1 << 20   // largest JSON record ParseRecordJSON accepts
	domainTag         = "cohort/v1/schema"
)

// FieldType is the type of a schema field. The zero value is invalid.
type FieldType int

// Field types.
const (
	// Int is a signed integer in [Min, Max].
	Int FieldType = iota + 1
	// Fixed is a decimal with Decimals fractional digits, stored as the
	// integer value·10^Decimals in [Min, Max] (both scaled).
	Fixed
	// Bool is false (0) or true (1).
	Bool
	// Category is one of Values, encoded one-hot.
	Category
)

var fieldTypeNames = map[FieldType]string{Int: "int", Fixed: "fixed", Bool: "bool", Category: "category"}

// String returns the YAML name of the type ("int", "fixed", "bool", "category").
func (t FieldType) String() string {
	if n, ok := fieldTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// Numeric reports whether fields of this type occupy one value coordinate
// (int, fixed and bool) and may therefore appear in moments.
func (t FieldType) Numeric() bool { return t == Int || t == Fixed || t == Bool }

// ParseFieldType returns the type named by its YAML name.
func ParseFieldType(name string) (FieldType, error) {
	for t, n := range fieldTypeNames {
		if n == name {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown type %q (want int, fixed, bool or category)", name)
}

// Field is one field of a schema.
//
// For Int and Fixed fields Min and Max are in scaled units (value·10^Decimals;
// Decimals is 0 for Int). Bool fields leave Min, Max and Decimals zero: their
// range is {0, 1}. Category fields leave Min, Max and Decimals zero and list
// their Values.
type Field struct {
	Name     string
	Type     FieldType
	Min, Max int64
	Decimals int
	Values   []string
}

// Schema is a loaded, validated dataset schema. Values built by hand must be
// checked with Validate before use; every other method assumes a valid schema.
// A Schema is not modified by any method and may be shared between goroutines.
type Schema struct {
	ID        string
	Fields    []Field
	Moments   []string // numeric field names; every pair i ≤ j is collected
	Purposes  []string // bit i of a purpose mask is Purposes[i]
	Epoch     EpochPeriod
	MinCohort uint32
	MaxCohort uint64
}

// Field returns the field with the given name.
func (s *Schema) Field(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// span returns Max−Min of a numeric field in scaled units (1 for bool).
func (f Field) span() uint64 {
	if f.Type == Bool {
		return 1
	}
	return uint64(f.Max) - uint64(f.Min) // exact for Min ≤ Max, also across the int64 range
}

// offset returns the value subtracted before encoding (Min; 0 for bool).
func (f Field) offset() int64 {
	if f.Type == Bool {
		return 0
	}
	return f.Min
}
