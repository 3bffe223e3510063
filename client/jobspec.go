package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cohort-dev/cohort/backend"
	"github.com/cohort-dev/cohort/dataset"
	"github.com/cohort-dev/cohort/dp"
	"github.com/cohort-dev/cohort/enclave"
	cohortv1 "github.com/cohort-dev/cohort/gen/cohort/v1"
)

// Limits of a job spec file.
const (
	// MaxJobSpecBytes is the largest job spec ParseJobSpec reads.
	MaxJobSpecBytes = 64 << 10
	// maxSpecDepth bounds the nesting of the YAML document; a valid spec
	// nests four levels deep.
	maxSpecDepth = 8
	// CurrentEpoch is the epoch value that names the epoch containing now.
	CurrentEpoch = "current"
)

// ErrJobSpec is wrapped by every refusal of ParseJobSpec: each is a
// *JobSpecError.
var ErrJobSpec = errors.New("client: invalid job spec")

// JobSpecError is a refusal of a job spec file. It names the line and the
// spec entry at fault.
type JobSpecError struct {
	Line int    // 1-based line of the offending node; 0 when not known
	Path string // entry at fault, such as "outputs[2].mean" or "epochs.from"
	Msg  string
}

// Error reads "client: invalid job spec: line 7: outputs[2]: …".
func (e *JobSpecError) Error() string {
	var b strings.Builder
	b.WriteString(ErrJobSpec.Error())
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": " + e.Path)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// Unwrap returns ErrJobSpec.
func (e *JobSpecError) Unwrap() error { return ErrJobSpec }

