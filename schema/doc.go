// Package schema defines Cohort's dataset schemas, the records they admit,
// and the integer encoding of a record whose coordinate-wise sum over a
// cohort gives its sufficient statistics. It is the bottom layer of Cohort
// and imports nothing else of it.
//
// # Schemas
//
// A schema is loaded from YAML (Parse, Load; Default is the embedded demo
// schema fitness.yaml) with unknown and repeated keys refused, and
// validated: the id is 1..64 bytes of [a-z0-9-]; there are 1..256 fields
// with unique names matching [a-z_][a-z0-9_]* (at most 64 bytes); an int
// field has integer min < max; a fixed field has decimals 0..6 and min < max
// written as YAML decimals, parsed exactly from their text (never through
// float64) and stored scaled by 10^decimals; a bool field has no min, max or
// decimals; a category field has 2..64 unique, non-empty, printable values of
// at most 64 bytes; moments (at most 128) name distinct int, fixed or bool
// fields; purposes are 1..64 unique names of [a-z0-9_-]; epoch is daily,
// weekly or monthly; min_cohort ≥ 1 and max_cohort (default 1 000 000) ≥
// min_cohort. Every numeric span max−min, in scaled units, must be at most
// 2^32−1, so that every shifted value and every product of two fits in a
// uint64. Each validation error is a *FieldError naming the key or field and,
// for YAML input, its line. Canonical is a deterministic JSON encoding that
// Parse reads back to an equal schema; Digest is SHA-256 over
// "cohort/v1/schema" || Canonical.
//
// # Encoding and layout
//
// A record (one Value per field) is encoded to v ∈ ℕ^Len, in this order:
//
//	v[0]                      = 1                      (so Σ v[0] is the count n)
//	v[1..m]                   = x_f = value_f·10^d_f − min_f  for each int, fixed and bool field, in schema order (bool: 0/1)
//	one-hot block per category field, in schema order: 1 at the record's value, 0 elsewhere
//	x_a·x_b for every pair i ≤ j of moments, a = moments[i], b = moments[j],
//	in the order (0,0), (0,1), …, (0,k−1), (1,1), …, (k−1,k−1)
//
// so Len = 1 + m + Σ|values| + k(k+1)/2; with m numeric fields that are all
// moments and no category, 1 + m + m(m+1)/2. Layout describes each
// coordinate (index, offset, span, bit width, factors) and Layout.Name names
// it ("1", "age", "region=north", "age*steps").
//
// # Bounds
//
// Coordinate i never exceeds CoordMax[i]: 1 for the constant and the
// indicators, span_f for a value, span_a·span_b < 2^64 for a product. A sum
// over at most N records is at most N·MaxCoord. Since a backend reconstructs
// sums modulo its modulus M (the BGV plaintext modulus t, or the BN254
// scalar field order r), CheckFits refuses (ErrDoesNotFit) unless
// N·MaxCoord < M/2, which keeps every sum exact and leaves room for a signed
// reading of residues.
//
// # Decoding sums
//
// Given S = Σ v over a cohort, Layout.Decode returns exact rationals in
// original units. With n = S[0], a field of offset o (= min scaled; 0 for
// bool) and d decimals at coordinate x, and a product coordinate p of fields
// a, b at value coordinates A, B:
//
//	Σ value   = (S[x] + n·o) / 10^d
//	Σ a·b     = (S[p] + o_b·S[A] + o_a·S[B] + n·o_a·o_b) / 10^(d_a+d_b)
//	count of value k of a category starting at c = S[c+k]
//
// which follow from Σ(x+o) = Σx + n·o and Σ(x_a+o_a)(x_b+o_b) = Σx_a·x_b +
// o_b·Σx_a + o_a·Σx_b + n·o_a·o_b. Decode refuses sums that no cohort of
// valid records produces (negative, above n·CoordMax, category counts not
// adding up to n), which catches a corrupted reconstruction.
//
// # Records
//
// ParseRecordJSON reads a record from a JSON object (numbers parsed exactly
// from their text; unknown, repeated or missing fields refused) and checks
// it completely; Encode checks and encodes. Their errors wrap
// ErrInvalidRecord and a sentinel naming the kind of fault, and quote the
// offending value, so they are for the record's owner, not for logs. All
// decoders of outside bytes bound their input size and are fuzzed.
// Synthetic and Schema.RandomRecord make synthetic schemas and records for
// tests and benchmarks only.
//
// A Schema is immutable after validation as far as this package is
// concerned: no method modifies it, and methods may be called concurrently.
package schema
