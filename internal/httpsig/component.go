package httpsig

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/dunglas/httpsfv"
)

// Component is one covered component identifier (RFC 9421 §2): a derived
// component name such as "@path" or a lowercase HTTP field name, with its
// parameters (sf, key, bs, name) in the order they were written. Params may be
// nil for none.
type Component struct {
	Name   string
	Params *httpsfv.Params
}

// ParseComponent parses one serialized component identifier, such as
// `"@query-param";name="id"` or `"example-dict";key="a"`.
func ParseComponent(s string) (Component, error) {
	item, err := httpsfv.UnmarshalItem([]string{s})
	if err != nil {
		return Component{}, fmt.Errorf("%w: component identifier: %v", ErrMalformed, err)
	}
	return componentFromItem(item)
}

// String returns the serialized identifier, as it appears in a signature base
// and in Signature-Input.
func (c Component) String() string {
	s, err := httpsfv.Marshal(c.item())
	if err != nil {
		// Only a Component built by hand with an invalid parameter gets here.
		return strconv.Quote(c.Name)
	}
	return s
}

func (c Component) item() httpsfv.Item {
	p := c.Params
	if p == nil {
		p = httpsfv.NewParams()
	}
	return httpsfv.Item{Value: c.Name, Params: p}
}

// componentFromItem checks the shape RFC 9421 §2 gives identifiers: a
// non-empty string, lowercase for fields.
func componentFromItem(item httpsfv.Item) (Component, error) {
	name, ok := item.Value.(string)
	if !ok || name == "" {
		return Component{}, fmt.Errorf("%w: component identifier is not a non-empty string", ErrMalformed)
	}
	if !strings.HasPrefix(name, "@") && strings.ToLower(name) != name {
		return Component{}, fmt.Errorf("%w: field name %q is not lowercase", ErrMalformed, name)
	}
	return Component{Name: name, Params: item.Params}, nil
}

// componentParams are a Component's parameters, checked and decoded.
type componentParams struct {
	sf, bs   bool
	key      string
	hasKey   bool
	name     string
	hasName  bool
	req, tr  bool
	unknowns []string
}

func (c Component) params() (componentParams, error) {
	var cp componentParams
	if c.Params == nil {
		return cp, nil
	}
	for _, k := range c.Params.Names() {
		v, _ := c.Params.Get(k)
		switch k {
		case "sf", "bs", "req", "tr":
			if v != true {
				return cp, fmt.Errorf("%w: %s: parameter %s must be a bare flag", ErrComponent, c, k)
			}
			switch k {
			case "sf":
				cp.sf = true
			case "bs":
				cp.bs = true
			case "req":
				cp.req = true
			case "tr":
				cp.tr = true
			}
		case "key", "name":
			s, ok := v.(string)
			if !ok {
				return cp, fmt.Errorf("%w: %s: parameter %s must be a string", ErrComponent, c, k)
			}
			if k == "key" {
				cp.key, cp.hasKey = s, true
			} else {
				cp.name, cp.hasName = s, true
			}
		default:
			cp.unknowns = append(cp.unknowns, k)
		}
	}
	switch {
	case len(cp.unknowns) > 0:
		return cp, fmt.Errorf("%w: %s: unknown parameter %s", ErrComponent, c, cp.unknowns[0])
	case cp.req:
		return cp, fmt.Errorf("%w: %s: the req parameter is not supported", ErrComponent, c)
	case cp.tr:
		return cp, fmt.Errorf("%w: %s: the tr parameter is not supported", ErrComponent, c)
	}
	return cp, nil
}

// value returns the component value of c in m (RFC 9421 §2.1, §2.2).
func (m Message) value(c Component) (string, error) {
	cp, err := c.params()
	if err != nil {
		return "", err
	}
	var v string
	if strings.HasPrefix(c.Name, "@") {
		v, err = m.derivedValue(c, cp)
	} else {
		v, err = m.fieldValue(c, cp)
	}
	if err != nil {
		return "", err
	}
	// A line break inside a value would let one component forge the next
	// line of the base.
	if strings.ContainsAny(v, "\r\n") {
		return "", fmt.Errorf("%w: %s: value contains a line break", ErrComponent, c)
	}
	return v, nil
}

func (m Message) derivedValue(c Component, cp componentParams) (string, error) {
	if cp.sf || cp.bs || cp.hasKey {
		return "", fmt.Errorf("%w: %s: sf, bs and key apply to fields only", ErrComponent, c)
	}
	if cp.hasName && c.Name != "@query-param" {
		return "", fmt.Errorf("%w: %s: name applies to @query-param only", ErrComponent, c)
	}
	isResponse := m.Status != 0
	if c.Name == "@status" {
		if !isResponse {
			return "", fmt.Errorf("%w: @status needs a response", ErrComponent)
		}
		if m.Status < 100 || m.Status > 999 {
			return "", fmt.Errorf("%w: status %d is not three digits", ErrComponent, m.Status)
		}
		return strconv.Itoa(m.Status), nil
	}
	if isResponse {
		return "", fmt.Errorf("%w: %s needs a request (the req parameter is not supported)", ErrComponent, c)
	}
	switch c.Name {
	case "@method":
		if m.Method == "" {
			return "", fmt.Errorf("%w: @method: no method", ErrComponent)
		}
		return m.Method, nil
	case "@authority":
		if m.Authority == "" {
			return "", fmt.Errorf("%w: @authority: no authority", ErrComponent)
		}
		return m.Authority, nil
	case "@scheme":
		if m.Scheme == "" {
			return "", fmt.Errorf("%w: @scheme: no scheme", ErrComponent)
		}
		return strings.ToLower(m.Scheme), nil
	case "@target-uri":
		if m.Scheme == "" || m.Authority == "" {
			return "", fmt.Errorf("%w: @target-uri: no scheme or authority", ErrComponent)
		}
		return strings.ToLower(m.Scheme) + "://" + m.Authority + m.requestTarget(), nil
	case "@request-target":
		return m.requestTarget(), nil
	case "@path":
		return m.path(), nil
	case "@query":
		return "?" + m.Query, nil
	case "@query-param":
		if !cp.hasName {
			return "", fmt.Errorf("%w: @query-param needs a name parameter", ErrComponent)
		}
		return m.queryParam(cp.name)
	}
	return "", fmt.Errorf("%w: unknown derived component %s", ErrComponent, c)
}

