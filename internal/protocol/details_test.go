package protocol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeDetails_AppliesNFC(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"combining acute", "e\u0301", "é"},
		{"Hangul jamo compose", "\u1100\u1161\u11a8", "\uac01"},
		{"Angstrom sign to Å", "\u212b", "\u00c5"},
		{"already NFC", "Pay €20.00 to Zoë", "Pay €20.00 to Zoë"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeDetails(Details{Message: tt.in, Fields: []Field{{Label: "L" + tt.in, Value: tt.in}}})
			if err != nil {
				t.Fatalf("NormalizeDetails = %v, want nil", err)
			}
			want := Details{Message: tt.want, Fields: []Field{{Label: "L" + tt.want, Value: tt.want}}}
			if !equalDetails(got, want) {
				t.Fatalf("NormalizeDetails = %+q, want %+q", got, want)
			}
		})
	}
}

func TestNormalizeDetails_RefusesCharacters(t *testing.T) {
	tests := []struct {
		r    rune
		rule string // "" means allowed: the neighbours show the ranges end exactly there
	}{
		{0x0000, RuleControl}, {0x0009, RuleControl}, {0x000a, RuleControl}, {0x000d, RuleControl},
		{0x001f, RuleControl}, {0x0020, ""}, {0x007e, ""},
		{0x007f, RuleControl}, {0x0080, RuleControl}, {0x009f, RuleControl}, {0x00a0, ""},
		{0x061b, ""}, {0x061c, RuleBidiControl}, {0x061d, ""},
		{0x200a, ""}, {0x200b, RuleZeroWidth}, {0x200c, RuleZeroWidth}, {0x200d, RuleZeroWidth},
		{0x200e, RuleBidiControl}, {0x200f, RuleBidiControl}, {0x2010, ""},
		{0x2027, ""}, {0x2028, RuleInvisible}, {0x2029, RuleInvisible}, {0x202a, RuleBidiControl}, {0x202b, RuleBidiControl}, {0x202c, RuleBidiControl},
		{0x202d, RuleBidiControl}, {0x202e, RuleBidiControl}, {0x202f, ""},
		{0x205f, ""}, {0x2060, RuleZeroWidth}, {0x2061, RuleInvisible}, {0x2064, RuleInvisible},
		{0x2065, ""}, {0x2066, RuleBidiControl}, {0x2067, RuleBidiControl}, {0x2068, RuleBidiControl},
		{0x2069, RuleBidiControl}, {0x206a, RuleInvisible}, {0x206f, RuleInvisible}, {0x2070, ""},
		{0x00ac, ""}, {0x00ad, RuleInvisible}, {0x00ae, ""},
		{0x034e, ""}, {0x034f, RuleInvisible}, {0x0350, ""},
		{0x115e, ""}, {0x115f, RuleInvisible}, {0x1160, RuleInvisible}, {0x1161, ""},
		{0x17b3, ""}, {0x17b4, RuleInvisible}, {0x17b5, RuleInvisible}, {0x17b6, ""},
		{0x180a, ""}, {0x180b, RuleInvisible}, {0x180f, RuleInvisible}, {0x1810, ""},
		{0x3163, ""}, {0x3164, RuleInvisible}, {0x3165, ""},
		{0xfdff, ""}, {0xfe00, ""}, {0xfe0f, ""}, // variation selectors: emoji need them
		{0xfefe, ""}, {0xfeff, RuleZeroWidth}, {0xff00, ""},
		{0xff9f, ""}, {0xffa0, RuleInvisible}, {0xffa1, ""},
		{0xfff8, ""}, {0xfff9, RuleInvisible}, {0xfffb, RuleInvisible}, {0xfffc, ""},
		{0x1d172, ""}, {0x1d173, RuleInvisible}, {0x1d17a, RuleInvisible}, {0x1d17b, ""},
		{0xdffff, ""}, {0xe0000, RuleInvisible}, {0xe0001, RuleInvisible}, {0xe007f, RuleInvisible}, {0xe0080, ""},
	}
	for _, tt := range tests {
		s := "a" + string(tt.r) + "b"
		for _, place := range []struct {
			where string
			d     Details
		}{
			{"message", Details{Message: s}},
			{"fields[1].label", Details{Fields: []Field{{Label: "ok"}, {Label: s}}}},
			{"fields[0].value", Details{Fields: []Field{{Label: "ok", Value: s}}}},
		} {
			t.Run(fmt.Sprintf("%U/%s", tt.r, place.where), func(t *testing.T) {
				_, err := NormalizeDetails(place.d)
				if tt.rule == "" {
					if err != nil {
						t.Fatalf("NormalizeDetails = %v, want %U allowed", err, tt.r)
					}
					return
				}
				assertDetailsError(t, err, DetailsError{Rule: tt.rule, Where: place.where, Rune: tt.r})
			})
		}
	}
}

