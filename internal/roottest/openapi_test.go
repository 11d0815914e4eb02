package roottest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/openapitest"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/qrcode"
	"github.com/deviceauth/deviceauth/store"
)

// openapiCoverage lists every response of docs/openapi.yaml outside
// /v1/passkey/ (whose ceremonies package passkey's tests drive), by
// operation and status, with the error codes its body may carry. The test
// fails when the document declares a response (or a code) of these paths
// that is not listed here, when a row is not in the document, and when a
// row or one of its codes was not exercised against the real server: the
// document cannot promise what is not tested, and the test cannot skip what
// is documented.
var openapiCoverage = []struct {
	method, path string
	status       int
	codes        []string
}{
	{"POST", "/v1/credentials", 201, nil},
	{"POST", "/v1/credentials", 400, []string{"invalid_request", "unsupported_algorithm", "invalid_key", "invalid_signature"}},
	{"POST", "/v1/credentials", 403, []string{"registration_failed", "attestation_required", "attestation_failed"}},
	{"POST", "/v1/credentials", 409, []string{"credential_limit"}},
	{"POST", "/v1/credentials", 413, []string{"body_too_large"}},
	{"POST", "/v1/credentials", 429, []string{"rate_limited"}},
	{"POST", "/v1/credentials", 503, []string{"unavailable"}},

	{"DELETE", "/v1/credentials/{id}", 204, nil},
	{"DELETE", "/v1/credentials/{id}", 401, []string{"unauthorized"}},
	{"DELETE", "/v1/credentials/{id}", 404, []string{"not_found"}},
	{"DELETE", "/v1/credentials/{id}", 413, []string{"body_too_large"}},
	{"DELETE", "/v1/credentials/{id}", 429, []string{"rate_limited"}},
	{"DELETE", "/v1/credentials/{id}", 503, []string{"unavailable"}},

	{"PUT", "/v1/credentials/{id}/push-token", 204, nil},
	{"PUT", "/v1/credentials/{id}/push-token", 400, []string{"invalid_request"}},
	{"PUT", "/v1/credentials/{id}/push-token", 401, []string{"unauthorized"}},
	{"PUT", "/v1/credentials/{id}/push-token", 404, []string{"not_found"}},
	{"PUT", "/v1/credentials/{id}/push-token", 413, []string{"body_too_large"}},
	{"PUT", "/v1/credentials/{id}/push-token", 429, []string{"rate_limited"}},
	{"PUT", "/v1/credentials/{id}/push-token", 503, []string{"unavailable"}},

	{"GET", "/v1/challenges", 200, nil},
	{"GET", "/v1/challenges", 401, []string{"unauthorized"}},
	{"GET", "/v1/challenges", 413, []string{"body_too_large"}},
	{"GET", "/v1/challenges", 429, []string{"rate_limited"}},
	{"GET", "/v1/challenges", 503, []string{"unavailable"}},

	{"GET", "/v1/challenges/{id}", 200, nil},
	{"GET", "/v1/challenges/{id}", 401, []string{"unauthorized"}},
	{"GET", "/v1/challenges/{id}", 404, []string{"not_found"}},
	{"GET", "/v1/challenges/{id}", 413, []string{"body_too_large"}},
	{"GET", "/v1/challenges/{id}", 429, []string{"rate_limited"}},
	{"GET", "/v1/challenges/{id}", 503, []string{"unavailable"}},

	{"POST", "/v1/challenges/{id}/response", 200, nil},
	{"POST", "/v1/challenges/{id}/response", 400, []string{"invalid_request", "invalid_signature"}},
	{"POST", "/v1/challenges/{id}/response", 403, []string{"invalid_response", "wrong_code", "attestation_required"}},
	{"POST", "/v1/challenges/{id}/response", 409, []string{"challenge_closed"}},
	{"POST", "/v1/challenges/{id}/response", 413, []string{"body_too_large"}},
	{"POST", "/v1/challenges/{id}/response", 429, []string{"rate_limited"}},
	{"POST", "/v1/challenges/{id}/response", 503, []string{"unavailable"}},

	{"POST", "/v1/web/registration-tokens", 201, nil},
	{"POST", "/v1/web/registration-tokens", 400, []string{"invalid_request"}},
	{"POST", "/v1/web/registration-tokens", 401, []string{"unauthenticated", "challenge_required"}},
	{"POST", "/v1/web/registration-tokens", 403, []string{"cross_origin", "step_up_required", "challenge_failed", "blocked", "review"}},
	{"POST", "/v1/web/registration-tokens", 429, []string{"rate_limited"}},
	{"POST", "/v1/web/registration-tokens", 503, []string{"unavailable"}},

	{"GET", "/v1/web/credentials", 200, nil},
	{"GET", "/v1/web/credentials", 400, []string{"invalid_request"}},
	{"GET", "/v1/web/credentials", 401, []string{"unauthenticated"}},
	{"GET", "/v1/web/credentials", 503, []string{"unavailable"}},

	{"DELETE", "/v1/web/credentials/{id}", 204, nil},
	{"DELETE", "/v1/web/credentials/{id}", 401, []string{"unauthenticated", "challenge_required"}},
	{"DELETE", "/v1/web/credentials/{id}", 403, []string{"cross_origin", "step_up_required", "challenge_failed", "blocked", "review"}},
	{"DELETE", "/v1/web/credentials/{id}", 404, []string{"not_found"}},
	{"DELETE", "/v1/web/credentials/{id}", 429, []string{"rate_limited"}},
	{"DELETE", "/v1/web/credentials/{id}", 503, []string{"unavailable"}},

	{"PATCH", "/v1/web/credentials/{id}", 200, nil},
	{"PATCH", "/v1/web/credentials/{id}", 400, []string{"invalid_request"}},
	{"PATCH", "/v1/web/credentials/{id}", 401, []string{"unauthenticated"}},
	{"PATCH", "/v1/web/credentials/{id}", 403, []string{"cross_origin"}},
	{"PATCH", "/v1/web/credentials/{id}", 404, []string{"not_found"}},
	{"PATCH", "/v1/web/credentials/{id}", 413, []string{"body_too_large"}},
	{"PATCH", "/v1/web/credentials/{id}", 503, []string{"unavailable"}},

	{"GET", "/v1/web/challenges/{id}", 200, nil},
	{"GET", "/v1/web/challenges/{id}", 400, []string{"invalid_request"}},
	{"GET", "/v1/web/challenges/{id}", 401, []string{"unauthenticated"}},
	{"GET", "/v1/web/challenges/{id}", 404, []string{"not_found"}},
	{"GET", "/v1/web/challenges/{id}", 503, []string{"unavailable"}},

	{"POST", "/example/transfer", 200, nil},
	{"POST", "/example/transfer", 400, []string{"invalid_request", "invalid_details"}},
	{"POST", "/example/transfer", 401, []string{"unauthenticated", "challenge_required"}},
	{"POST", "/example/transfer", 403, []string{"challenge_failed", "blocked", "review", "enrollment_required"}},
	{"POST", "/example/transfer", 413, []string{"body_too_large"}},
	{"POST", "/example/transfer", 429, []string{"rate_limited"}},
	{"POST", "/example/transfer", 503, []string{"unavailable"}},

	{"POST", "/v1/web/challenges/{id}/passkey/options", 200, nil},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 400, []string{"invalid_request"}},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 401, []string{"unauthenticated"}},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 403, []string{"cross_origin"}},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 404, []string{"not_found"}},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 409, []string{"challenge_closed"}},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 413, []string{"body_too_large"}},
	{"POST", "/v1/web/challenges/{id}/passkey/options", 503, []string{"unavailable"}},

	{"POST", "/v1/web/challenges/{id}/passkey", 200, nil},
	{"POST", "/v1/web/challenges/{id}/passkey", 400, []string{"invalid_request"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 401, []string{"unauthenticated"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 403, []string{"cross_origin", "invalid_assertion", "passkey_clone"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 404, []string{"not_found"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 409, []string{"challenge_closed"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 413, []string{"body_too_large"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 429, []string{"rate_limited"}},
	{"POST", "/v1/web/challenges/{id}/passkey", 503, []string{"unavailable"}},

	{"POST", "/v1/qr", 201, nil},
	{"POST", "/v1/qr", 400, []string{"invalid_request"}},
	{"POST", "/v1/qr", 403, []string{"cross_origin"}},
	{"POST", "/v1/qr", 404, []string{"not_found"}},
	{"POST", "/v1/qr", 413, []string{"body_too_large"}},
	{"POST", "/v1/qr", 429, []string{"rate_limited"}},
	{"POST", "/v1/qr", 503, []string{"unavailable"}},

	{"GET", "/v1/qr/{id}", 200, nil},
	{"GET", "/v1/qr/{id}", 400, []string{"invalid_request"}},
	{"GET", "/v1/qr/{id}", 404, []string{"not_found"}},
	{"GET", "/v1/qr/{id}", 503, []string{"unavailable"}},

	{"GET", "/v1/qr/{id}/events", 200, nil},
	{"GET", "/v1/qr/{id}/events", 400, []string{"invalid_request"}},
	{"GET", "/v1/qr/{id}/events", 404, []string{"not_found"}},
	{"GET", "/v1/qr/{id}/events", 503, []string{"unavailable"}},

	{"POST", "/v1/qr/{id}/complete", 200, nil},
	{"POST", "/v1/qr/{id}/complete", 403, []string{"cross_origin", "challenge_failed"}},
	{"POST", "/v1/qr/{id}/complete", 404, []string{"not_found"}},
	{"POST", "/v1/qr/{id}/complete", 503, []string{"unavailable"}},

	{"POST", "/v1/qr/{id}/claim", 200, nil},
	{"POST", "/v1/qr/{id}/claim", 400, []string{"invalid_request"}},
	{"POST", "/v1/qr/{id}/claim", 401, []string{"unauthorized"}},
	{"POST", "/v1/qr/{id}/claim", 404, []string{"not_found"}},
	{"POST", "/v1/qr/{id}/claim", 409, []string{"challenge_closed"}},
	{"POST", "/v1/qr/{id}/claim", 413, []string{"body_too_large"}},
	{"POST", "/v1/qr/{id}/claim", 429, []string{"rate_limited"}},
	{"POST", "/v1/qr/{id}/claim", 503, []string{"unavailable"}},

	{"GET", "/v1/deviceauth.js", 200, nil},
}

// ownedByRoot says which paths of docs/openapi.yaml the root package's test
// owns: all but the passkey ceremonies (/v1/passkey/…), which package
// passkey's TestOpenAPI_PasskeyResponsesMatchDocument owns.
func ownedByRoot(path string) bool { return !strings.HasPrefix(path, "/v1/passkey/") }

// TestOpenAPI_ResponsesMatchDocument drives every documented response of
// every operation of docs/openapi.yaml outside /v1/passkey/ through a real
// server and validates each request and response against the document.
func TestOpenAPI_ResponsesMatchDocument(t *testing.T) {
	c := &oasCheck{openapitest.Load(t, "../../docs/openapi.yaml")}

	t.Run("main", func(t *testing.T) { c.SetT(t); openapiMainFlows(t, c) })
	t.Run("rate limits", func(t *testing.T) { c.SetT(t); openapiRateLimits(t, c) })
	t.Run("QR", func(t *testing.T) { c.SetT(t); openapiQR(t, c) })
	t.Run("passkey step-up", func(t *testing.T) { c.SetT(t); openapiPasskeyStepUp(t, c) })
	t.Run("attestation", func(t *testing.T) { c.SetT(t); openapiAttestation(t, c) })
	c.SetT(t)

	// The document, the table and what was exercised agree.
	var rows []openapitest.Row
	for _, r := range openapiCoverage {
		rows = append(rows, openapitest.Row{Method: r.method, Path: r.path, Status: r.status, Codes: r.codes})
	}
	c.AssertComplete(rows, ownedByRoot)
}

// openapiMainFlows exercises every response except 429 on one Service.
func openapiMainFlows(t *testing.T, c *oasCheck) {
	ctx := context.Background()
	pol := &switchPolicy{}
	e := newEnv(t, headerUsers, noRateLimits, func(cfg *deviceauth.Config) {
		cfg.Rules = pol
		cfg.MaxCredentialsPerUser = 2
	})
	base := e.srv.URL + "/deviceauth"
	gated := gatedServer(t, e)
	huge := `{"token":"` + strings.Repeat("a", 70<<10) + `"}`
	jsonHeader := map[string]string{"Content-Type": "application/json"}

	// POST /v1/credentials
	alice := c.newDevice(e)
	alice2 := c.newDevice(e)
	c.Expect("register", 201, "", true, func() { alice.Register(ctx, mintTokens(t, e, "alice", 1)[0], "phone", "ios") })
	aliceToken2 := e.addToken(alice.Client, "alice")
	c.Expect("register a second device", 201, "", true, func() { alice2.Register(ctx, aliceToken2, "tablet", "android") })
	if alice.CredentialID == "" || alice2.CredentialID == "" {
		t.Fatal("registration failed")
	}
	reg := func(mod func(m map[string]any)) string {
		return registrationBody(t, mintTokens(t, e, "zoe", 1)[0], mod)
	}
	c.Expect("register: bad JSON", 400, "invalid_request", false, c.Send("POST", base+"/v1/credentials", `{"token":`, jsonHeader))
	c.Expect("register: unknown member", 400, "invalid_request", false, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["admin"] = true }), jsonHeader))
	c.Expect("register: padded base64", 400, "invalid_request", false, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["signature"] = "AAAA==" }), jsonHeader))
	c.Expect("register: missing key", 400, "invalid_request", false, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { delete(m, "publicKey") }), jsonHeader))
	c.Expect("register: control character in name", 400, "invalid_request", false, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["name"] = "a\x07b" }), jsonHeader))
	c.Expect("register: unknown algorithm", 400, "unsupported_algorithm", false, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["algorithm"] = "RS256" }), jsonHeader))
	c.Expect("register: short key", 400, "invalid_key", true, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) {
		m["publicKey"] = m["publicKey"].(string)[:20]
	}), jsonHeader))
	c.Expect("register: P-256 key as EdDSA", 400, "invalid_key", true, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["algorithm"] = "EdDSA" }), jsonHeader))
	c.Expect("register: malformed signature", 400, "invalid_signature", true, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) {
		m["signature"] = protocol.EncodeBase64([]byte{0x30, 0x02, 0x01})
	}), jsonHeader))
	c.Expect("register: unknown signature format", 400, "invalid_signature", false, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["signatureFormat"] = "pem" }), jsonHeader))
	c.Expect("register: unknown token", 403, "registration_failed", true, c.Send("POST", base+"/v1/credentials",
		registrationBody(t, "drt_UNKNOWNUNKNOWNUNKNOWN", func(map[string]any) {}), jsonHeader))
	c.Expect("register: proof over another name", 403, "registration_failed", true, c.Send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["name"] = "other" }), jsonHeader))
	c.Expect("register: oversize body", 413, "body_too_large", false, c.Send("POST", base+"/v1/credentials", huge, jsonHeader))
	carol := c.newDevice(e)
	c.Expect("register carol's device", 201, "", true, func() { carol.Register(ctx, mintTokens(t, e, "carol", 1)[0], "phone", "ios") })
	carolTokens := []string{e.addToken(carol.Client, "carol"), e.addToken(carol.Client, "carol")}
	c.Expect("register carol's device", 201, "", true, func() { c.newDevice(e).Register(ctx, carolTokens[0], "phone", "ios") })
	c.Expect("register over the credential limit", 409, "credential_limit", true, func() { c.newDevice(e).Register(ctx, carolTokens[1], "phone", "ios") })
	erinToken := mintTokens(t, e, "erin", 1)[0]
	e.store.Fail.Store(true)
	c.Expect("register: store down", 503, "unavailable", true, func() { c.newDevice(e).Register(ctx, erinToken, "phone", "ios") })
	e.store.Fail.Store(false)

	// GET /v1/challenges/{id}
	res := e.track("alice", "transfer", transferDetails, false)
	var ch device.Challenge
	fetch := c.Expect("fetch", 200, "", true, func() { ch, _ = alice.Challenge(ctx, res.ChallengeID) })
	c.Expect("fetch: replayed request", 401, "unauthorized", true, c.Resend(fetch))
	c.Expect("fetch: unsigned", 401, "unauthorized", false, c.Send("GET", base+"/v1/challenges/"+res.ChallengeID, "", nil))
	c.Expect("fetch: unknown challenge", 404, "not_found", true, func() { alice.Challenge(ctx, "unknownChallenge") })
	bob := e.enrol("bob", "EdDSA")
	bobRes := e.track("bob", "signIn", deviceauth.Details{}, false)
	c.Expect("fetch: another user's challenge", 404, "not_found", true, func() { alice.Challenge(ctx, bobRes.ChallengeID) })
	c.Expect("fetch: oversize body", 413, "body_too_large", false, c.Send("GET", base+"/v1/challenges/"+res.ChallengeID, huge, nil))
	e.store.Fail.Store(true)
	c.Expect("fetch: store down", 503, "unavailable", true, func() { alice.Challenge(ctx, res.ChallengeID) })
	e.store.Fail.Store(false)

	// GET /v1/challenges
	pending := c.Expect("pending", 200, "", true, func() { alice.Pending(ctx) })
	c.Expect("pending: replayed request", 401, "unauthorized", true, c.Resend(pending))
	c.Expect("pending: unsigned", 401, "unauthorized", false, c.Send("GET", base+"/v1/challenges", "", nil))
	c.Expect("pending: signed for another key", 401, "unauthorized", true, c.signed(alice2, "GET", base+"/v1/challenges", "", func(h http.Header) {
		h.Set("Signature-Input", strings.Replace(h.Get("Signature-Input"), alice2.CredentialID, alice.CredentialID, 1))
	}))
	c.Expect("pending: oversize body", 413, "body_too_large", false, c.Send("GET", base+"/v1/challenges", huge, nil))
	e.store.Fail.Store(true)
	c.Expect("pending: store down", 503, "unavailable", true, func() { alice.Pending(ctx) })
	e.store.Fail.Store(false)

	// POST /v1/challenges/{id}/response
	respPath := base + "/v1/challenges/" + ch.ID + "/response"
	respBody := func(mod func(m map[string]any)) string {
		m := map[string]any{"credentialId": alice.CredentialID, "decision": "approve",
			"signatureFormat": "der", "signature": protocol.EncodeBase64(alice.signDER(t, alice.ResponseMessage(ch, "approve", "", "")))}
		mod(m)
		b, _ := json.Marshal(m)
		return string(b)
	}
	c.Expect("respond: bad JSON", 400, "invalid_request", false, c.Send("POST", respPath, `[`, jsonHeader))
	c.Expect("respond: unknown decision", 400, "invalid_request", false, c.Send("POST", respPath, respBody(func(m map[string]any) { m["decision"] = "maybe" }), jsonHeader))
	c.Expect("respond: denyReason on an approval", 400, "invalid_request", true, c.Send("POST", respPath, respBody(func(m map[string]any) { m["denyReason"] = "oops" }), jsonHeader))
	c.Expect("respond: malformed signature", 400, "invalid_signature", true, c.Send("POST", respPath, respBody(func(m map[string]any) {
		m["signature"] = protocol.EncodeBase64([]byte("garbage"))
	}), jsonHeader))
	c.Expect("respond: unknown credential", 403, "invalid_response", true, c.Send("POST", respPath, respBody(func(m map[string]any) { m["credentialId"] = "unknownCredential" }), jsonHeader))
	c.Expect("respond: signature over another decision", 403, "invalid_response", true, c.Send("POST", respPath, respBody(func(m map[string]any) { m["decision"] = "deny" }), jsonHeader))
	c.Expect("respond: oversize body", 413, "body_too_large", false, c.Send("POST", respPath, huge, jsonHeader))
	e.store.Fail.Store(true)
	c.Expect("respond: store down", 503, "unavailable", true, func() { alice.Approve(ctx, ch, "") })
	e.store.Fail.Store(false)
	c.Expect("approve", 200, "", true, func() { alice.Approve(ctx, ch, "") })
	c.Expect("respond: replayed approval", 409, "challenge_closed", true, func() { alice.Approve(ctx, ch, "") })
	denyRes := e.track("alice", "transfer", transferDetails, false)
	denyCh, err := alice.Challenge(ctx, denyRes.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	c.Expect("deny", 200, "", true, func() { alice.Deny(ctx, denyCh, "mistake") })
	codeRes := e.track("alice", "signIn", deviceauth.Details{}, true)
	codeCh, err := alice.Challenge(ctx, codeRes.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "1" + codeRes.VerificationCode
	c.Expect("respond: wrong code", 403, "wrong_code", true, func() { alice.Approve(ctx, codeCh, wrong) })
	for range 4 { // the fifth wrong code fails the challenge
		c.Expect("respond: wrong code up to the limit", 403, "wrong_code", true, func() { alice.Approve(ctx, codeCh, wrong) })
	}
	if got := string(c.Last().Body); !strings.Contains(got, `"state":"FAILED"`) {
		t.Errorf("the wrong code at the limit answered %s, want state FAILED", got)
	}

	// PUT /v1/credentials/{id}/push-token
	pushPath := base + "/v1/credentials/" + alice.CredentialID + "/push-token"
	c.Expect("set push token", 204, "", true, func() { alice.SetPushToken(ctx, "apns-token-2") })
	setPush := c.Expect("clear push token", 204, "", true, func() { alice.SetPushToken(ctx, "") })
	c.Expect("set push token: replayed request", 401, "unauthorized", true, c.Resend(setPush))
	c.Expect("set push token: unsigned", 401, "unauthorized", false, c.Send("PUT", pushPath, `{"pushToken":"x"}`, jsonHeader))
	c.Expect("set push token: another credential", 404, "not_found", true, c.signed(alice, "PUT", base+"/v1/credentials/"+alice2.CredentialID+"/push-token", `{"pushToken":"x"}`, nil))
	c.Expect("set push token: missing member", 400, "invalid_request", false, c.signed(alice, "PUT", pushPath, `{}`, nil))
	c.Expect("set push token: control character", 400, "invalid_request", false, c.signed(alice, "PUT", pushPath, `{"pushToken":"a\u0007b"}`, nil))
	c.Expect("set push token: oversize body", 413, "body_too_large", false, c.Send("PUT", pushPath, huge, jsonHeader))
	e.store.Fail.Store(true)
	c.Expect("set push token: store down", 503, "unavailable", true, func() { alice.SetPushToken(ctx, "apns-token-3") })
	e.store.Fail.Store(false)

	// DELETE /v1/credentials/{id}
	c.Expect("remove another credential", 404, "not_found", true, c.signed(alice, "DELETE", base+"/v1/credentials/"+alice2.CredentialID, "", nil))
	unsignedRemove := c.Send("DELETE", base+"/v1/credentials/"+alice.CredentialID, "", nil)
	c.Expect("remove: unsigned", 401, "unauthorized", false, unsignedRemove)
	c.Expect("remove: oversize body", 413, "body_too_large", false, c.Send("DELETE", base+"/v1/credentials/"+alice.CredentialID, huge, nil))
	e.store.Fail.Store(true)
	c.Expect("remove: store down", 503, "unavailable", true, func() { alice.Remove(ctx) })
	e.store.Fail.Store(false)
	erin := c.newDevice(e)
	c.Expect("register erin's device", 201, "", true, func() { erin.Register(ctx, mintTokens(t, e, "erin", 1)[0], "phone", "ios") })
	remove := c.Expect("remove itself", 204, "", true, func() { erin.Remove(ctx) })
	c.Expect("remove: replayed request", 401, "unauthorized", true, c.Resend(remove))

	// GET /v1/web/credentials
	web := func(method, path, user, token string, extra map[string]string) func() {
		h := map[string]string{}
		if user != "" {
			h["X-User"] = user
		}
		if token != "" {
			h[deviceauth.TokenHeader] = token
		}
		maps.Copy(h, extra)
		return c.Send(method, base+path, "", h)
	}
	longUser := strings.Repeat("u", 300)
	c.Expect("list", 200, "", true, web("GET", "/v1/web/credentials", "alice", "", nil))
	c.Expect("list: nobody", 401, "unauthenticated", true, web("GET", "/v1/web/credentials", "", "", nil))
	c.Expect("list: bad user ID", 400, "invalid_request", true, web("GET", "/v1/web/credentials", longUser, "", nil))
	e.store.Fail.Store(true)
	c.Expect("list: store down", 503, "unavailable", true, web("GET", "/v1/web/credentials", "alice", "", nil))
	e.store.Fail.Store(false)

	// PATCH /v1/web/credentials/{id}
	rename := func(user, id, body string, extra map[string]string) func() {
		h := map[string]string{"Content-Type": "application/json"}
		if user != "" {
			h["X-User"] = user
		}
		maps.Copy(h, extra)
		return c.Send("PATCH", base+"/v1/web/credentials/"+id, body, h)
	}
	renamed := c.Expect("rename", 200, "", true, rename("alice", alice.CredentialID, `{"name":"Work phone"}`, nil))
	var rc deviceauth.Credential
	if err := json.Unmarshal(renamed.Body, &rc); err != nil || rc.ID != alice.CredentialID || rc.Name != "Work phone" {
		t.Errorf("rename answered %s (%v), want %s named Work phone", renamed.Body, err, alice.CredentialID)
	}
	cs, _ := e.svc.Credentials(ctx, "alice")
	if i := slices.IndexFunc(cs, func(c deviceauth.Credential) bool { return c.ID == alice.CredentialID }); i < 0 || cs[i].Name != "Work phone" {
		t.Errorf("after the rename, alice's credentials are %+v", cs)
	}
	c.Expect("rename: empty name", 400, "invalid_request", false, rename("alice", alice.CredentialID, `{"name":""}`, nil))
	c.Expect("rename: control character", 400, "invalid_request", false, rename("alice", alice.CredentialID, `{"name":"a\u0007b"}`, nil))
	c.Expect("rename: name over 64 bytes", 400, "invalid_request", false, rename("alice", alice.CredentialID, `{"name":"`+strings.Repeat("n", 65)+`"}`, nil))
	c.Expect("rename: unknown member", 400, "invalid_request", false, rename("alice", alice.CredentialID, `{"name":"x","kind":"passkey"}`, nil))
	c.Expect("rename: nobody", 401, "unauthenticated", true, rename("", alice.CredentialID, `{"name":"x"}`, nil))
	c.Expect("rename: cross-origin", 403, "cross_origin", true, rename("alice", alice.CredentialID, `{"name":"x"}`,
		map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}))
	c.Expect("rename: another user's credential", 404, "not_found", true, rename("alice", bob.CredentialID, `{"name":"x"}`, nil))
	c.Expect("rename: unknown credential", 404, "not_found", true, rename("alice", "unknownCredential", `{"name":"x"}`, nil))
	c.Expect("rename: oversize body", 413, "body_too_large", false, rename("alice", alice.CredentialID, huge, nil))
	e.store.Fail.Store(true)
	c.Expect("rename: store down", 503, "unavailable", true, rename("alice", alice.CredentialID, `{"name":"x"}`, nil))
	e.store.Fail.Store(false)

	// GET /v1/web/challenges/{id}
	watched := e.track("alice", "transfer", transferDetails, false)
	stateOf := func(x openapitest.Exchange) string {
		var st deviceauth.QRStatus
		json.Unmarshal(x.Body, &st)
		return st.State
	}
	statePath := "/v1/web/challenges/" + watched.ChallengeID
	if st := stateOf(c.Expect("challenge state", 200, "", true, web("GET", statePath, "alice", "", nil))); st != "PENDING" {
		t.Errorf("challenge state %s, want PENDING", st)
	}
	before := e.clock.Timers()
	longPoll := c.Expect("challenge state: long-poll until approved", 200, "", true, func() {
		done := make(chan struct{})
		go func() { defer close(done); web("GET", statePath+"?since=PENDING&wait=25s", "alice", "", nil)() }()
		waitForTimers(t, e.clock, before+1) // the deadline
		unrecorded := *alice.Client         // the phone's requests are not this exchange's
		unrecorded.HTTPClient = nil
		approve(t, &unrecorded, watched.ChallengeID, watched.VerificationCode)
		<-done
	})
	if st := stateOf(longPoll); st != "APPROVED" {
		t.Errorf("long-poll state %s, want APPROVED", st)
	}
	c.Expect("challenge state: wait is not a duration", 400, "invalid_request", false, web("GET", statePath+"?wait=soon", "alice", "", nil))
	c.Expect("challenge state: nobody", 401, "unauthenticated", true, web("GET", statePath, "", "", nil))
	c.Expect("challenge state: another user's challenge", 404, "not_found", true, web("GET", statePath, "bob", "", nil))
	c.Expect("challenge state: unknown challenge", 404, "not_found", true, web("GET", "/v1/web/challenges/ch_unknown", "alice", "", nil))
	e.store.Fail.Store(true)
	c.Expect("challenge state: store down", 503, "unavailable", true, web("GET", statePath, "alice", "", nil))
	e.store.Fail.Store(false)

	// POST /v1/web/registration-tokens and DELETE /v1/web/credentials/{id}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	stepUps := []struct{ method, path string }{
		{"POST", "/v1/web/registration-tokens"},
		{"DELETE", "/v1/web/credentials/" + alice2.CredentialID},
	}
	for _, op := range stepUps {
		name := op.method + " " + op.path
		c.Expect(name+": nobody", 401, "unauthenticated", true, web(op.method, op.path, "", "", nil))
		c.Expect(name+": cross-origin", 403, "cross_origin", true, web(op.method, op.path, "alice", "", cross))
		step := c.Expect(name+": no step-up token", 401, "challenge_required", true, web(op.method, op.path, "alice", "", nil))
		var d deviceauth.DenialBody
		if err := json.Unmarshal(step.Body, &d); err != nil {
			t.Fatal(err)
		}
		c.Expect(name+": unapproved token", 403, "challenge_failed", true, web(op.method, op.path, "alice", d.Token, nil))
		for _, p := range []struct {
			state deviceauth.ActionState
			code  string
		}{{deviceauth.StateBlock, "blocked"}, {deviceauth.StateReview, "review"}, {deviceauth.StateAllow, "step_up_required"}} {
			pol.set(p.state)
			c.Expect(name+": policy "+string(p.state), 403, p.code, true, web(op.method, op.path, "alice", "", nil))
		}
		pol.set("")
		e.store.Fail.Store(true)
		c.Expect(name+": store down", 503, "unavailable", true, web(op.method, op.path, "alice", "", nil))
		e.store.Fail.Store(false)
		approve(t, alice.Client, d.ChallengeID, d.VerificationCode)
		if op.method == "POST" {
			c.Expect(name+": approved step-up", 201, "", true, web(op.method, op.path, "alice", d.Token, nil))
		} else {
			c.Expect(name+": approved step-up", 204, "", true, web(op.method, op.path, "alice", d.Token, nil))
		}
	}
	c.Expect("mint: first device, no step-up", 201, "", true, web("POST", "/v1/web/registration-tokens", "dave", "", nil))
	c.Expect("mint: bad user ID", 400, "invalid_request", true, web("POST", "/v1/web/registration-tokens", longUser, "", nil))
	c.Expect("remove from the web: unknown credential", 404, "not_found", true, web("DELETE", "/v1/web/credentials/unknownCredential", "alice", "", nil))
	c.Expect("remove from the web: another user's credential", 404, "not_found", true, web("DELETE", "/v1/web/credentials/"+bob.CredentialID, "alice", "", nil))
	c.Expect("remove from the web: the last credential, no step-up", 401, "challenge_required", true, web("DELETE", "/v1/web/credentials/"+bob.CredentialID, "bob", "", nil))

	// POST /example/transfer (Require)
	transfer := func(user, token, amount, payee string) func() {
		h := map[string]string{"Content-Type": "application/json"}
		if user != "" {
			h["X-User"] = user
		}
		if token != "" {
			h[deviceauth.TokenHeader] = token
		}
		b, _ := json.Marshal(transferBody{Amount: amount, Payee: payee})
		return c.Send("POST", gated+"/example/transfer", string(b), h)
	}
	c.Expect("gated: nobody", 401, "unauthenticated", true, transfer("", "", "10", "Bob"))
	c.Expect("gated: no credential", 403, "enrollment_required", true, transfer("frank", "", "10", "Bob"))
	gate := c.Expect("gated: no token", 401, "challenge_required", true, transfer("alice", "", "10", "Bob"))
	var d deviceauth.DenialBody
	if err := json.Unmarshal(gate.Body, &d); err != nil {
		t.Fatal(err)
	}
	c.Expect("gated: unapproved token", 403, "challenge_failed", true, transfer("alice", d.Token, "10", "Bob"))
	approve(t, alice.Client, d.ChallengeID, d.VerificationCode)
	c.Expect("gated: token for other details", 403, "challenge_failed", true, transfer("alice", d.Token, "9999", "Bob"))
	c.Expect("gated: approved token", 200, "", true, transfer("alice", d.Token, "10", "Bob"))
	c.Expect("gated: used token", 403, "challenge_failed", true, transfer("alice", d.Token, "10", "Bob"))
	c.Expect("gated: not a transfer", 400, "invalid_request", false, c.Send("POST", gated+"/example/transfer", "not json", map[string]string{"X-User": "alice", "Content-Type": "application/json"}))
	c.Expect("gated: bidi control in the payee", 400, "invalid_details", true, transfer("alice", "", "10", "Bob\u202e"))
	c.Expect("gated: oversize body", 413, "body_too_large", true, transfer("alice", "", strings.Repeat("9", 70<<10), "Bob"))
	pol.set(deviceauth.StateBlock)
	c.Expect("gated: policy BLOCK", 403, "blocked", true, transfer("alice", "", "10", "Bob"))
	pol.set(deviceauth.StateReview)
	c.Expect("gated: policy REVIEW", 403, "review", true, transfer("alice", "", "10", "Bob"))
	pol.set(deviceauth.StateAllow)
	c.Expect("gated: policy ALLOW", 200, "", true, transfer("alice", "", "10", "Bob"))
	pol.set("")
	e.store.Fail.Store(true)
	c.Expect("gated: store down", 503, "unavailable", true, transfer("alice", "", "10", "Bob"))
	e.store.Fail.Store(false)
}

