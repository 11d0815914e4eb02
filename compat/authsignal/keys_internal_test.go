package authsignal

import (
	"net/http/httptest"
	"testing"
)

// TestQueryPublicKey_RawPlus: the publicKey query is read from the raw
// query, so a "+" (which url.Query reads as a space) and "/" and "=" stay
// as sent, in the standard and the URL alphabet, padded or not; a second
// publicKey member or a value that is not base64 is refused.
func TestQueryPublicKey_RawPlus(t *testing.T) {
	for _, tc := range []struct{ query, want string }{
		{"publicKey=+/8=", "\xfb\xff"},
		{"publicKey=-_8", "\xfb\xff"},
		{"a=1&publicKey=+w%3D%3D", "\xfb"},
	} {
		got, ok := queryPublicKey(httptest.NewRequest("GET", "/x?"+tc.query, nil))
		if !ok || got != tc.want {
			t.Errorf("queryPublicKey(%s) = %q, %v; want %q", tc.query, got, ok, tc.want)
		}
	}
	for _, q := range []string{"publicKey=+w==&publicKey=+w==", "publicKey=%%", "publicKey=*", "other=1"} {
		if got, ok := queryPublicKey(httptest.NewRequest("GET", "/x?"+q, nil)); ok {
			t.Errorf("queryPublicKey(%s) = %q, want a refusal", q, got)
		}
	}
}
