package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits on details, in bytes of UTF-8 after NFC.
const (
	MaxMessageBytes = 256
	MaxFields       = 20
	MaxLabelBytes   = 36
	MaxValueBytes   = 128
)

// ErrInvalidDetails means details were refused; the error is a *DetailsError that says which
// rule and where.
var ErrInvalidDetails = errors.New("protocol: invalid details")

// Details are what the device shows, as plain text, while the user answers a challenge.
// The zero value (no message, no fields) is valid: a challenge need not carry details.
type Details struct {
	Message string  `json:"message"`
	Fields  []Field `json:"fields"`
}

// Field is one labelled line of Details, such as {"label": "Amount", "value": "€20.00"}.
type Field struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Rules a DetailsError names.
const (
	RuleJSON        = "json"        // not one strict JSON object of the Details shape
	RuleInvalidUTF8 = "invalidUTF8" // a string is not valid UTF-8
	RuleControl     = "control"     // C0 or C1 control, U+0000–001F, U+007F–009F
	RuleBidiControl = "bidiControl" // U+061C, U+200E–200F, U+202A–202E, U+2066–2069
	RuleZeroWidth   = "zeroWidth"   // U+200B–200D, U+2060, U+FEFF
	// RuleInvisible: other characters that show nothing or break lines: U+00AD, U+034F,
	// U+115F–1160, U+17B4–17B5, U+180B–180F, U+2028–2029, U+2061–2064, U+206A–206F,
	// U+3164, U+FFA0, U+FFF9–FFFB, U+1D173–1D17A, U+E0000–E007F. Variation selectors
	// (U+FE00–FE0F), which emoji need, are allowed.
	RuleInvisible     = "invisible"
	RuleTooLong       = "tooLong"       // over MaxMessageBytes, MaxLabelBytes or MaxValueBytes
	RuleTooManyFields = "tooManyFields" // more than MaxFields fields
	RuleEmptyLabel    = "emptyLabel"    // a field without a label
)

// DetailsError says which rule refused details and where. It matches ErrInvalidDetails with
// errors.Is. It never quotes the text of the details, which must not reach logs.
type DetailsError struct {
	Rule  string // one of the Rule constants
	Where string // "message", "fields", "fields[i].label" or "fields[i].value"; "" when the whole JSON input is at fault
	Rune  rune   // the refused character, for RuleControl, RuleBidiControl, RuleZeroWidth and RuleInvisible
	Err   error  // the decoder's error, for RuleJSON
}

// Error names the rule, the place and, for a refused character, its code point.
func (e *DetailsError) Error() string {
	switch e.Rule {
	case RuleJSON:
		return fmt.Sprintf("protocol: invalid details: %v", e.Err)
	case RuleControl, RuleBidiControl, RuleZeroWidth, RuleInvisible:
		return fmt.Sprintf("protocol: invalid details: %s: %s character %U", e.Where, e.Rule, e.Rune)
	}
	if e.Where == "" {
		return "protocol: invalid details: " + e.Rule
	}
	return fmt.Sprintf("protocol: invalid details: %s: %s", e.Where, e.Rule)
}

// Unwrap makes every DetailsError match ErrInvalidDetails.
func (e *DetailsError) Unwrap() error { return ErrInvalidDetails }

// NormalizeDetails applies NFC to every string and enforces docs/protocol.md: invalid UTF-8, C0 and
// C1 controls, bidi controls and zero-width characters are refused; the message is at most
// MaxMessageBytes, there are at most MaxFields fields, each label at most MaxLabelBytes and
// each value at most MaxValueBytes, measured after NFC. A label may not be empty (a value
// may). Nothing is trimmed or replaced: what passes is shown exactly as it is. The result's
// Fields is never nil. The error is a *DetailsError for the first rule broken.
func NormalizeDetails(d Details) (Details, error) {
	if len(d.Fields) > MaxFields {
		return Details{}, &DetailsError{Rule: RuleTooManyFields, Where: "fields"}
	}
	msg, err := normalizeText(d.Message, MaxMessageBytes)
	if err != nil {
		err.Where = "message"
		return Details{}, err
	}
	out := Details{Message: msg, Fields: make([]Field, len(d.Fields))}
	for i, f := range d.Fields {
		// Where is named only on a refusal: the path of a good request
		// formats nothing.
		if out.Fields[i].Label, err = normalizeText(f.Label, MaxLabelBytes); err != nil {
			err.Where = fmt.Sprintf("fields[%d].label", i)
			return Details{}, err
		}
		if out.Fields[i].Label == "" {
			return Details{}, &DetailsError{Rule: RuleEmptyLabel, Where: fmt.Sprintf("fields[%d].label", i)}
		}
		if out.Fields[i].Value, err = normalizeText(f.Value, MaxValueBytes); err != nil {
			err.Where = fmt.Sprintf("fields[%d].value", i)
			return Details{}, err
		}
	}
	return out, nil
}

