package schema

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// mutate returns the demo schema's YAML with old replaced by new; old must
// occur exactly once.
func mutate(t testing.TB, old, new string) string {
	t.Helper()
	y := string(fitnessYAML)
	if n := strings.Count(y, old); n != 1 {
		t.Fatalf("mutate: %q occurs %d times", old, n)
	}
	return strings.Replace(y, old, new, 1)
}

const (
	ageLine    = "{name: age,        type: int, min: 18, max: 100}"
	stepsLine  = "{name: steps,      type: int, min: 0,  max: 60000}"
	sleepLine  = "{name: sleep_h,    type: fixed, min: 0, max: 16, decimals: 2}"
	smokerLine = "{name: smoker,     type: bool}"
	regionLine = "{name: region,     type: category, values: [north, south, east, west]}"
)

func TestParseRejects(t *testing.T) {
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf("v%d", i)
	}
	tests := []struct {
		name  string
		yaml  string
		field string // FieldError.Field
		msg   string // substring of the message
		line  int    // 0: not checked
	}{
		{"id empty", mutate(t, "id: fitness-2026", `id: ""`), "id", "required", 2},
		{"id missing", mutate(t, "id: fitness-2026\n", ""), "id", "required", 0},
		{"id uppercase", mutate(t, "id: fitness-2026", "id: Fitness"), "id", "lowercase", 2},
		{"id underscore", mutate(t, "id: fitness-2026", "id: fit_ness"), "id", "lowercase", 2},
		{"id too long", mutate(t, "id: fitness-2026", "id: "+strings.Repeat("a", 65)), "id", "at most 64", 2},
		{"no fields", "id: x\nfields: []\npurposes: [a]\nepoch: daily\nmin_cohort: 1\n", "fields", "at least one", 2},
		{"name not identifier", mutate(t, "name: age,", "name: Age,"), "fields[0]", "not an identifier", 4},
		{"name starts with digit", mutate(t, "name: age,", "name: 9age,"), "fields[0]", "not an identifier", 4},
		{"name has dash", mutate(t, "name: age,", "name: a-ge,"), "fields[0]", "not an identifier", 4},
		{"name missing", mutate(t, ageLine, "{type: int, min: 18, max: 100}"), "fields[0]", "name is required", 4},
		{"duplicate name", mutate(t, "name: steps,", "name: age,"), "age", "duplicate field name", 5},
		{"type missing", mutate(t, ageLine, "{name: age, min: 18, max: 100}"), "age", "type is required", 4},
		{"type unknown", mutate(t, ageLine, "{name: age, type: float, min: 18, max: 100}"), "age", `unknown type "float"`, 4},
		{"int min above max", mutate(t, ageLine, "{name: age, type: int, min: 100, max: 18}"), "age", "min 100 is not below max 18", 4},
		{"int min equals max", mutate(t, ageLine, "{name: age, type: int, min: 18, max: 18}"), "age", "not below", 4},
		{"int min missing", mutate(t, ageLine, "{name: age, type: int, max: 18}"), "age", "requires min and max", 4},
		{"int max missing", mutate(t, ageLine, "{name: age, type: int, min: 18}"), "age", "requires min and max", 4},
		{"int decimals", mutate(t, ageLine, "{name: age, type: int, min: 18, max: 100, decimals: 0}"), "age", "int takes no decimals", 4},
		{"int values", mutate(t, ageLine, "{name: age, type: int, min: 18, max: 100, values: [a, b]}"), "age", "takes no values", 4},
		{"int min quoted", mutate(t, ageLine, `{name: age, type: int, min: "18", max: 100}`), "age", "min must be a number", 4},
		{"int min list", mutate(t, ageLine, `{name: age, type: int, min: [18], max: 100}`), "age", "min must be a number", 4},
		{"int min fractional", mutate(t, ageLine, "{name: age, type: int, min: 18.5, max: 100}"), "age", "more than 0 decimals", 4},
		{"int min exponent", mutate(t, ageLine, "{name: age, type: int, min: 1e1, max: 100}"), "age", "plain decimal", 4},
		{"int min hex", mutate(t, ageLine, "{name: age, type: int, min: 0x12, max: 100}"), "age", "plain decimal", 4},
		{"int min beyond int64", mutate(t, ageLine, "{name: age, type: int, min: -9223372036854775809, max: 100}"), "age", "64-bit range", 4},
		{"int span too large", mutate(t, ageLine, "{name: age, type: int, min: 0, max: 4294967296}"), "age", "exceeds 2^32−1", 4},
		{"int span too large negative", mutate(t, ageLine, "{name: age, type: int, min: -2147483648, max: 2147483648}"), "age", "exceeds 2^32−1", 4},
		{"int span across int64", mutate(t, ageLine, "{name: age, type: int, min: -9223372036854775808, max: 9223372036854775807}"), "age", "exceeds 2^32−1", 4},
		{"fixed decimals missing", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0, max: 16}"), "sleep_h", "requires decimals", 7},
		{"fixed decimals 7", mutate(t, "decimals: 2", "decimals: 7"), "sleep_h", "decimals 7 outside 0..6", 7},
		{"fixed decimals negative", mutate(t, "decimals: 2", "decimals: -1"), "sleep_h", "outside 0..6", 7},
		{"fixed min too precise", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0.001, max: 16, decimals: 2}"), "sleep_h", "min 0.001 has more than 2 decimals", 7},
		{"fixed max above min", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 16, max: 7.25, decimals: 2}"), "sleep_h", "min 16 is not below max 7.25", 7},
		{"fixed span too large", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0, max: 42949.67296, decimals: 5}"), "sleep_h", "exceeds 2^32−1", 7},
		{"fixed scaled overflow", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0, max: 9223372036854775807, decimals: 1}"), "sleep_h", "64-bit range", 7},
		{"bool with min", mutate(t, smokerLine, "{name: smoker, type: bool, min: 0}"), "smoker", "bool takes no min/max", 8},
		{"bool with max", mutate(t, smokerLine, "{name: smoker, type: bool, max: 1}"), "smoker", "bool takes no min/max", 8},
		{"bool with decimals", mutate(t, smokerLine, "{name: smoker, type: bool, decimals: 0}"), "smoker", "bool takes no decimals", 8},
		{"bool with values", mutate(t, smokerLine, "{name: smoker, type: bool, values: [a, b]}"), "smoker", "bool takes no values", 8},
		{"category one value", mutate(t, regionLine, "{name: region, type: category, values: [north]}"), "region", "1 values, want 2..64", 9},
		{"category no values", mutate(t, regionLine, "{name: region, type: category}"), "region", "0 values", 9},
		{"category 65 values", mutate(t, regionLine, "{name: region, type: category, values: ["+strings.Join(many, ", ")+"]}"), "region", "65 values", 9},
		{"category duplicate value", mutate(t, "east, west]", "east, east]"), "region", `value "east" listed twice`, 9},
		{"category empty value", mutate(t, "east, west]", `east, ""]`), "region", "empty value", 9},
		{"category control char", mutate(t, "east, west]", `east, "we\tst"]`), "region", "printable", 9},
		{"category with min", mutate(t, regionLine, "{name: region, type: category, min: 0, values: [a, b]}"), "region", "category takes no min/max", 9},
		{"category with decimals", mutate(t, regionLine, "{name: region, type: category, decimals: 1, values: [a, b]}"), "region", "category takes no decimals", 9},
		{"moment unknown", mutate(t, "moments: [age,", "moments: [weight,"), "moments[0]", `unknown field "weight"`, 10},
		{"moment category", mutate(t, "sleep_h, smoker]", "sleep_h, region]"), "moments[4]", "category field", 10},
		{"moment duplicate", mutate(t, "sleep_h, smoker]", "sleep_h, age]"), "moments[4]", `"age" listed twice`, 10},
		{"purposes missing", mutate(t, "purposes: [public-health, academic-research, commercial-training]\n", ""), "purposes", "at least one", 0},
		{"purposes empty", mutate(t, "purposes: [public-health, academic-research, commercial-training]", "purposes: []"), "purposes", "at least one", 11},
		{"purpose duplicate", mutate(t, "commercial-training]", "public-health]"), "purposes[2]", "listed twice", 11},
		{"purpose invalid", mutate(t, "commercial-training]", `"Commercial Training"]`), "purposes[2]", "not a purpose name", 11},
		{"epoch missing", mutate(t, "epoch: weekly", ""), "epoch", "required", 0},
		{"epoch unknown", mutate(t, "epoch: weekly", "epoch: hourly"), "epoch", `unknown epoch "hourly"`, 12},
		{"min_cohort missing", mutate(t, "min_cohort: 20\n", ""), "min_cohort", "required", 0},
		{"min_cohort zero", mutate(t, "min_cohort: 20", "min_cohort: 0"), "min_cohort", "at least 1", 13},
		{"min_cohort negative", mutate(t, "min_cohort: 20", "min_cohort: -5"), "min_cohort", "at least 1", 13},
		{"min_cohort too large", mutate(t, "min_cohort: 20", "min_cohort: 4294967296"), "min_cohort", "at most 4294967295", 13},
		{"min_cohort not a number", mutate(t, "min_cohort: 20", "min_cohort: lots"), "min_cohort", "cannot unmarshal", 13},
		{"max_cohort below min", mutate(t, "min_cohort: 20", "min_cohort: 20\nmax_cohort: 10"), "max_cohort", "10 is below min_cohort 20", 14},
		{"max_cohort zero", mutate(t, "min_cohort: 20", "min_cohort: 20\nmax_cohort: 0"), "max_cohort", "at least 1", 14},
		{"unknown top-level key", mutate(t, "epoch: weekly", "epoch: weekly\nowner: me"), "owner", `unknown key "owner"`, 13},
		{"unknown field key", mutate(t, ageLine, "{name: age, type: int, min: 18, max: 100, unit: years}"), "age", `unknown key "unit"`, 4},
		{"repeated key", mutate(t, "epoch: weekly", "epoch: weekly\nepoch: daily"), "epoch", "already defined", 13},
		{"fields not a list", "id: x\nfields: 3\n", "fields", "into a list of fields", 2},
		{"document not a mapping", "- a\n- b\n", "document", "schema mapping", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\ngot %+v", tc.yaml, s)
			}
			if s != nil {
				t.Errorf("Parse returned a schema beside an error")
			}
			if !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("error %v does not wrap ErrInvalidSchema", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("error %q names %q, want %q", err, fe.Field, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q and %q", err, tc.field, tc.msg)
			}
			if tc.line != 0 && fe.Line != tc.line {
				t.Errorf("error %q is at line %d, want %d", err, fe.Line, tc.line)
			}
		})
	}
}

