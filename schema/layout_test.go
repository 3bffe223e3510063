package schema

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestLayoutDefault(t *testing.T) {
	l := Default().Layout()
	names := []string{
		"1", "age", "steps", "resting_hr", "sleep_h", "smoker",
		"region=north", "region=south", "region=east", "region=west",
		"age*age", "age*steps", "age*resting_hr", "age*sleep_h", "age*smoker",
		"steps*steps", "steps*resting_hr", "steps*sleep_h", "steps*smoker",
		"resting_hr*resting_hr", "resting_hr*sleep_h", "resting_hr*smoker",
		"sleep_h*sleep_h", "sleep_h*smoker", "smoker*smoker",
	}
	if l.Len != len(names) {
		t.Fatalf("Len = %d, want %d", l.Len, len(names))
	}
	for i, want := range names {
		if got := l.Name(i); got != want {
			t.Errorf("Name(%d) = %q, want %q", i, got, want)
		}
	}
	for _, i := range []int{-1, l.Len, l.Len + 100} {
		if got := l.Name(i); got != "" {
			t.Errorf("Name(%d) = %q, want empty", i, got)
		}
	}
	wantValues := []ValueCoord{
		{Index: 1, Field: "age", Type: Int, Offset: 18, Span: 82, Bits: 7},
		{Index: 2, Field: "steps", Type: Int, Offset: 0, Span: 60000, Bits: 16},
		{Index: 3, Field: "resting_hr", Type: Int, Offset: 30, Span: 190, Bits: 8},
		{Index: 4, Field: "sleep_h", Type: Fixed, Offset: 0, Span: 1600, Bits: 11, Decimals: 2},
		{Index: 5, Field: "smoker", Type: Bool, Offset: 0, Span: 1, Bits: 1},
	}
	if !reflect.DeepEqual(l.Values, wantValues) {
		t.Errorf("Values = %+v\nwant %+v", l.Values, wantValues)
	}
	wantCats := []CategoryCoords{{Field: "region", Start: 6, Values: []string{"north", "south", "east", "west"}}}
	if !reflect.DeepEqual(l.Categories, wantCats) {
		t.Errorf("Categories = %+v", l.Categories)
	}
	if len(l.Products) != 15 {
		t.Fatalf("%d products, want 15", len(l.Products))
	}
	if p := l.Products[1]; p != (ProductCoord{Index: 11, A: 1, B: 2, FieldA: "age", FieldB: "steps", Max: 82 * 60000}) {
		t.Errorf("Products[1] = %+v", p)
	}
	if p := l.Products[14]; p != (ProductCoord{Index: 24, A: 5, B: 5, FieldA: "smoker", FieldB: "smoker", Max: 1}) {
		t.Errorf("Products[14] = %+v", p)
	}
}

func TestLayoutLen(t *testing.T) {
	for _, n := range []int{1, 4, 16, 64, MaxMoments} {
		s := Synthetic(n, true)
		if err := s.Validate(); err != nil {
			t.Fatal(err)
		}
		want := 1 + n + n*(n+1)/2
		l := s.Layout()
		if l.Len != want {
			t.Errorf("n=%d: Len = %d, want %d", n, l.Len, want)
		}
		if len(l.Products) != n*(n+1)/2 || len(l.Values) != n {
			t.Errorf("n=%d: %d values, %d products", n, len(l.Values), len(l.Products))
		}
		if _, length := s.shape(); length != want {
			t.Errorf("n=%d: shape says %d", n, length)
		}
		v, err := s.Encode(s.RandomRecord(rand.New(rand.NewPCG(uint64(n), 0))))
		if err != nil || len(v) != want {
			t.Errorf("n=%d: Encode gave %d coordinates, %v", n, len(v), err)
		}
		// Products come in the order (0,0), (0,1), …, (0,n−1), (1,1), …
		k := 0
		for i := range n {
			for j := i; j < n; j++ {
				p := l.Products[k]
				if p.FieldA != fmt.Sprintf("f%d", i) || p.FieldB != fmt.Sprintf("f%d", j) || p.Index != 1+n+k {
					t.Fatalf("n=%d: product %d is %+v, want f%d*f%d", n, k, p, i, j)
				}
				k++
			}
		}
	}
	if l := Synthetic(16, false).Layout(); l.Len != 17 {
		t.Errorf("without moments Len = %d, want 17", l.Len)
	}
}