func TestNormalizeDetails_Limits(t *testing.T) {
	fields := func(n int) []Field {
		fs := make([]Field, n)
		for i := range fs {
			fs[i] = Field{Label: "label", Value: "value"}
		}
		return fs
	}
	// U+0958 has a composition exclusion: NFC turns its 3 bytes into 6.
	qa := "\u0958"
	tests := []struct {
		name string
		d    Details
		want *DetailsError // nil: passes
	}{
		{"message at 256 bytes", Details{Message: strings.Repeat("a", 256)}, nil},
		{"message at 257 bytes", Details{Message: strings.Repeat("a", 257)}, &DetailsError{Rule: RuleTooLong, Where: "message"}},
		{"message limit is bytes, not characters", Details{Message: strings.Repeat("é", 128)}, nil},
		{"message 129 two-byte characters", Details{Message: strings.Repeat("é", 129)}, &DetailsError{Rule: RuleTooLong, Where: "message"}},
		{"message measured after NFC (shrinks to 256)", Details{Message: strings.Repeat("e\u0301", 128)}, nil},
		{"message measured after NFC (grows to 258)", Details{Message: strings.Repeat(qa, 43)}, &DetailsError{Rule: RuleTooLong, Where: "message"}},
		{"20 fields", Details{Fields: fields(20)}, nil},
		{"21 fields", Details{Fields: fields(21)}, &DetailsError{Rule: RuleTooManyFields, Where: "fields"}},
		{"label at 36 bytes", Details{Fields: []Field{{Label: strings.Repeat("l", 36)}}}, nil},
		{"label at 37 bytes", Details{Fields: []Field{{Label: strings.Repeat("l", 37)}}}, &DetailsError{Rule: RuleTooLong, Where: "fields[0].label"}},
		{"value at 128 bytes", Details{Fields: []Field{{Label: "l", Value: strings.Repeat("v", 128)}}}, nil},
		{"value at 129 bytes", Details{Fields: []Field{{Label: "l", Value: strings.Repeat("v", 129)}}}, &DetailsError{Rule: RuleTooLong, Where: "fields[0].value"}},
		{"empty label refused", Details{Fields: []Field{{Label: "l"}, {Value: "v"}}}, &DetailsError{Rule: RuleEmptyLabel, Where: "fields[1].label"}},
		{"empty value allowed", Details{Fields: []Field{{Label: "l"}}}, nil},
		{"no details at all", Details{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NormalizeDetails(tt.d)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("NormalizeDetails = %v, want nil", err)
				}
				return
			}
			assertDetailsError(t, err, *tt.want)
		})
	}
}

func TestNormalizeDetails_RefusesInvalidUTF8(t *testing.T) {
	tests := []struct {
		name  string
		d     Details
		where string
	}{
		{"stray continuation byte in message", Details{Message: "a\x80"}, "message"},
		{"0xff in label", Details{Fields: []Field{{Label: "\xff"}}}, "fields[0].label"},
		{"truncated euro sign in value", Details{Fields: []Field{{Label: "l", Value: "\xe2\x82"}}}, "fields[0].value"},
		{"encoded surrogate", Details{Message: "\xed\xa0\x80"}, "message"},
		{"overlong slash", Details{Message: "\xc0\xaf"}, "message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NormalizeDetails(tt.d)
			assertDetailsError(t, err, DetailsError{Rule: RuleInvalidUTF8, Where: tt.where})
		})
	}
}

func TestNormalizeDetails_ResultOwnsNonNilFields(t *testing.T) {
	got, err := NormalizeDetails(Details{})
	if err != nil || got.Fields == nil || len(got.Fields) != 0 {
		t.Fatalf("NormalizeDetails(Details{}) = (%#v, %v), want empty non-nil Fields", got, err)
	}
	in := Details{Fields: []Field{{Label: "e\u0301", Value: "v"}}}
	got, err = NormalizeDetails(in)
	if err != nil {
		t.Fatal(err)
	}
	got.Fields[0].Value = "changed"
	if in.Fields[0].Label != "e\u0301" || in.Fields[0].Value != "v" {
		t.Fatalf("NormalizeDetails changed or shares its input: %+q", in)
	}
}

