package httpsig

import (
	"fmt"
	"net/http"

	"github.com/dunglas/httpsfv"
)

// Signature is one labelled signature of a message: its Signature-Input
// member and the bytes of its Signature member.
type Signature struct {
	Label string
	Input SignatureInput
	// Value is nil when the Signature field has no member for Label.
	Value []byte
}

// ParseSignatures parses the Signature-Input and Signature fields of h
// (RFC 9421 §4) and returns the signatures in Signature-Input order. It fails
// with [ErrMissingSignature] when there is no Signature-Input field, and with
// [ErrMalformed] when either field is not a dictionary, a Signature-Input
// member is not an inner list of component identifiers, a parameter it
// defines has the wrong type, or a Signature member is not a byte sequence.
// Signature members without a Signature-Input member are ignored.
func ParseSignatures(h http.Header) ([]Signature, error) {
	inputLines := h.Values("Signature-Input")
	if len(inputLines) == 0 {
		return nil, fmt.Errorf("%w: no Signature-Input field", ErrMissingSignature)
	}
	inputs, err := httpsfv.UnmarshalDictionary(inputLines)
	if err != nil {
		return nil, fmt.Errorf("%w: Signature-Input: %v", ErrMalformed, err)
	}
	values := httpsfv.NewDictionary()
	if lines := h.Values("Signature"); len(lines) > 0 {
		if values, err = httpsfv.UnmarshalDictionary(lines); err != nil {
			return nil, fmt.Errorf("%w: Signature: %v", ErrMalformed, err)
		}
	}
	sigs := make([]Signature, 0, len(inputs.Names()))
	for _, label := range inputs.Names() {
		member, _ := inputs.Get(label)
		in, err := signatureInputFromMember(member)
		if err != nil {
			return nil, fmt.Errorf("%w (label %q)", err, label)
		}
		s := Signature{Label: label, Input: in}
		if v, ok := values.Get(label); ok {
			item, isItem := v.(httpsfv.Item)
			b, isBytes := item.Value.([]byte)
			if !isItem || !isBytes {
				return nil, fmt.Errorf("%w: Signature member %q is not a byte sequence", ErrMalformed, label)
			}
			s.Value = b
			if s.Value == nil {
				s.Value = []byte{}
			}
		}
		sigs = append(sigs, s)
	}
	return sigs, nil
}

func signatureInputFromMember(member httpsfv.Member) (SignatureInput, error) {
	list, ok := member.(httpsfv.InnerList)
	if !ok {
		return SignatureInput{}, fmt.Errorf("%w: Signature-Input member is not an inner list", ErrMalformed)
	}
	in := SignatureInput{Params: list.Params, Components: make([]Component, len(list.Items))}
	for i, item := range list.Items {
		c, err := componentFromItem(item)
		if err != nil {
			return SignatureInput{}, err
		}
		in.Components[i] = c
	}
	if err := in.checkParamTypes(); err != nil {
		return SignatureInput{}, err
	}
	return in, nil
}

// AddSignature writes s into the Signature-Input and Signature fields of h,
// keeping the members already there and replacing any with the same label.
// h must not be nil. It fails with [ErrMalformed] when an existing field does
// not parse or the label is not a valid dictionary key.
func AddSignature(h http.Header, s Signature) error {
	if err := checkLabel(s.Label); err != nil {
		return err
	}
	inputs, err := dictionaryOf(h, "Signature-Input")
	if err != nil {
		return err
	}
	values, err := dictionaryOf(h, "Signature")
	if err != nil {
		return err
	}
	inputs.Add(s.Label, s.Input.innerList())
	values.Add(s.Label, httpsfv.NewItem(s.Value))
	in, err := httpsfv.Marshal(inputs)
	if err != nil {
		return fmt.Errorf("%w: Signature-Input: %v", ErrMalformed, err)
	}
	sig, err := httpsfv.Marshal(values)
	if err != nil {
		return fmt.Errorf("%w: Signature: %v", ErrMalformed, err)
	}
	h.Set("Signature-Input", in)
	h.Set("Signature", sig)
	return nil
}

// checkLabel checks that label is a valid RFC 8941 dictionary key.
func checkLabel(label string) error {
	d := httpsfv.NewDictionary()
	d.Add(label, httpsfv.NewItem(true))
	if _, err := httpsfv.Marshal(d); err != nil || label == "" {
		return fmt.Errorf("%w: label %q is not a valid dictionary key", ErrMalformed, label)
	}
	return nil
}

func dictionaryOf(h http.Header, field string) (*httpsfv.Dictionary, error) {
	lines := h.Values(field)
	if len(lines) == 0 {
		return httpsfv.NewDictionary(), nil
	}
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return nil, fmt.Errorf("%w: existing %s: %v", ErrMalformed, field, err)
	}
	return d, nil
}