// openapiRateLimits exercises the 429 of every operation that has one, on
// a Service with tiny limits.
func openapiRateLimits(t *testing.T, c *oasCheck) {
	ctx := context.Background()
	e := newEnv(t, headerUsers, func(cfg *deviceauth.Config) {
		hour := time.Hour
		cfg.RateLimits = deviceauth.RateLimits{
			Register:   deviceauth.Rate{Limit: 2, Window: hour},
			Fetch:      deviceauth.Rate{Limit: 1, Window: hour},
			Respond:    deviceauth.Rate{Limit: 1, Window: hour},
			Challenges: deviceauth.Rate{Limit: 1, Window: hour},
			QR:         deviceauth.Rate{Limit: 1, Window: hour},
		}
		cfg.Passkeys = &webauthnPasskeys{}
	})
	gated := gatedServer(t, e)
	alice := c.newDevice(e)
	c.Expect("register", 201, "", true, func() { alice.Register(ctx, mintTokens(t, e, "alice", 1)[0], "phone", "ios") })
	c.Expect("register", 201, "", true, func() { c.newDevice(e).Register(ctx, mintTokens(t, e, "bob", 1)[0], "tablet", "ios") })
	c.Expect("register over the rate", 429, "rate_limited", true, func() { c.newDevice(e).Register(ctx, mintTokens(t, e, "carol", 1)[0], "phone", "ios") })

	res := e.track("alice", "transfer", deviceauth.Details{}, false) // the user's one challenge
	var ch device.Challenge
	c.Expect("fetch", 200, "", true, func() { ch, _ = alice.Challenge(ctx, res.ChallengeID) })
	c.Expect("fetch over the rate", 429, "rate_limited", true, func() { alice.Challenge(ctx, res.ChallengeID) })
	c.Expect("pending over the rate", 429, "rate_limited", true, func() { alice.Pending(ctx) })
	c.Expect("remove over the rate", 429, "rate_limited", true, func() { alice.Remove(ctx) })
	c.Expect("set push token over the rate", 429, "rate_limited", true, func() { alice.SetPushToken(ctx, "apns-token") })
	c.Expect("approve", 200, "", true, func() { alice.Approve(ctx, ch, "") })
	c.Expect("respond over the rate", 429, "rate_limited", true, func() { alice.Approve(ctx, ch, "") })

	base := e.srv.URL + "/deviceauth"
	user := map[string]string{"X-User": "alice"}
	c.Expect("mint: challenges over the rate", 429, "rate_limited", true, c.Send("POST", base+"/v1/web/registration-tokens", "", user))
	c.Expect("remove from the web: challenges over the rate", 429, "rate_limited", true, c.Send("DELETE", base+"/v1/web/credentials/"+alice.CredentialID, "", user))
	c.Expect("gated: challenges over the rate", 429, "rate_limited", true, c.Send("POST", gated+"/example/transfer", `{"amount":"10","payee":"Bob"}`,
		map[string]string{"X-User": "alice", "Content-Type": "application/json"}))
	c.Expect("passkey step-up: responses over the rate", 429, "rate_limited", true, c.Send("POST", base+"/v1/web/challenges/"+res.ChallengeID+"/passkey",
		webauthnAssertion([]byte("raw"), protocol.EncodeBase64(make([]byte, 32)), 1), map[string]string{"X-User": "alice", "Content-Type": "application/json"}))

	qr := c.Expect("QR", 201, "", true, c.Send("POST", base+"/v1/qr", "", nil))
	c.Expect("QR over the rate", 429, "rate_limited", true, c.Send("POST", base+"/v1/qr", "", nil))
	var qc deviceauth.QRChallenge
	json.Unmarshal(qr.Body, &qc)
	code, err := device.ParseQRPayload(qc.Payload)
	if err != nil {
		t.Fatal(err)
	}
	c.Expect("QR claim: signed requests over the rate", 429, "rate_limited", true, func() { alice.Claim(ctx, code) })
}

