package schema

import (
	"math/rand/v2"
	"testing"
)

func TestSynthetic(t *testing.T) {
	for _, tc := range []struct {
		n   int
		all bool
	}{{1, true}, {2, false}, {64, true}, {MaxMoments, true}, {MaxFields, false}} {
		s := Synthetic(tc.n, tc.all)
		if err := s.Validate(); err != nil {
			t.Fatalf("Synthetic(%d, %v): %v", tc.n, tc.all, err)
		}
		l := s.Layout()
		if l.Values[0].Span != 100 || (tc.n > 1 && l.Values[tc.n-1].Span != 60000) {
			t.Errorf("Synthetic(%d): spans %d..%d, want 100..60000", tc.n, l.Values[0].Span, l.Values[tc.n-1].Span)
		}
		if tc.all != (len(s.Moments) == tc.n) {
			t.Errorf("Synthetic(%d, %v): %d moments", tc.n, tc.all, len(s.Moments))
		}
	}
	for _, bad := range []struct {
		n   int
		all bool
	}{{0, false}, {MaxMoments + 1, true}, {MaxFields + 1, false}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Synthetic(%d, %v) did not panic", bad.n, bad.all)
				}
			}()
			Synthetic(bad.n, bad.all)
		}()
	}
}

// RandomRecord covers each field's whole range, ends included.
func TestRandomRecordCoversRange(t *testing.T) {
	s := Default()
	s.Fields[0].Max = 20 // age 18..20
	r := rand.New(rand.NewPCG(9, 10))
	seen := map[string]bool{}
	for range 500 {
		rec := s.RandomRecord(r)
		if _, err := s.Encode(rec); err != nil {
			t.Fatal(err)
		}
		seen["age="+rec["age"].String()] = true
		seen["region="+rec["region"].String()] = true
		seen["smoker="+rec["smoker"].String()] = true
	}
	for _, want := range []string{"age=18", "age=19", "age=20", "region=north", "region=west", "smoker=true", "smoker=false"} {
		if !seen[want] {
			t.Errorf("500 random records never had %s", want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	for _, s := range []*Schema{Default(), Synthetic(64, true)} {
		rec := s.RandomRecord(rand.New(rand.NewPCG(1, 1)))
		b.Run(s.ID, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Encode(rec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseRecordJSON(b *testing.B) {
	s := Default()
	data := []byte(demoRecord)
	for b.Loop() {
		if _, err := s.ParseRecordJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	s := Synthetic(64, true)
	r := rand.New(rand.NewPCG(2, 2))
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = s.RandomRecord(r)
	}
	S := sumVectors(b, s, recs)
	l := s.Layout()
	for b.Loop() {
		if _, err := l.Decode(S); err != nil {
			b.Fatal(err)
		}
	}
}