// normalizeText returns the NFC form of s after checking it against the rules of §4. The
// characters are checked after NFC, on what the device will show. The caller sets the
// error's Where.
func normalizeText(s string, maxBytes int) (string, *DetailsError) {
	if !utf8.ValidString(s) {
		return "", &DetailsError{Rule: RuleInvalidUTF8}
	}
	s = norm.NFC.String(s)
	for _, r := range s {
		if rule := refusedRule(r); rule != "" {
			return "", &DetailsError{Rule: rule, Rune: r}
		}
	}
	if len(s) > maxBytes {
		return "", &DetailsError{Rule: RuleTooLong}
	}
	return s, nil
}

// ContextText makes text a browser supplied about itself (its user agent, its origin) fit to
// show on a device beside the details. Unlike details it is never refused — the browser, not
// the application, wrote it — but filtered by the same rules: after NFC, every run of
// characters NormalizeDetails refuses (and of invalid UTF-8) becomes one U+FFFD, so nothing
// hidden, reordered or split reaches the screen and the user sees that something was there.
// The result is cut to at most maxBytes on a character boundary (never inside a character
// or between a character and its combining marks).
func ContextText(s string, maxBytes int) string {
	s = norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD"))
	var b strings.Builder
	replaced := false
	for _, r := range s {
		if refusedRule(r) != "" || r == utf8.RuneError {
			if !replaced {
				b.WriteRune(utf8.RuneError)
			}
			replaced = true
			continue
		}
		replaced = false
		b.WriteRune(r)
	}
	s = b.String()
	if len(s) <= maxBytes {
		return s
	}
	n := maxBytes // back to a rune that starts a character: not inside one, nor a combining mark
	for n > 0 && (!utf8.RuneStart(s[n]) || !norm.NFC.PropertiesString(s[n:]).BoundaryBefore()) {
		n--
	}
	return s[:n]
}

// refusedRule names the rule that refuses r, or "" when r may be shown. Controls,
// zero-width and other invisible characters can hide, split or reorder text on the
// device's screen.
func refusedRule(r rune) string {
	switch {
	case r <= 0x1f, 0x7f <= r && r <= 0x9f:
		return RuleControl
	case r == 0x061c, r == 0x200e, r == 0x200f, 0x202a <= r && r <= 0x202e, 0x2066 <= r && r <= 0x2069:
		return RuleBidiControl
	case 0x200b <= r && r <= 0x200d, r == 0x2060, r == 0xfeff:
		return RuleZeroWidth
	case r == 0x00ad, r == 0x034f, r == 0x115f, r == 0x1160, r == 0x17b4, r == 0x17b5,
		0x180b <= r && r <= 0x180f, r == 0x2028, r == 0x2029, 0x2061 <= r && r <= 0x2064,
		0x206a <= r && r <= 0x206f, r == 0x3164, r == 0xffa0, 0xfff9 <= r && r <= 0xfffb,
		0x1d173 <= r && r <= 0x1d17a, 0xe0000 <= r && r <= 0xe007f:
		return RuleInvisible
	}
	return ""
}

