package schema

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strconv"
)

// Canonical returns the canonical encoding of s: JSON without spaces, keys in
// the fixed order id, fields (name, type, then min, max for int; min, max,
// decimals for fixed; values for category), moments, purposes, epoch,
// min_cohort, max_cohort, with every default written out and min/max as the
// shortest exact decimal in original units. Two valid schemas have the same
// encoding exactly when they are equal. The encoding is itself valid YAML:
// for a valid s, Parse(s.Canonical()) returns a schema equal to s.
func (s *Schema) Canonical() []byte {
	var b bytes.Buffer
	b.WriteString(`{"id":`)
	writeJSONString(&b, s.ID)
	b.WriteString(`,"fields":[`)
	for i, f := range s.Fields {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"name":`)
		writeJSONString(&b, f.Name)
		b.WriteString(`,"type":`)
		writeJSONString(&b, f.Type.String())
		switch f.Type {
		case Int, Fixed:
			b.WriteString(`,"min":`)
			b.WriteString(formatScaled(f.Min, f.Decimals))
			b.WriteString(`,"max":`)
			b.WriteString(formatScaled(f.Max, f.Decimals))
			if f.Type == Fixed {
				b.WriteString(`,"decimals":`)
				b.WriteString(strconv.Itoa(f.Decimals))
			}
		case Category:
			b.WriteString(`,"values":`)
			writeJSONStrings(&b, f.Values)
		}
		b.WriteByte('}')
	}
	b.WriteString(`],"moments":`)
	writeJSONStrings(&b, s.Moments)
	b.WriteString(`,"purposes":`)
	writeJSONStrings(&b, s.Purposes)
	b.WriteString(`,"epoch":`)
	writeJSONString(&b, s.Epoch.String())
	b.WriteString(`,"min_cohort":`)
	b.WriteString(strconv.FormatUint(uint64(s.MinCohort), 10))
	b.WriteString(`,"max_cohort":`)
	b.WriteString(strconv.FormatUint(s.MaxCohort, 10))
	b.WriteByte('}')
	return b.Bytes()
}

// Digest returns SHA-256("cohort/v1/schema" || Canonical()), the identifier
// of the exact schema that travels in dataset descriptors and transcripts.
func (s *Schema) Digest() [32]byte {
	h := sha256.New()
	h.Write([]byte(domainTag))
	h.Write(s.Canonical())
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s) // a string always marshals; invalid UTF-8 becomes U+FFFD
	b.Write(enc)
}

func writeJSONStrings(b *bytes.Buffer, list []string) {
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(b, s)
	}
	b.WriteByte(']')
}
