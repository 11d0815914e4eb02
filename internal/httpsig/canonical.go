package httpsig

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The canonical form: what Sign writes, and what a device that signs as it
// does sends. A request whose Signature-Input and Signature are each one
// line with one member, serialized exactly as RFC 8941 serializes it, with
// components without parameters and only the parameters RFC 9421 defines,
// is read here in one pass with no structured-field library: the inner
// list as received is then its own serialization, the "@signature-params"
// line of the base. Everything else goes the general way (ParseSignatures,
// Base), with the same verdict: canonical input is a subset the general
// parser reads to the same values (FuzzCanonicalAgreesWithGeneral).

// maxCanonicalComponents bounds the components the canonical path reads;
// a longer list goes the general way.
const maxCanonicalComponents = 8

// canonicalSignature is one deviceauth signature in canonical form.
type canonicalSignature struct {
	label      string
	components [maxCanonicalComponents]string
	n          int
	// params is the serialized inner list with its parameters.
	params string
	paramValues
	alg, tag       string
	hasAlg, hasTag bool
	value          []byte
}

// paramValues are the signature parameters the profile's policy reads.
type paramValues struct {
	created, expires       int64
	hasCreated, hasExpires bool
	keyID, nonce           string
	hasKeyID, hasNonce     bool
}

// paramField is where parseCanonical puts one parameter: an integer (num)
// or a string (str).
type paramField struct {
	key  string
	num  *int64
	str  *string
	have *bool
}

// parseCanonical reads h's Signature-Input and Signature when they are in
// canonical form with tag="deviceauth"; ok is false otherwise.
func parseCanonical(h http.Header) (s canonicalSignature, ok bool) {
	inputs, values := h["Signature-Input"], h["Signature"]
	if len(inputs) != 1 || len(values) != 1 {
		return s, false
	}
	line := inputs[0]
	eq := strings.IndexByte(line, '=')
	if eq < 0 || !isKey(line[:eq]) {
		return s, false
	}
	s.label, s.params = line[:eq], line[eq+1:]
	p := s.params
	if len(p) < 2 || p[0] != '(' {
		return s, false
	}
	i := 1
	for p[i] != ')' {
		if s.n > 0 {
			if p[i] != ' ' {
				return s, false
			}
			i++
		}
		if s.n == maxCanonicalComponents || i >= len(p) || p[i] != '"' {
			return s, false
		}
		end := i + 1
		for end < len(p) && isComponentChar(p[end]) {
			end++
		}
		if end == i+1 || end >= len(p) || p[end] != '"' {
			return s, false
		}
		name := p[i+1 : end]
		if name == "@signature-params" {
			return s, false
		}
		for _, seen := range s.components[:s.n] {
			if seen == name {
				return s, false
			}
		}
		s.components[s.n] = name
		s.n++
		i = end + 1
		if i >= len(p) {
			return s, false
		}
	}
	i++ // ')'
	fields := [...]paramField{
		{key: "created", num: &s.created, have: &s.hasCreated}, {key: "expires", num: &s.expires, have: &s.hasExpires},
		{key: "keyid", str: &s.keyID, have: &s.hasKeyID}, {key: "nonce", str: &s.nonce, have: &s.hasNonce},
		{key: "alg", str: &s.alg, have: &s.hasAlg}, {key: "tag", str: &s.tag, have: &s.hasTag},
	}
	for i < len(p) {
		if p[i] != ';' {
			return s, false
		}
		i++
		eq := strings.IndexByte(p[i:], '=')
		if eq < 0 {
			return s, false
		}
		key := p[i : i+eq]
		i += eq + 1
		var f *paramField
		for j := range fields {
			if fields[j].key == key {
				f = &fields[j]
			}
		}
		if f == nil || *f.have {
			return s, false // unknown (kept by the general parser), or repeated (serialized once)
		}
		var okItem bool
		if f.num != nil {
			*f.num, i, okItem = canonicalInteger(p, i)
		} else {
			*f.str, i, okItem = canonicalToken(p, i)
		}
		if !okItem {
			return s, false
		}
		*f.have = true
	}
	if !s.hasTag || s.tag != ProfileTag {
		return s, false
	}
	v := values[0]
	if len(v) < len(s.label)+3 || v[:len(s.label)] != s.label || v[len(s.label)] != '=' ||
		v[len(s.label)+1] != ':' || v[len(v)-1] != ':' {
		return s, false
	}
	b64 := v[len(s.label)+2 : len(v)-1]
	for j := 0; j < len(b64); j++ {
		if c := b64[j]; !isAlnum(c) && c != '+' && c != '/' && c != '=' {
			return s, false
		}
	}
	var err error
	if s.value, err = base64.StdEncoding.DecodeString(b64); err != nil {
		return s, false
	}
	return s, true
}

