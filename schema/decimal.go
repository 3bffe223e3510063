package schema

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// MaxDecimals is the largest number of decimals a fixed-point field may have.
const MaxDecimals = 6

// maxDecimalLen bounds the length of a decimal literal that is parsed at all.
const maxDecimalLen = 64

var (
	errDecimalSyntax = errors.New("not a plain decimal number")
	errDecimalRange  = errors.New("out of the 64-bit range")
	errDecimalScale  = errors.New("too many decimals")
)

// parseDecimal parses a plain decimal literal exactly, without going through
// floating point. The accepted grammar is -?(0|[1-9][0-9]*)(\.[0-9]+)? (no
// exponent, no '+', no leading zeros, no digit separators). Trailing zeros
// of the fraction are dropped, so the result is the unique pair (mant, frac)
// with value mant·10^-frac and mant not divisible by 10 unless frac = 0.
func parseDecimal(s string) (mant int64, frac int, err error) {
	if len(s) == 0 || len(s) > maxDecimalLen {
		return 0, 0, errDecimalSyntax
	}
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	intPart, fracPart, hasDot := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasDot && !allDigits(fracPart)) {
		return 0, 0, errDecimalSyntax
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, 0, errDecimalSyntax
	}
	fracPart = strings.TrimRight(fracPart, "0")
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	var mag uint64
	for _, c := range intPart + fracPart {
		d := uint64(c - '0')
		if mag > (limit-d)/10 {
			return 0, 0, errDecimalRange
		}
		mag = mag*10 + d
	}
	if neg {
		return int64(-mag), len(fracPart), nil // -(1<<63) wraps to MinInt64 as intended
	}
	return int64(mag), len(fracPart), nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// rescale returns mant·10^(decimals-frac), the value in units of 10^-decimals.
// It fails with errDecimalScale when frac > decimals (the value is not
// representable at that scale) and errDecimalRange on int64 overflow.
func rescale(mant int64, frac, decimals int) (int64, error) {
	if frac < 0 || decimals < 0 || frac > decimals {
		return 0, errDecimalScale
	}
	for range decimals - frac {
		if mant > math.MaxInt64/10 || mant < math.MinInt64/10 {
			return 0, errDecimalRange
		}
		mant *= 10
	}
	return mant, nil
}

// parseScaled parses a decimal literal and returns it in units of 10^-decimals.
func parseScaled(s string, decimals int) (int64, error) {
	mant, frac, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	return rescale(mant, frac, decimals)
}

// formatScaled writes x·10^-decimals as the shortest exact decimal literal
// accepted by parseDecimal ("7.25", "16", "-0.05").
func formatScaled(x int64, decimals int) string {
	neg := x < 0
	var mag uint64
	if neg {
		mag = uint64(-(x + 1)) + 1
	} else {
		mag = uint64(x)
	}
	digits := strconv.FormatUint(mag, 10)
	if decimals > 0 {
		if len(digits) <= decimals {
			digits = strings.Repeat("0", decimals-len(digits)+1) + digits
		}
		whole, fraction := digits[:len(digits)-decimals], strings.TrimRight(digits[len(digits)-decimals:], "0")
		digits = whole
		if fraction != "" {
			digits += "." + fraction
		}
	}
	if neg && digits != "0" {
		digits = "-" + digits
	}
	return digits
}
