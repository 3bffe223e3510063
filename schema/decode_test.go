package schema

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
)

// ratOf returns a record value in original units, straight from the record.
func ratOf(t testing.TB, f Field, v Value) *big.Rat {
	t.Helper()
	switch f.Type {
	case Int, Fixed:
		return new(big.Rat).SetFrac(big.NewInt(v.mant), pow10(v.frac))
	case Bool:
		if v.b {
			return big.NewRat(1, 1)
		}
		return new(big.Rat)
	}
	t.Fatalf("ratOf(%s)", f.Name)
	return nil
}

// sumVectors adds encoded vectors coordinate-wise.
func sumVectors(t testing.TB, s *Schema, recs []Record) []*big.Int {
	t.Helper()
	S := make([]*big.Int, s.Layout().Len)
	for i := range S {
		S[i] = new(big.Int)
	}
	for _, r := range recs {
		v, err := s.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			S[i].Add(S[i], new(big.Int).SetUint64(x))
		}
	}
	return S
}

func TestDecodeMatchesPlaintext(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range []*Schema{Default(), mixedSchema(t), Synthetic(10, true)} {
		for _, n := range []int{0, 1, 2, 57} {
			recs := make([]Record, n)
			for i := range recs {
				recs[i] = s.RandomRecord(r)
			}
			got, err := s.Layout().Decode(sumVectors(t, s, recs))
			if err != nil {
				t.Fatalf("%s n=%d: %v", s.ID, n, err)
			}
			if got.Count.Cmp(big.NewInt(int64(n))) != 0 {
				t.Errorf("%s: Count = %s, want %d", s.ID, got.Count, n)
			}
			// Plaintext statistics, straight from the records.
			for _, f := range s.Fields {
				switch {
				case f.Type.Numeric():
					want := new(big.Rat)
					for _, rec := range recs {
						want.Add(want, ratOf(t, f, rec[f.Name]))
					}
					if got.Sum[f.Name] == nil || got.Sum[f.Name].Cmp(want) != 0 {
						t.Errorf("%s n=%d: Sum[%s] = %v, want %v", s.ID, n, f.Name, got.Sum[f.Name], want)
					}
				case f.Type == Category:
					for _, val := range f.Values {
						want := 0
						for _, rec := range recs {
							if rec[f.Name].s == val {
								want++
							}
						}
						if c := got.Counts[f.Name][val]; c == nil || c.Int64() != int64(want) {
							t.Errorf("%s n=%d: Counts[%s][%s] = %v, want %d", s.ID, n, f.Name, val, c, want)
						}
					}
				}
			}
			for i, a := range s.Moments {
				fa, _ := s.Field(a)
				for _, b := range s.Moments[i:] {
					fb, _ := s.Field(b)
					want := new(big.Rat)
					for _, rec := range recs {
						want.Add(want, new(big.Rat).Mul(ratOf(t, fa, rec[a]), ratOf(t, fb, rec[b])))
					}
					if c := got.Cross[[2]string{a, b}]; c == nil || c.Cmp(want) != 0 {
						t.Errorf("%s n=%d: Cross[%s,%s] = %v, want %v", s.ID, n, a, b, c, want)
					}
					if c, ok := got.CrossOf(b, a); !ok || c.Cmp(want) != 0 {
						t.Errorf("%s: CrossOf(%s, %s) = %v, %v", s.ID, b, a, c, ok)
					}
				}
			}
			if len(got.Cross) != len(s.Moments)*(len(s.Moments)+1)/2 {
				t.Errorf("%s: %d cross sums", s.ID, len(got.Cross))
			}
		}
	}
}

