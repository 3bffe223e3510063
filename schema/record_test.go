package schema

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// demoRecord is a hand-made record of the default schema.
const demoRecord = `{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`

func demoValues() Record {
	sleep, _ := FixedValue("7.25")
	return Record{
		"age": IntValue(30), "steps": IntValue(1000), "resting_hr": IntValue(60),
		"sleep_h": sleep, "smoker": BoolValue(true), "region": CategoryValue("east"),
	}
}

func TestEncodeDefault(t *testing.T) {
	s := Default()
	// Shifted values: age 30−18 = 12, steps 1000, resting_hr 60−30 = 30,
	// sleep_h 7.25 → 725 hundredths, smoker 1.
	want := []uint64{
		1,                    // constant
		12, 1000, 30, 725, 1, // age, steps, resting_hr, sleep_h, smoker
		0, 0, 1, 0, // region = north, south, east, west
		144, 12000, 360, 8700, 12, // age·age, age·steps, age·resting_hr, age·sleep_h, age·smoker
		1000000, 30000, 725000, 1000, // steps·steps, ·resting_hr, ·sleep_h, ·smoker
		900, 21750, 30, // resting_hr·resting_hr, ·sleep_h, ·smoker
		525625, 725, // sleep_h·sleep_h, ·smoker
		1, // smoker·smoker
	}
	for name, rec := range map[string]func() (Record, error){
		"values": func() (Record, error) { return demoValues(), nil },
		"json":   func() (Record, error) { return s.ParseRecordJSON([]byte(demoRecord)) },
	} {
		r, err := rec()
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.Encode(r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("%s: Encode =\n%v\nwant\n%v", name, v, want)
		}
		if len(v) != s.Layout().Len {
			t.Errorf("%s: len %d, layout says %d", name, len(v), s.Layout().Len)
		}
	}
}

func TestEncodeRejects(t *testing.T) {
	s := Default()
	with := func(field string, v Value) Record {
		r := demoValues()
		r[field] = v
		return r
	}
	without := func(field string) Record {
		r := demoValues()
		delete(r, field)
		return r
	}
	fixed := func(d string) Value {
		v, err := FixedValue(d)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name     string
		r        Record
		sentinel error
		msg      string
	}{
		{"above max", with("age", IntValue(101)), ErrOutOfRange, "age: 101 above max 100"},
		{"below min", with("age", IntValue(17)), ErrOutOfRange, "age: 17 below min 18"},
		{"fixed above max", with("sleep_h", fixed("16.01")), ErrOutOfRange, "sleep_h: 16.01 above max 16"},
		{"fixed below min", with("sleep_h", fixed("-0.01")), ErrOutOfRange, "sleep_h: -0.01 below min 0"},
		{"overflow on scaling", with("sleep_h", IntValue(1<<62)), ErrOutOfRange, "sleep_h: 4611686018427387904 above max 16"},
		{"negative overflow on scaling", with("sleep_h", IntValue(-1<<62)), ErrOutOfRange, "below min 0"},
		{"missing field", without("steps"), ErrMissingField, "steps: missing"},
		{"unknown field", with("weight", IntValue(70)), ErrUnknownField, `weight: not a field of dataset "fitness-2026"`},
		{"unknown odd field", with("We ight", IntValue(70)), ErrUnknownField, `"We ight": not a field`},
		{"unknown category", with("region", CategoryValue("central")), ErrUnknownCategory, `region: "central" is not one of north, south, east, west`},
		{"bool for int", with("age", BoolValue(true)), ErrWrongType, "age: want a number, got a bool"},
		{"number for bool", with("smoker", IntValue(1)), ErrWrongType, "smoker: want a bool, got a number"},
		{"bool for category", with("region", BoolValue(false)), ErrWrongType, "region: want a string, got a bool"},
		{"string for fixed", with("sleep_h", CategoryValue("7.25")), ErrWrongType, "sleep_h: want a number"},
		{"zero value", with("age", Value{}), ErrWrongType, "age: want a number, got an invalid value"},
		{"too many decimals", with("sleep_h", fixed("7.255")), ErrTooManyDecimals, "sleep_h: 7.255 has more than 2 decimals"},
		{"fraction for int", with("age", fixed("30.5")), ErrTooManyDecimals, "age: 30.5 is not an integer"},
		{"invalid scaled value", with("sleep_h", ScaledValue(1, 19)), ErrWrongType, "sleep_h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := s.Encode(tc.r)
			if v != nil {
				t.Error("Encode returned a vector beside an error")
			}
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Encode error = %v, want %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if _, err := s.RecordJSON(tc.r); !errors.Is(err, tc.sentinel) {
				t.Errorf("RecordJSON error = %v, want %v", err, tc.sentinel)
			}
		})
	}
}

func TestEncodeAcceptsEquivalentNumbers(t *testing.T) {
	s := Default()
	want, err := s.Encode(demoValues())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]Value{
		"trailing zeros": must(FixedValue("7.2500")),
		"scaled":         ScaledValue(725, 2),
		"scaled finer":   ScaledValue(72500, 4),
	} {
		r := demoValues()
		r["sleep_h"] = v
		if got, err := s.Encode(r); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Encode = %v, %v", name, got, err)
		}
	}
	r := demoValues()
	r["age"] = must(FixedValue("30.0"))
	if got, err := s.Encode(r); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("age 30.0: Encode = %v, %v", got, err)
	}
}

func must(v Value, err error) Value {
	if err != nil {
		panic(err)
	}
	return v
}

