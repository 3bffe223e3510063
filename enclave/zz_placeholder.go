package enclave

import (
	"math/big"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

type NoiseModel struct {
	StdDev     []float64
	Confidence float64
}

func ReleaseNoisy(s *schema.Schema, coords []int, values []*big.Int, noise NoiseModel, outputs []*cohortv1.Output) ([]*cohortv1.OutputValue, error) {
	return nil, nil
}