func TestParseRejectsDocument(t *testing.T) {
	tests := []struct {
		name, yaml, msg string
	}{
		{"empty", "", "empty document"},
		{"only a comment", "# nothing\n", "empty document"},
		{"two documents", string(fitnessYAML) + "---\nid: other\n", "more than one YAML document"},
		{"syntax", "id: [unclosed\n", "yaml"},
		{"tab indentation", "id: x\nfields:\n\t- {name: a}\n", "yaml"},
		{"too large", "id: x\n" + strings.Repeat("#", MaxSchemaBytes), "at most"},
		{"alias bomb", "id: x\npurposes: [&a [x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b], " +
			"&d [*c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d], &f [*e, *e, *e, *e, *e, *e, *e, *e, *e], &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]]\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("Parse error = %v, want ErrInvalidSchema", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

// Validate catches what YAML cannot express compactly, and schemas built in Go.
func TestValidateRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *Schema)
		field  string
		msg    string
	}{
		{"too many fields", func(s *Schema) {
			*s = *Synthetic(MaxFields, false)
			s.Fields = append(s.Fields, Field{Name: "extra", Type: Bool})
		}, "fields", "at most 256"},
		{"too many moments", func(s *Schema) {
			*s = *Synthetic(MaxMoments, true)
			s.Fields = append(s.Fields, Field{Name: "extra", Type: Bool})
			s.Moments = append(s.Moments, "extra")
		}, "moments", "at most 128"},
		{"too many purposes", func(s *Schema) {
			for i := len(s.Purposes); i <= MaxPurposes; i++ {
				s.Purposes = append(s.Purposes, fmt.Sprintf("p%d", i))
			}
		}, "purposes", "at most 64"},
		{"zero field type", func(s *Schema) { s.Fields[0].Type = 0 }, "age", "invalid type"},
		{"bool with range", func(s *Schema) { s.Fields[4].Max = 1 }, "smoker", "no min/max"},
		{"category with range", func(s *Schema) { s.Fields[5].Max = 3 }, "region", "no min/max"},
		{"fixed decimals", func(s *Schema) { s.Fields[3].Decimals = 9 }, "sleep_h", "outside 0..6"},
		{"int decimals", func(s *Schema) { s.Fields[0].Decimals = 1 }, "age", "no decimals"},
		{"long category value", func(s *Schema) { s.Fields[5].Values[0] = strings.Repeat("n", 65) }, "region", "printable"},
		{"invalid utf-8 value", func(s *Schema) { s.Fields[5].Values[0] = "\xff" }, "region", "printable"},
		{"zero epoch", func(s *Schema) { s.Epoch = 0 }, "epoch", "invalid period"},
		{"zero min cohort", func(s *Schema) { s.MinCohort = 0 }, "min_cohort", "at least 1"},
		{"zero max cohort", func(s *Schema) { s.MaxCohort = 0 }, "max_cohort", "below min_cohort"},
		{"long field name", func(s *Schema) { s.Fields[0].Name = strings.Repeat("a", 65) }, "fields[0]", "not an identifier"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Default()
			tc.change(s)
			err := s.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("Validate = %v, want a *FieldError wrapping ErrInvalidSchema", err)
			}
			if fe.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Validate = %q (field %q), want field %q and %q", err, fe.Field, tc.field, tc.msg)
			}
			if fe.Line != 0 {
				t.Errorf("Validate reported line %d for a schema built in Go", fe.Line)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, s *Schema)
	}{
		{"default", string(fitnessYAML), func(t *testing.T, s *Schema) {
			want := &Schema{
				ID: "fitness-2026",
				Fields: []Field{
					{Name: "age", Type: Int, Min: 18, Max: 100},
					{Name: "steps", Type: Int, Min: 0, Max: 60000},
					{Name: "resting_hr", Type: Int, Min: 30, Max: 220},
					{Name: "sleep_h", Type: Fixed, Min: 0, Max: 1600, Decimals: 2},
					{Name: "smoker", Type: Bool},
					{Name: "region", Type: Category, Values: []string{"north", "south", "east", "west"}},
				},
				Moments:   []string{"age", "steps", "resting_hr", "sleep_h", "smoker"},
				Purposes:  []string{"public-health", "academic-research", "commercial-training"},
				Epoch:     Weekly,
				MinCohort: 20,
				MaxCohort: DefaultMaxCohort,
			}
			if !reflect.DeepEqual(s, want) {
				t.Errorf("got %+v\nwant %+v", s, want)
			}
		}},
		{"fixed exact decimals", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: -0.05, max: 7.25, decimals: 3}"), func(t *testing.T, s *Schema) {
			if f := s.Fields[3]; f.Min != -50 || f.Max != 7250 {
				t.Errorf("sleep_h scaled to [%d, %d], want [-50, 7250]", f.Min, f.Max)
			}
		}},
		{"fixed with trailing zeros", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0.10, max: 16.000, decimals: 1}"), func(t *testing.T, s *Schema) {
			if f := s.Fields[3]; f.Min != 1 || f.Max != 160 {
				t.Errorf("sleep_h scaled to [%d, %d], want [1, 160]", f.Min, f.Max)
			}
		}},
		{"largest span", mutate(t, ageLine, "{name: age, type: int, min: -2147483648, max: 2147483647}"), func(t *testing.T, s *Schema) {
			if got := s.Layout().Values[0].Span; got != MaxSpan {
				t.Errorf("span %d, want %d", got, uint64(MaxSpan))
			}
		}},
		{"largest fixed span", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0, max: 42949.67295, decimals: 5}"), func(t *testing.T, s *Schema) {
			if got := s.Fields[3].Max; got != MaxSpan {
				t.Errorf("max %d, want %d", got, uint64(MaxSpan))
			}
		}},
		{"fixed with zero decimals", mutate(t, sleepLine, "{name: sleep_h, type: fixed, min: 0, max: 16, decimals: 0}"), func(t *testing.T, s *Schema) {
			if f := s.Fields[3]; f.Max != 16 || f.Decimals != 0 {
				t.Errorf("got %+v", f)
			}
		}},
		{"max_cohort given", mutate(t, "min_cohort: 20", "min_cohort: 20\nmax_cohort: 20"), func(t *testing.T, s *Schema) {
			if s.MaxCohort != 20 {
				t.Errorf("MaxCohort %d, want 20", s.MaxCohort)
			}
		}},
		{"no moments", mutate(t, "moments: [age, steps, resting_hr, sleep_h, smoker]", "moments: []"), func(t *testing.T, s *Schema) {
			if s.Moments != nil || s.Layout().Len != 10 {
				t.Errorf("moments %v, layout length %d", s.Moments, s.Layout().Len)
			}
		}},
		{"block style", "id: b\nfields:\n  - name: x\n    type: fixed\n    min: -1.5\n    max: 1.5\n    decimals: 1\npurposes: [p]\nepoch: daily\nmin_cohort: 1\n", func(t *testing.T, s *Schema) {
			if f := s.Fields[0]; f.Min != -15 || f.Max != 15 {
				t.Errorf("got %+v", f)
			}
		}},
		{"anchors resolve", "id: b\nfields:\n  - {name: x, type: int, min: &lo 1, max: 2}\n  - {name: y, type: int, min: *lo, max: 3}\npurposes: [p]\nepoch: monthly\nmin_cohort: 1\n", func(t *testing.T, s *Schema) {
			if s.Fields[1].Min != 1 {
				t.Errorf("got %+v", s.Fields[1])
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
			checkCanonicalRoundTrip(t, s)
		})
	}
}

