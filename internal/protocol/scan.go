package protocol

import (
	"time"
	"unicode/utf8"
)

// Scanner reads JSON of the exact shapes this module writes (members in
// their order, no whitespace, strings without escapes), so that a reader
// can take those without reflection and hand anything else to its JSON
// decoder. A read that finds other bytes than it expects marks the scan
// failed; every later read then fails too, and OK reports it at the end.
// Whatever a Scanner accepts, the decoder it stands in for must decode to
// the same values: each reader proves that with a fuzz target.
type Scanner struct {
	b      []byte
	i      int
	failed bool
	// text is b as a string, made at the first String: every string
	// read is a part of it, one allocation for them all.
	text string
}

// NewScanner scans b.
func NewScanner(b []byte) *Scanner { return &Scanner{b: b} }

// Lit reads the literal l.
func (s *Scanner) Lit(l string) {
	if !s.failed && !s.Next(l) {
		s.failed = true
	}
}

// Next reads l and reports true when it comes next; otherwise it reads
// nothing.
func (s *Scanner) Next(l string) bool {
	if s.failed || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// quoted reads a JSON string without escapes or control characters and of
// valid UTF-8, and returns it with its quotes.
func (s *Scanner) quoted() []byte {
	if s.failed || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.failed = true
		return nil
	}
	for j := s.i + 1; j < len(s.b); j++ {
		c := s.b[j]
		if c < 0x20 || c == '\\' {
			break
		}
		if c == '"' {
			if q := s.b[s.i : j+1]; utf8.Valid(q) {
				s.i = j + 1
				return q
			}
			break
		}
	}
	s.failed = true
	return nil
}

// String reads a string as quoted does and returns its value, a part of
// one copy of the scanned bytes that every String shares.
func (s *Scanner) String() string {
	start := s.i
	q := s.quoted()
	if len(q) <= 2 {
		return ""
	}
	if s.text == "" {
		s.text = string(s.b)
	}
	return s.text[start+1 : s.i-1]
}

// Member reads member (a key as written, such as `,"name":`) and a string
// after it, as String does.
func (s *Scanner) Member(member string) string {
	s.Lit(member)
	return s.String()
}

// OptionalMember reads member and a string after it when member comes
// next, as encoding/json writes a string under omitempty; "" otherwise.
func (s *Scanner) OptionalMember(member string) string {
	if !s.Next(member) {
		return ""
	}
	return s.String()
}

// Bool reads true or false.
func (s *Scanner) Bool() bool {
	if s.Next("true") {
		return true
	}
	s.Lit("false")
	return false
}

// Time reads a string as time.Time's UnmarshalJSON reads it.
func (s *Scanner) Time() time.Time {
	var t time.Time
	if q := s.quoted(); q != nil && t.UnmarshalJSON(q) != nil {
		s.failed = true
	}
	return t
}

// Details reads details as AppendCanonicalJSON writes them, or with
// "fields":null as encoding/json writes nil fields.
func (s *Scanner) Details() Details {
	var d Details
	d.Message = s.Member(`{"message":`)
	if s.Next(`,"fields":null}`) {
		return d
	}
	s.Lit(`,"fields":[`)
	d.Fields = []Field{}
	for !s.failed && !s.Next("]}") {
		if len(d.Fields) > 0 {
			s.Lit(",")
		}
		f := Field{Label: s.Member(`{"label":`), Value: s.Member(`,"value":`)}
		s.Lit("}")
		d.Fields = append(d.Fields, f)
	}
	return d
}

// End reads the closing brace of the object scanned and a newline after
// it, if any (as json.Encoder ends a value), and reports OK.
func (s *Scanner) End() bool {
	s.Lit("}")
	s.Next("\n")
	return s.OK()
}

// OK reports whether every read succeeded and nothing is left.
func (s *Scanner) OK() bool { return !s.failed && s.i == len(s.b) }