// DetailsDigest is the SHA-256 a challenge response signs: label LabelDetails ‖ 0x00 ‖
// field(message) ‖ uint32be(number of fields) ‖ field(label₁) ‖ field(value₁) ‖ … where
// field(x) = uint32be(len(x)) ‖ x. It takes details from NormalizeDetails.
func DetailsDigest(d Details) [32]byte {
	n := len(LabelDetails) + 1 + 4 + len(d.Message) + 4
	for _, f := range d.Fields {
		n += 8 + len(f.Label) + len(f.Value)
	}
	msg := make([]byte, 0, n) // one allocation: the fields are appended in place
	msg = append(append(msg, LabelDetails...), 0)
	msg = appendStringField(msg, d.Message)
	msg = binary.BigEndian.AppendUint32(msg, uint32(len(d.Fields)))
	for _, f := range d.Fields {
		msg = appendStringField(appendStringField(msg, f.Label), f.Value)
	}
	return sha256.Sum256(msg)
}

// CanonicalJSON is the JSON of details as stored and sent to devices:
// {"message":…,"fields":[{"label":…,"value":…},…]}, fields always an array, no HTML escaping.
// It takes details from NormalizeDetails and does not check them again.
func CanonicalJSON(d Details) []byte {
	// normalised details need no escapes: one allocation
	return AppendCanonicalJSON(make([]byte, 0, CanonicalJSONSize(d)), d)
}

// CanonicalJSONSize is the length of CanonicalJSON(d) for normalised
// details (escapes make it longer).
func CanonicalJSONSize(d Details) int {
	n := len(`{"message":"","fields":[]}`) + len(d.Message)
	for _, f := range d.Fields {
		n += len(`{"label":"","value":""},`) + len(f.Label) + len(f.Value)
	}
	return n
}

// AppendCanonicalJSON appends CanonicalJSON(d) to b.
func AppendCanonicalJSON(b []byte, d Details) []byte {
	b = AppendJSONString(append(b, `{"message":`...), d.Message)
	b = append(b, `,"fields":[`...)
	for i, f := range d.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendJSONString(append(b, `{"label":`...), f.Label)
		b = AppendJSONString(append(b, `,"value":`...), f.Value)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// AppendOptionalJSONString appends member (a key as written, such as
// `,"name":`) and s as a JSON string when s is not empty: a member that
// encoding/json leaves out under omitempty when it is.
func AppendOptionalJSONString(b []byte, member, s string) []byte {
	if s == "" {
		return b
	}
	return AppendJSONString(append(b, member...), s)
}

// AppendJSONString appends s as a JSON string the way encoding/json does
// without HTML escaping: `"` and `\` escaped, control characters as \b,
// \f, \n, \r, \t or \u00XX, U+2028 and U+2029 as \u2028 and \u2029, an
// invalid UTF-8 byte as U+FFFD (FuzzCanonicalJSONAsEncoder).
func AppendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, `\u00`...)
				b = append(b, hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), "\ufffd"...) // the replacement character itself
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), `\u202`...)
			b = append(b, hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

// ParseDetailsJSON strictly decodes one JSON object of the Details shape and normalises it.
// Unknown fields, trailing data, a top level other than an object, and invalid UTF-8 anywhere
// in b are refused (encoding/json would silently replace invalid UTF-8 with U+FFFD). Missing
// or null "message" and "fields" mean empty. Left to encoding/json: keys match
// case-insensitively, a repeated key keeps its last value, and an escaped lone surrogate
// becomes U+FFFD; none of this can reach a device, which only ever gets CanonicalJSON.
// Callers cap the size of b.
func ParseDetailsJSON(b []byte) (Details, error) {
	if !utf8.Valid(b) {
		return Details{}, &DetailsError{Rule: RuleInvalidUTF8}
	}
	if trimmed := bytes.TrimLeft(b, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		return Details{}, &DetailsError{Rule: RuleJSON, Err: errors.New("details must be a JSON object")}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var d Details
	if err := dec.Decode(&d); err != nil {
		return Details{}, &DetailsError{Rule: RuleJSON, Err: err}
	}
	if _, err := dec.Token(); err != io.EOF {
		return Details{}, &DetailsError{Rule: RuleJSON, Err: errors.New("trailing data after details")}
	}
	return NormalizeDetails(d)
}

// ShownText reports whether s may be shown as a name or label: valid UTF-8
// without a character the details rules refuse (controls, bidirectional
// controls, zero-width and other invisible characters, line and paragraph
// separators), so one text rule holds for everything a user reads.
func ShownText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if refusedRule(r) != "" {
			return false
		}
	}
	return true
}
