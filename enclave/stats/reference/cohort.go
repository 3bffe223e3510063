package reference

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// Errors the computations return; test with errors.Is.
var (
	// ErrUnknownField reports a field the schema does not have, or one of
	// the wrong type for the statistic (a category's mean).
	ErrUnknownField = errors.New("reference: no such numeric field")
	// ErrTooFew reports a statistic undefined for so few records: a mean
	// of none, a (co)variance of fewer than two.
	ErrTooFew = errors.New("reference: too few records")
	// ErrSingular reports normal equations without a unique solution
	// (collinear features without ridge).
	ErrSingular = errors.New("reference: the normal equations are singular")
	// ErrConstant reports a regression target that is constant over the
	// cohort, for which R² is undefined.
	ErrConstant = errors.New("reference: the target is constant over the cohort")
)

// Cohort is a set of plaintext records of one schema.
type Cohort struct {
	schema *schema.Schema
	n      int
	num    map[string][]*big.Rat // int, fixed and bool fields (bool as 0/1), per record
	labels map[string][]string   // category and bool fields by value name, per record
}

// New reads recs, records of s: every field of s must be present, int and
// fixed fields as decimal numbers, bool fields as "true" or "false". It
// does not check the schema's bounds or categories: the records are taken
// as they are.
func New(s *schema.Schema, recs []schema.Record) (*Cohort, error) {
	c := &Cohort{schema: s, n: len(recs), num: map[string][]*big.Rat{}, labels: map[string][]string{}}
	for i, r := range recs {
		for _, f := range s.Fields {
			v, ok := r[f.Name]
			if !ok {
				return nil, fmt.Errorf("reference: record %d lacks field %q", i, f.Name)
			}
			text := v.String()
			switch f.Type {
			case schema.Int, schema.Fixed:
				x, ok := new(big.Rat).SetString(text)
				if !ok {
					return nil, fmt.Errorf("reference: record %d: field %q: %q is not a number", i, f.Name, text)
				}
				c.num[f.Name] = append(c.num[f.Name], x)
			case schema.Bool:
				var x int64
				switch text {
				case "true":
					x = 1
				case "false":
				default:
					return nil, fmt.Errorf("reference: record %d: field %q: %q is not a bool", i, f.Name, text)
				}
				c.num[f.Name] = append(c.num[f.Name], big.NewRat(x, 1))
				c.labels[f.Name] = append(c.labels[f.Name], text)
			case schema.Category:
				c.labels[f.Name] = append(c.labels[f.Name], text)
			}
		}
	}
	return c, nil
}

// Len is the number of records.
func (c *Cohort) Len() int { return c.n }

// values returns a numeric field's values, shared.
func (c *Cohort) values(field string) ([]*big.Rat, error) {
	xs, ok := c.num[field]
	if !ok && !c.numeric(field) {
		return nil, fmt.Errorf("%w: %q", ErrUnknownField, field)
	}
	return xs, nil
}

// numeric reports whether the schema has field as an int, fixed or bool
// field (whose values are nil for an empty cohort).
func (c *Cohort) numeric(field string) bool {
	f, ok := c.schema.Field(field)
	return ok && f.Type.Numeric()
}

// Values returns each record's value of an int, fixed or bool field (bool
// as 0 or 1), exactly.
func (c *Cohort) Values(field string) ([]*big.Rat, error) {
	xs, err := c.values(field)
	if err != nil {
		return nil, err
	}
	out := make([]*big.Rat, len(xs))
	for i, x := range xs {
		out[i] = new(big.Rat).Set(x)
	}
	return out, nil
}

// Floats returns each record's value of an int, fixed or bool field,
// rounded to float64.
func (c *Cohort) Floats(field string) ([]float64, error) {
	xs, err := c.values(field)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i], _ = x.Float64()
	}
	return out, nil
}

// Labels returns each record's value of a category or bool field by name
// ("true", "false" for a bool).
func (c *Cohort) Labels(field string) ([]string, error) {
	f, ok := c.schema.Field(field)
	if !ok || (f.Type != schema.Category && f.Type != schema.Bool) {
		return nil, fmt.Errorf("%w: %q is not a category or bool field", ErrUnknownField, field)
	}
	return append([]string(nil), c.labels[field]...), nil
}

// Sum is Σ x over the records.
func (c *Cohort) Sum(field string) (*big.Rat, error) {
	xs, err := c.values(field)
	if err != nil {
		return nil, err
	}
	s := new(big.Rat)
	for _, x := range xs {
		s.Add(s, x)
	}
	return s, nil
}

// Mean is Σ x / n; ErrTooFew for no records.
func (c *Cohort) Mean(field string) (*big.Rat, error) {
	s, err := c.Sum(field)
	if err != nil {
		return nil, err
	}
	if c.n == 0 {
		return nil, fmt.Errorf("%w: the mean of no records", ErrTooFew)
	}
	return s.Quo(s, big.NewRat(int64(c.n), 1)), nil
}

// centered is Σ (a − ā)(b − b̄) over the records.
func (c *Cohort) centered(a, b string) (*big.Rat, error) {
	xa, err := c.values(a)
	if err != nil {
		return nil, err
	}
	xb, err := c.values(b)
	if err != nil {
		return nil, err
	}
	ma, err := c.Mean(a)
	if err != nil {
		return nil, err
	}
	mb, err := c.Mean(b)
	if err != nil {
		return nil, err
	}
	s, da, db := new(big.Rat), new(big.Rat), new(big.Rat)
	for i := range xa {
		da.Sub(xa[i], ma)
		db.Sub(xb[i], mb)
		s.Add(s, da.Mul(da, db))
	}
	return s, nil
}

// Covariance is the sample covariance Σ (a − ā)(b − b̄) / (n − 1);
// ErrTooFew for fewer than two records.
func (c *Cohort) Covariance(a, b string) (*big.Rat, error) {
	s, err := c.centered(a, b)
	if err != nil {
		return nil, err
	}
	if c.n < 2 {
		return nil, fmt.Errorf("%w: the covariance of %d records", ErrTooFew, c.n)
	}
	return s.Quo(s, big.NewRat(int64(c.n-1), 1)), nil
}

// Variance is the sample variance, Covariance(field, field).
func (c *Cohort) Variance(field string) (*big.Rat, error) { return c.Covariance(field, field) }

// Correlation is Pearson's r = Σ(a − ā)(b − b̄) / √(Σ(a − ā)² Σ(b − b̄)²),
// computed as the signed square root of the exact r²; NaN when either
// field is constant.
func (c *Cohort) Correlation(a, b string) (float64, error) {
	cab, err := c.centered(a, b)
	if err != nil {
		return 0, err
	}
	caa, err := c.centered(a, a)
	if err != nil {
		return 0, err
	}
	cbb, err := c.centered(b, b)
	if err != nil {
		return 0, err
	}
	den := new(big.Rat).Mul(caa, cbb)
	if den.Sign() == 0 {
		return math.NaN(), nil
	}
	r2, _ := new(big.Rat).Quo(new(big.Rat).Mul(cab, cab), den).Float64()
	return float64(cab.Sign()) * math.Sqrt(r2), nil
}

// Histogram counts the records with each value of a category or bool
// field; values no record has are absent.
func (c *Cohort) Histogram(field string) (map[string]uint64, error) {
	labels, err := c.Labels(field)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, l := range labels {
		out[l]++
	}
	return out, nil
}