func specError(n *yaml.Node, path, format string, args ...any) error {
	e := &JobSpecError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// outputKinds maps the YAML name of each output to its kind, in the order
// the error messages list them.
var outputKinds = []struct {
	name string
	kind cohortv1.OutputKind
}{
	{"count", cohortv1.OutputKind_OUTPUT_KIND_COUNT},
	{"sum", cohortv1.OutputKind_OUTPUT_KIND_SUM},
	{"mean", cohortv1.OutputKind_OUTPUT_KIND_MEAN},
	{"variance", cohortv1.OutputKind_OUTPUT_KIND_VARIANCE},
	{"stddev", cohortv1.OutputKind_OUTPUT_KIND_STDDEV},
	{"histogram", cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM},
	{"covariance", cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE},
	{"correlation", cohortv1.OutputKind_OUTPUT_KIND_CORRELATION},
	{"linear_regression", cohortv1.OutputKind_OUTPUT_KIND_LINEAR_REGRESSION},
	{"logistic_regression", cohortv1.OutputKind_OUTPUT_KIND_LOGISTIC_REGRESSION},
}

// OutputKindName returns the YAML name of an output kind ("mean",
// "linear_regression"), or "" for a kind that has none.
func OutputKindName(k cohortv1.OutputKind) string {
	for _, o := range outputKinds {
		if o.kind == k {
			return o.name
		}
	}
	return ""
}

func kindNames() string {
	names := make([]string, len(outputKinds))
	for i, o := range outputKinds {
		names[i] = o.name
	}
	return strings.Join(names, ", ")
}

// ParseJobSpec reads a job spec from YAML:
//
//	dataset: fitness-2026
//	epochs: {from: 2950, to: 2950}     # or epoch: 2950, or epoch: current
//	purpose: public-health
//	backend: mpc                       # optional: mpc or he; default the dataset's
//	min_cohort: 20                     # optional; default the dataset's
//	privacy: {rho: 1/8}                # or {epsilon: 1, delta: 0.000001}
//	outputs:
//	  - count
//	  - {mean: age}                    # also sum, variance, stddev, histogram
//	  - {correlation: [age, steps]}    # also covariance
//	  - {linear_regression: {target: resting_hr, features: [age, steps], ridge: 0.5}}
//	  - {logistic_regression: {target: smoker, features: [resting_hr]}}
//	  - {mean: age, label: "average age"}   # a label on any output
//
// Exactly one of epoch and epochs is given. An epoch is a number below
// 2^32 or "current", which currentEpoch resolves: it is called with the
// dataset id only when the file says "current" (a Buyer's CurrentEpoch
// asks the node for the dataset's epoch period and reads the clock), and a
// nil currentEpoch makes "current" an error.
//
// The reading is strict: unknown and repeated keys, a mapping where a
// value is expected (and the reverse), numbers out of range, non-decimal
// integers, YAML aliases, a second document and inputs above
// MaxJobSpecBytes are refused, each with a *JobSpecError that gives the
// line (errors.Is(err, ErrJobSpec) holds). Privacy amounts are exact
// decimals or fractions (dp.ParseAmount), never exponents; a dataset whose
// policy adds noise needs privacy, one whose policy is exact refuses it. Only the form is checked here,
// besides the dataset id, the label lengths and the output count: whether
// the fields exist and suit the outputs is the node's to say
// (enclave.ValidateSpec), as it alone holds the dataset's schema of
// record.
func ParseJobSpec(data []byte, currentEpoch func(datasetID string) (uint64, error)) (*cohortv1.JobSpec, error) {
	if len(data) > MaxJobSpecBytes {
		return nil, &JobSpecError{Msg: fmt.Sprintf("%d bytes, at most %d", len(data), MaxJobSpecBytes)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &JobSpecError{Msg: "empty document"}
		}
		return nil, &JobSpecError{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, specError(&extra, "", "more than one YAML document")
	}
	if len(doc.Content) != 1 {
		return nil, specError(&doc, "", "empty document")
	}
	root := doc.Content[0]
	if err := checkPlain(root, "", 0); err != nil {
		return nil, err
	}
	top, err := mapping(root, "", "dataset", "epoch", "epochs", "purpose", "backend", "min_cohort", "privacy", "outputs")
	if err != nil {
		return nil, err
	}
	spec := new(cohortv1.JobSpec)

	dsNode, err := required(top, root, "", "dataset")
	if err != nil {
		return nil, err
	}
	if spec.DatasetId, err = str(dsNode, "dataset"); err != nil {
		return nil, err
	}
	if !dataset.ValidID(spec.DatasetId) {
		return nil, specError(dsNode, "dataset", "%q is not a dataset id (1..64 bytes of [a-z0-9-])", truncateName(spec.DatasetId))
	}
	if err := parseEpochs(top, root, spec, currentEpoch); err != nil {
		return nil, err
	}
	pNode, err := required(top, root, "", "purpose")
	if err != nil {
		return nil, err
	}
	if spec.Purpose, err = str(pNode, "purpose"); err != nil {
		return nil, err
	}
	if n, ok := top["backend"]; ok {
		b, err := str(n, "backend")
		if err != nil {
			return nil, err
		}
		kind, ok := backend.Parse(b)
		if !ok {
			return nil, specError(n, "backend", "%q: want mpc or he", truncateName(b))
		}
		spec.Backend = kind
	}
	if n, ok := top["min_cohort"]; ok {
		m, err := uintValue(n, "min_cohort", math.MaxUint32)
		if err != nil {
			return nil, err
		}
		spec.MinCohort = uint32(m)
	}
	if n, ok := top["privacy"]; ok {
		if spec.Privacy, err = parsePrivacy(n); err != nil {
			return nil, err
		}
	}
	outNode, err := required(top, root, "", "outputs")
	if err != nil {
		return nil, err
	}
	if spec.Outputs, err = parseOutputs(outNode); err != nil {
		return nil, err
	}
	return spec, nil
}

// parsePrivacy reads {rho: R} or {epsilon: E, delta: D}.
func parsePrivacy(n *yaml.Node) (*cohortv1.Privacy, error) {
	m, err := mapping(n, "privacy", "rho", "epsilon", "delta")
	if err != nil {
		return nil, err
	}
	amount := func(key string) (string, error) {
		v := m[key]
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
			return "", specError(v, "privacy."+key, "want a number such as 0.125 or 1/8")
		}
		if _, err := dp.ParseAmount(v.Value); err != nil {
			return "", specError(v, "privacy."+key, "%v", err)
		}
		return v.Value, nil
	}
	_, hasRho := m["rho"]
	_, hasEps := m["epsilon"]
	_, hasDelta := m["delta"]
	switch {
	case hasRho && !hasEps && !hasDelta:
		r, err := amount("rho")
		if err != nil {
			return nil, err
		}
		return &cohortv1.Privacy{Loss: &cohortv1.Privacy_Rho{Rho: r}}, nil
	case !hasRho && hasEps && hasDelta:
		e, err := amount("epsilon")
		if err != nil {
			return nil, err
		}
		d, err := amount("delta")
		if err != nil {
			return nil, err
		}
		return &cohortv1.Privacy{Loss: &cohortv1.Privacy_Approx{Approx: &cohortv1.ApproxDP{Epsilon: e, Delta: d}}}, nil
	}
	return nil, specError(n, "privacy", "give either rho, or epsilon and delta")
}

// parseEpochs fills the epoch range from "epoch" or "epochs".
func parseEpochs(top map[string]*yaml.Node, root *yaml.Node, spec *cohortv1.JobSpec, currentEpoch func(string) (uint64, error)) error {
	one, hasOne := top["epoch"]
	rng, hasRange := top["epochs"]
	switch {
	case hasOne && hasRange:
		return specError(rng, "epochs", "give either epoch or epochs, not both")
	case !hasOne && !hasRange:
		return specError(root, "", "missing epoch: give epoch: N, epoch: current or epochs: {from: N, to: M}")
	}
	resolve := func(n *yaml.Node, path string) (uint64, error) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && n.Value == CurrentEpoch {
			if currentEpoch == nil {
				return 0, specError(n, path, "%q needs the dataset's epoch period, and none was given", CurrentEpoch)
			}
			e, err := currentEpoch(spec.DatasetId)
			if err != nil {
				return 0, fmt.Errorf("client: job spec: line %d: %s: current epoch of dataset %s: %w", n.Line, path, spec.DatasetId, err)
			}
			return e, nil
		}
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return 0, specError(n, path, "want an epoch number or %q", CurrentEpoch)
		}
		return uintValue(n, path, math.MaxUint32)
	}
	if hasOne {
		e, err := resolve(one, "epoch")
		if err != nil {
			return err
		}
		spec.EpochFrom, spec.EpochTo = e, e
		return nil
	}
	m, err := mapping(rng, "epochs", "from", "to")
	if err != nil {
		return err
	}
	from, err := required(m, rng, "epochs", "from")
	if err != nil {
		return err
	}
	to, err := required(m, rng, "epochs", "to")
	if err != nil {
		return err
	}
	if spec.EpochFrom, err = resolve(from, "epochs.from"); err != nil {
		return err
	}
	if spec.EpochTo, err = resolve(to, "epochs.to"); err != nil {
		return err
	}
	if spec.EpochFrom > spec.EpochTo {
		return specError(to, "epochs.to", "%d is before from (%d)", spec.EpochTo, spec.EpochFrom)
	}
	return nil
}