// covers reports whether s covers component name.
func (s *canonicalSignature) covers(name string) bool {
	for _, c := range s.components[:s.n] {
		if c == name {
			return true
		}
	}
	return false
}

// appendBase appends the signature base of m for components and the
// serialized inner list params (RFC 9421 §2.5), as Base builds it for
// components without parameters.
func appendBase(b []byte, m Message, components []string, params string) ([]byte, error) {
	for _, name := range components {
		v, err := m.value(Component{Name: name})
		if err != nil {
			return nil, err
		}
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, `": `...)
		b = append(b, v...)
		b = append(b, '\n')
	}
	b = append(b, `"@signature-params": `...)
	return append(b, params...), nil
}

// canonicalInputs returns the serialized inner list Sign writes: the
// components, then created, keyid, nonce, alg and tag.
func canonicalInputs(components []string, created int64, keyID, nonce, alg string) string {
	b := make([]byte, 0, 160)
	b = append(b, '(')
	for i, c := range components {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, '"')
		b = append(b, c...)
		b = append(b, '"')
	}
	b = append(b, ");created="...)
	b = strconv.AppendInt(b, created, 10)
	for _, kv := range [...][2]string{{"keyid", keyID}, {"nonce", nonce}, {"alg", alg}, {"tag", ProfileTag}} {
		b = append(b, ';')
		b = append(b, kv[0]...)
		b = append(b, `="`...)
		b = append(b, kv[1]...)
		b = append(b, '"')
	}
	return string(b)
}

// canonicalInteger reads an RFC 8941 integer as it is serialized (no
// leading zeros, at most 15 digits) from p at i.
func canonicalInteger(p string, i int) (int64, int, bool) {
	start := i
	if i < len(p) && p[i] == '-' {
		i++
	}
	digits := i
	for i < len(p) && '0' <= p[i] && p[i] <= '9' {
		i++
	}
	switch n := i - digits; {
	case n == 0 || n > 15, n > 1 && p[digits] == '0', n == 1 && p[digits] == '0' && digits > start:
		return 0, i, false
	}
	v, err := strconv.ParseInt(p[start:i], 10, 64)
	return v, i, err == nil
}

// canonicalToken reads an RFC 8941 string of [A-Za-z0-9_.:-] characters
// (none that serialization escapes) from p at i.
func canonicalToken(p string, i int) (string, int, bool) {
	if i >= len(p) || p[i] != '"' {
		return "", i, false
	}
	end := i + 1
	for end < len(p) && (isAlnum(p[end]) || p[end] == '_' || p[end] == '-' || p[end] == '.' || p[end] == ':') {
		end++
	}
	if end >= len(p) || p[end] != '"' {
		return "", i, false
	}
	return p[i+1 : end], end + 1, true
}

// isKey reports whether k is an RFC 8941 key: lcalpha or "*", then
// lcalpha, digits, "_", "-", "." or "*".
func isKey(k string) bool {
	if k == "" || !('a' <= k[0] && k[0] <= 'z' || k[0] == '*') {
		return false
	}
	for i := 1; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '*') {
			return false
		}
	}
	return true
}

// isComponentChar reports whether c may appear in a component name read
// in canonical form: lowercase field-name characters and "@".
func isComponentChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@'
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// general returns s as the general parser reads it, for the paths that
// need a Signature (explaining a failure).
func (s *canonicalSignature) general(h http.Header) (Signature, error) {
	sig, err := selectProfileSignature(h)
	if err != nil {
		return Signature{}, fmt.Errorf("httpsig: canonical signature does not parse generally: %w", err)
	}
	return sig, nil
}
