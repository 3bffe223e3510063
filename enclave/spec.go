package enclave

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
	"github.com/cohort-dev/cohort/schema"
)

// Limits of a job spec.
const (
	MaxOutputs      = 64 // outputs per job
	MaxOutputFields = 64 // fields of a covariance or correlation, features of a regression
	MaxLabelLen     = 64 // bytes of an output's label
)

// Sentinel errors of ValidateSpec (and of Coordinates and Release, which
// check the outputs they are given the same way). Every refusal is a
// *SpecError wrapping exactly one of them; errors.Is(err, ErrInvalidSpec)
// holds for every *SpecError.
var (
	// ErrInvalidSpec is matched by every *SpecError, and is the sentinel of
	// a nil spec.
	ErrInvalidSpec = errors.New("invalid job spec")
	// ErrEpochRange: epoch_from > epoch_to.
	ErrEpochRange = errors.New("empty epoch range")
	// ErrUnknownPurpose: the purpose is not one of the dataset's.
	ErrUnknownPurpose = errors.New("unknown purpose")
	// ErrBackend: the backend is neither UNSPECIFIED nor the dataset's.
	ErrBackend = errors.New("backend is not the dataset's")
	// ErrOutputCount: no outputs, or more than MaxOutputs.
	ErrOutputCount = errors.New("wrong number of outputs")
	// ErrOutputKind: an output's kind is UNSPECIFIED or unknown (or the
	// output is nil).
	ErrOutputKind = errors.New("unknown output kind")
	// ErrFieldCount: the wrong number of fields, target or features for the
	// output's kind.
	ErrFieldCount = errors.New("wrong number of fields")
	// ErrUnknownField: a name that is not a field of the dataset.
	ErrUnknownField = errors.New("unknown field")
	// ErrFieldType: a field of the wrong type for the output (a histogram
	// of an int, a sum of a category, a logistic target that is not bool).
	ErrFieldType = errors.New("wrong field type")
	// ErrNotInMoments: a variance, standard deviation, covariance,
	// correlation or regression of a field the dataset does not collect
	// the products of (not listed in its moments).
	ErrNotInMoments = errors.New("field not in moments")
	// ErrDuplicateField: a field given twice, or a feature equal to the
	// target.
	ErrDuplicateField = errors.New("duplicate field")
	// ErrNotApplicable: a field of Output set that the kind does not use
	// (a target on a MEAN, a ridge penalty on a COUNT, fields on a
	// regression).
	ErrNotApplicable = errors.New("not applicable to the output kind")
	// ErrRidge: a ridge penalty that is NaN, infinite or negative.
	ErrRidge = errors.New("invalid ridge penalty")
	// ErrLabel: a label longer than MaxLabelLen bytes.
	ErrLabel = errors.New("label too long")
)

// SpecError is a refusal of a job spec. It names the offending field of
// the spec and wraps one sentinel. Details quote at most the first 64 bytes
// of any name taken from the spec.
type SpecError struct {
	// Field is the path of the offending spec field: "spec", "epoch_to",
	// "purpose", "backend", "outputs", "outputs[2].kind",
	// "outputs[2].fields[0]", "outputs[0].target", "outputs[1].features[3]",
	// "outputs[0].ridge_lambda", "outputs[4].label".
	Field string
	// Err is the sentinel.
	Err error
	// Detail says what is wrong, for people.
	Detail string
}

