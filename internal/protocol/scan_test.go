package protocol

import (
	"testing"
	"time"
)

// TestScanner reads the shapes it is for and refuses, for good, at the
// first byte it does not expect: escapes, control characters, invalid
// UTF-8, whitespace, a bad time, something left over.
func TestScanner(t *testing.T) {
	sc := NewScanner([]byte(`{"a":"x€","t":"2026-12-05T20:00:00Z","b":true,"d":{"message":"m","fields":[{"label":"l","value":""}]}}` + "\n"))
	a := sc.Member(`{"a":`)
	sc.Lit(`,"t":`)
	at := sc.Time()
	opt := sc.OptionalMember(`,"o":`)
	sc.Lit(`,"b":`)
	b := sc.Bool()
	sc.Lit(`,"d":`)
	d := sc.Details()
	if !sc.End() || a != "x€" || !at.Equal(time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)) || opt != "" || !b ||
		d.Message != "m" || len(d.Fields) != 1 || d.Fields[0] != (Field{Label: "l"}) {
		t.Fatalf("read %q %v %q %v %+v", a, at, opt, b, d)
	}
	for _, in := range []string{
		`{"a":"\n"}`, "{\"a\":\"\x01\"}", "{\"a\":\"\xff\"}", `{"a":"x\"y"}`, `{"a": "x"}`, `{"a":"x"} `,
		`{"a":"x"}` + "\n\n", `{"a":"x"`, `{"a":x}`, `{"a":"x"}{}`,
	} {
		sc := NewScanner([]byte(in))
		if v := sc.Member(`{"a":`); sc.End() {
			t.Errorf("%q: read %q, want a refusal", in, v)
		}
	}
	sc = NewScanner([]byte(`{"t":"2026-13-01T00:00:00Z"}`))
	sc.Lit(`{"t":`)
	if sc.Time(); sc.End() {
		t.Error("a month 13 was read")
	}
	sc = NewScanner([]byte(`{"x":"1"}`))
	sc.Lit(`{"y":`)
	if sc.Next(`"1"`) || sc.String() != "" || sc.End() {
		t.Error("a failed scan read on")
	}
}