func checkCanonicalRoundTrip(t testing.TB, s *Schema) {
	t.Helper()
	c := s.Canonical()
	again, err := Parse(c)
	if err != nil {
		t.Fatalf("canonical form does not parse: %v\n%s", err, c)
	}
	if !reflect.DeepEqual(again, s) {
		t.Fatalf("canonical round trip changed the schema:\n%+v\n%+v", s, again)
	}
	if string(again.Canonical()) != string(c) {
		t.Fatalf("canonical form not stable:\n%s\n%s", c, again.Canonical())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "fitness.yaml")
	if err := os.WriteFile(good, fitnessYAML, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s, Default()) {
		t.Errorf("Load = %+v, want the default schema", s)
	}

	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(mutate(t, "min_cohort: 20", "min_cohort: 0")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "bad.yaml") || !strings.Contains(err.Error(), "min_cohort") {
		t.Errorf("Load(bad) = %v, want an error naming the file and min_cohort", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want ErrNotExist", err)
	}
}

func TestDefaultIsACopy(t *testing.T) {
	a := Default()
	a.Fields[5].Values[0] = "changed"
	a.Moments[0] = "changed"
	if b := Default(); b.Fields[5].Values[0] != "north" || b.Moments[0] != "age" {
		t.Error("changing one Default() changed another")
	}
	if err := Default().Validate(); err != nil {
		t.Error(err)
	}
	if string(DefaultYAML()) != string(fitnessYAML) {
		t.Error("DefaultYAML differs from the embedded file")
	}
}

func TestFieldErrorFormat(t *testing.T) {
	tests := []struct {
		err  *FieldError
		want string
	}{
		{&FieldError{Field: "age", Line: 4, Err: ErrInvalidSchema, Msg: "bad"}, "schema: line 4: age: bad"},
		{&FieldError{Field: "age", Err: ErrInvalidSchema, Msg: "bad"}, "schema: age: bad"},
		{&FieldError{Field: "age", Err: ErrOutOfRange, Msg: "101 above max 100"}, "schema: record: age: 101 above max 100"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}