func TestParseRecordJSONRejects(t *testing.T) {
	s := Default()
	tests := []struct {
		name     string
		json     string
		sentinel error
		msg      string
	}{
		{"above max", `{"age":101,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrOutOfRange, "age: 101 above max 100"},
		{"below min", `{"age":30,"steps":-1,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrOutOfRange, "steps: -1 below min 0"},
		{"huge", `{"age":123456789012345678901234567890,"steps":1,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrOutOfRange, "age: 123456789012345678901234567890 above max 100"},
		{"huge negative", `{"age":-123456789012345678901234567890,"steps":1,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrOutOfRange, "below min 18"},
		{"too many decimals", `{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.255,"smoker":true,"region":"east"}`, ErrTooManyDecimals, "sleep_h: 7.255 has more than 2 decimals"},
		{"int with fraction", `{"age":30.5,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrTooManyDecimals, "age: 30.5 is not an integer"},
		{"exponent", `{"age":3e1,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrWrongType, "age: 3e1 is not a plain decimal"},
		{"missing field", `{"age":30,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrMissingField, "steps: missing"},
		{"unknown field", `{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east","weight":70}`, ErrUnknownField, "weight: not a field"},
		{"repeated field", `{"age":30,"age":31,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrInvalidRecord, "age: given twice"},
		{"unknown category", `{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"central"}`, ErrUnknownCategory, `region: "central" is not one of`},
		{"string for int", `{"age":"30","steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrWrongType, "age: want a number, got a string"},
		{"number for bool", `{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":1,"region":"east"}`, ErrWrongType, "smoker: want true or false, got a number"},
		{"number for category", `{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":2}`, ErrWrongType, "region: want a string, got a number"},
		{"null", `{"age":null,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrWrongType, "age: want a number, got null"},
		{"array", `{"age":[30],"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrWrongType, "got an array"},
		{"object", `{"age":{"v":30},"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`, ErrWrongType, "got an object"},
		{"not an object", `[30]`, ErrInvalidRecord, "want a JSON object"},
		{"empty", ``, ErrInvalidRecord, "JSON"},
		{"truncated", `{"age":30,`, ErrInvalidRecord, "JSON"},
		{"trailing data", demoRecord + `{}`, ErrInvalidRecord, "data after the JSON object"},
		{"too large", `{"age":30` + strings.Repeat(" ", MaxRecordBytes) + `}`, ErrInvalidRecord, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := s.ParseRecordJSON([]byte(tc.json))
			if r != nil {
				t.Error("ParseRecordJSON returned a record beside an error")
			}
			if !errors.Is(err, tc.sentinel) || !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error = %v, want %v", err, tc.sentinel)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

func TestParseRecordJSONAccepts(t *testing.T) {
	s := Default()
	want, _ := s.Encode(demoValues())
	for _, in := range []string{
		demoRecord,
		` { "region" : "east", "smoker":true, "sleep_h":7.250, "resting_hr":60, "steps":1000, "age":30.00 } `,
		`{"age":30,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"\u0065ast"}`,
	} {
		r, err := s.ParseRecordJSON([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got, err := s.Encode(r); err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Encode = %v, %v", in, got, err)
		}
	}
}

func TestRecordJSON(t *testing.T) {
	s := Default()
	out, err := s.RecordJSON(demoValues())
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != demoRecord {
		t.Errorf("RecordJSON = %s, want %s", out, demoRecord)
	}

	// Round trip on random records of schemas with negative and fixed ranges.
	r := rand.New(rand.NewPCG(3, 4))
	for _, sc := range []*Schema{s, mixedSchema(t), Synthetic(12, true)} {
		for range 200 {
			rec := sc.RandomRecord(r)
			want, err := sc.Encode(rec)
			if err != nil {
				t.Fatal(err)
			}
			js, err := sc.RecordJSON(rec)
			if err != nil {
				t.Fatal(err)
			}
			back, err := sc.ParseRecordJSON(js)
			if err != nil {
				t.Fatalf("%s: %v", js, err)
			}
			if got, err := sc.Encode(back); err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: round trip changed the encoding", js)
			}
		}
	}
}

func TestValueString(t *testing.T) {
	for v, want := range map[Value]string{
		IntValue(-3):           "-3",
		ScaledValue(-5, 2):     "-0.05",
		ScaledValue(1600, 2):   "16",
		BoolValue(true):        "true",
		CategoryValue("north"): "north",
		{}:                     "<invalid>",
	} {
		if got := v.String(); got != want {
			t.Errorf("String() = %q, want %q", got, want)
		}
	}
	if _, err := FixedValue("7,25"); err == nil {
		t.Error("FixedValue accepted 7,25")
	}
}

// mixedSchema has negative offsets, several decimals, two categories, a
// bool and a numeric field that is not a moment.
func mixedSchema(t testing.TB) *Schema {
	t.Helper()
	s, err := Parse([]byte(`
id: mixed
fields:
  - {name: temp,  type: fixed, min: -40.5, max: 60.25, decimals: 2}
  - {name: color, type: category, values: [red, green, blue]}
  - {name: delta, type: int, min: -1000, max: -10}
  - {name: dose,  type: fixed, min: -1, max: 2, decimals: 3}
  - {name: flag,  type: bool}
  - {name: size,  type: category, values: [s, m, l, xl]}
  - {name: other, type: int, min: 5, max: 9}
moments: [dose, temp, flag, delta]
purposes: [research]
epoch: daily
min_cohort: 1
max_cohort: 5000
`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
