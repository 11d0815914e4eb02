package deviceauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sameAsEncoder fails t unless got, written by hand, is what json.Encoder
// writes for v but for <, > and & left unescaped: HTML-escaped, the same
// bytes, and decoded, the same values.
func sameAsEncoder(t *testing.T, got []byte, v any) {
	t.Helper()
	var want bytes.Buffer
	if err := json.NewEncoder(&want).Encode(v); err != nil {
		t.Fatal(err)
	}
	sameBytesButHTML(t, got, want.Bytes())
}

// sameBytesButHTML fails t unless got, written by hand, is want, written
// by encoding/json, but for <, > and & left unescaped.
func sameBytesButHTML(t *testing.T, got, want []byte) {
	t.Helper()
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, got)
	if !bytes.Equal(escaped.Bytes(), want) {
		t.Fatalf("by hand (HTML-escaped)\n %s\nencoding/json\n %s", escaped.Bytes(), want)
	}
	var a, b any
	if err := json.Unmarshal(got, &a); err != nil {
		t.Fatalf("by hand: invalid JSON %s: %v", got, err)
	}
	if err := json.Unmarshal(want, &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("decoded\n %v\nwant\n %v", a, b)
	}
}

// FuzzAppendJSONAsEncoder: a fetched challenge (ChallengeView) and a
// refusal (DenialBody) are written as json.Encoder writes them, but for
// <, > and & left unescaped, whatever their strings hold.
func FuzzAppendJSONAsEncoder(f *testing.F) {
	f.Add("ch_abc", "transfer", "PENDING", "PUSH", "203.0.113.7", "Mozilla/5.0 <x> & y", "https://a.example", []byte{1, 2, 3},
		"Send €10", "Amount", "10\u2028\x01\"\\", int64(1767225600123456789), int64(1767225900000000000), true, true)
	f.Add("", "", "", "", "", "", "", []byte(nil), "", "", "", int64(0), int64(0), false, false)
	f.Add("ch_\xff", "a\tb", "\u2029", "\x7f", "", "\U0001F600", "", []byte{0}, "", "", "", int64(-62135596800000000), int64(1), false, true)
	f.Fuzz(func(t *testing.T, id, action, state, method, ip, agent, origin string, nonce []byte,
		message, label, value string, created, expires int64, code, withFields bool) {
		d := Details{Message: message}
		if withFields {
			d.Fields = []Field{{Label: label, Value: value}, {Label: value, Value: label}}
		}
		at, until := time.Unix(0, created).UTC(), time.Unix(0, expires).UTC()
		v := ChallengeView{ChallengeID: id, Action: action, State: state, Nonce: nonce, Details: d,
			VerificationCodeRequired: code, Method: method, ClientIP: ip, UserAgent: agent, Origin: origin,
			CreatedAt: at, ExpiresAt: until}
		got, err := v.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		sameAsEncoder(t, got, v)

		body := DenialBody{Error: action, Message: message, State: ActionState(state), ChallengeID: id, Token: agent,
			VerificationCode: label, ActionID: origin}
		if code {
			body.ExpiresAt = until
		}
		if withFields {
			body.Methods = []Method{Method(method), Method(value)}
		}
		got, err = body.appendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		sameAsEncoder(t, got, body)
	})
}

// TestAppendJSON_FarTimes: a time encoding/json refuses is refused, not
// written, and the handlers then answer as encoding/json made them.
func TestAppendJSON_FarTimes(t *testing.T) {
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	v := ChallengeView{ChallengeID: "ch_x", ExpiresAt: far}
	if b, err := v.appendJSON(nil); !errors.Is(err, errJSONTime) {
		t.Fatalf("ChallengeView.appendJSON = %s, %v, want errJSONTime", b, err)
	}
	d := DenialBody{Error: "challenge_required", ExpiresAt: far}
	if b, err := d.appendJSON(nil); !errors.Is(err, errJSONTime) {
		t.Fatalf("DenialBody.appendJSON = %s, %v, want errJSONTime", b, err)
	}
	if _, err := json.Marshal(d); err == nil {
		t.Fatal("json.Marshal accepted it")
	}
}

