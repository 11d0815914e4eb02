package deviceauth

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeRequestBody feeds arbitrary bodies to the strict decoder of
// each endpoint: it never panics, every failure is ErrInvalidRequest, and a
// body it accepts survives a round trip unchanged.
func FuzzDecodeRequestBody(f *testing.F) {
	f.Add([]byte(`{"token":"drt_x","algorithm":"ES256","publicKey":"AAAA","signature":"AAAA","name":"phone"}`))
	f.Add([]byte(`{"credentialId":"abc","decision":"approve","signature":"AAAA","verificationCode":"12"}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`{} {}`))
	f.Add([]byte(`{"publicKey":"AA=="}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, body []byte) {
		check := func(v, fresh any) {
			err := decodeJSON(body, v)
			if err != nil {
				if e, ok := err.(*Error); !ok || e.Code != ErrInvalidRequest.err().Code {
					t.Fatalf("decodeJSON(%q) = %v, want invalid_request", body, err)
				}
				return
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encoding %#v: %v", v, err)
			}
			if err := decodeJSON(again, fresh); err != nil {
				t.Fatalf("re-decoding %s: %v", again, err)
			}
			if !reflect.DeepEqual(normalizeEmpty(v), normalizeEmpty(fresh)) {
				t.Fatalf("round trip changed %#v into %#v", v, fresh)
			}
		}
		check(&registerBody{}, &registerBody{})
		check(&respondBody{}, &respondBody{})
	})
}

// normalizeEmpty makes nil and empty byte fields compare equal.
func normalizeEmpty(v any) any {
	switch b := v.(type) {
	case *registerBody:
		c := *b
		if len(c.PublicKey) == 0 {
			c.PublicKey = nil
		}
		if len(c.Signature) == 0 {
			c.Signature = nil
		}
		return c
	case *respondBody:
		c := *b
		if len(c.Signature) == 0 {
			c.Signature = nil
		}
		return c
	}
	return v
}
