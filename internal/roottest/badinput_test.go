package roottest_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// TestBadInput sends one malformed request per endpoint and error code and
// checks the status, the code, and that the store was not written.
func TestBadInput(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	ch, err := d.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.MintRegistrationToken(ctx, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	h := sha256.Sum256(protocol.RegistrationMessage(g.Token, "ES256", spki, "phone", "ios"))
	goodSig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
	reg := func(mod func(m map[string]any)) string {
		m := map[string]any{"token": g.Token, "algorithm": "ES256", "publicKey": protocol.EncodeBase64(spki),
			"signature": protocol.EncodeBase64(goodSig), "name": "phone", "platform": "ios"}
		mod(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	respSig := protocol.EncodeBase64(d.signDER(t, d.ResponseMessage(ch, "approve", "", "")))
	resp := func(mod func(m map[string]any)) string {
		m := map[string]any{"credentialId": d.CredentialID, "decision": "approve", "signature": respSig}
		mod(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	huge := `{"token":"` + strings.Repeat("a", 70<<10) + `"}`
	respPath := "/v1/challenges/" + ch.ID + "/response"

	rows := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
		code                     string
	}{
		{"register: bad JSON", "POST", "/v1/credentials", `{"token":`, nil, 400, "invalid_request"},
		{"register: empty body", "POST", "/v1/credentials", ``, nil, 400, "invalid_request"},
		{"register: wrong type", "POST", "/v1/credentials", reg(func(m map[string]any) { m["name"] = 7 }), nil, 400, "invalid_request"},
		{"register: unknown field", "POST", "/v1/credentials", reg(func(m map[string]any) { m["admin"] = true }), nil, 400, "invalid_request"},
		{"register: trailing data", "POST", "/v1/credentials", reg(func(map[string]any) {}) + `{}`, nil, 400, "invalid_request"},
		{"register: oversize body", "POST", "/v1/credentials", huge, nil, 413, "body_too_large"},
		{"register: bad base64", "POST", "/v1/credentials", reg(func(m map[string]any) { m["publicKey"] = "a+b/" }), nil, 400, "invalid_request"},
		{"register: padded base64", "POST", "/v1/credentials", reg(func(m map[string]any) { m["signature"] = "AAAA==" }), nil, 400, "invalid_request"},
		{"register: missing key", "POST", "/v1/credentials", reg(func(m map[string]any) { delete(m, "publicKey") }), nil, 400, "invalid_request"},
		{"register: unknown algorithm", "POST", "/v1/credentials", reg(func(m map[string]any) { m["algorithm"] = "RS256" }), nil, 400, "unsupported_algorithm"},
		{"register: short key", "POST", "/v1/credentials", reg(func(m map[string]any) { m["publicKey"] = protocol.EncodeBase64(spki[:20]) }), nil, 400, "invalid_key"},
		{"register: key of another curve", "POST", "/v1/credentials", reg(func(m map[string]any) { m["algorithm"] = "EdDSA" }), nil, 400, "invalid_key"},
		{"register: bad signature encoding", "POST", "/v1/credentials", reg(func(m map[string]any) { m["signature"] = protocol.EncodeBase64([]byte{0x30, 0x02, 0x01}) }), nil, 400, "invalid_signature"},
		{"register: unknown signature format", "POST", "/v1/credentials", reg(func(m map[string]any) { m["signatureFormat"] = "pem" }), nil, 400, "invalid_signature"},
		{"register: control character in name", "POST", "/v1/credentials", reg(func(m map[string]any) { m["name"] = "a\x07b" }), nil, 400, "invalid_request"},
		{"register: unknown token", "POST", "/v1/credentials", reg(func(m map[string]any) { m["token"] = "drt_unknown" }), nil, 403, "registration_failed"},
		{"respond: bad JSON", "POST", respPath, `[`, nil, 400, "invalid_request"},
		{"respond: wrong type", "POST", respPath, resp(func(m map[string]any) { m["decision"] = true }), nil, 400, "invalid_request"},
		{"respond: unknown field", "POST", respPath, resp(func(m map[string]any) { m["state"] = "APPROVED" }), nil, 400, "invalid_request"},
		{"respond: oversize body", "POST", respPath, huge, nil, 413, "body_too_large"},
		{"respond: bad base64", "POST", respPath, resp(func(m map[string]any) { m["signature"] = "%%%" }), nil, 400, "invalid_request"},
		{"respond: unknown decision", "POST", respPath, resp(func(m map[string]any) { m["decision"] = "maybe" }), nil, 400, "invalid_request"},
		{"respond: non-digit code", "POST", respPath, resp(func(m map[string]any) { m["verificationCode"] = "12a" }), nil, 400, "invalid_request"},
		{"respond: bad signature encoding", "POST", respPath, resp(func(m map[string]any) { m["signature"] = protocol.EncodeBase64([]byte("garbage")) }), nil, 400, "invalid_signature"},
		{"respond: raw signature of wrong length", "POST", respPath, resp(func(m map[string]any) { m["signatureFormat"] = "raw" }), nil, 400, "invalid_signature"},
		{"respond: unknown credential", "POST", respPath, resp(func(m map[string]any) { m["credentialId"] = "nobody" }), nil, 403, "invalid_response"},
		{"respond: bad credential ID", "POST", respPath, resp(func(m map[string]any) { m["credentialId"] = "no body!" }), nil, 403, "invalid_response"},
		{"respond: unknown challenge", "POST", "/v1/challenges/unknown/response", resp(func(map[string]any) {}), nil, 403, "invalid_response"},
		{"fetch: no signature", "GET", "/v1/challenges/" + ch.ID, "", nil, 401, "unauthorized"},
		{"fetch: garbled Signature-Input", "GET", "/v1/challenges/" + ch.ID, "", map[string]string{"Signature-Input": `deviceauth=("@method" "@path"`, "Signature": "deviceauth=:AAAA:"}, 401, "unauthorized"},
		{"fetch: garbled Signature", "GET", "/v1/challenges/" + ch.ID, "", map[string]string{"Signature-Input": `deviceauth=("@method");created=1;keyid="x";nonce="abcdefabcdefabcdef";tag="deviceauth"`, "Signature": "deviceauth=notbytes"}, 401, "unauthorized"},
		{"pending: wrong tag", "GET", "/v1/challenges", "", map[string]string{"Signature-Input": `sig1=("@method");created=1;keyid="x";tag="other"`, "Signature": "sig1=:AAAA:"}, 401, "unauthorized"},
		{"pending: binary garbage", "GET", "/v1/challenges", "", map[string]string{"Signature-Input": "@@@ ;;; ((", "Signature": "=="}, 401, "unauthorized"},
		{"remove: no signature", "DELETE", "/v1/credentials/" + d.CredentialID, "", nil, 401, "unauthorized"},
		{"remove: garbled", "DELETE", "/v1/credentials/" + d.CredentialID, "", map[string]string{"Signature-Input": "deviceauth=(", "Signature": "deviceauth=:"}, 401, "unauthorized"},
		{"unknown route", "GET", "/v1/nothing", "", nil, 404, "not_found"},
		{"wrong method", "PUT", "/v1/credentials", "{}", nil, 405, "method_not_allowed"},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			writes := e.store.Writes.Load()
			req, _ := http.NewRequest(r.method, e.srv.URL+"/deviceauth"+r.path, bytes.NewReader([]byte(r.body)))
			for k, v := range r.header {
				req.Header.Set(k, v)
			}
			status, code := e.do(req)
			if status != r.status || code != r.code {
				t.Fatalf("got %d %q, want %d %q", status, code, r.status, r.code)
			}
			if w := e.store.Writes.Load(); w != writes {
				t.Fatalf("the store was written %d times", w-writes)
			}
		})
	}
	// Nothing changed: the challenge is pending, bob's token still registers.
	if got, err := d.Challenge(ctx, ch.ID); err != nil || got.State != "PENDING" {
		t.Fatalf("challenge after bad input: %+v, %v", got, err)
	}
	if st, code := e.postJSON("/v1/credentials", []byte(reg(func(map[string]any) {}))); st != 201 {
		t.Fatalf("registration after bad input: %d %s", st, code)
	}
}

func TestBadInput_ServiceCalls(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enrol("alice", "ES256")
	long := strings.Repeat("x", 65)
	cases := []struct {
		name string
		req  deviceauth.TrackRequest
		want deviceauth.Sentinel
	}{
		{"empty user", deviceauth.TrackRequest{Action: "transfer"}, deviceauth.ErrInvalidRequest},
		{"empty action", deviceauth.TrackRequest{UserID: "alice"}, deviceauth.ErrInvalidRequest},
		{"long action", deviceauth.TrackRequest{UserID: "alice", Action: long}, deviceauth.ErrInvalidRequest},
		{"action with space", deviceauth.TrackRequest{UserID: "alice", Action: "pay now"}, deviceauth.ErrInvalidRequest},
		{"unknown method", deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Methods: []deviceauth.Method{"SMS"}}, deviceauth.ErrInvalidRequest},
		{"bidi control in details", deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: deviceauth.Details{Message: "pay \u202e"}}, deviceauth.ErrInvalidDetails},
		{"too many fields", deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: deviceauth.Details{Fields: make([]deviceauth.Field, 21)}}, deviceauth.ErrInvalidDetails},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			writes := e.store.Writes.Load()
			_, err := e.svc.Track(ctx, c.req)
			if !errorsIs(err, c.want) {
				t.Fatalf("Track: %v, want %s", err, c.want)
			}
			if e.store.Writes.Load() != writes {
				t.Fatal("the store was written")
			}
		})
	}
}

