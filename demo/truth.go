package demo

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/cohort-dev/cohort/schema"
)

// plainTruth computes, in the demo process and from the plaintext records a
// job may count, what the job should release: the reference the released
// values are checked against. It works record by record in exact
// rationals (math/big), independently of the sufficient statistics, the
// shares and package enclave.
type plainTruth struct {
	s       *schema.Schema
	numbers []map[string]*big.Rat // per eligible record: int, fixed and bool fields (bool as 0/1)
	labels  []map[string]string   // per eligible record: category and bool fields by value name
}

func newPlainTruth(s *schema.Schema, recs []person, purpose string) (*plainTruth, error) {
	t := &plainTruth{s: s}
	for _, rec := range recs {
		if !rec.eligible(purpose) {
			continue
		}
		r := rec.record()
		nums, labels := map[string]*big.Rat{}, map[string]string{}
		for _, f := range s.Fields {
			v, ok := r[f.Name]
			if !ok {
				return nil, fmt.Errorf("demo: record lacks field %q", f.Name)
			}
			switch f.Type {
			case schema.Int, schema.Fixed:
				x, ok := new(big.Rat).SetString(v.String())
				if !ok {
					return nil, fmt.Errorf("demo: field %q: %q is not a number", f.Name, v)
				}
				nums[f.Name] = x
			case schema.Bool:
				b := v.String() == "true"
				nums[f.Name] = new(big.Rat)
				if b {
					nums[f.Name].SetInt64(1)
				}
				labels[f.Name] = v.String()
			case schema.Category:
				labels[f.Name] = v.String()
			}
		}
		t.numbers = append(t.numbers, nums)
		t.labels = append(t.labels, labels)
	}
	return t, nil
}

func (t *plainTruth) count() int { return len(t.numbers) }

func (t *plainTruth) sum(field string) *big.Rat {
	s := new(big.Rat)
	for _, r := range t.numbers {
		s.Add(s, r[field])
	}
	return s
}

func (t *plainTruth) mean(field string) *big.Rat {
	return new(big.Rat).Quo(t.sum(field), big.NewRat(int64(t.count()), 1))
}

// centered is Σ (a − ā)(b − b̄) over the records.
func (t *plainTruth) centered(a, b string) *big.Rat {
	ma, mb := t.mean(a), t.mean(b)
	s, da, db := new(big.Rat), new(big.Rat), new(big.Rat)
	for _, r := range t.numbers {
		da.Sub(r[a], ma)
		db.Sub(r[b], mb)
		s.Add(s, new(big.Rat).Mul(da, db))
	}
	return s
}

// covariance is the sample covariance (divisor n − 1); variance is its
// diagonal.
func (t *plainTruth) covariance(a, b string) *big.Rat {
	return new(big.Rat).Quo(t.centered(a, b), big.NewRat(int64(t.count()-1), 1))
}

func (t *plainTruth) correlation(a, b string) float64 {
	cab := t.centered(a, b)
	den := new(big.Rat).Mul(t.centered(a, a), t.centered(b, b))
	if den.Sign() == 0 {
		return math.NaN()
	}
	r2, _ := new(big.Rat).Quo(new(big.Rat).Mul(cab, cab), den).Float64()
	return float64(cab.Sign()) * math.Sqrt(r2)
}

// histogram counts the records with each value of a category or bool field.
func (t *plainTruth) histogram(field string) map[string]uint64 {
	out := map[string]uint64{}
	for _, r := range t.labels {
		out[r[field]]++
	}
	return out
}

// linearRegression fits target = β₀ + Σ βⱼ·featureⱼ, minimising the squared
// error plus ridge·Σ βⱼ² (intercept unpenalised), by solving the normal
// equations (XᵀX + ridge·I′)β = Xᵀy exactly; R² = 1 − SSE/SST is exact for
// that β.
func (t *plainTruth) linearRegression(target string, features []string, ridge float64) (intercept float64, coefs []float64, r2 float64, err error) {
	p := len(features) + 1
	x := func(r map[string]*big.Rat, j int) *big.Rat {
		if j == 0 {
			return big.NewRat(1, 1)
		}
		return r[features[j-1]]
	}
	A := make([][]*big.Rat, p)
	for i := range A {
		A[i] = make([]*big.Rat, p+1) // the last column is Xᵀy
		for j := range A[i] {
			A[i][j] = new(big.Rat)
		}
	}
	for _, r := range t.numbers {
		for i := range p {
			xi := x(r, i)
			for j := range p {
				A[i][j].Add(A[i][j], new(big.Rat).Mul(xi, x(r, j)))
			}
			A[i][p].Add(A[i][p], new(big.Rat).Mul(xi, r[target]))
		}
	}
	lambda := new(big.Rat)
	if lambda.SetFloat64(ridge) == nil {
		return 0, nil, 0, fmt.Errorf("demo: ridge %v is not finite", ridge)
	}
	for i := 1; i < p; i++ {
		A[i][i].Add(A[i][i], lambda)
	}
	beta, err := solveExact(A)
	if err != nil {
		return 0, nil, 0, err
	}
	ybar := t.mean(target)
	sse, sst := new(big.Rat), new(big.Rat)
	for _, r := range t.numbers {
		fit := new(big.Rat)
		for j := range p {
			fit.Add(fit, new(big.Rat).Mul(beta[j], x(r, j)))
		}
		e := new(big.Rat).Sub(r[target], fit)
		sse.Add(sse, e.Mul(e, e))
		d := new(big.Rat).Sub(r[target], ybar)
		sst.Add(sst, d.Mul(d, d))
	}
	if sst.Sign() == 0 {
		return 0, nil, 0, fmt.Errorf("demo: %s is constant over the cohort", target)
	}
	r2, _ = new(big.Rat).Sub(big.NewRat(1, 1), new(big.Rat).Quo(sse, sst)).Float64()
	intercept, _ = beta[0].Float64()
	coefs = make([]float64, p-1)
	for j := range coefs {
		coefs[j], _ = beta[j+1].Float64()
	}
	return intercept, coefs, r2, nil
}

// solveExact solves the augmented system A (n rows, n+1 columns) by
// Gauss–Jordan elimination in rationals.
func solveExact(A [][]*big.Rat) ([]*big.Rat, error) {
	n := len(A)
	for col := range n {
		pivot := -1
		for r := col; r < n; r++ {
			if A[r][col].Sign() != 0 {
				pivot = r
				break
			}
		}
		if pivot < 0 {
			return nil, errors.New("demo: the normal equations are singular")
		}
		A[col], A[pivot] = A[pivot], A[col]
		inv := new(big.Rat).Inv(A[col][col])
		for j := col; j <= n; j++ {
			A[col][j].Mul(A[col][j], inv)
		}
		for r := range n {
			if r == col || A[r][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Set(A[r][col])
			for j := col; j <= n; j++ {
				A[r][j].Sub(A[r][j], new(big.Rat).Mul(f, A[col][j]))
			}
		}
	}
	out := make([]*big.Rat, n)
	for i := range out {
		out[i] = A[i][n]
	}
	return out, nil
}
