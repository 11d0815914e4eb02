package device

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestResponseBody_AppendJSONAsEncoder: the response body is written as
// encoding/json writes the struct, but for <, > and & left unescaped
// (HTML-escaped, the same bytes), with and without its optional members.
func TestResponseBody_AppendJSONAsEncoder(t *testing.T) {
	for _, b := range []responseBody{
		{CredentialID: "cr_AAAA", Decision: "approve", Signature: "MEUCIQ"},
		{CredentialID: "cr_AAAA", Decision: "deny", DenyReason: "not me <&> \"\\\u2028\x01", Signature: "sig"},
		{CredentialID: "cr", Decision: "approve", VerificationCode: "42", SignatureFormat: "raw", Signature: "s"},
		{},
	} {
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got := b.appendJSON(nil)
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, got)
		if !bytes.Equal(escaped.Bytes(), want) {
			t.Errorf("appendJSON = %s, want %s", got, want)
		}
	}
}