func TestStoreFailure_FailsClosed(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	sig := protocol.EncodeBase64(d.signDER(t, d.ResponseMessage(ch, "approve", "", "")))
	g, _ := e.svc.MintRegistrationToken(ctx, "bob", "")

	e.store.Fail.Store(true)
	if _, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"}); !errorsIs(err, deviceauth.ErrUnavailable) {
		t.Fatalf("Track: %v", err)
	}
	if _, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer"}); !errorsIs(err, deviceauth.ErrUnavailable) {
		t.Fatalf("Validate: %v", err)
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "carol", ""); !errorsIs(err, deviceauth.ErrUnavailable) {
		t.Fatalf("MintRegistrationToken: %v", err)
	}
	body, _ := json.Marshal(map[string]string{"credentialId": d.CredentialID, "decision": "approve", "signature": sig})
	if st, code := e.postJSON("/v1/challenges/"+ch.ID+"/response", body); st != 503 || code != "unavailable" {
		t.Fatalf("respond: %d %s", st, code)
	}
	if _, err := d.Pending(ctx); apiCode(err) != "unavailable" {
		t.Fatalf("pending: %v", err)
	}
	if _, err := e.device("ES256").Register(ctx, g.Token, "x", "ios"); apiCode(err) != "unavailable" {
		t.Fatalf("register: %v", err)
	}
	if !strings.Contains(e.logs.String(), "injected store failure") {
		t.Fatal("the store failure was not logged")
	}
	// Nothing was half-written: once the store is back, everything proceeds.
	e.store.Fail.Store(false)
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatalf("approve after recovery: %v", err)
	}
	if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); !v.Valid {
		t.Fatal("validate after recovery failed")
	}
	if _, err := e.device("ES256").Register(ctx, g.Token, "x", "ios"); err != nil {
		t.Fatalf("register after recovery: %v", err)
	}
}