// Error returns "enclave: job spec: <field>: <sentinel>: <detail>".
func (e *SpecError) Error() string {
	msg := "enclave: job spec: " + e.Field + ": " + e.Err.Error()
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap returns the sentinel.
func (e *SpecError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidSpec, which every SpecError
// matches.
func (e *SpecError) Is(target error) bool { return target == ErrInvalidSpec }

func specErr(sentinel error, field, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Err: sentinel, Detail: fmt.Sprintf(format, args...)}
}

// ValidateSpec checks a job spec against the dataset's schema s (which must
// be valid) and backend. It checks, in order: the spec is not nil,
// epoch_from ≤ epoch_to, the purpose is one of s's, the backend is
// UNSPECIFIED or datasetBackend, there are 1..MaxOutputs outputs, and each
// output (in order) is well formed for its kind:
//
//	COUNT                 no fields
//	SUM, MEAN             one int, fixed or bool field
//	VARIANCE, STDDEV      one field in moments
//	HISTOGRAM             one category or bool field
//	COVARIANCE,
//	CORRELATION           2..64 distinct fields in moments
//	LINEAR_REGRESSION     a target and 1..64 distinct features, all in
//	                      moments, none equal to the target; a finite
//	                      ridge_lambda ≥ 0
//	LOGISTIC_REGRESSION   the same, with a bool target
//
// with every Output field the kind does not use left empty and a label of
// at most MaxLabelLen bytes. The first problem found is returned as a
// *SpecError; a nil schema is a caller's error and returned as a plain
// error. The spec's dataset_id and min_cohort are not checked: the caller
// chose s by the id, and any minimum is acceptable (see EffectiveMinimum).
func ValidateSpec(spec *cohortv1.JobSpec, s *schema.Schema, datasetBackend cohortv1.Backend) error {
	if s == nil {
		return errors.New("enclave: ValidateSpec: nil schema")
	}
	if spec == nil {
		return specErr(ErrInvalidSpec, "spec", "no spec")
	}
	if spec.GetEpochFrom() > spec.GetEpochTo() {
		return specErr(ErrEpochRange, "epoch_to", "epoch_to %d is before epoch_from %d", spec.GetEpochTo(), spec.GetEpochFrom())
	}
	if _, err := s.PurposeMask([]string{spec.GetPurpose()}); err != nil {
		return specErr(ErrUnknownPurpose, "purpose", "%s is not a purpose of dataset %q", quote(spec.GetPurpose()), s.ID)
	}
	if b := spec.GetBackend(); b != cohortv1.Backend_BACKEND_UNSPECIFIED && b != datasetBackend {
		return specErr(ErrBackend, "backend", "%s, but dataset %q uses %s", b, s.ID, datasetBackend)
	}
	if n := len(spec.GetOutputs()); n < 1 || n > MaxOutputs {
		return specErr(ErrOutputCount, "outputs", "%d outputs, want 1..%d", n, MaxOutputs)
	}
	x := newFieldIndex(s.Layout())
	for i, o := range spec.GetOutputs() {
		if err := x.validateOutput(i, o); err != nil {
			return err
		}
	}
	return nil
}

// EffectiveMinimum returns the smallest cohort the job may be released
// for, before contributors' own minimums: the largest of the spec's
// min_cohort, the schema's min_cohort and 1. A nil spec or schema counts
// as 0.
func EffectiveMinimum(spec *cohortv1.JobSpec, s *schema.Schema) uint64 {
	m := max(uint64(spec.GetMinCohort()), 1)
	if s != nil {
		m = max(m, uint64(s.MinCohort))
	}
	return m
}

// fieldIndex looks fields up in a layout: what the encoded vector holds
// for each field decides what may be asked of it.
type fieldIndex struct {
	value    map[string]schema.ValueCoord
	category map[string]schema.CategoryCoords
	product  map[[2]int]int // {A, B}, A ≤ B → coordinate of x_A·x_B
}

func newFieldIndex(l schema.Layout) *fieldIndex {
	x := &fieldIndex{
		value:    make(map[string]schema.ValueCoord, len(l.Values)),
		category: make(map[string]schema.CategoryCoords, len(l.Categories)),
		product:  make(map[[2]int]int, len(l.Products)),
	}
	for _, v := range l.Values {
		x.value[v.Field] = v
	}
	for _, c := range l.Categories {
		x.category[c.Field] = c
	}
	for _, p := range l.Products {
		x.product[[2]int{min(p.A, p.B), max(p.A, p.B)}] = p.Index
	}
	return x
}

// productOf returns the coordinate of x_a·x_b for value coordinates a, b.
func (x *fieldIndex) productOf(a, b int) (int, bool) {
	i, ok := x.product[[2]int{min(a, b), max(a, b)}]
	return i, ok
}

// need says what an output requires of a field.
type need int

const (
	needNumeric   need = iota // int, fixed or bool
	needMoment                // in moments
	needHistogram             // category or bool
	needBinary                // bool and in moments
)

// checkField checks that name is a field of the dataset meeting n.
func (x *fieldIndex) checkField(path, name string, n need) *SpecError {
	v, isValue := x.value[name]
	_, isCategory := x.category[name]
	switch {
	case !isValue && !isCategory:
		return specErr(ErrUnknownField, path, "%s is not a field of the dataset", quote(name))
	case n == needHistogram:
		if isValue && v.Type != schema.Bool {
			return specErr(ErrFieldType, path, "a histogram needs a category or bool field; %s is %s", quote(name), v.Type)
		}
		return nil
	case isCategory:
		return specErr(ErrFieldType, path, "%s is a category; this output needs a number", quote(name))
	case n == needBinary && v.Type != schema.Bool:
		return specErr(ErrFieldType, path, "a logistic regression needs a bool target; %s is %s", quote(name), v.Type)
	}
	if n == needMoment || n == needBinary {
		if _, ok := x.productOf(v.Index, v.Index); !ok {
			return specErr(ErrNotInMoments, path, "%s is not in the dataset's moments", quote(name))
		}
	}
	return nil
}

// checkDistinct checks names (at path[k]) against each other and against
// other, which they must not equal.
func (x *fieldIndex) checkDistinct(path string, names []string, other string, n need) *SpecError {
	seen := make(map[string]bool, len(names))
	for k, name := range names {
		p := path + "[" + strconv.Itoa(k) + "]"
		if other != "" && name == other {
			return specErr(ErrDuplicateField, p, "%s is the target", quote(name))
		}
		if seen[name] {
			return specErr(ErrDuplicateField, p, "%s is given twice", quote(name))
		}
		seen[name] = true
		if err := x.checkField(p, name, n); err != nil {
			return err
		}
	}
	return nil
}

// validateOutput checks output i (see ValidateSpec).
func (x *fieldIndex) validateOutput(i int, o *cohortv1.Output) *SpecError {
	at := func(field string) string { return "outputs[" + strconv.Itoa(i) + "]." + field }
	kind := o.GetKind()
	if _, known := cohortv1.OutputKind_name[int32(kind)]; !known || kind == cohortv1.OutputKind_OUTPUT_KIND_UNSPECIFIED { // a nil output has kind UNSPECIFIED
		return specErr(ErrOutputKind, at("kind"), "%s", kind)
	}
	if len(o.GetLabel()) > MaxLabelLen {
		return specErr(ErrLabel, at("label"), "%d bytes, at most %d", len(o.GetLabel()), MaxLabelLen)
	}
	fields := o.GetFields()
	regression := kind == cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION || kind == cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION
	if !regression {
		switch {
		case o.GetTarget() != "":
			return specErr(ErrNotApplicable, at("target"), "%s has no target", kind)
		case len(o.GetFeatures()) > 0:
			return specErr(ErrNotApplicable, at("features"), "%s has no features", kind)
		case o.GetRidgeLambda() != 0:
			return specErr(ErrNotApplicable, at("ridge_lambda"), "%s has no ridge penalty", kind)
		}
	}
	one := func(n need) *SpecError {
		if len(fields) != 1 {
			return specErr(ErrFieldCount, at("fields"), "%s takes exactly one field, got %d", kind, len(fields))
		}
		return x.checkField(at("fields[0]"), fields[0], n)
	}
	switch kind {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		if len(fields) > 0 {
			return specErr(ErrNotApplicable, at("fields"), "%s takes no fields", kind)
		}
		return nil
	case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN:
		return one(needNumeric)
	case cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, cohortv1.OutputKind_OUTPUT_KIND_STDDEV:
		return one(needMoment)
	case cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
		return one(needHistogram)
	case cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		if len(fields) < 2 || len(fields) > MaxOutputFields {
			return specErr(ErrFieldCount, at("fields"), "%s takes 2..%d fields, got %d", kind, MaxOutputFields, len(fields))
		}
		return x.checkDistinct(at("fields"), fields, "", needMoment)
	}
	// A regression.
	target, features, ridge := o.GetTarget(), o.GetFeatures(), o.GetRidgeLambda()
	switch {
	case len(fields) > 0:
		return specErr(ErrNotApplicable, at("fields"), "a regression takes a target and features, not fields")
	case target == "":
		return specErr(ErrFieldCount, at("target"), "a regression needs a target")
	case len(features) < 1 || len(features) > MaxOutputFields:
		return specErr(ErrFieldCount, at("features"), "a regression takes 1..%d features, got %d", MaxOutputFields, len(features))
	case math.IsNaN(ridge) || math.IsInf(ridge, 0) || ridge < 0:
		return specErr(ErrRidge, at("ridge_lambda"), "%v (want a finite λ ≥ 0)", ridge)
	}
	targetNeed := needMoment
	if kind == cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION {
		targetNeed = needBinary
	}
	if err := x.checkField(at("target"), target, targetNeed); err != nil {
		return err
	}
	return x.checkDistinct(at("features"), features, target, needMoment)
}

// quote returns a name from the spec fit for an error message: quoted, and
// cut to its first 64 bytes.
func quote(name string) string {
	if len(name) > 64 {
		return strconv.Quote(name[:64]) + "…"
	}
	return strconv.Quote(name)
}
