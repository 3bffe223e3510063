package demo

import (
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/cohort-dev/cohort/schema"
)

// Purposes the demo's contributors consent to.
var (
	researchPurposes   = []string{"public-health", "academic-research"}
	commercialPurposes = []string{"commercial-training"}
	regionNames        = []string{"north", "south", "east", "west"}
)

// jobPurpose is the purpose of the demo's jobs.
const jobPurpose = "public-health"

// person is one synthetic person of the fitness schema, with what the
// demo does with their record.
type person struct {
	Age       int64 // years, 18..90
	Steps     int64 // daily steps
	RestingHR int64 // beats per minute
	SleepH    int64 // hours in hundredths, 400..1050
	Smoker    bool
	Region    string

	Purposes []string // what the contributor consents to
	Revoked  bool     // revoked after contributing
}

// people draws n records deterministically from seed. Older people
// and smokers walk less; resting heart rate rises with age and smoking and
// falls with steps; sleep shortens a little with age. About one in ten
// contributors (every tenth, from the fourth) consents only to commercial
// training, so that public-health jobs exclude them.
func people(n int, seed uint64) []person {
	r := rand.New(rand.NewPCG(seed, 0x636f686f72742d64)) // "cohort-d"
	clamp := func(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
	out := make([]person, n)
	for i := range out {
		age := clamp(math.Round(48+16*r.NormFloat64()), 18, 90)
		smoker := r.Float64() < 0.2
		smoke := 0.0
		if smoker {
			smoke = 1
		}
		steps := clamp(math.Round(11500-75*(age-18)-1800*smoke+2600*r.NormFloat64()), 300, 40000)
		hr := clamp(math.Round(60+0.12*(age-18)+5*smoke-0.0006*(steps-8000)+4*r.NormFloat64()), 40, 120)
		sleep := clamp(math.Round(100*(7.3-0.012*(age-45)+0.85*r.NormFloat64())), 400, 1050)
		rec := person{
			Age: int64(age), Steps: int64(steps), RestingHR: int64(hr), SleepH: int64(sleep),
			Smoker: smoker, Region: regionNames[r.IntN(len(regionNames))], Purposes: researchPurposes,
		}
		if i%10 == 3 {
			rec.Purposes = commercialPurposes
		}
		out[i] = rec
	}
	return out
}

// record is the schema.Record of the fitness schema.
func (d person) record() schema.Record {
	return schema.Record{
		"age":        schema.IntValue(d.Age),
		"steps":      schema.IntValue(d.Steps),
		"resting_hr": schema.IntValue(d.RestingHR),
		"sleep_h":    schema.ScaledValue(d.SleepH, 2),
		"smoker":     schema.BoolValue(d.Smoker),
		"region":     schema.CategoryValue(d.Region),
	}
}

// consents reports whether the contributor consented to purpose.
func (d person) consents(purpose string) bool {
	for _, p := range d.Purposes {
		if p == purpose {
			return true
		}
	}
	return false
}

// eligible reports whether a job for purpose may count the record: the
// purpose is consented to and the record is not revoked.
func (d person) eligible(purpose string) bool { return d.consents(purpose) && !d.Revoked }

// csvValue is the record's value of a field as records.csv writes it: bools
// as 0/1, categories by name, fixed-point numbers as decimals.
func (d person) csvValue(field string) (string, error) {
	switch field {
	case "age":
		return strconv.FormatInt(d.Age, 10), nil
	case "steps":
		return strconv.FormatInt(d.Steps, 10), nil
	case "resting_hr":
		return strconv.FormatInt(d.RestingHR, 10), nil
	case "sleep_h":
		return fmt.Sprintf("%d.%02d", d.SleepH/100, d.SleepH%100), nil
	case "smoker":
		if d.Smoker {
			return "1", nil
		}
		return "0", nil
	case "region":
		return d.Region, nil
	}
	return "", fmt.Errorf("demo: the records have no field %q", field)
}

// writeRecordsCSV writes the records: one column per schema field in
// schema order, then "eligible" (1 when a job for purpose counts the
// record).
func writeRecordsCSV(path string, s *schema.Schema, recs []person, purpose string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	header := make([]string, 0, len(s.Fields)+1)
	for _, fl := range s.Fields {
		header = append(header, fl.Name)
	}
	if err := w.Write(append(header, "eligible")); err != nil {
		f.Close()
		return err
	}
	for _, rec := range recs {
		row := make([]string, 0, len(header)+1)
		for _, fl := range s.Fields {
			v, err := rec.csvValue(fl.Name)
			if err != nil {
				f.Close()
				return err
			}
			row = append(row, v)
		}
		el := "0"
		if rec.eligible(purpose) {
			el = "1"
		}
		if err := w.Write(append(row, el)); err != nil {
			f.Close()
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
