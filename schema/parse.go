package schema

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// rawSchema is the YAML form, decoded with unknown keys refused.
type rawSchema struct {
	ID        string     `yaml:"id"`
	Fields    []rawField `yaml:"fields"`
	Moments   []string   `yaml:"moments"`
	Purposes  []string   `yaml:"purposes"`
	Epoch     string     `yaml:"epoch"`
	MinCohort *int64     `yaml:"min_cohort"`
	MaxCohort *int64     `yaml:"max_cohort"`
}

// rawField keeps min and max as YAML nodes so that their literal text is
// parsed exactly, never through float64.
type rawField struct {
	Name     string    `yaml:"name"`
	Type     string    `yaml:"type"`
	Min      yaml.Node `yaml:"min"`
	Max      yaml.Node `yaml:"max"`
	Decimals *int      `yaml:"decimals"`
	Values   []string  `yaml:"values"`
}

// Load reads and parses the schema file at path (see Parse).
func Load(path string) (*Schema, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSchemaBytes+1))
	if err != nil {
		return nil, fmt.Errorf("schema: read %s: %w", path, err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse decodes a YAML schema, refusing unknown keys, repeated keys, a second
// YAML document and inputs over MaxSchemaBytes, and validates it (see
// Validate). Numbers in min and max are parsed exactly from their decimal
// text. Every error wraps ErrInvalidSchema; errors about one key or field are
// *FieldError values naming it and its line.
func Parse(data []byte) (s *Schema, err error) {
	if len(data) > MaxSchemaBytes {
		return nil, fmt.Errorf("schema: %w: input is %d bytes, at most %d", ErrInvalidSchema, len(data), MaxSchemaBytes)
	}
	// The YAML library is third-party code fed with outside bytes; a panic
	// inside it must not take the caller down.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("schema: %w: YAML decoder failed: %v", ErrInvalidSchema, r)
		}
	}()

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("schema: %w: empty document", ErrInvalidSchema)
		}
		return nil, yamlError(err, nil)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("schema: %w: more than one YAML document", ErrInvalidSchema)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}

	var raw rawSchema
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&raw); err != nil {
		return nil, yamlError(err, root)
	}
	lines := newLineIndex(root)
	s, err = raw.convert(lines)
	if err != nil {
		return nil, err
	}
	if err := s.validate(lines); err != nil {
		return nil, err
	}
	return s, nil
}

// convert turns the raw YAML form into a Schema, checking what only the YAML
// form can get wrong (presence of keys, number syntax, names of types).
func (r *rawSchema) convert(lines *lineIndex) (*Schema, error) {
	bad := func(field string, line int, format string, args ...any) error {
		return &FieldError{Field: field, Line: line, Err: ErrInvalidSchema, Msg: fmt.Sprintf(format, args...)}
	}
	s := &Schema{
		ID:        r.ID,
		Moments:   nonEmpty(r.Moments),
		Purposes:  nonEmpty(r.Purposes),
		MaxCohort: DefaultMaxCohort,
	}
	for i, rf := range r.Fields {
		f, err := rf.convert(i, lines)
		if err != nil {
			return nil, err
		}
		s.Fields = append(s.Fields, f)
	}
	if r.Epoch == "" {
		return nil, bad("epoch", lines.key("epoch"), "required")
	}
	p, err := ParseEpochPeriod(r.Epoch)
	if err != nil {
		return nil, bad("epoch", lines.key("epoch"), "%v", err)
	}
	s.Epoch = p
	switch {
	case r.MinCohort == nil:
		return nil, bad("min_cohort", lines.key("min_cohort"), "required")
	case *r.MinCohort < 1:
		return nil, bad("min_cohort", lines.key("min_cohort"), "%d: must be at least 1", *r.MinCohort)
	case *r.MinCohort > math.MaxUint32:
		return nil, bad("min_cohort", lines.key("min_cohort"), "%d: at most %d", *r.MinCohort, uint32(math.MaxUint32))
	}
	s.MinCohort = uint32(*r.MinCohort)
	if r.MaxCohort != nil {
		if *r.MaxCohort < 1 {
			return nil, bad("max_cohort", lines.key("max_cohort"), "%d: must be at least 1", *r.MaxCohort)
		}
		s.MaxCohort = uint64(*r.MaxCohort)
	}
	return s, nil
}

