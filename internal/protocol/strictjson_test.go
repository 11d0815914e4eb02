package protocol

import (
	"encoding/json"
	"fmt"
	"testing"
)

func TestUnmarshalStrict(t *testing.T) {
	type body struct {
		Token string `json:"token"`
		Inner struct {
			A int `json:"a"`
		} `json:"inner"`
		Raw map[string]json.RawMessage `json:"raw"`
	}
	tests := []struct {
		in, err string
	}{
		{`{"token":"x","inner":{"a":1},"raw":{"k":{"z":1}}}`, ""},
		{`{"Token":"x"}`, `member /Token is unknown (names match case-sensitively)`},
		{`{"token":"x","token":"y"}`, `member /token appears twice`},
		{`{"inner":{"a":1,"a":2}}`, `member /inner/a appears twice`},
		{`{"raw":{"k":{"z":1,"z":2}}}`, `member /raw/k/z appears twice`},
		{`{"inner":{"a":"1"}}`, `member /inner/a has the wrong type`},
		{`{"token":"x"} {}`, "the body is not valid JSON at byte 14"},
		{`{"token":`, "the body ends inside the JSON value"},
		{"", "the body is empty"},
		{"{\"token\":\"\xff\"}", "the body is not valid JSON at byte 10"},
	}
	for _, tt := range tests {
		var b body
		err := UnmarshalStrict([]byte(tt.in), &b)
		if got := fmt.Sprint(err); (tt.err == "" && err != nil) || (tt.err != "" && got != tt.err) {
			t.Errorf("UnmarshalStrict(%q) = %v, want %q", tt.in, err, tt.err)
		}
	}
}