// openapiQR exercises the QR sign-in endpoints and the browser script.
func openapiQR(t *testing.T, c *oasCheck) {
	ctx := context.Background()
	q := newQREnv(t, noRateLimits, func(cfg *deviceauth.Config) {
		cfg.RateLimits.QR = deviceauth.Rate{Limit: -1}
		cfg.QRCode = qrcode.PNG
	})
	base := q.srv.URL + "/deviceauth"
	jsonHeader := map[string]string{"Content-Type": "application/json"}
	sameOrigin := map[string]string{"Content-Type": "application/json", "Origin": q.srv.URL}
	cross := map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	huge := `{"action":"` + strings.Repeat("a", 70<<10) + `"}`
	browser, other := c.Browser(), c.Browser()
	create := func(b *http.Client, body string, header map[string]string) func() {
		return c.SendWith(b, "POST", base+"/v1/qr", body, header)
	}
	created := func(what string, b *http.Client, body string, header map[string]string) deviceauth.QRChallenge {
		t.Helper()
		x := c.Expect(what, 201, "", true, create(b, body, header))
		var qc deviceauth.QRChallenge
		if err := json.Unmarshal(x.Body, &qc); err != nil {
			t.Fatal(err)
		}
		return qc
	}

	// POST /v1/qr
	first := created("create", browser, `{"action":"signIn"}`, sameOrigin)
	// The challenge's own binding cookie, for its lifetime and a long-poll more.
	if got, want := c.Last().Header.Values("Set-Cookie"), []string{
		qrBindingCookie(first.ChallengeID) + "=" + jarCookie(t, browser, base, qrBindingCookie(first.ChallengeID)) +
			"; Path=/deviceauth; Max-Age=360; HttpOnly; SameSite=Strict",
	}; !slices.Equal(got, want) {
		t.Errorf("create: Set-Cookie %q, want %q", got, want)
	}
	created("create without a body", browser, "", nil)
	created("create: empty object", browser, `{}`, jsonHeader)
	created("another browser creates its own", other, "", nil)
	refreshed := created("refresh", browser, `{"replaces":"`+first.ChallengeID+`"}`, jsonHeader)
	c.Expect("create: bad JSON", 400, "invalid_request", false, create(browser, `{"action":`, jsonHeader))
	c.Expect("create: unknown member", 400, "invalid_request", false, create(browser, `{"user":"alice"}`, jsonHeader))
	c.Expect("create: bad action", 400, "invalid_request", false, create(browser, `{"action":"sign in"}`, jsonHeader))
	c.Expect("create: replaces is not an ID", 400, "invalid_request", false, create(browser, `{"replaces":"not an ID"}`, jsonHeader))
	c.Expect("create: cross-origin", 403, "cross_origin", true, create(browser, `{}`, cross))
	c.Expect("create: replacing another browser's challenge", 404, "not_found", true, create(other, `{"replaces":"`+refreshed.ChallengeID+`"}`, jsonHeader))
	// Another challenge's binding cookie, even of the same browser, binds only that one.
	otherCookie := map[string]string{"Content-Type": "application/json",
		"Cookie": qrBindingCookie(first.ChallengeID) + "=" + jarCookie(t, browser, base, qrBindingCookie(first.ChallengeID))}
	c.Expect("create: replacing with another challenge's cookie", 404, "not_found", true, c.Send("POST", base+"/v1/qr", `{"replaces":"`+refreshed.ChallengeID+`"}`, otherCookie))
	c.Expect("create: oversize body", 413, "body_too_large", false, create(browser, huge, jsonHeader))
	q.store.Fail.Store(true)
	c.Expect("create: store down", 503, "unavailable", true, create(browser, `{}`, jsonHeader))
	q.store.Fail.Store(false)

	// GET /v1/qr/{id}
	state := func(b *http.Client, id, query string) func() {
		return c.SendWith(b, "GET", base+"/v1/qr/"+id+query, "", nil)
	}
	stateOf := func(x openapitest.Exchange) string {
		var st deviceauth.QRStatus
		json.Unmarshal(x.Body, &st)
		return st.State
	}
	if st := stateOf(c.Expect("state", 200, "", true, state(browser, refreshed.ChallengeID, ""))); st != "UNCLAIMED" {
		t.Errorf("state %s, want UNCLAIMED", st)
	}
	if st := stateOf(c.Expect("state: replaced", 200, "", true, state(browser, first.ChallengeID, ""))); st != "SUPERSEDED" {
		t.Errorf("replaced state %s, want SUPERSEDED", st)
	}
	c.Expect("state: changed since", 200, "", true, state(browser, refreshed.ChallengeID, "?since=PENDING&wait=25s"))
	before := q.clock.Timers()
	longPoll := c.Expect("state: long-poll until the deadline", 200, "", true, func() {
		done := make(chan struct{})
		go func() { defer close(done); state(browser, refreshed.ChallengeID, "?since=UNCLAIMED&wait=25s")() }()
		waitForTimers(t, q.clock, before+2) // the deadline and the poll
		q.clock.Advance(25 * time.Second)
		<-done
	})
	if st := stateOf(longPoll); st != "UNCLAIMED" {
		t.Errorf("long-poll state %s, want UNCLAIMED", st)
	}
	c.Expect("state: wait is not a duration", 400, "invalid_request", false, state(browser, refreshed.ChallengeID, "?wait=soon"))
	c.Expect("state: negative wait", 400, "invalid_request", false, state(browser, refreshed.ChallengeID, "?since=UNCLAIMED&wait=-5s"))
	c.Expect("state: unknown challenge", 404, "not_found", true, state(browser, "ch_unknown", ""))
	c.Expect("state: another browser's challenge", 404, "not_found", true, state(other, refreshed.ChallengeID, ""))
	c.Expect("state: no binding cookie", 404, "not_found", true, state(c.Browser(), refreshed.ChallengeID, ""))
	c.Expect("state: another challenge's binding cookie", 404, "not_found", true, c.Send("GET", base+"/v1/qr/"+refreshed.ChallengeID, "", otherCookie))
	q.store.Fail.Store(true)
	c.Expect("state: store down", 503, "unavailable", true, state(browser, refreshed.ChallengeID, ""))
	q.store.Fail.Store(false)

	// GET /v1/qr/{id}/events
	events := func(b *http.Client, id string) func() {
		return c.SendWith(b, "GET", base+"/v1/qr/"+id+"/events", "", nil)
	}
	eventsOf := func(x openapitest.Exchange) []string {
		t.Helper()
		evs, err := openapitest.ParseEvents(x.Body)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, ev := range evs {
			var st deviceauth.QRStatus
			json.Unmarshal([]byte(ev.Data), &st)
			out = append(out, ev.Type+" "+st.State)
		}
		return out
	}
	if got := eventsOf(c.Expect("events of a replaced challenge", 200, "", true, events(browser, first.ChallengeID))); !slices.Equal(got, []string{"state SUPERSEDED"}) {
		t.Errorf("events of a replaced challenge: %q", got)
	}
	carol := q.enrol("carol", "ES256") // not recorded: it acts while the stream is open
	watched := created("create a challenge to watch", browser, "", nil)
	before = q.clock.Timers()
	stream := c.Expect("events: claimed, then denied", 200, "", true, func() {
		done := make(chan struct{})
		go func() { defer close(done); events(browser, watched.ChallengeID)() }()
		waitForTimers(t, q.clock, before+2)
		code, _ := device.ParseQRPayload(watched.Payload)
		if ch, err := carol.Claim(ctx, code); err != nil {
			t.Errorf("Claim: %v", err)
		} else {
			waitForTimers(t, q.clock, before+4)
			if _, err := carol.Deny(ctx, ch, "not_me"); err != nil {
				t.Errorf("Deny: %v", err)
			}
		}
		<-done
	})
	if got := eventsOf(stream); !slices.Equal(got, []string{"state UNCLAIMED", "state PENDING", "state DENIED"}) {
		t.Errorf("events: %q", got)
	}
	failing := created("create a challenge whose store fails", browser, "", nil)
	before = q.clock.Timers()
	stream = c.Expect("events: the store fails while waiting", 200, "", true, func() {
		done := make(chan struct{})
		go func() { defer close(done); events(browser, failing.ChallengeID)() }()
		waitForTimers(t, q.clock, before+2)
		q.store.Fail.Store(true)
		q.clock.Advance(deviceauth.MaxLongPoll)
		<-done
		q.store.Fail.Store(false)
	})
	if got := eventsOf(stream); len(got) < 2 || got[0] != "state UNCLAIMED" || got[len(got)-1] != "error " {
		t.Errorf("events with a failing store: %q", got)
	}
	// Behind a server whose ResponseWriter cannot flush, streaming is refused.
	noFlush := httptest.NewServer(http.StripPrefix("/deviceauth", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q.svc.Handler().ServeHTTP(struct{ http.ResponseWriter }{w}, r)
	})))
	t.Cleanup(noFlush.Close)
	c.Expect("events: no streaming", 400, "invalid_request", true, c.SendWith(browser, "GET", noFlush.URL+"/deviceauth/v1/qr/"+refreshed.ChallengeID+"/events", "", nil))
	c.Expect("events: unknown challenge", 404, "not_found", true, events(browser, "ch_unknown"))
	c.Expect("events: another browser's challenge", 404, "not_found", true, events(other, refreshed.ChallengeID))
	c.Expect("events: no binding cookie", 404, "not_found", true, events(c.Browser(), refreshed.ChallengeID))
	q.store.Fail.Store(true)
	c.Expect("events: store down", 503, "unavailable", true, events(browser, refreshed.ChallengeID))
	q.store.Fail.Store(false)

	// POST /v1/qr/{id}/claim
	phone := c.newDevice(q.env)
	c.Expect("register the phone", 201, "", true, func() { phone.Register(ctx, mintTokens(t, q.env, "alice", 1)[0], "phone", "ios") })
	claimed := created("create a challenge to claim", browser, `{}`, sameOrigin)
	code, err := device.ParseQRPayload(claimed.Payload)
	if err != nil {
		t.Fatal(err)
	}
	claimPath := base + "/v1/qr/" + code.ChallengeID + "/claim"
	claimBody := `{"claimSecret":"` + code.ClaimSecret + `"}`
	c.Expect("claim: unsigned", 401, "unauthorized", false, c.Send("POST", claimPath, claimBody, jsonHeader))
	c.Expect("claim: oversize body", 413, "body_too_large", false, c.Send("POST", claimPath, huge, jsonHeader))
	c.Expect("claim: bad JSON", 400, "invalid_request", false, c.signed(phone, "POST", claimPath, `{"claimSecret":`, nil))
	c.Expect("claim: unknown member", 400, "invalid_request", false, c.signed(phone, "POST", claimPath, `{"claimSecret":"`+code.ClaimSecret+`","user":"bob"}`, nil))
	c.Expect("claim: wrong secret", 404, "not_found", true, c.signed(phone, "POST", claimPath, `{"claimSecret":"`+strings.Repeat("A", 43)+`"}`, nil))
	c.Expect("claim: malformed secret", 400, "invalid_request", false, c.signed(phone, "POST", claimPath, `{"claimSecret":"x"}`, nil))
	c.Expect("claim: malformed secret, unknown challenge", 400, "invalid_request", false, c.signed(phone, "POST", base+"/v1/qr/ch_unknown/claim", `{"claimSecret":"x"}`, nil))
	c.Expect("claim: no secret", 400, "invalid_request", false, c.signed(phone, "POST", claimPath, `{}`, nil))
	c.Expect("claim: unknown challenge", 404, "not_found", true, c.signed(phone, "POST", base+"/v1/qr/ch_unknown/claim", claimBody, nil))
	q.store.Fail.Store(true)
	c.Expect("claim: store down", 503, "unavailable", true, c.signed(phone, "POST", claimPath, claimBody, nil))
	q.store.Fail.Store(false)
	claim := c.Expect("claim", 200, "", true, c.signed(phone, "POST", claimPath, claimBody, nil))
	var view device.Challenge
	if err := json.Unmarshal(claim.Body, &view); err != nil || view.Origin != q.srv.URL || view.State != "PENDING" || !view.VerificationCodeRequired {
		t.Errorf("claimed challenge %s (%v): want PENDING, origin %s, a verification code", claim.Body, err, q.srv.URL)
	}
	c.Expect("claim: replayed request", 401, "unauthorized", true, c.Resend(claim))
	if x := c.Expect("claim: claimed already", 409, "challenge_closed", true, c.signed(phone, "POST", claimPath, claimBody, nil)); stateOf(x) != "PENDING" {
		t.Errorf("claim of a claimed challenge: %s, want state PENDING", x.Body)
	}

	// POST /v1/qr/{id}/complete
	complete := func(b *http.Client, header map[string]string) func() {
		return c.SendWith(b, "POST", base+"/v1/qr/"+claimed.ChallengeID+"/complete", "", header)
	}
	c.Expect("complete before approval", 403, "challenge_failed", true, complete(browser, nil))
	c.Expect("approve", 200, "", true, func() { phone.Approve(ctx, view, claimed.VerificationCode) })
	c.Expect("complete: cross-origin", 403, "cross_origin", true, complete(browser, cross))
	c.Expect("complete: another browser", 403, "challenge_failed", true, complete(other, nil))
	c.Expect("complete: no binding cookie", 403, "challenge_failed", true, complete(c.Browser(), nil))
	c.Expect("complete: another challenge's binding cookie", 403, "challenge_failed", true, complete(c.Browser(), map[string]string{
		"Cookie": qrBindingCookie(claimed.ChallengeID) + "=" + jarCookie(t, browser, base, qrBindingCookie(refreshed.ChallengeID)) + "; " +
			qrBindingCookie(refreshed.ChallengeID) + "=" + jarCookie(t, browser, base, qrBindingCookie(refreshed.ChallengeID)),
	}))
	q.store.Fail.Store(true)
	c.Expect("complete: store down", 503, "unavailable", true, complete(browser, nil))
	q.store.Fail.Store(false)
	if len(q.signIns()) != 0 {
		t.Fatalf("signed in before the completion: %v", q.signIns())
	}
	done := c.Expect("complete", 200, "", true, complete(browser, nil))
	// The application's session, then the used challenge's binding cookie cleared.
	if got, want := done.Header.Values("Set-Cookie"), []string{
		"app=session-of-alice", qrBindingCookie(claimed.ChallengeID) + "=; Path=/deviceauth; Max-Age=0; HttpOnly; SameSite=Strict",
	}; !slices.Equal(q.signIns(), []string{"alice"}) || !slices.Equal(got, want) {
		t.Errorf("completion signed in %v with Set-Cookie %q, want [alice] with %q", q.signIns(), got, want)
	}
	c.Expect("complete again", 403, "challenge_failed", true, complete(browser, nil))
	bare := newEnv(t) // no Config.SignIn
	c.Expect("complete: QR sign-in not configured", 404, "not_found", true, c.Send("POST", bare.srv.URL+"/deviceauth/v1/qr/"+claimed.ChallengeID+"/complete", "",
		map[string]string{"Cookie": qrBindingCookie(claimed.ChallengeID) + "=" + strings.Repeat("A", 43)}))

	// GET /v1/deviceauth.js
	script := c.Expect("script", 200, "", true, c.Send("GET", base+"/v1/deviceauth.js", "", nil))
	if !strings.Contains(string(script.Body), "qrSignIn") {
		t.Errorf("deviceauth.js without qrSignIn")
	}
}