// TestBadInput_BodyLengthMismatch: a body is read by its declared length
// when it has one; a body longer or shorter than its Content-Length (a
// request handed to the handler in process: a server's own reader never
// gives one) is invalid_request, and nothing is written.
func TestBadInput_BodyLengthMismatch(t *testing.T) {
	e := newEnv(t, noRateLimits)
	d := e.enrolKeyed("alice")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	body := `{"credentialId":"` + d.CredentialID + `","decision":"deny","signature":"AAAA"}`
	h := http.StripPrefix("/deviceauth", e.svc.Handler())
	for _, declared := range []int64{int64(len(body)) - 5, int64(len(body)) + 5} {
		req := httptest.NewRequest(http.MethodPost, "/deviceauth/v1/challenges/"+res.ChallengeID+"/response", strings.NewReader(body))
		req.ContentLength = declared
		writes := e.store.Writes.Load()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var b struct{ Error string }
		json.Unmarshal(rec.Body.Bytes(), &b)
		if rec.Code != http.StatusBadRequest || b.Error != "invalid_request" {
			t.Errorf("Content-Length %d for a body of %d: %d %q, want 400 invalid_request", declared, len(body), rec.Code, b.Error)
		}
		if w := e.store.Writes.Load(); w != writes {
			t.Errorf("Content-Length %d: the store was written %d times", declared, w-writes)
		}
	}
}