// TestAppendJSON_SizesHoldTheJSON: the buffers the handlers size for a
// view and a refusal of usual content take their JSON without growing.
func TestAppendJSON_SizesHoldTheJSON(t *testing.T) {
	at := time.Date(2026, 12, 5, 20, 0, 0, 123456789, time.UTC)
	v := ChallengeView{ChallengeID: "ch_AAAAAAAAAAAAAAAAAAAAAA", Action: "transfer", State: "PENDING", Nonce: make([]byte, 32),
		Details:                  Details{Message: "Send 10 EUR to Bob", Fields: []Field{{Label: "Amount", Value: "10 EUR"}, {Label: "Payee", Value: "Bob"}}},
		VerificationCodeRequired: true, Method: "PUSH", ClientIP: "2001:db8::1", UserAgent: "Mozilla/5.0", Origin: "https://shop.example",
		CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	buf := make([]byte, 0, v.jsonSize())
	if b, err := v.appendJSON(buf); err != nil || &b[:1][0] != &buf[:1][0] {
		t.Fatalf("ChallengeView's JSON (%d bytes) outgrew its buffer of %d (err %v)", len(b), cap(buf), err)
	}
	d := DenialBody{Error: "challenge_required", Message: "approve the challenge on your device, then retry with the token",
		State: StateChallengeRequired, ChallengeID: v.ChallengeID, Token: "tok_" + strings.Repeat("A", 120), ExpiresAt: at,
		Methods: []Method{MethodPush, MethodQRCode, MethodPasskey}, VerificationCode: "42", ActionID: v.ChallengeID}
	buf = make([]byte, 0, d.jsonSize())
	if b, err := d.appendJSON(buf); err != nil || &b[:1][0] != &buf[:1][0] {
		t.Fatalf("DenialBody's JSON (%d bytes) outgrew its buffer of %d (err %v)", len(b), cap(buf), err)
	}
}

// FuzzRespondBodyScanAsStrict: the response body's scan accepts nothing
// the strict decoder refuses, and reads what it accepts to the values the
// strict decoder reads; the body the device package writes takes the scan.
func FuzzRespondBodyScanAsStrict(f *testing.F) {
	f.Add([]byte(`{"credentialId":"cr_a","decision":"approve","signature":"AAEC"}`))
	f.Add([]byte(`{"credentialId":"cr_a","decision":"deny","denyReason":"NOT_ME","verificationCode":"12","signatureFormat":"raw","signature":"_-8"}`))
	f.Add([]byte(`{"credentialId":"cr_a","decision":"approve","signature":"AAEC","signature":"AAEC"}`))
	f.Add([]byte(`{"credentialId":"cr_a","decision":"approve","signature":"AA=="}`))
	f.Add([]byte(`{"credentialId":"\u00e9","decision":"approve","signature":""}`))
	f.Add([]byte("{\"credentialId\":\"\xff\",\"decision\":\"approve\",\"signature\":\"\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var scanned respondBody
		if !scanned.scan(data) {
			if !reflect.DeepEqual(scanned, respondBody{}) {
				t.Fatalf("a refused scan changed the body: %+v", scanned)
			}
			return
		}
		var strict respondBody
		if err := decodeJSON(data, &strict); err != nil {
			t.Fatalf("scan accepted %q, which the strict decoder refuses: %v", data, err)
		}
		if !reflect.DeepEqual(scanned, strict) {
			t.Fatalf("%q: scan read %+v, the strict decoder %+v", data, scanned, strict)
		}
	})
}

// updateShapes rewrites device/testdata/server from what the server writes.
var updateShapes = flag.Bool("update-shapes", false, "rewrite device/testdata/server")

// TestAppendJSON_ShapesTheDeviceScans: the server writes a fetched
// challenge, an in-app payload and a response's result exactly as
// device/testdata/server holds them, which the device package's tests
// prove its scans read (TestScan_ServerShapes): a change of either side
// fails one of the two.
func TestAppendJSON_ShapesTheDeviceScans(t *testing.T) {
	at := time.Date(2026, 12, 5, 20, 0, 0, 123456789, time.UTC)
	nonce := make([]byte, 32)
	for i := range nonce {
		nonce[i] = byte(i * 7)
	}
	details := Details{Message: "Send €10.00 to Bob", Fields: []Field{{Label: "Amount", Value: "€10.00"}, {Label: "Payee", Value: "Bob"}}}
	view := ChallengeView{ChallengeID: "ch_AAAAAAAAAAAAAAAAAAAAAA", Action: "transfer", State: "PENDING", Nonce: nonce, Details: details,
		VerificationCodeRequired: true, Method: "PUSH", ClientIP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
	fetched, err := view.appendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	inApp, err := InAppChallenge{ChallengeID: "ia_AAAAAAAAAAAAAAAAAAAAAA", Nonce: nonce, Action: "transfer", Details: details,
		ExpiresAt: at.Add(5 * time.Minute), CredentialID: "cr_BBBBBBBBBBBBBBBBBBBBBB"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	result := AnswerResult{ChallengeID: "ia_AAAAAAAAAAAAAAAAAAAAAA", State: "APPROVED"}.appendJSON(nil)
	for name, got := range map[string][]byte{"fetched.json": fetched, "inapp.json": inApp, "result.json": result} {
		path := filepath.Join("device", "testdata", "server", name)
		if *updateShapes {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the server writes\n %s\nthe file holds\n %s\n(go test -run ShapesTheDeviceScans -update-shapes . rewrites it; the device's scans must then read it)", name, got, want)
		}
	}
}

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
		sameBytesButHTML(t, got, inAppChallengeByEncoder(t, c))
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