func (m Message) path() string {
	if m.Path == "" {
		return "/"
	}
	return m.Path
}

// requestTarget is the origin-form request target: path and, when there is
// one, "?" and the query.
func (m Message) requestTarget() string {
	if m.Query == "" {
		return m.path()
	}
	return m.path() + "?" + m.Query
}

// queryParam returns the value of the query parameter whose encoded name is
// name (RFC 9421 §2.2.8). A name that is absent or occurs more than once is
// an error: the RFC forbids signing a repeated parameter on its own.
func (m Message) queryParam(name string) (string, error) {
	var (
		value string
		found int
	)
	for part := range strings.SplitSeq(m.Query, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if formEncode(formDecode(k)) != name {
			continue
		}
		value = formEncode(formDecode(v))
		found++
	}
	switch found {
	case 0:
		return "", fmt.Errorf("%w: query parameter %q absent", ErrComponent, name)
	case 1:
		return value, nil
	}
	return "", fmt.Errorf("%w: query parameter %q occurs %d times", ErrComponent, name, found)
}

// formDecode decodes one application/x-www-form-urlencoded name or value as
// the WHATWG URL standard does: "+" is a space, valid %XX escapes are decoded,
// invalid ones are kept as they are.
func formDecode(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// formEncode percent-encodes every byte outside the WHATWG
// application/x-www-form-urlencoded safe set (ASCII alphanumerics, "*", "-",
// ".", "_"), spaces included, with uppercase hex, as RFC 9421 §2.2.8 asks.
func formEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '*' || c == '-' || c == '.' || c == '_' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// fieldValue returns the value of an HTTP field component (RFC 9421 §2.1):
// every field line's value, trimmed, joined with ", "; or its re-serialized
// structured form (sf), one dictionary member (key), or each line wrapped as
// a byte sequence (bs).
func (m Message) fieldValue(c Component, cp componentParams) (string, error) {
	if cp.hasName {
		return "", fmt.Errorf("%w: %s: name applies to @query-param only", ErrComponent, c)
	}
	if cp.bs && (cp.sf || cp.hasKey) {
		return "", fmt.Errorf("%w: %s: bs cannot be combined with sf or key", ErrComponent, c)
	}
	lines := m.Header.Values(c.Name)
	if len(lines) == 0 {
		return "", fmt.Errorf("%w: field %q absent", ErrComponent, c.Name)
	}
	trimmed := make([]string, len(lines))
	for i, l := range lines {
		trimmed[i] = strings.Trim(l, " \t")
	}
	switch {
	case cp.bs:
		for i, l := range trimmed {
			trimmed[i] = ":" + base64.StdEncoding.EncodeToString([]byte(l)) + ":"
		}
		return strings.Join(trimmed, ", "), nil
	case cp.hasKey:
		return dictionaryMember(c, trimmed, cp.key)
	case cp.sf:
		return m.structuredValue(c, trimmed)
	}
	return strings.Join(trimmed, ", "), nil
}

func dictionaryMember(c Component, lines []string, key string) (string, error) {
	d, err := httpsfv.UnmarshalDictionary(lines)
	if err != nil {
		return "", fmt.Errorf("%w: %s: field is not a dictionary: %v", ErrComponent, c, err)
	}
	member, ok := d.Get(key)
	if !ok {
		return "", fmt.Errorf("%w: %s: no member %q", ErrComponent, c, key)
	}
	var s string
	switch v := member.(type) {
	case httpsfv.Item:
		s, err = httpsfv.Marshal(v)
	case httpsfv.InnerList:
		s, err = httpsfv.Marshal(v)
	default:
		err = fmt.Errorf("unexpected member type %T", member)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrComponent, c, err)
	}
	return s, nil
}

func (m Message) structuredValue(c Component, lines []string) (string, error) {
	t, ok := m.FieldTypes[c.Name]
	if !ok {
		t, ok = knownFieldTypes[c.Name]
	}
	if !ok {
		return "", fmt.Errorf("%w: %s: structured type of the field is unknown", ErrComponent, c)
	}
	var (
		s   string
		err error
	)
	switch t {
	case FieldDictionary:
		var d *httpsfv.Dictionary
		if d, err = httpsfv.UnmarshalDictionary(lines); err == nil {
			s, err = httpsfv.Marshal(d)
		}
	case FieldList:
		var l httpsfv.List
		if l, err = httpsfv.UnmarshalList(lines); err == nil {
			s, err = httpsfv.Marshal(l)
		}
	case FieldItem:
		var it httpsfv.Item
		if it, err = httpsfv.UnmarshalItem(lines); err == nil {
			s, err = httpsfv.Marshal(it)
		}
	default:
		err = fmt.Errorf("invalid FieldType %d", t)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrComponent, c, err)
	}
	return s, nil
}