func parseOutputs(n *yaml.Node) ([]*cohortv1.Output, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, specError(n, "outputs", "want a list of outputs")
	}
	if len(n.Content) < 1 || len(n.Content) > enclave.MaxOutputs {
		return nil, specError(n, "outputs", "%d outputs, want 1..%d", len(n.Content), enclave.MaxOutputs)
	}
	outs := make([]*cohortv1.Output, len(n.Content))
	for i, item := range n.Content {
		o, err := parseOutput(item, "outputs["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		outs[i] = o
	}
	return outs, nil
}

// parseOutput reads one output: "count", or a mapping with one kind key and
// an optional label.
func parseOutput(n *yaml.Node, path string) (*cohortv1.Output, error) {
	if n.Kind == yaml.ScalarNode {
		if n.Tag == "!!str" && n.Value == "count" {
			return &cohortv1.Output{Kind: cohortv1.OutputKind_OUTPUT_KIND_COUNT}, nil
		}
		if n.Tag == "!!str" && OutputKindByName(n.Value) != cohortv1.OutputKind_OUTPUT_KIND_UNSPECIFIED {
			return nil, specError(n, path, "%s needs its fields: write {%s: …}", n.Value, n.Value)
		}
		return nil, specError(n, path, "%q is not an output (want one of %s)", truncateName(n.Value), kindNames())
	}
	if n.Kind != yaml.MappingNode {
		return nil, specError(n, path, "want an output such as count or {mean: FIELD}")
	}
	allowed := []string{"label"}
	for _, k := range outputKinds {
		allowed = append(allowed, k.name)
	}
	m, err := mapping(n, path, allowed...)
	if err != nil {
		return nil, err
	}
	o := new(cohortv1.Output)
	var kindKey string
	var value *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Value == "label" {
			continue
		}
		if kindKey != "" {
			return nil, specError(k, path, "one output per list entry: %s and %s", kindKey, k.Value)
		}
		kindKey, value = k.Value, n.Content[i+1]
	}
	if kindKey == "" {
		return nil, specError(n, path, "no output kind (want one of %s)", kindNames())
	}
	o.Kind = OutputKindByName(kindKey)
	if l, ok := m["label"]; ok {
		if o.Label, err = str(l, path+".label"); err != nil {
			return nil, err
		}
		if len(o.Label) > enclave.MaxLabelLen {
			return nil, specError(l, path+".label", "%d bytes, at most %d", len(o.Label), enclave.MaxLabelLen)
		}
	}
	at := path + "." + kindKey
	switch o.Kind {
	case cohortv1.OutputKind_OUTPUT_KIND_COUNT:
		empty := value.Kind == yaml.ScalarNode && value.Tag == "!!null" ||
			value.Kind == yaml.MappingNode && len(value.Content) == 0
		if !empty {
			return nil, specError(value, at, "count takes no field")
		}
	case cohortv1.OutputKind_OUTPUT_KIND_SUM, cohortv1.OutputKind_OUTPUT_KIND_MEAN,
		cohortv1.OutputKind_OUTPUT_KIND_VARIANCE, cohortv1.OutputKind_OUTPUT_KIND_STDDEV,
		cohortv1.OutputKind_OUTPUT_KIND_HISTOGRAM:
		f, err := str(value, at)
		if err != nil {
			return nil, err
		}
		o.Fields = []string{f}
	case cohortv1.OutputKind_OUTPUT_KIND_COVARIANCE, cohortv1.OutputKind_OUTPUT_KIND_CORRELATION:
		if o.Fields, err = strList(value, at); err != nil {
			return nil, err
		}
		if len(o.Fields) < 2 {
			return nil, specError(value, at, "%s needs at least two fields", kindKey)
		}
	default: // a regression
		r, err := mapping(value, at, "target", "features", "ridge")
		if err != nil {
			return nil, err
		}
		t, err := required(r, value, at, "target")
		if err != nil {
			return nil, err
		}
		if o.Target, err = str(t, at+".target"); err != nil {
			return nil, err
		}
		fs, err := required(r, value, at, "features")
		if err != nil {
			return nil, err
		}
		if o.Features, err = strList(fs, at+".features"); err != nil {
			return nil, err
		}
		if len(o.Features) == 0 {
			return nil, specError(fs, at+".features", "a regression needs at least one feature")
		}
		if rn, ok := r["ridge"]; ok {
			if o.RidgeLambda, err = ridgeValue(rn, at+".ridge"); err != nil {
				return nil, err
			}
		}
	}
	return o, nil
}