func TestDetailsError_MatchesSentinelAndHidesContent(t *testing.T) {
	_, err := NormalizeDetails(Details{Message: "secret payee \u202e"})
	if !errors.Is(err, ErrInvalidDetails) {
		t.Fatalf("errors.Is(%v, ErrInvalidDetails) = false", err)
	}
	if want := "protocol: invalid details: message: bidiControl character U+202E"; err.Error() != want {
		t.Fatalf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestParseDetailsJSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Details
		rule string // "" means accepted
	}{
		{"full", `{"message":"Pay","fields":[{"label":"Amount","value":"€5"}]}`,
			Details{Message: "Pay", Fields: []Field{{Label: "Amount", Value: "€5"}}}, ""},
		{"whitespace around", " \n{\"message\":\"Pay\"}\n ", Details{Message: "Pay", Fields: []Field{}}, ""},
		{"missing fields", `{"message":"Pay"}`, Details{Message: "Pay", Fields: []Field{}}, ""},
		{"null fields", `{"message":"Pay","fields":null}`, Details{Message: "Pay", Fields: []Field{}}, ""},
		{"empty object", `{}`, Details{Fields: []Field{}}, ""},
		{"NFC through JSON escapes", `{"message":"e\u0301"}`, Details{Message: "é", Fields: []Field{}}, ""},
		{"unknown top-level field", `{"message":"Pay","title":"x"}`, Details{}, RuleJSON},
		{"unknown field in a field", `{"fields":[{"label":"a","value":"b","color":"red"}]}`, Details{}, RuleJSON},
		{"trailing object", `{"message":"a"}{}`, Details{}, RuleJSON},
		{"trailing garbage", `{"message":"a"} x`, Details{}, RuleJSON},
		{"top-level null", `null`, Details{}, RuleJSON},
		{"top-level array", `[]`, Details{}, RuleJSON},
		{"top-level string", `"Pay"`, Details{}, RuleJSON},
		{"empty input", ``, Details{}, RuleJSON},
		{"truncated", `{"message":"a"`, Details{}, RuleJSON},
		{"wrong type", `{"message":5}`, Details{}, RuleJSON},
		{"raw invalid UTF-8", "{\"message\":\"\xff\"}", Details{}, RuleInvalidUTF8},
		{"escaped control", `{"message":"a\u0007"}`, Details{}, RuleControl},
		{"escaped newline", `{"message":"a\nb"}`, Details{}, RuleControl},
		{"escaped bidi override", `{"fields":[{"label":"a","value":"\u202e"}]}`, Details{}, RuleBidiControl},
		{"null field has no label", `{"fields":[null]}`, Details{}, RuleEmptyLabel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDetailsJSON([]byte(tt.in))
			if tt.rule == "" {
				if err != nil || !equalDetails(got, tt.want) || got.Fields == nil {
					t.Fatalf("ParseDetailsJSON = (%#v, %v), want %#v", got, err, tt.want)
				}
				return
			}
			var de *DetailsError
			if !errors.As(err, &de) || de.Rule != tt.rule || !errors.Is(err, ErrInvalidDetails) {
				t.Fatalf("ParseDetailsJSON error = %v, want rule %s", err, tt.rule)
			}
		})
	}
}

