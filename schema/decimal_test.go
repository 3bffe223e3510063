package schema

import (
	"errors"
	"math"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		mant int64
		frac int
		err  error
	}{
		{"0", 0, 0, nil},
		{"-0", 0, 0, nil},
		{"16", 16, 0, nil},
		{"7.25", 725, 2, nil},
		{"7.250", 725, 2, nil},
		{"16.00", 16, 0, nil},
		{"-0.05", -5, 2, nil},
		{"0.000001", 1, 6, nil},
		{"9223372036854775807", math.MaxInt64, 0, nil},
		{"-9223372036854775808", math.MinInt64, 0, nil},
		{"922337203685477580.7", math.MaxInt64, 1, nil},
		{"9223372036854775808", 0, 0, errDecimalRange},
		{"-9223372036854775809", 0, 0, errDecimalRange},
		{"", 0, 0, errDecimalSyntax},
		{"-", 0, 0, errDecimalSyntax},
		{"+1", 0, 0, errDecimalSyntax},
		{"01", 0, 0, errDecimalSyntax},
		{"1.", 0, 0, errDecimalSyntax},
		{".5", 0, 0, errDecimalSyntax},
		{"1e3", 0, 0, errDecimalSyntax},
		{"1_000", 0, 0, errDecimalSyntax},
		{"0x10", 0, 0, errDecimalSyntax},
		{"1.2.3", 0, 0, errDecimalSyntax},
		{"--1", 0, 0, errDecimalSyntax},
		{" 1", 0, 0, errDecimalSyntax},
		{"١", 0, 0, errDecimalSyntax},
	}
	for _, tc := range tests {
		mant, frac, err := parseDecimal(tc.in)
		if !errors.Is(err, tc.err) || err == nil && (mant != tc.mant || frac != tc.frac) {
			t.Errorf("parseDecimal(%q) = %d, %d, %v; want %d, %d, %v", tc.in, mant, frac, err, tc.mant, tc.frac, tc.err)
		}
	}
}

func TestRescaleAndFormat(t *testing.T) {
	tests := []struct {
		in       string
		decimals int
		scaled   int64
		err      error
		format   string
	}{
		{"7.25", 2, 725, nil, "7.25"},
		{"7.25", 4, 72500, nil, "7.25"},
		{"16", 2, 1600, nil, "16"},
		{"-0.05", 2, -5, nil, "-0.05"},
		{"-1.5", 3, -1500, nil, "-1.5"},
		{"7.255", 2, 0, errDecimalScale, ""},
		{"18.5", 0, 0, errDecimalScale, ""},
		{"9223372036854775807", 1, 0, errDecimalRange, ""},
		{"-922337203685477580.8", 1, math.MinInt64, nil, "-922337203685477580.8"},
		{"-922337203685477580.8", 2, 0, errDecimalRange, ""},
	}
	for _, tc := range tests {
		got, err := parseScaled(tc.in, tc.decimals)
		if !errors.Is(err, tc.err) || err == nil && got != tc.scaled {
			t.Errorf("parseScaled(%q, %d) = %d, %v; want %d, %v", tc.in, tc.decimals, got, err, tc.scaled, tc.err)
			continue
		}
		if err == nil {
			if f := formatScaled(got, tc.decimals); f != tc.format {
				t.Errorf("formatScaled(%d, %d) = %q, want %q", got, tc.decimals, f, tc.format)
			}
		}
	}
}

func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"0", "7.25", "-0.05", "16.000", "9223372036854775807", "-9223372036854775808", "1e3", "00"} {
		f.Add(s, uint8(2))
	}
	f.Fuzz(func(t *testing.T, s string, d uint8) {
		decimals := int(d % (MaxDecimals + 1))
		x, err := parseScaled(s, decimals)
		if err != nil {
			return
		}
		out := formatScaled(x, decimals)
		y, err := parseScaled(out, decimals)
		if err != nil || y != x {
			t.Fatalf("%q → %d → %q → %d, %v", s, x, out, y, err)
		}
	})
}
