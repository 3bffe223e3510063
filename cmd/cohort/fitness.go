package main

import (
	"math"
	"math/rand/v2"

	"github.com/cohort-dev/cohort/schema"
)

// fitnessRecord draws a plausible record of the default fitness schema:
// older people walk a little less, walkers have lower resting heart rates,
// smokers higher ones. Synthetic data for the demo only.
func fitnessRecord(r *rand.Rand) schema.Record {
	clamp := func(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
	age := clamp(math.Round(45+15*r.NormFloat64()), 18, 100)
	steps := clamp(math.Round(9000-60*(age-45)+3000*r.NormFloat64()), 0, 60000)
	smoker := r.Float64() < 0.2
	hr := 72 - (steps-8000)/1000 + 2*r.NormFloat64()
	if smoker {
		hr += 6
	}
	hr = clamp(math.Round(hr), 30, 220)
	sleep := clamp(math.Round((7+0.8*r.NormFloat64())*100), 0, 1600)
	regions := []string{"north", "south", "east", "west"}
	return schema.Record{
		"age":        schema.IntValue(int64(age)),
		"steps":      schema.IntValue(int64(steps)),
		"resting_hr": schema.IntValue(int64(hr)),
		"sleep_h":    schema.ScaledValue(int64(sleep), 2),
		"smoker":     schema.BoolValue(smoker),
		"region":     schema.CategoryValue(regions[r.IntN(len(regions))]),
	}
}