func TestCanonicalJSON_ExactBytes(t *testing.T) {
	tests := []struct {
		name string
		d    Details
		want string
	}{
		{"empty details, fields is an array", Details{}, `{"message":"","fields":[]}`},
		{"no HTML escaping", Details{Message: "<a&b>", Fields: []Field{{Label: "To", Value: "Zoë"}}},
			`{"message":"<a&b>","fields":[{"label":"To","value":"Zoë"}]}`},
		{"quotes escaped", Details{Message: `say "hi"\`}, `{"message":"say \"hi\"\\","fields":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CanonicalJSON(tt.d)
			if string(got) != tt.want {
				t.Fatalf("CanonicalJSON = %s, want %s", got, tt.want)
			}
			back, err := ParseDetailsJSON(got)
			if err != nil || string(CanonicalJSON(back)) != tt.want {
				t.Fatalf("ParseDetailsJSON(CanonicalJSON) = (%+v, %v), want a round trip", back, err)
			}
		})
	}
}

func equalDetails(a, b Details) bool {
	return a.Message == b.Message && slices.Equal(a.Fields, b.Fields)
}

func assertDetailsError(t *testing.T, err error, want DetailsError) {
	t.Helper()
	var got *DetailsError
	if !errors.As(err, &got) {
		t.Fatalf("error = %v, want a *DetailsError %+v", err, want)
	}
	if !errors.Is(err, ErrInvalidDetails) {
		t.Fatalf("errors.Is(%v, ErrInvalidDetails) = false", err)
	}
	if got.Rule != want.Rule || got.Where != want.Where || got.Rune != want.Rune {
		t.Fatalf("DetailsError = {%s %s %U}, want {%s %s %U}", got.Rule, got.Where, got.Rune, want.Rule, want.Where, want.Rune)
	}
}

func FuzzNormalizeDetails(f *testing.F) {
	f.Add("Pay €5", "Amount", "€5", uint8(1))
	f.Add("e\u0301", "\u1100\u1161", "\u0958", uint8(20))
	f.Add("a\u202eb", "\x00", "\xff", uint8(21))
	f.Add(strings.Repeat("a\u0301", 40), strings.Repeat("\u0301", 40), "", uint8(0))
	f.Fuzz(func(t *testing.T, message, label, value string, n uint8) {
		d := Details{Message: message}
		for range int(n) % (MaxFields + 2) {
			d.Fields = append(d.Fields, Field{Label: label, Value: value})
		}
		got, err := NormalizeDetails(d)
		if err != nil {
			if !errors.Is(err, ErrInvalidDetails) {
				t.Fatalf("error %v does not match ErrInvalidDetails", err)
			}
			return
		}
		again, err := NormalizeDetails(got)
		if err != nil || !equalDetails(again, got) {
			t.Fatalf("normalising again = (%+q, %v), want %+q unchanged", again, err, got)
		}
		if DetailsDigest(again) != DetailsDigest(got) {
			t.Fatal("digest changed on normalising again")
		}
		back, err := ParseDetailsJSON(CanonicalJSON(got))
		if err != nil || !equalDetails(back, got) {
			t.Fatalf("ParseDetailsJSON(CanonicalJSON) = (%+q, %v), want %+q", back, err, got)
		}
	})
}

func FuzzParseDetailsJSON(f *testing.F) {
	f.Add([]byte(`{"message":"Pay","fields":[{"label":"Amount","value":"€5"}]}`))
	f.Add([]byte(`{"message":"e\u0301","fields":null}`))
	f.Add([]byte(`{"fields":[null]}`))
	f.Add([]byte(`{"message":"a"} {}`))
	f.Add([]byte(`{"MESSAGE":"x","message":"y"}`))
	f.Add([]byte("{\"message\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDetailsJSON(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidDetails) {
				t.Fatalf("error %v does not match ErrInvalidDetails", err)
			}
			return
		}
		canonical := CanonicalJSON(d)
		back, err := ParseDetailsJSON(canonical)
		if err != nil || !equalDetails(back, d) {
			t.Fatalf("ParseDetailsJSON(%s) = (%+q, %v), want %+q", canonical, back, err, d)
		}
		if string(CanonicalJSON(back)) != string(canonical) {
			t.Fatalf("canonical JSON not stable: %s then %s", canonical, CanonicalJSON(back))
		}
	})
}

func BenchmarkDetailsDigest(b *testing.B) {
	d, err := NormalizeDetails(Details{Message: "Transfer €1,250.00 to ACME Ltd", Fields: []Field{
		{Label: "Amount", Value: "€1,250.00"},
		{Label: "Payee", Value: "ACME Ltd"},
		{Label: "IBAN", Value: "DE89 3704 0044 0532 0130 00"},
		{Label: "Reference", Value: "Invoice 2024-117"},
	}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		DetailsDigest(d)
	}
}

func TestContextText(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"Firefox/1", 512, "Firefox/1"},
		{"a\u202Eb\u2066\u2069c", 512, "a\uFFFDb\uFFFDc"},
		{"\U000E0001\U000E0041", 512, "\uFFFD"},
		{"\xff\xfe", 512, "\uFFFD"},
		{"ab€", 4, "ab"},
		{"ab€", 5, "ab€"},
		{"e\u0301e\u0301", 2, "é"},
		{"aq\u0301", 2, "a"},
		{"q\u0301", 2, ""},
	}
	for _, tt := range tests {
		if got := ContextText(tt.in, tt.max); got != tt.want {
			t.Errorf("ContextText(%+q, %d) = %+q, want %+q", tt.in, tt.max, got, tt.want)
		}
	}
}