// Decoding the extremes: every record at its minimum, or at its maximum.
func TestDecodeExtremes(t *testing.T) {
	s := mixedSchema(t)
	for _, atMax := range []bool{false, true} {
		rec := Record{}
		for _, f := range s.Fields {
			switch f.Type {
			case Int, Fixed:
				x := f.Min
				if atMax {
					x = f.Max
				}
				rec[f.Name] = ScaledValue(x, f.Decimals)
			case Bool:
				rec[f.Name] = BoolValue(atMax)
			case Category:
				rec[f.Name] = CategoryValue(f.Values[0])
			}
		}
		const n = 3
		got, err := s.Layout().Decode(sumVectors(t, s, []Record{rec, rec, rec}))
		if err != nil {
			t.Fatal(err)
		}
		want := map[bool]map[string]*big.Rat{
			false: {"temp": big.NewRat(-405*n, 10), "delta": big.NewRat(-1000*n, 1), "dose": big.NewRat(-1*n, 1), "flag": new(big.Rat)},
			true:  {"temp": big.NewRat(6025*n, 100), "delta": big.NewRat(-10*n, 1), "dose": big.NewRat(2*n, 1), "flag": big.NewRat(n, 1)},
		}[atMax]
		for name, w := range want {
			if got.Sum[name].Cmp(w) != 0 {
				t.Errorf("atMax=%v: Sum[%s] = %v, want %v", atMax, name, got.Sum[name], w)
			}
		}
		sq := new(big.Rat).Mul(want["temp"], want["delta"])
		sq.Quo(sq, big.NewRat(n, 1)) // n·temp·delta = (n·temp)(n·delta)/n
		if c, _ := got.CrossOf("temp", "delta"); c.Cmp(sq) != 0 {
			t.Errorf("atMax=%v: Σ temp·delta = %v, want %v", atMax, c, sq)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	s := Default()
	l := s.Layout()
	valid := func() []*big.Int {
		return sumVectors(t, s, []Record{demoValues(), demoValues()})
	}
	tests := []struct {
		name   string
		change func(S []*big.Int) []*big.Int
		msg    string
	}{
		{"short", func(S []*big.Int) []*big.Int { return S[:len(S)-1] }, "got 24 coordinates, want 25"},
		{"long", func(S []*big.Int) []*big.Int { return append(S, new(big.Int)) }, "got 26 coordinates"},
		{"empty", func(S []*big.Int) []*big.Int { return nil }, "got 0 coordinates"},
		{"nil coordinate", func(S []*big.Int) []*big.Int { S[3] = nil; return S }, "coordinate 3 (resting_hr) is missing"},
		{"negative", func(S []*big.Int) []*big.Int { S[1].Neg(S[1]); return S }, "coordinate 1 (age) is negative"},
		{"negative count", func(S []*big.Int) []*big.Int { S[0].SetInt64(-2); return S }, "negative"},
		{"value too large", func(S []*big.Int) []*big.Int { S[1].SetInt64(2*82 + 1); return S }, "coordinate 1 (age) = 165 exceeds count 2 × bound 82"},
		{"product too large", func(S []*big.Int) []*big.Int { S[24].SetInt64(3); return S }, "smoker*smoker"},
		{"category short", func(S []*big.Int) []*big.Int { S[8].SetInt64(1); return S }, `counts of category "region" add up to 1`},
		{"category long", func(S []*big.Int) []*big.Int { S[6].SetInt64(1); return S }, "add up to 3"},
		{"modulus-sized", func(S []*big.Int) []*big.Int { S[2] = bn254R(); return S }, "exceeds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			S := tc.change(valid())
			sums, err := l.Decode(S)
			if sums != nil || !errors.Is(err, ErrInvalidSums) {
				t.Fatalf("Decode = %v, %v; want ErrInvalidSums", sums, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}

	// A hand-built, inconsistent layout is refused, not a panic.
	bad := l
	bad.Products = append([]ProductCoord(nil), l.Products...)
	bad.Products[0].A = 99
	if _, err := bad.Decode(valid()); !errors.Is(err, ErrInvalidSums) {
		t.Errorf("inconsistent layout: %v", err)
	}
	bad = l
	bad.Values = append([]ValueCoord(nil), l.Values...)
	bad.Values[0].Index = 99
	if _, err := bad.Decode(valid()); !errors.Is(err, ErrInvalidSums) {
		t.Errorf("inconsistent layout: %v", err)
	}

	// Inputs are not modified or retained.
	S := valid()
	sums, err := l.Decode(S)
	if err != nil {
		t.Fatal(err)
	}
	sums.Count.SetInt64(99)
	sums.Counts["region"]["east"].SetInt64(99)
	if S[0].Int64() != 2 || S[8].Int64() != 2 {
		t.Error("Decode results alias its input")
	}
}

// sumsText renders sums canonically, so that two Sums can be compared.
func sumsText(s *Sums) map[string]string {
	out := map[string]string{"n": s.Count.String()}
	for f, v := range s.Sum {
		out["sum "+f] = v.RatString()
	}
	for p, v := range s.Cross {
		out["cross "+p[0]+"*"+p[1]] = v.RatString()
	}
	for f, counts := range s.Counts {
		for v, c := range counts {
			out["count "+f+"="+v] = c.String()
		}
	}
	return out
}

func TestDecodePartialFullEqualsDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, s := range []*Schema{Default(), mixedSchema(t)} {
		recs := make([]Record, 40)
		for i := range recs {
			recs[i] = s.RandomRecord(r)
		}
		S := sumVectors(t, s, recs)
		full, err := s.Layout().Decode(S)
		if err != nil {
			t.Fatal(err)
		}
		part, err := s.Layout().DecodePartial(S)
		if err != nil {
			t.Fatal(err)
		}
		a, b := sumsText(full), sumsText(part)
		if len(a) != len(b) {
			t.Fatalf("%s: %d entries from Decode, %d from DecodePartial", s.ID, len(a), len(b))
		}
		for k, v := range a {
			if b[k] != v {
				t.Errorf("%s: %s = %s from DecodePartial, %s from Decode", s.ID, k, b[k], v)
			}
		}
	}
}

// Random admissible subsets of coordinates decode to exactly the matching
// entries of the full decoding, and to nothing else.
func TestDecodePartialSubsets(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	for _, s := range []*Schema{Default(), mixedSchema(t), Synthetic(6, true)} {
		l := s.Layout()
		recs := make([]Record, 25)
		for i := range recs {
			recs[i] = s.RandomRecord(r)
		}
		S := sumVectors(t, s, recs)
		full, err := l.Decode(S)
		if err != nil {
			t.Fatal(err)
		}
		want := sumsText(full)
		for trial := range 50 {
			P := make([]*big.Int, l.Len)
			P[0] = S[0]
			expect := map[string]bool{"n": true}
			for _, vc := range l.Values {
				if r.IntN(2) == 0 {
					P[vc.Index] = S[vc.Index]
					expect["sum "+vc.Field] = true
				}
			}
			for _, c := range l.Categories {
				if r.IntN(2) == 0 {
					for k, v := range c.Values {
						P[c.Start+k] = S[c.Start+k]
						expect["count "+c.Field+"="+v] = true
					}
				}
			}
			for _, p := range l.Products {
				if P[p.A] != nil && P[p.B] != nil && r.IntN(2) == 0 {
					P[p.Index] = S[p.Index]
					expect["cross "+p.FieldA+"*"+p.FieldB] = true
				}
			}
			got, err := l.DecodePartial(P)
			if err != nil {
				t.Fatalf("%s trial %d: %v", s.ID, trial, err)
			}
			text := sumsText(got)
			if len(text) != len(expect) {
				t.Errorf("%s trial %d: %d entries, want %d", s.ID, trial, len(text), len(expect))
			}
			for k := range expect {
				if text[k] != want[k] {
					t.Errorf("%s trial %d: %s = %q, want %q", s.ID, trial, k, text[k], want[k])
				}
			}
		}
	}
}

func TestDecodePartialCountOnly(t *testing.T) {
	l := Default().Layout()
	P := make([]*big.Int, l.Len)
	P[0] = big.NewInt(7)
	got, err := l.DecodePartial(P)
	if err != nil {
		t.Fatal(err)
	}
	if got.Count.Int64() != 7 || len(got.Sum) != 0 || len(got.Cross) != 0 || len(got.Counts) != 0 {
		t.Errorf("count-only decoding = %v", sumsText(got))
	}
	got.Count.SetInt64(1)
	if P[0].Int64() != 7 {
		t.Error("DecodePartial results alias its input")
	}
}

func TestDecodePartialRejects(t *testing.T) {
	s := Default()
	l := s.Layout()
	// Coordinates of the default layout: 0 count, 1 age, 2 steps, 3
	// resting_hr, 4 sleep_h, 5 smoker, 6..9 region, 10 age*age, 11
	// age*steps, …, 24 smoker*smoker.
	valid := func() []*big.Int {
		S := sumVectors(t, s, []Record{demoValues(), demoValues()})
		for i := range S {
			if i != 0 && i != 1 && i != 2 && i != 10 && i != 11 && (i < 6 || i > 9) {
				S[i] = nil
			}
		}
		return S
	}
	if _, err := l.DecodePartial(valid()); err != nil {
		t.Fatalf("valid partial sums refused: %v", err)
	}
	tests := []struct {
		name   string
		change func(S []*big.Int) []*big.Int
		msg    string
	}{
		{"short", func(S []*big.Int) []*big.Int { return S[:len(S)-1] }, "got 24 coordinates, want 25"},
		{"nil", func(S []*big.Int) []*big.Int { return nil }, "got 0 coordinates"},
		{"no count", func(S []*big.Int) []*big.Int { S[0] = nil; return S }, "coordinate 0 (1) is missing"},
		{"negative count", func(S []*big.Int) []*big.Int { S[0].SetInt64(-1); return S }, "coordinate 0 (1) is negative"},
		{"negative value", func(S []*big.Int) []*big.Int { S[2].SetInt64(-1); return S }, "coordinate 2 (steps) is negative"},
		{"negative product", func(S []*big.Int) []*big.Int { S[11].SetInt64(-1); return S }, "coordinate 11 (age*steps) is negative"},
		{"value too large", func(S []*big.Int) []*big.Int { S[1].SetInt64(2*82 + 1); return S }, "exceeds count 2 × bound 82"},
		{"product too large", func(S []*big.Int) []*big.Int { S[10].SetInt64(2*82*82 + 1); return S }, "age*age"},
		{"partial category", func(S []*big.Int) []*big.Int { S[7] = nil; return S }, `only 3 of the 4 counts of category "region"`},
		{"category total", func(S []*big.Int) []*big.Int { S[6].SetInt64(1); return S }, "add up to 3"},
		{"product without factor", func(S []*big.Int) []*big.Int { S[2] = nil; return S }, "coordinate 11 (age*steps) is present without"},
		{"square without factor", func(S []*big.Int) []*big.Int { S[24] = big.NewInt(1); return S }, "coordinate 24 (smoker*smoker) is present without"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sums, err := l.DecodePartial(tc.change(valid()))
			if sums != nil || !errors.Is(err, ErrInvalidSums) {
				t.Fatalf("DecodePartial = %v, %v; want ErrInvalidSums", sums, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

// DecodeNoisy decodes by the same formulas values no cohort sums to, and
// refuses only malformed shapes.
func TestDecodeNoisy(t *testing.T) {
	s := Default()
	l := s.Layout()
	// Coordinates as in TestDecodePartialRejects.
	S := sumVectors(t, s, []Record{demoValues(), demoValues()})
	if full, err := l.DecodeNoisy(S); err != nil {
		t.Fatal(err)
	} else if want, err := l.Decode(S); err != nil || fmt.Sprint(sumsText(full)) != fmt.Sprint(sumsText(want)) {
		t.Fatalf("DecodeNoisy of valid sums = %v, Decode %v (%v)", sumsText(full), sumsText(want), err)
	}
	S[1] = big.NewInt(-5)        // age: Σ(age − 18) = −5
	S[2] = big.NewInt(3 * 60000) // steps above 2 × 60000
	S[6] = big.NewInt(-1)        // region=north
	S[11] = big.NewInt(-7)       // age*steps
	got, err := l.DecodeNoisy(S)
	if err != nil {
		t.Fatal(err)
	}
	text := sumsText(got)
	for k, want := range map[string]string{
		"sum age":            "31",      // −5 + 2·18
		"sum steps":          "180000",  // offset 0
		"count region=north": "-1",      //
		"cross age*steps":    "3239993", // −7 + 0·S_age + 18·S_steps + 2·18·0
	} {
		if text[k] != want {
			t.Errorf("%s = %q, want %q", k, text[k], want)
		}
	}
	for name, bad := range map[string]func([]*big.Int){
		"negative count":         func(S []*big.Int) { S[0] = big.NewInt(-1) },
		"no count":               func(S []*big.Int) { S[0] = nil },
		"partial category":       func(S []*big.Int) { S[7] = nil },
		"product without factor": func(S []*big.Int) { S[2] = nil },
	} {
		T := append([]*big.Int(nil), S...)
		bad(T)
		if sums, err := l.DecodeNoisy(T); sums != nil || !errors.Is(err, ErrInvalidSums) {
			t.Errorf("%s: DecodeNoisy = %v, %v; want ErrInvalidSums", name, sums, err)
		}
	}
}

// FuzzDecodePartial feeds arbitrary coordinates (each absent, or a value
// of up to 16 bytes) to DecodePartial: it must never panic, must agree with
// Decode when every coordinate is present, and what it accepts must be
// self-consistent.
func FuzzDecodePartial(f *testing.F) {
	s := Default()
	l := s.Layout()
	encode := func(S []*big.Int) []byte {
		var b []byte
		for _, x := range S {
			if x == nil {
				b = append(b, 0)
				continue
			}
			v := x.Bytes()
			b = append(b, byte(1+len(v)))
			b = append(b, v...)
		}
		return b
	}
	full := sumVectors(f, s, []Record{demoValues(), demoValues(), demoValues()})
	f.Add(encode(full))
	part := make([]*big.Int, l.Len)
	part[0] = big.NewInt(3)
	f.Add(encode(part))
	part[1], part[10] = full[1], full[10]
	f.Add(encode(part))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		S := make([]*big.Int, l.Len)
		allPresent := true
		for i := range S {
			if len(data) == 0 {
				allPresent = false
				break
			}
			k := int(data[0]%17) - 1
			data = data[1:]
			if k < 0 {
				allPresent = false
				continue
			}
			k = min(k, len(data))
			S[i] = new(big.Int).SetBytes(data[:k])
			data = data[k:]
		}
		got, err := l.DecodePartial(S)
		if err != nil {
			if got != nil {
				t.Fatal("sums beside an error")
			}
			if !errors.Is(err, ErrInvalidSums) {
				t.Fatalf("error %v does not wrap ErrInvalidSums", err)
			}
		}
		if allPresent {
			want, err2 := l.Decode(S)
			if (err == nil) != (err2 == nil) {
				t.Fatalf("DecodePartial error %v, Decode error %v", err, err2)
			}
			if err == nil && len(sumsText(got)) != len(sumsText(want)) {
				t.Fatal("DecodePartial and Decode disagree")
			}
		}
		if err != nil {
			return
		}
		for f, counts := range got.Counts {
			total := new(big.Int)
			for _, c := range counts {
				total.Add(total, c)
			}
			if total.Cmp(got.Count) != 0 {
				t.Fatalf("counts of %s add up to %s, not %s", f, total, got.Count)
			}
		}
		for p := range got.Cross {
			if got.Sum[p[0]] == nil || got.Sum[p[1]] == nil {
				t.Fatalf("cross %v decoded without its factors", p)
			}
		}
	})
}