func (rf *rawField) convert(i int, lines *lineIndex) (Field, error) {
	name := rf.Name
	if !isIdentifier(name) {
		name = fmt.Sprintf("fields[%d]", i)
	}
	bad := func(key, format string, args ...any) error {
		return &FieldError{Field: name, Line: lines.field(i, key), Err: ErrInvalidSchema, Msg: fmt.Sprintf(format, args...)}
	}
	f := Field{Name: rf.Name, Values: rf.Values}
	if rf.Type == "" {
		return f, bad("type", "type is required (int, fixed, bool or category)")
	}
	t, err := ParseFieldType(rf.Type)
	if err != nil {
		return f, bad("type", "%v", err)
	}
	f.Type = t
	hasMin, hasMax := rf.Min.Kind != 0, rf.Max.Kind != 0
	switch t {
	case Int, Fixed:
		if t == Int && rf.Decimals != nil {
			return f, bad("decimals", "int takes no decimals (use type fixed)")
		}
		if t == Fixed {
			if rf.Decimals == nil {
				return f, bad("type", "fixed requires decimals (0..%d)", MaxDecimals)
			}
			if *rf.Decimals < 0 || *rf.Decimals > MaxDecimals {
				return f, bad("decimals", "decimals %d outside 0..%d", *rf.Decimals, MaxDecimals)
			}
			f.Decimals = *rf.Decimals
		}
		if !hasMin || !hasMax {
			return f, bad("type", "%s requires min and max", t)
		}
		if f.Min, err = yamlNumber(&rf.Min, f.Decimals); err != nil {
			return f, bad("min", "min %v", err)
		}
		if f.Max, err = yamlNumber(&rf.Max, f.Decimals); err != nil {
			return f, bad("max", "max %v", err)
		}
	case Bool, Category:
		if hasMin || hasMax {
			return f, bad("min", "%s takes no min/max", t)
		}
		if rf.Decimals != nil {
			return f, bad("decimals", "%s takes no decimals", t)
		}
	}
	return f, nil
}

// yamlNumber reads a YAML scalar number in units of 10^-decimals, exactly.
func yamlNumber(n *yaml.Node, decimals int) (int64, error) {
	for hops := 0; n.Kind == yaml.AliasNode && n.Alias != nil && hops < 8; hops++ {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!int" && n.ShortTag() != "!!float") {
		return 0, errors.New("must be a number")
	}
	v, err := parseScaled(n.Value, decimals)
	switch {
	case errors.Is(err, errDecimalSyntax):
		return 0, fmt.Errorf("%q must be a plain decimal number (digits, optional '-' and '.')", n.Value)
	case errors.Is(err, errDecimalScale):
		return 0, fmt.Errorf("%s has more than %d decimals", n.Value, decimals)
	case err != nil:
		return 0, fmt.Errorf("%s: scaled by 10^%d it is outside the 64-bit range", n.Value, decimals)
	}
	return v, nil
}

func nonEmpty(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	return list
}

var (
	yamlLineRE      = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownRE   = regexp.MustCompile(`^field (.*) not found in type \S+$`)
	yamlGoTypeNames = strings.NewReplacer(
		"into []schema.rawField", "into a list of fields",
		"into schema.rawField", "into a field mapping",
		"into schema.rawSchema", "into a schema mapping",
		"into []string", "into a list of strings",
		"into int64", "into an integer",
		"into int", "into an integer",
		"into string", "into a string",
	)
)