// openapiPasskeyStepUp exercises the passkey step-up endpoints with a
// verifier that speaks WebAuthn's JSON (package passkey's own test checks
// the real one against the document too).
func openapiPasskeyStepUp(t *testing.T, c *oasCheck) {
	ctx := context.Background()
	pk := &webauthnPasskeys{}
	e := newEnv(t, headerUsers, noRateLimits, func(cfg *deviceauth.Config) { cfg.Passkeys = pk })
	base := e.srv.URL + "/deviceauth"
	rawID := []byte("alice's passkey")
	cred := addFakePasskey(t, e, "alice", rawID, 5)
	pk.add(cred.ID, rawID)
	e.enrol("bob", "ES256") // a device, no passkey
	track := func(user string, methods ...deviceauth.Method) string {
		t.Helper()
		res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: user, Action: "transfer", Details: transferDetails, Methods: methods})
		if err != nil || res.ChallengeID == "" {
			t.Fatalf("Track = %+v, %v", res, err)
		}
		return res.ChallengeID
	}
	post := func(path, user, body string, extra map[string]string) func() {
		h := map[string]string{}
		if user != "" {
			h["X-User"] = user
		}
		if body != "" {
			h["Content-Type"] = "application/json"
		}
		maps.Copy(h, extra)
		return c.Send("POST", base+path, body, h)
	}
	options := func(id string) string { return "/v1/web/challenges/" + id + "/passkey/options" }
	respond := func(id string) string { return "/v1/web/challenges/" + id + "/passkey" }
	challengeOf := func(x openapitest.Exchange) string {
		var o struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		json.Unmarshal(x.Body, &o)
		return o.PublicKey.Challenge
	}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}

	// POST /v1/web/challenges/{id}/passkey/options
	id := track("alice", deviceauth.MethodDevice, deviceauth.MethodPasskey)
	wc := challengeOf(c.Expect("options", 200, "", true, post(options(id), "alice", `{}`, nil)))
	c.Expect("options without a body", 200, "", true, post(options(id), "alice", "", nil))
	c.Expect("options: nobody", 401, "unauthenticated", true, post(options(id), "", `{}`, nil))
	c.Expect("options: cross-origin", 403, "cross_origin", true, post(options(id), "alice", `{}`, cross))
	c.Expect("options: bad JSON", 400, "invalid_request", false, post(options(id), "alice", `{`, nil))
	c.Expect("options: a member", 400, "invalid_request", false, post(options(id), "alice", `{"challenge":"mine"}`, nil))
	c.Expect("options: oversize body", 413, "body_too_large", false, post(options(id), "alice", `{"a":"`+strings.Repeat("A", 70<<10)+`"}`, nil))
	deviceOnly := track("alice", deviceauth.MethodDevice)
	c.Expect("options: no PASSKEY method", 400, "invalid_request", true, post(options(deviceOnly), "alice", `{}`, nil))
	c.Expect("options: unknown challenge", 404, "not_found", true, post(options("ch_unknown"), "alice", `{}`, nil))
	bobs := track("bob", deviceauth.MethodPasskey)
	c.Expect("options: another user's challenge", 404, "not_found", true, post(options(bobs), "alice", `{}`, nil))
	c.Expect("options: a user without a passkey", 404, "not_found", true, post(options(bobs), "bob", `{}`, nil))
	bare := newEnv(t, headerUsers) // no Config.Passkeys
	c.Expect("options: passkeys not configured", 404, "not_found", true, c.Send("POST", bare.srv.URL+"/deviceauth"+options(id), "", map[string]string{"X-User": "alice"}))
	e.store.Fail.Store(true)
	c.Expect("options: store down", 503, "unavailable", true, post(options(id), "alice", `{}`, nil))
	e.store.Fail.Store(false)

	// POST /v1/web/challenges/{id}/passkey
	good := webauthnAssertion(rawID, wc, 6)
	c.Expect("respond: nobody", 401, "unauthenticated", true, post(respond(id), "", good, nil))
	c.Expect("respond: cross-origin", 403, "cross_origin", true, post(respond(id), "alice", good, cross))
	c.Expect("respond: not JSON", 400, "invalid_request", false, post(respond(id), "alice", `{"id":`, nil))
	c.Expect("respond: not an object", 400, "invalid_request", false, post(respond(id), "alice", `["id"]`, nil))
	c.Expect("respond: empty body", 400, "invalid_request", false, post(respond(id), "alice", "", nil))
	c.Expect("respond: client data the verifier cannot parse", 400, "invalid_request", true, post(respond(id), "alice", withClientData(t, good, "AA"), nil))
	other := challengeOf(c.Expect("options of another challenge", 200, "", true, post(options(track("alice", deviceauth.MethodPasskey)), "alice", `{}`, nil)))
	c.Expect("respond: assertion over another challenge", 403, "invalid_assertion", true, post(respond(id), "alice", webauthnAssertion(rawID, other, 6), nil))
	c.Expect("respond: no PASSKEY method", 400, "invalid_request", true, post(respond(deviceOnly), "alice", good, nil))
	c.Expect("respond: unknown challenge", 404, "not_found", true, post(respond("ch_unknown"), "alice", good, nil))
	c.Expect("respond: oversize body", 413, "body_too_large", false, post(respond(id), "alice", `{"id":"`+strings.Repeat("A", 70<<10)+`"}`, nil))
	e.store.Fail.Store(true)
	c.Expect("respond: store down", 503, "unavailable", true, post(respond(id), "alice", good, nil))
	e.store.Fail.Store(false)
	c.Expect("respond", 200, "", true, post(respond(id), "alice", good, nil))
	// A closed challenge's 409 carries its state, as every challenge_closed does.
	for _, x := range []openapitest.Exchange{
		c.Expect("options: answered challenge", 409, "challenge_closed", true, post(options(id), "alice", `{}`, nil)),
		c.Expect("respond: answered challenge", 409, "challenge_closed", true, post(respond(id), "alice", good, nil)),
	} {
		if !strings.Contains(string(x.Body), `"state":"APPROVED"`) {
			t.Errorf("%s %s: %s, want state APPROVED", x.Method, x.URL.Path, x.Body)
		}
	}
	next := track("alice", deviceauth.MethodPasskey)
	wc = challengeOf(c.Expect("options", 200, "", true, post(options(next), "alice", "", nil)))
	c.Expect("respond: counter backwards", 403, "passkey_clone", true, post(respond(next), "alice", webauthnAssertion(rawID, wc, 3), nil))
	list := c.Expect("list with the clone warning", 200, "", true, c.Send("GET", base+"/v1/web/credentials", "", map[string]string{"X-User": "alice"}))
	if !strings.Contains(string(list.Body), `"cloneWarning":true`) {
		t.Errorf("the credential list has no clone warning: %s", list.Body)
	}
}