// OutputKindByName returns the kind of a YAML output name, or UNSPECIFIED.
func OutputKindByName(name string) cohortv1.OutputKind {
	for _, o := range outputKinds {
		if o.name == name {
			return o.kind
		}
	}
	return cohortv1.OutputKind_OUTPUT_KIND_UNSPECIFIED
}

// checkPlain refuses aliases, anchors' uses and documents nested deeper
// than any spec needs.
func checkPlain(n *yaml.Node, path string, depth int) error {
	if depth > maxSpecDepth {
		return specError(n, path, "nested too deeply")
	}
	if n.Kind == yaml.AliasNode {
		return specError(n, path, "YAML aliases are not accepted in a job spec")
	}
	for _, c := range n.Content {
		if err := checkPlain(c, path, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// mapping returns the entries of a mapping node by key, refusing keys not
// in allowed and repeated keys.
func mapping(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		what := "a mapping"
		if path == "" {
			what = "a mapping with dataset, epoch, purpose and outputs"
		}
		return nil, specError(n, path, "want %s", what)
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return nil, specError(k, path, "keys must be plain names")
		}
		known := false
		for _, a := range allowed {
			known = known || a == k.Value
		}
		if !known {
			return nil, specError(k, join(path, k.Value), "unknown key (want %s)", strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, specError(k, join(path, k.Value), "key given twice")
		}
		out[k.Value] = n.Content[i+1]
	}
	return out, nil
}

func join(path, key string) string {
	if path == "" {
		return truncateName(key)
	}
	return path + "." + truncateName(key)
}

func required(m map[string]*yaml.Node, parent *yaml.Node, path, key string) (*yaml.Node, error) {
	n, ok := m[key]
	if !ok {
		return nil, specError(parent, join(path, key), "missing")
	}
	return n, nil
}

// str reads a non-empty scalar that is not null.
func str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", specError(n, path, "want a name")
	}
	if n.Value == "" {
		return "", specError(n, path, "empty")
	}
	return n.Value, nil
}

func strList(n *yaml.Node, path string) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, specError(n, path, "want a list of field names")
	}
	out := make([]string, len(n.Content))
	for i, c := range n.Content {
		s, err := str(c, path+"["+strconv.Itoa(i)+"]")
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// uintValue reads a decimal integer in 0..limit.
func uintValue(n *yaml.Node, path string, limit uint64) (uint64, error) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, specError(n, path, "want a whole number")
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(n.Value, "+"), 10, 64)
	if err != nil || v > limit {
		return 0, specError(n, path, "%s: want a decimal number in 0..%d", truncateName(n.Value), limit)
	}
	return v, nil
}

// ridgeValue reads a finite number ≥ 0.
func ridgeValue(n *yaml.Node, path string) (float64, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		return 0, specError(n, path, "want a number")
	}
	v, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0, specError(n, path, "%s: want a finite number ≥ 0", truncateName(n.Value))
	}
	return v, nil
}

// truncateName cuts a name from the input to 64 bytes for a message.
func truncateName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
