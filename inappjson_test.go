package deviceauth

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// inAppChallengeByEncoder is what InAppChallenge's JSON was before it was
// written by hand: encoding/json over the fields, the nonce as base64url.
func inAppChallengeByEncoder(t *testing.T, c InAppChallenge) []byte {
	t.Helper()
	type plain InAppChallenge
	b, err := json.Marshal(struct {
		plain
		Nonce base64URL `json:"nonce"`
	}{plain(c), c.Nonce})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzInAppChallengeMarshalAsEncoder: InAppChallenge.MarshalJSON writes the
// bytes encoding/json writes, but for <, > and & left unescaped — so,
// HTML-escaped, the same bytes, and decoded, the same values.
func FuzzInAppChallengeMarshalAsEncoder(f *testing.F) {
	f.Add("ia_abc", []byte{1, 2, 3}, "transfer", "Send €10 to <Bob> & co", "Amount", "10\u2028\x01\"\\", int64(1767225600123456789), "cred", true)
	f.Add("", []byte(nil), "", "", "", "", int64(0), "", false)
	f.Add("ia_\xff", []byte{0}, "a\tb", "\u2029", "\x7f", "\U0001F600", int64(-62135596800), "", true)
	f.Fuzz(func(t *testing.T, id string, nonce []byte, action, message, label, value string, unixNano int64, cred string, withFields bool) {
		c := InAppChallenge{ChallengeID: id, Nonce: nonce, Action: action, Details: Details{Message: message},
			ExpiresAt: time.Unix(0, unixNano).UTC(), CredentialID: cred}
		if withFields {
			c.Details.Fields = []Field{{Label: label, Value: value}, {Label: value, Value: label}}
		}
		got, err := c.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		want := inAppChallengeByEncoder(t, c)
		var escaped bytes.Buffer
		json.HTMLEscape(&escaped, got)
		if !bytes.Equal(escaped.Bytes(), want) {
			t.Fatalf("MarshalJSON (HTML-escaped)\n %s\nencoding/json\n %s", escaped.Bytes(), want)
		}
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("MarshalJSON wrote invalid JSON %s: %v", got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("decoded\n %v\nwant\n %v", a, b)
		}
	})
}

// TestInAppChallenge_MarshalJSON_FarExpiry: a time encoding/json refuses is
// refused, not written.
func TestInAppChallenge_MarshalJSON_FarExpiry(t *testing.T) {
	c := InAppChallenge{ChallengeID: "ia_x", ExpiresAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if b, err := c.MarshalJSON(); err == nil {
		t.Fatalf("MarshalJSON = %s, want an error", b)
	}
	if _, err := json.Marshal(c); err == nil {
		t.Fatal("json.Marshal accepted it")
	}
}

// TestAnswerResult_AppendJSONAsEncoder: the response's answer is written
// as json.Encoder writes it, for every state and IDs of every kind.
func TestAnswerResult_AppendJSONAsEncoder(t *testing.T) {
	for _, r := range []AnswerResult{
		{ChallengeID: "ia_AAAAAAAAAAAAAAAAAAAAAA", State: "APPROVED"},
		{ChallengeID: "ch_x-_y", State: "DENIED"},
		{ChallengeID: "", State: ""},
		{ChallengeID: "a\"b\\c\u2028", State: "PENDING"},
	} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(r); err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendJSON = %q, want %q", got, want.Bytes())
		}
	}
}
