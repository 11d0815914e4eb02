package httpsig

import (
	"fmt"
	"strings"
	"time"

	"github.com/dunglas/httpsfv"
)

// SignatureInput is what one signature covers (RFC 9421 §2.3, §4.1): the
// component identifiers in order and the signature parameters (created,
// expires, nonce, alg, keyid, tag, …) in order. Params may be nil for none.
type SignatureInput struct {
	Components []Component
	Params     *httpsfv.Params
}

// Base builds the signature base of m for in (RFC 9421 §2.5): one line
// `identifier: value` per covered component, in order, then the
// "@signature-params" line, which is in serialized. It fails with
// [ErrComponent] when a component is listed twice, is "@signature-params", or
// cannot be taken from m.
func Base(m Message, in SignatureInput) ([]byte, error) {
	params, err := in.Serialize()
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	seen := make(map[string]bool, len(in.Components))
	for _, c := range in.Components {
		id := c.String()
		if seen[id] {
			return nil, fmt.Errorf("%w: %s covered twice", ErrComponent, id)
		}
		seen[id] = true
		if c.Name == "@signature-params" {
			return nil, fmt.Errorf("%w: @signature-params cannot be covered", ErrComponent)
		}
		v, err := m.value(c)
		if err != nil {
			return nil, err
		}
		b.WriteString(id)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	b.WriteString(`"@signature-params": `)
	b.WriteString(params)
	return []byte(b.String()), nil
}

// Serialize returns in as an RFC 8941 inner list with parameters: the value
// of the "@signature-params" line and of the Signature-Input member.
func (in SignatureInput) Serialize() (string, error) {
	s, err := httpsfv.Marshal(in.innerList())
	if err != nil {
		return "", fmt.Errorf("%w: serializing signature input: %v", ErrMalformed, err)
	}
	return s, nil
}

func (in SignatureInput) innerList() httpsfv.InnerList {
	items := make([]httpsfv.Item, len(in.Components))
	for i, c := range in.Components {
		items[i] = c.item()
	}
	p := in.Params
	if p == nil {
		p = httpsfv.NewParams()
	}
	return httpsfv.InnerList{Items: items, Params: p}
}

// Covers reports whether in covers the component name without parameters.
func (in SignatureInput) Covers(name string) bool {
	for _, c := range in.Components {
		if c.Name == name && (c.Params == nil || len(c.Params.Names()) == 0) {
			return true
		}
	}
	return false
}

// Created returns the created parameter, if present.
func (in SignatureInput) Created() (time.Time, bool) { return in.timeParam("created") }

// Expires returns the expires parameter, if present.
func (in SignatureInput) Expires() (time.Time, bool) { return in.timeParam("expires") }

// KeyID returns the keyid parameter, if present.
func (in SignatureInput) KeyID() (string, bool) { return in.stringParam("keyid") }

// Nonce returns the nonce parameter, if present.
func (in SignatureInput) Nonce() (string, bool) { return in.stringParam("nonce") }

// Alg returns the alg parameter, if present.
func (in SignatureInput) Alg() (string, bool) { return in.stringParam("alg") }

// Tag returns the tag parameter, if present.
func (in SignatureInput) Tag() (string, bool) { return in.stringParam("tag") }

func (in SignatureInput) stringParam(name string) (string, bool) {
	if in.Params == nil {
		return "", false
	}
	v, ok := in.Params.Get(name)
	s, isString := v.(string)
	return s, ok && isString
}

func (in SignatureInput) timeParam(name string) (time.Time, bool) {
	if in.Params == nil {
		return time.Time{}, false
	}
	v, ok := in.Params.Get(name)
	n, isInt := v.(int64)
	if !ok || !isInt {
		return time.Time{}, false
	}
	return time.Unix(n, 0), true
}

// signatureParamTypes are the types RFC 9421 §2.3 gives the parameters it
// defines; other parameters are kept and serialized but not interpreted.
var signatureParamTypes = map[string]string{
	"created": "an integer",
	"expires": "an integer",
	"nonce":   "a string",
	"alg":     "a string",
	"keyid":   "a string",
	"tag":     "a string",
}

// checkParamTypes refuses a defined parameter of the wrong type, so that the
// accessors never silently report a present parameter as absent.
func (in SignatureInput) checkParamTypes() error {
	if in.Params == nil {
		return nil
	}
	for _, k := range in.Params.Names() {
		want, defined := signatureParamTypes[k]
		if !defined {
			continue
		}
		v, _ := in.Params.Get(k)
		ok := false
		switch want {
		case "an integer":
			_, ok = v.(int64)
		case "a string":
			_, ok = v.(string)
		}
		if !ok {
			return fmt.Errorf("%w: parameter %s must be %s", ErrMalformed, k, want)
		}
	}
	return nil
}