// webauthnPasskeys stands in for package passkey where the document is
// checked: unlike fakePasskeys it speaks WebAuthn's JSON — request options
// as go-webauthn gives them, assertions as PublicKeyCredential.toJSON() —
// but it checks no signature: an assertion verifies when its client data
// names the challenge asked for. The counter is the authenticator data's.
type webauthnPasskeys struct {
	fakePasskeys // its registration ceremony; the step-up methods are its own
	mu           sync.Mutex
	raw          map[string][]byte // credential ID → WebAuthn raw ID
}

func (p *webauthnPasskeys) add(id string, raw []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.raw == nil {
		p.raw = map[string][]byte{}
	}
	p.raw[id] = raw
}

func (p *webauthnPasskeys) AssertionOptions(_ context.Context, challenge []byte, creds []store.Credential) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	allow := []map[string]any{}
	for _, c := range creds {
		allow = append(allow, map[string]any{"type": "public-key", "id": protocol.EncodeBase64(p.raw[c.ID]), "transports": []string{"internal"}})
	}
	return json.Marshal(map[string]any{"publicKey": map[string]any{
		"challenge": protocol.EncodeBase64(challenge), "timeout": 300000, "rpId": "localhost",
		"allowCredentials": allow, "userVerification": "required",
	}})
}

