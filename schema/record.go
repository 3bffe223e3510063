package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Record holds one value per field of a schema, by field name. It is the
// plaintext a contributor encodes, shares or encrypts, and proves valid.
type Record map[string]Value

type valueKind uint8

const (
	kindInvalid valueKind = iota
	kindNumber
	kindBool
	kindCategory
)

// Value is one typed value of a record: an exact decimal number (for int
// and fixed fields), a bool, or a category value. The zero Value is invalid
// and refused by Encode.
type Value struct {
	kind valueKind
	mant int64 // number = mant·10^-frac, with mant not divisible by 10 when frac > 0
	frac int
	b    bool
	s    string
}

// IntValue returns the number x.
func IntValue(x int64) Value { return Value{kind: kindNumber, mant: x} }

// FixedValue parses a decimal literal exactly (grammar
// -?(0|[1-9][0-9]*)(\.[0-9]+)?, no exponent). Trailing zeros are
// insignificant: "7.250" equals "7.25".
func FixedValue(decimal string) (Value, error) {
	mant, frac, err := parseDecimal(decimal)
	if err != nil {
		return Value{}, fmt.Errorf("schema: %q: %w", decimal, err)
	}
	return Value{kind: kindNumber, mant: mant, frac: frac}, nil
}

// ScaledValue returns the number scaled·10^-decimals (e.g. ScaledValue(725,
// 2) is 7.25). decimals must lie in 0..18; otherwise the result is the
// invalid zero Value.
func ScaledValue(scaled int64, decimals int) Value {
	if decimals < 0 || decimals > 18 {
		return Value{}
	}
	for decimals > 0 && scaled%10 == 0 {
		scaled /= 10
		decimals--
	}
	return Value{kind: kindNumber, mant: scaled, frac: decimals}
}

// BoolValue returns the bool b.
func BoolValue(b bool) Value { return Value{kind: kindBool, b: b} }

// CategoryValue returns the category value v.
func CategoryValue(v string) Value { return Value{kind: kindCategory, s: v} }

// String returns the value as it is written in a JSON record (a category
// value unquoted).
func (v Value) String() string {
	switch v.kind {
	case kindNumber:
		return formatScaled(v.mant, v.frac)
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindCategory:
		return v.s
	}
	return "<invalid>"
}

func (v Value) kindName() string {
	switch v.kind {
	case kindNumber:
		return "a number"
	case kindBool:
		return "a bool"
	case kindCategory:
		return "a string"
	}
	return "an invalid value"
}

// coordinate checks v against field f and returns its encoding: the shifted
// value x = scaled − Min for int and fixed, 0/1 for bool, and the index of
// the value in f.Values for a category.
func (f Field) coordinate(v Value) (uint64, error) {
	switch f.Type {
	case Int, Fixed:
		if v.kind != kindNumber {
			return 0, recordErr(ErrWrongType, f.Name, "want a number, got %s", v.kindName())
		}
		scaled, err := rescale(v.mant, v.frac, f.Decimals)
		switch {
		case errors.Is(err, errDecimalScale) && f.Decimals == 0:
			return 0, recordErr(ErrTooManyDecimals, f.Name, "%s is not an integer", v)
		case errors.Is(err, errDecimalScale):
			return 0, recordErr(ErrTooManyDecimals, f.Name, "%s has more than %d decimals", v, f.Decimals)
		case err != nil && v.mant < 0:
			return 0, recordErr(ErrOutOfRange, f.Name, "%s below min %s", v, formatScaled(f.Min, f.Decimals))
		case err != nil:
			return 0, recordErr(ErrOutOfRange, f.Name, "%s above max %s", v, formatScaled(f.Max, f.Decimals))
		case scaled < f.Min:
			return 0, recordErr(ErrOutOfRange, f.Name, "%s below min %s", v, formatScaled(f.Min, f.Decimals))
		case scaled > f.Max:
			return 0, recordErr(ErrOutOfRange, f.Name, "%s above max %s", v, formatScaled(f.Max, f.Decimals))
		}
		return uint64(scaled) - uint64(f.Min), nil
	case Bool:
		if v.kind != kindBool {
			return 0, recordErr(ErrWrongType, f.Name, "want a bool, got %s", v.kindName())
		}
		if v.b {
			return 1, nil
		}
		return 0, nil
	case Category:
		if v.kind != kindCategory {
			return 0, recordErr(ErrWrongType, f.Name, "want a string, got %s", v.kindName())
		}
		if k := slices.Index(f.Values, v.s); k >= 0 {
			return uint64(k), nil
		}
		return 0, recordErr(ErrUnknownCategory, f.Name, "%q is not one of %s", v.s, strings.Join(f.Values, ", "))
	}
	return 0, recordErr(ErrWrongType, f.Name, "field has invalid type %v", f.Type)
}

