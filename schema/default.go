package schema

import (
	_ "embed"
	"slices"
	"sync"
)

//go:embed fitness.yaml
var fitnessYAML []byte

var defaultSchema = sync.OnceValue(func() *Schema {
	s, err := Parse(fitnessYAML)
	if err != nil {
		panic("schema: embedded fitness.yaml is invalid: " + err.Error()) // fixed at build time; covered by tests
	}
	return s
})

// Default returns the demo schema "fitness-2026" embedded in the package
// (fitness.yaml). Each call returns a fresh copy.
func Default() *Schema {
	return defaultSchema().Clone()
}

// DefaultYAML returns the YAML text of the demo schema.
func DefaultYAML() []byte {
	return slices.Clone(fitnessYAML)
}

// Clone returns a deep copy of s.
func (s *Schema) Clone() *Schema {
	c := *s
	c.Fields = make([]Field, len(s.Fields))
	for i, f := range s.Fields {
		f.Values = slices.Clone(f.Values)
		c.Fields[i] = f
	}
	c.Moments = slices.Clone(s.Moments)
	c.Purposes = slices.Clone(s.Purposes)
	return &c
}