func (p *webauthnPasskeys) VerifyAssertion(_ context.Context, challenge []byte, _ []store.Credential, response []byte) (seam.Assertion, error) {
	var a struct {
		RawID    string `json:"rawId"`
		Response struct {
			ClientDataJSON    string `json:"clientDataJSON"`
			AuthenticatorData string `json:"authenticatorData"`
		} `json:"response"`
	}
	if err := json.Unmarshal(response, &a); err != nil {
		return seam.Assertion{}, fmt.Errorf("%w: %v", seam.ErrMalformed, err)
	}
	raw, err1 := protocol.DecodeBase64(a.RawID)
	clientData, err2 := protocol.DecodeBase64(a.Response.ClientDataJSON)
	authData, err3 := protocol.DecodeBase64(a.Response.AuthenticatorData)
	var cd struct{ Type, Challenge string }
	if err := errors.Join(err1, err2, err3, json.Unmarshal(clientData, &cd)); err != nil || len(authData) < 37 {
		return seam.Assertion{}, fmt.Errorf("%w: a malformed assertion", seam.ErrMalformed)
	}
	if cd.Type != "webauthn.get" || cd.Challenge != protocol.EncodeBase64(challenge) {
		return seam.Assertion{}, errors.New("an assertion over another challenge")
	}
	return seam.Assertion{CredentialID: seam.CredentialID(raw), SignCount: binary.BigEndian.Uint32(authData[33:37])}, nil
}