// coordinates checks a whole record and returns, per field of s in schema
// order, the result of Field.coordinate.
func (s *Schema) coordinates(r Record) ([]uint64, error) {
	out := make([]uint64, len(s.Fields))
	found := 0
	for i, f := range s.Fields {
		v, ok := r[f.Name]
		if !ok {
			return nil, recordErr(ErrMissingField, f.Name, "missing")
		}
		found++
		x, err := f.coordinate(v)
		if err != nil {
			return nil, err
		}
		out[i] = x
	}
	if found < len(r) {
		var unknown []string
		for name := range r {
			if _, ok := s.Field(name); !ok {
				unknown = append(unknown, name)
			}
		}
		slices.Sort(unknown)
		return nil, recordErr(ErrUnknownField, displayName(unknown[0]), "not a field of dataset %q", s.ID)
	}
	return out, nil
}

// displayName returns a name from outside input fit for an error message.
func displayName(name string) string {
	if isIdentifier(name) {
		return name
	}
	if len(name) > MaxNameLen {
		name = name[:MaxNameLen] + "…"
	}
	return strconv.Quote(name)
}

// ParseRecordJSON decodes a record from a JSON object with one member per
// field: a number for int and fixed fields (parsed exactly from its decimal
// text; an exponent is refused, and so is a number with more decimals than
// the field allows), true or false for bool fields, a string for category
// fields. Unknown, repeated and missing members, trailing data and inputs
// over MaxRecordBytes are refused. The record is fully checked, so Encode
// accepts it. Errors name the field and wrap ErrInvalidRecord.
func (s *Schema) ParseRecordJSON(data []byte) (Record, error) {
	if len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("schema: %w: %d bytes, at most %d", ErrInvalidRecord, len(data), MaxRecordBytes)
	}
	syntax := func(err error) error {
		return fmt.Errorf("schema: %w: JSON: %v", ErrInvalidRecord, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("schema: %w: want a JSON object", ErrInvalidRecord)
	}
	r := make(Record, len(s.Fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntax(err)
		}
		name, _ := tok.(string) // object keys are always strings
		f, ok := s.Field(name)
		if !ok {
			return nil, recordErr(ErrUnknownField, displayName(name), "not a field of dataset %q", s.ID)
		}
		if _, dup := r[name]; dup {
			return nil, recordErr(ErrInvalidRecord, name, "given twice")
		}
		var raw any
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err)
		}
		v, err := jsonValue(f, raw)
		if err != nil {
			return nil, err
		}
		if _, err := f.coordinate(v); err != nil {
			return nil, err
		}
		r[name] = v
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, syntax(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("schema: %w: data after the JSON object", ErrInvalidRecord)
	}
	for _, f := range s.Fields {
		if _, ok := r[f.Name]; !ok {
			return nil, recordErr(ErrMissingField, f.Name, "missing")
		}
	}
	return r, nil
}

// jsonValue converts a decoded JSON value for field f.
func jsonValue(f Field, raw any) (Value, error) {
	switch x := raw.(type) {
	case json.Number:
		if f.Type != Int && f.Type != Fixed {
			break
		}
		mant, frac, err := parseDecimal(string(x))
		switch {
		case errors.Is(err, errDecimalRange) && strings.HasPrefix(string(x), "-"):
			return Value{}, recordErr(ErrOutOfRange, f.Name, "%.40s below min %s", x, formatScaled(f.Min, f.Decimals))
		case errors.Is(err, errDecimalRange):
			return Value{}, recordErr(ErrOutOfRange, f.Name, "%.40s above max %s", x, formatScaled(f.Max, f.Decimals))
		case err != nil:
			return Value{}, recordErr(ErrWrongType, f.Name, "%.40s is not a plain decimal number (no exponent)", x)
		}
		return Value{kind: kindNumber, mant: mant, frac: frac}, nil
	case bool:
		if f.Type == Bool {
			return BoolValue(x), nil
		}
	case string:
		if f.Type == Category {
			return CategoryValue(x), nil
		}
	}
	want := map[FieldType]string{Int: "a number", Fixed: "a number", Bool: "true or false", Category: "a string"}[f.Type]
	return Value{}, recordErr(ErrWrongType, f.Name, "want %s, got %s", want, jsonKind(raw))
}

func jsonKind(raw any) string {
	switch raw.(type) {
	case nil:
		return "null"
	case json.Number:
		return "a number"
	case bool:
		return "a bool"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", raw)
}

// RecordJSON writes r as the JSON object ParseRecordJSON reads: members in
// schema order, numbers as the shortest exact decimal. The record is checked
// first, as by Encode.
func (s *Schema) RecordJSON(r Record) ([]byte, error) {
	coords, err := s.coordinates(r)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range s.Fields {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, f.Name)
		b.WriteByte(':')
		switch f.Type {
		case Int, Fixed:
			b.WriteString(formatScaled(int64(coords[i]+uint64(f.Min)), f.Decimals))
		case Bool:
			b.WriteString(strconv.FormatBool(coords[i] == 1))
		case Category:
			writeJSONString(&b, f.Values[coords[i]])
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
