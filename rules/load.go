package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// maxFileSize bounds a rules file: rules are written by people.
const maxFileSize = 1 << 20

// Parse decodes a rules file: JSON when it starts with '{', YAML
// otherwise. Decoding is strict: an unknown field, a second document or
// trailing data is an error, so a misspelt key never silently drops a
// rule. Parse does not compile the rules: pass the result to [New].
func Parse(data []byte) (Definition, error) {
	var def Definition
	if len(data) > maxFileSize {
		return def, fmt.Errorf("rules: file larger than %d bytes", maxFileSize)
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&def); err != nil {
			return Definition{}, fmt.Errorf("rules: %w", err)
		}
		if dec.More() {
			return Definition{}, errors.New("rules: trailing data after the JSON object")
		}
		return def, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&def); err != nil {
		if errors.Is(err, io.EOF) {
			return Definition{}, errors.New("rules: empty file")
		}
		return Definition{}, fmt.Errorf("rules: %w", err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return Definition{}, errors.New("rules: more than one YAML document")
	}
	return def, nil
}

// Load reads and parses the rules file at path and compiles it.
func Load(path string, opts Options) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	def, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return New(def, opts)
}