// webauthnAssertion is the AuthenticationResponseJSON of the passkey rawID
// over challenge (base64url, from the options) with the signature counter
// count; its signature is not one.
func webauthnAssertion(rawID []byte, challenge string, count uint32) string {
	clientData, _ := json.Marshal(map[string]any{"type": "webauthn.get", "challenge": challenge, "origin": "http://localhost", "crossOrigin": false})
	rpIDHash := sha256.Sum256([]byte("localhost"))
	authData := binary.BigEndian.AppendUint32(append(rpIDHash[:], 0x05), count) // UP, UV
	b, _ := json.Marshal(map[string]any{
		"id": protocol.EncodeBase64(rawID), "rawId": protocol.EncodeBase64(rawID), "type": "public-key",
		"authenticatorAttachment": "platform", "clientExtensionResults": map[string]any{},
		"response": map[string]any{
			"clientDataJSON": protocol.EncodeBase64(clientData), "authenticatorData": protocol.EncodeBase64(authData),
			"signature": protocol.EncodeBase64([]byte("not checked")), "userHandle": protocol.EncodeBase64([]byte("alice")),
		},
	})
	return string(b)
}

// withClientData is the assertion JSON a with its clientDataJSON replaced.
func withClientData(t *testing.T, a, clientData string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(a), &m); err != nil {
		t.Fatal(err)
	}
	m["response"].(map[string]any)["clientDataJSON"] = clientData
	b, _ := json.Marshal(m)
	return string(b)
}

