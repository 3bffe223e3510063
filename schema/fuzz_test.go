package schema

import (
	"reflect"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add(fitnessYAML)
	f.Add(Default().Canonical())
	f.Add(mixedSchema(f).Canonical())
	f.Add([]byte("id: b\nfields:\n  - {name: x, type: fixed, min: -1.5, max: 1.5, decimals: 1}\npurposes: [p]\nepoch: daily\nmin_cohort: 1\n"))
	f.Add([]byte("id: x\nfields: 3\n"))
	f.Add([]byte("- a\n"))
	f.Add([]byte("a: &a [x]\nb: *a\n"))
	f.Add([]byte("{\"id\": \"x\", \"fields\": [{\"name\": \"a\", \"type\": \"bool\"}], \"purposes\": [\"p\"], \"epoch\": \"weekly\", \"min_cohort\": 1}"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			if s != nil {
				t.Fatal("schema beside an error")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a schema Validate refuses: %v", err)
		}
		c := s.Canonical()
		again, err := Parse(c)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, c)
		}
		if !reflect.DeepEqual(again, s) || string(again.Canonical()) != string(c) {
			t.Fatalf("canonical round trip changed the schema:\n%s\n%s", c, again.Canonical())
		}
		if again.Digest() != s.Digest() {
			t.Fatal("digest changed")
		}
		l, b := s.Layout(), s.Bounds()
		if _, length := s.shape(); l.Len != length || len(b.CoordMax) != l.Len {
			t.Fatalf("layout length %d, shape %d, bounds %d", l.Len, length, len(b.CoordMax))
		}
	})
}

func FuzzParseRecordJSON(f *testing.F) {
	s := Default()
	f.Add([]byte(demoRecord))
	f.Add([]byte(`{"age":30.0,"steps":1000,"resting_hr":60,"sleep_h":7.250,"smoker":false,"region":"west"}`))
	f.Add([]byte(`{"age":3e1}`))
	f.Add([]byte(`{"age":30,"age":31}`))
	f.Add([]byte(`{"age":-9223372036854775808,"steps":1000,"resting_hr":60,"sleep_h":7.25,"smoker":true,"region":"east"}`))
	f.Add([]byte(`[1,2]`))
	f.Add([]byte(`{"region":{"a":[1,{"b":null}]}}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := s.ParseRecordJSON(data)
		if err != nil {
			if r != nil {
				t.Fatal("record beside an error")
			}
			return
		}
		v, err := s.Encode(r)
		if err != nil {
			t.Fatalf("ParseRecordJSON accepted a record Encode refuses: %v", err)
		}
		js, err := s.RecordJSON(r)
		if err != nil {
			t.Fatal(err)
		}
		back, err := s.ParseRecordJSON(js)
		if err != nil {
			t.Fatalf("RecordJSON output %s does not parse: %v", js, err)
		}
		if v2, err := s.Encode(back); err != nil || !reflect.DeepEqual(v, v2) {
			t.Fatalf("round trip through %s changed the encoding", js)
		}
	})
}