// Every coordinate of an encoded vector is within its bound, and the
// product coordinates are the products of the value coordinates.
func TestEncodeMatchesLayout(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []*Schema{Default(), mixedSchema(t), Synthetic(9, true)} {
		l, b := s.Layout(), s.Bounds()
		for range 300 {
			v, err := s.Encode(s.RandomRecord(r))
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range v {
				if x > b.CoordMax[i] {
					t.Fatalf("%s: coordinate %d (%s) = %d above bound %d", s.ID, i, l.Name(i), x, b.CoordMax[i])
				}
			}
			for _, vc := range l.Values {
				if bits.Len64(v[vc.Index]) > vc.Bits {
					t.Fatalf("%s: %s needs more than %d bits", s.ID, vc.Field, vc.Bits)
				}
			}
			for _, c := range l.Categories {
				ones := 0
				for k := range c.Values {
					ones += int(v[c.Start+k])
				}
				if ones != 1 {
					t.Fatalf("%s: category %s is not one-hot", s.ID, c.Field)
				}
			}
			for _, p := range l.Products {
				if v[p.Index] != v[p.A]*v[p.B] {
					t.Fatalf("%s: %s = %d, want %d·%d", s.ID, l.Name(p.Index), v[p.Index], v[p.A], v[p.B])
				}
			}
		}
	}
	if got := mixedSchema(t).Layout().Name(9); !strings.HasPrefix(got, "size=") {
		t.Errorf("mixed schema coordinate 9 is %q", got)
	}
}

func TestCanonicalAndDigest(t *testing.T) {
	s := Default()
	const want = `{"id":"fitness-2026","fields":[{"name":"age","type":"int","min":18,"max":100},{"name":"steps","type":"int","min":0,"max":60000},{"name":"resting_hr","type":"int","min":30,"max":220},{"name":"sleep_h","type":"fixed","min":0,"max":16,"decimals":2},{"name":"smoker","type":"bool"},{"name":"region","type":"category","values":["north","south","east","west"]}],"moments":["age","steps","resting_hr","sleep_h","smoker"],"purposes":["public-health","academic-research","commercial-training"],"epoch":"weekly","min_cohort":20,"max_cohort":1000000}`
	if got := string(s.Canonical()); got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
	checkCanonicalRoundTrip(t, s)
	checkCanonicalRoundTrip(t, mixedSchema(t))
	checkCanonicalRoundTrip(t, Synthetic(40, true))

	d := s.Digest()
	// SHA-256("cohort/v1/schema" || want), computed independently.
	if got := hex.EncodeToString(d[:]); got != "b0f615b1fbb159d3004474d0bd39647326f9125d47a8df5d5e6ff0b14ac79dfc" {
		t.Errorf("Digest = %s", got)
	}
	if d != Default().Digest() {
		t.Error("Digest is not deterministic")
	}
	changes := []func(*Schema){
		func(s *Schema) { s.MaxCohort++ },
		func(s *Schema) { s.MinCohort++ },
		func(s *Schema) { s.Fields[3].Decimals = 3; s.Fields[3].Max *= 10 },
		func(s *Schema) { s.Moments = s.Moments[:4] },
		func(s *Schema) { s.Purposes[0], s.Purposes[1] = s.Purposes[1], s.Purposes[0] },
		func(s *Schema) { s.Fields[5].Values[3] = "west2" },
		func(s *Schema) { s.Epoch = Monthly },
		func(s *Schema) { s.ID = "fitness-2027" },
	}
	for i, change := range changes {
		c := Default()
		change(c)
		if c.Digest() == d {
			t.Errorf("change %d leaves the digest unchanged", i)
		}
	}
}

// Category values with characters that YAML or JSON treat specially survive
// the canonical round trip.
func TestCanonicalOddValues(t *testing.T) {
	s := Default()
	s.Fields[5].Values = []string{`"quoted"`, `back\slash`, "<&>", "key: value", "# hash", "- dash", "yes", "null", " ", "é", "😀", "1e3", "*star", "&amp", "!tag", "{x}", "[y]"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	checkCanonicalRoundTrip(t, s)
}

func TestLayoutSumName(t *testing.T) {
	l := Default().Layout()
	for i, want := range map[int]string{0: "count", 1: "sum of " + l.Name(1), l.Len - 1: "sum of " + l.Name(l.Len-1), l.Len: "no such coordinate", -1: "no such coordinate"} {
		if got := l.SumName(i); got != want {
			t.Errorf("SumName(%d) = %q, want %q", i, got, want)
		}
	}
}