// jarCookie is the value of the cookie name that client's jar holds for
// rawURL.
func jarCookie(t *testing.T, client *http.Client, rawURL, name string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	for _, ck := range client.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	t.Fatalf("no cookie %s for %s", name, rawURL)
	return ""
}

// oasCheck is the document checker with the device side of this package:
// requests signed by a device's key.
type oasCheck struct{ *openapitest.Checker }

// signed returns a function that sends a request signed by d's key (RFC
// 9421, deviceauth profile), after edit changes its headers when given.
func (c *oasCheck) signed(d oasDevice, method, target, body string, edit func(http.Header)) func() {
	return func() {
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			c.T().Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if err := httpsig.Sign(req, []byte(body), d.CredentialID, d.key, d.Now(), ""); err != nil {
			c.T().Fatal(err)
		}
		if edit != nil {
			edit(req.Header)
		}
		c.Do(req)
	}
}

// oasDevice is a P-256 device whose requests go through the recorder and
// whose key the test holds.
type oasDevice struct {
	*device.Client
	key *ecdsa.PrivateKey
}

// newDevice returns an unregistered device of e that talks through the
// recorder.
func (c *oasCheck) newDevice(e *env) oasDevice {
	key, err := device.NewP256Key()
	if err != nil {
		c.T().Fatal(err)
	}
	d, err := device.New(e.srv.URL+"/deviceauth", key)
	if err != nil {
		c.T().Fatal(err)
	}
	d.Now = e.clock.Now
	d.HTTPClient = c.Client()
	return oasDevice{d, key}
}

func (d oasDevice) signDER(t *testing.T, msg []byte) []byte {
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, d.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// switchPolicy challenges every action, unless the test sets another
// verdict.
type switchPolicy struct {
	mu    sync.Mutex
	state deviceauth.ActionState
}

func (p *switchPolicy) set(s deviceauth.ActionState) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *switchPolicy) Decide(context.Context, deviceauth.PolicyInput) (deviceauth.Decision, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != "" {
		return deviceauth.Decision{State: p.state}, nil
	}
	return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
}

// gatedServer serves POST /example/transfer gated by e's Require("transfer")
// with the transfer details, as an application would, and returns its URL.
func gatedServer(t *testing.T, e *env) string {
	mux := http.NewServeMux()
	mux.Handle("POST /example/transfer", e.svc.Require("transfer", transferDetailsFunc)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// mintTokens mints n registration tokens for user, who must have no
// credential yet.
func mintTokens(t *testing.T, e *env, user string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		g, err := e.svc.MintRegistrationToken(context.Background(), user, "")
		if err != nil {
			t.Fatalf("MintRegistrationToken(%s): %v", user, err)
		}
		out = append(out, g.Token)
	}
	return out
}

// registrationBody is a valid registration of a new P-256 key with token,
// changed by mod after it was signed.
func registrationBody(t *testing.T, token string, mod func(m map[string]any)) string {
	key, _ := device.NewP256Key()
	spki, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(protocol.RegistrationMessage(token, "ES256", spki, "phone", "ios"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
	m := map[string]any{"token": token, "algorithm": "ES256", "publicKey": protocol.EncodeBase64(spki),
		"signatureFormat": "der", "signature": protocol.EncodeBase64(sig), "name": "phone", "platform": "ios"}
	mod(m)
	b, _ := json.Marshal(m)
	return string(b)
}