// yamlError turns an error of the YAML library into one that names the key
// and line it is about, as far as they can be told.
func yamlError(err error, root *yaml.Node) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return fmt.Errorf("schema: %w: %v", ErrInvalidSchema, err)
	}
	msg := te.Errors[0] // the first one; the others are reported once it is fixed
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("schema: %w: %s", ErrInvalidSchema, msg)
	}
	line, _ := strconv.Atoi(m[1])
	text := m[2]
	if u := yamlUnknownRE.FindStringSubmatch(text); u != nil {
		field := locate(root, line, u[1])
		if field == "" {
			field = u[1]
		}
		return &FieldError{Field: field, Line: line, Err: ErrInvalidSchema, Msg: fmt.Sprintf("unknown key %q", u[1])}
	}
	field := locate(root, line, "")
	if field == "" {
		field = "document"
	}
	return &FieldError{Field: field, Line: line, Err: ErrInvalidSchema, Msg: yamlGoTypeNames.Replace(text)}
}

// locate names the schema entry at a line: the field (by name, or
// fields[i]) or the top-level key. When key is not empty only a mapping key
// with that text matches. It returns "" when nothing matches.
func locate(root *yaml.Node, line int, key string) string {
	if root == nil || root.Kind != yaml.MappingNode {
		return ""
	}
	match := func(k *yaml.Node) bool { return k.Line == line && (key == "" || k.Value == key) }
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "fields" && v.Kind == yaml.SequenceNode {
			for j, item := range v.Content {
				name := fieldEntryName(item, j)
				if item.Kind != yaml.MappingNode {
					if key == "" && containsLine(item, line, 0) {
						return name
					}
					continue
				}
				for x := 0; x+1 < len(item.Content); x += 2 {
					fk, fv := item.Content[x], item.Content[x+1]
					if match(fk) || key == "" && containsLine(fv, line, 0) {
						return name
					}
				}
			}
		}
		if match(k) || key == "" && containsLine(v, line, 0) {
			return k.Value
		}
	}
	return ""
}

func fieldEntryName(item *yaml.Node, i int) string {
	if item.Kind == yaml.MappingNode {
		for x := 0; x+1 < len(item.Content); x += 2 {
			if item.Content[x].Value == "name" && isIdentifier(item.Content[x+1].Value) {
				return item.Content[x+1].Value
			}
		}
	}
	return fmt.Sprintf("fields[%d]", i)
}

func containsLine(n *yaml.Node, line, depth int) bool {
	if n == nil || depth > 64 {
		return false
	}
	if n.Line == line {
		return true
	}
	for _, c := range n.Content {
		if containsLine(c, line, depth+1) {
			return true
		}
	}
	return false
}

// lineIndex records where each part of a schema is in its YAML text, so
// that validation errors can name lines. A nil *lineIndex knows no lines.
type lineIndex struct {
	keys      map[string]int
	fields    []int
	fieldKeys []map[string]int
	lists     map[string][]int
}

func newLineIndex(root *yaml.Node) *lineIndex {
	l := &lineIndex{keys: map[string]int{}, lists: map[string][]int{}}
	if root == nil || root.Kind != yaml.MappingNode {
		return l
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		l.keys[k.Value] = k.Line
		if v.Kind != yaml.SequenceNode {
			continue
		}
		for _, item := range v.Content {
			l.lists[k.Value] = append(l.lists[k.Value], item.Line)
			if k.Value != "fields" {
				continue
			}
			l.fields = append(l.fields, item.Line)
			keys := map[string]int{}
			for x := 0; item.Kind == yaml.MappingNode && x+1 < len(item.Content); x += 2 {
				keys[item.Content[x].Value] = item.Content[x].Line
			}
			l.fieldKeys = append(l.fieldKeys, keys)
		}
	}
	return l
}

// key returns the line of a top-level key.
func (l *lineIndex) key(k string) int {
	if l == nil {
		return 0
	}
	return l.keys[k]
}

// field returns the line of key k of fields[i], or of the entry itself.
func (l *lineIndex) field(i int, k string) int {
	if l == nil || i >= len(l.fields) {
		return 0
	}
	if line, ok := l.fieldKeys[i][k]; ok {
		return line
	}
	return l.fields[i]
}

// item returns the line of entry i of a top-level list.
func (l *lineIndex) item(list string, i int) int {
	if l == nil || i >= len(l.lists[list]) {
		return 0
	}
	return l.lists[list][i]
}
