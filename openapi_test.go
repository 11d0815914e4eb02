package deviceauth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// openapiCoverage lists every response of docs/openapi.yaml, by operation
// and status, with the error codes its body may carry. The test fails when
// the document declares a response (or a code) that is not listed here, when
// a row is not in the document, and when a row or one of its codes was not
// exercised against the real server: the document cannot promise what is
// not tested, and the test cannot skip what is documented.
var openapiCoverage = []struct {
	method, path string
	status       int
	codes        []string
}{
	{"POST", "/v1/credentials", 201, nil},
	{"POST", "/v1/credentials", 400, []string{"invalid_request", "unsupported_algorithm", "invalid_key", "invalid_signature"}},
	{"POST", "/v1/credentials", 403, []string{"registration_failed"}},
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
	{"POST", "/v1/challenges/{id}/response", 403, []string{"invalid_response", "wrong_code"}},
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

	{"POST", "/example/transfer", 200, nil},
	{"POST", "/example/transfer", 400, []string{"invalid_request", "invalid_details"}},
	{"POST", "/example/transfer", 401, []string{"unauthenticated", "challenge_required"}},
	{"POST", "/example/transfer", 403, []string{"challenge_failed", "blocked", "review", "enrollment_required"}},
	{"POST", "/example/transfer", 413, []string{"body_too_large"}},
	{"POST", "/example/transfer", 429, []string{"rate_limited"}},
	{"POST", "/example/transfer", 503, []string{"unavailable"}},
}

// TestOpenAPI_ResponsesMatchDocument drives every documented response of
// every operation of docs/openapi.yaml through a real server and validates
// each request and response against the document.
func TestOpenAPI_ResponsesMatchDocument(t *testing.T) {
	ctx := context.Background()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("docs/openapi.yaml")
	if err != nil {
		t.Fatalf("loading docs/openapi.yaml: %v", err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("docs/openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	rec := &recorder{}
	c := &oasCheck{t: t, router: router, rec: rec, hc: &http.Client{Transport: rec}, seen: map[oasResponse]map[string]bool{}}

	t.Run("main", func(t *testing.T) { c.t = t; openapiMainFlows(t, c) })
	t.Run("rate limits", func(t *testing.T) { c.t = t; openapiRateLimits(t, c) })
	c.t = t
	c.flush()

	// The document, the table and what was exercised agree.
	rows := map[oasResponse]map[string]bool{}
	for _, r := range openapiCoverage {
		k := oasResponse{r.method, r.path, r.status}
		if _, dup := rows[k]; dup {
			t.Errorf("table: %v listed twice", k)
		}
		rows[k] = setOf(r.codes)
	}
	declared := map[oasResponse]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status, ref := range op.Responses.Map() {
				st, err := strconv.Atoi(status)
				if err != nil {
					t.Errorf("%s %s: response %q: the document must list explicit statuses", method, path, status)
					continue
				}
				k := oasResponse{method, path, st}
				declared[k] = true
				want, listed := rows[k]
				if !listed {
					t.Errorf("%v is declared in docs/openapi.yaml but not in openapiCoverage: add a case that exercises it", k)
					continue
				}
				if got := documentedCodes(ref.Value); !maps.Equal(got, want) {
					t.Errorf("%v: the document allows the error codes %v, the table lists %v", k, sortedKeys(got), sortedKeys(want))
				}
			}
		}
	}
	for _, r := range openapiCoverage {
		k := oasResponse{r.method, r.path, r.status}
		if !declared[k] {
			t.Errorf("%v is in openapiCoverage but not declared in docs/openapi.yaml", k)
		}
		seen, ok := c.seen[k]
		if !ok {
			t.Errorf("%v was never exercised", k)
			continue
		}
		for _, code := range r.codes {
			if !seen[code] {
				t.Errorf("%v: error %q was never exercised", k, code)
			}
		}
	}
}

// openapiMainFlows exercises every response except 429 on one Service.
func openapiMainFlows(t *testing.T, c *oasCheck) {
	ctx := context.Background()
	pol := &switchPolicy{}
	e := newEnv(t, headerUsers, noRateLimits, func(cfg *deviceauth.Config) {
		cfg.Policy = pol
		cfg.MaxCredentialsPerUser = 2
	})
	base := e.srv.URL + "/deviceauth"
	gated := gatedServer(t, e)
	huge := `{"token":"` + strings.Repeat("a", 70<<10) + `"}`
	jsonHeader := map[string]string{"Content-Type": "application/json"}

	// POST /v1/credentials
	aliceTokens := mintTokens(t, e, "alice", 2)
	alice := c.newDevice(e)
	alice2 := c.newDevice(e)
	c.expect("register", 201, "", true, func() { alice.Register(ctx, aliceTokens[0], "phone", "ios") })
	c.expect("register a second device", 201, "", true, func() { alice2.Register(ctx, aliceTokens[1], "tablet", "android") })
	if alice.CredentialID == "" || alice2.CredentialID == "" {
		t.Fatal("registration failed")
	}
	reg := func(mod func(m map[string]any)) string {
		return registrationBody(t, mintTokens(t, e, "zoe", 1)[0], mod)
	}
	c.expect("register: bad JSON", 400, "invalid_request", false, c.send("POST", base+"/v1/credentials", `{"token":`, jsonHeader))
	c.expect("register: unknown member", 400, "invalid_request", false, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["admin"] = true }), jsonHeader))
	c.expect("register: padded base64", 400, "invalid_request", false, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["signature"] = "AAAA==" }), jsonHeader))
	c.expect("register: missing key", 400, "invalid_request", false, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { delete(m, "publicKey") }), jsonHeader))
	c.expect("register: control character in name", 400, "invalid_request", false, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["name"] = "a\x07b" }), jsonHeader))
	c.expect("register: unknown algorithm", 400, "unsupported_algorithm", false, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["algorithm"] = "RS256" }), jsonHeader))
	c.expect("register: short key", 400, "invalid_key", true, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) {
		m["publicKey"] = m["publicKey"].(string)[:20]
	}), jsonHeader))
	c.expect("register: P-256 key as EdDSA", 400, "invalid_key", true, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["algorithm"] = "EdDSA" }), jsonHeader))
	c.expect("register: malformed signature", 400, "invalid_signature", true, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) {
		m["signature"] = protocol.EncodeBase64([]byte{0x30, 0x02, 0x01})
	}), jsonHeader))
	c.expect("register: unknown signature format", 400, "invalid_signature", false, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["signatureFormat"] = "pem" }), jsonHeader))
	c.expect("register: unknown token", 403, "registration_failed", true, c.send("POST", base+"/v1/credentials",
		registrationBody(t, "drt_UNKNOWNUNKNOWNUNKNOWN", func(map[string]any) {}), jsonHeader))
	c.expect("register: proof over another name", 403, "registration_failed", true, c.send("POST", base+"/v1/credentials", reg(func(m map[string]any) { m["name"] = "other" }), jsonHeader))
	c.expect("register: oversize body", 413, "body_too_large", false, c.send("POST", base+"/v1/credentials", huge, jsonHeader))
	carolTokens := mintTokens(t, e, "carol", 3)
	for i := range 2 {
		c.expect("register carol's device", 201, "", true, func() { c.newDevice(e).Register(ctx, carolTokens[i], "phone", "ios") })
	}
	c.expect("register over the credential limit", 409, "credential_limit", true, func() { c.newDevice(e).Register(ctx, carolTokens[2], "phone", "ios") })
	erinToken := mintTokens(t, e, "erin", 1)[0]
	e.store.Fail.Store(true)
	c.expect("register: store down", 503, "unavailable", true, func() { c.newDevice(e).Register(ctx, erinToken, "phone", "ios") })
	e.store.Fail.Store(false)

	// GET /v1/challenges/{id}
	res := e.track("alice", "transfer", transferDetails, false)
	var ch device.Challenge
	fetch := c.expect("fetch", 200, "", true, func() { ch, _ = alice.Challenge(ctx, res.ChallengeID) })
	c.expect("fetch: replayed request", 401, "unauthorized", true, c.resend(fetch))
	c.expect("fetch: unsigned", 401, "unauthorized", false, c.send("GET", base+"/v1/challenges/"+res.ChallengeID, "", nil))
	c.expect("fetch: unknown challenge", 404, "not_found", true, func() { alice.Challenge(ctx, "unknownChallenge") })
	bob := e.enrol("bob", "EdDSA")
	bobRes := e.track("bob", "signIn", deviceauth.Details{}, false)
	c.expect("fetch: another user's challenge", 404, "not_found", true, func() { alice.Challenge(ctx, bobRes.ChallengeID) })
	c.expect("fetch: oversize body", 413, "body_too_large", false, c.send("GET", base+"/v1/challenges/"+res.ChallengeID, huge, nil))
	e.store.Fail.Store(true)
	c.expect("fetch: store down", 503, "unavailable", true, func() { alice.Challenge(ctx, res.ChallengeID) })
	e.store.Fail.Store(false)

	// GET /v1/challenges
	pending := c.expect("pending", 200, "", true, func() { alice.Pending(ctx) })
	c.expect("pending: replayed request", 401, "unauthorized", true, c.resend(pending))
	c.expect("pending: unsigned", 401, "unauthorized", false, c.send("GET", base+"/v1/challenges", "", nil))
	c.expect("pending: signed for another key", 401, "unauthorized", true, c.signed(alice2, "GET", base+"/v1/challenges", "", func(h http.Header) {
		h.Set("Signature-Input", strings.Replace(h.Get("Signature-Input"), alice2.CredentialID, alice.CredentialID, 1))
	}))
	c.expect("pending: oversize body", 413, "body_too_large", false, c.send("GET", base+"/v1/challenges", huge, nil))
	e.store.Fail.Store(true)
	c.expect("pending: store down", 503, "unavailable", true, func() { alice.Pending(ctx) })
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
	c.expect("respond: bad JSON", 400, "invalid_request", false, c.send("POST", respPath, `[`, jsonHeader))
	c.expect("respond: unknown decision", 400, "invalid_request", false, c.send("POST", respPath, respBody(func(m map[string]any) { m["decision"] = "maybe" }), jsonHeader))
	c.expect("respond: denyReason on an approval", 400, "invalid_request", true, c.send("POST", respPath, respBody(func(m map[string]any) { m["denyReason"] = "oops" }), jsonHeader))
	c.expect("respond: malformed signature", 400, "invalid_signature", true, c.send("POST", respPath, respBody(func(m map[string]any) {
		m["signature"] = protocol.EncodeBase64([]byte("garbage"))
	}), jsonHeader))
	c.expect("respond: unknown credential", 403, "invalid_response", true, c.send("POST", respPath, respBody(func(m map[string]any) { m["credentialId"] = "unknownCredential" }), jsonHeader))
	c.expect("respond: signature over another decision", 403, "invalid_response", true, c.send("POST", respPath, respBody(func(m map[string]any) { m["decision"] = "deny" }), jsonHeader))
	c.expect("respond: oversize body", 413, "body_too_large", false, c.send("POST", respPath, huge, jsonHeader))
	e.store.Fail.Store(true)
	c.expect("respond: store down", 503, "unavailable", true, func() { alice.Approve(ctx, ch, "") })
	e.store.Fail.Store(false)
	c.expect("approve", 200, "", true, func() { alice.Approve(ctx, ch, "") })
	c.expect("respond: replayed approval", 409, "challenge_closed", true, func() { alice.Approve(ctx, ch, "") })
	denyRes := e.track("alice", "transfer", transferDetails, false)
	denyCh, err := alice.Challenge(ctx, denyRes.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	c.expect("deny", 200, "", true, func() { alice.Deny(ctx, denyCh, "mistake") })
	codeRes := e.track("alice", "signIn", deviceauth.Details{}, true)
	codeCh, err := alice.Challenge(ctx, codeRes.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	wrong := "1" + codeRes.VerificationCode
	c.expect("respond: wrong code", 403, "wrong_code", true, func() { alice.Approve(ctx, codeCh, wrong) })
	for range 4 { // the fifth wrong code fails the challenge
		c.expect("respond: wrong code up to the limit", 403, "wrong_code", true, func() { alice.Approve(ctx, codeCh, wrong) })
	}
	if got := c.lastBody(); !strings.Contains(got, `"state":"FAILED"`) {
		t.Errorf("the wrong code at the limit answered %s, want state FAILED", got)
	}

	// DELETE /v1/credentials/{id}
	c.expect("remove another credential", 404, "not_found", true, c.signed(alice, "DELETE", base+"/v1/credentials/"+alice2.CredentialID, "", nil))
	unsignedRemove := c.send("DELETE", base+"/v1/credentials/"+alice.CredentialID, "", nil)
	c.expect("remove: unsigned", 401, "unauthorized", false, unsignedRemove)
	c.expect("remove: oversize body", 413, "body_too_large", false, c.send("DELETE", base+"/v1/credentials/"+alice.CredentialID, huge, nil))
	e.store.Fail.Store(true)
	c.expect("remove: store down", 503, "unavailable", true, func() { alice.Remove(ctx) })
	e.store.Fail.Store(false)
	erin := c.newDevice(e)
	c.expect("register erin's device", 201, "", true, func() { erin.Register(ctx, mintTokens(t, e, "erin", 1)[0], "phone", "ios") })
	remove := c.expect("remove itself", 204, "", true, func() { erin.Remove(ctx) })
	c.expect("remove: replayed request", 401, "unauthorized", true, c.resend(remove))

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
		return c.send(method, base+path, "", h)
	}
	longUser := strings.Repeat("u", 300)
	c.expect("list", 200, "", true, web("GET", "/v1/web/credentials", "alice", "", nil))
	c.expect("list: nobody", 401, "unauthenticated", true, web("GET", "/v1/web/credentials", "", "", nil))
	c.expect("list: bad user ID", 400, "invalid_request", true, web("GET", "/v1/web/credentials", longUser, "", nil))
	e.store.Fail.Store(true)
	c.expect("list: store down", 503, "unavailable", true, web("GET", "/v1/web/credentials", "alice", "", nil))
	e.store.Fail.Store(false)

	// POST /v1/web/registration-tokens and DELETE /v1/web/credentials/{id}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	stepUps := []struct{ method, path string }{
		{"POST", "/v1/web/registration-tokens"},
		{"DELETE", "/v1/web/credentials/" + alice2.CredentialID},
	}
	for _, op := range stepUps {
		name := op.method + " " + op.path
		c.expect(name+": nobody", 401, "unauthenticated", true, web(op.method, op.path, "", "", nil))
		c.expect(name+": cross-origin", 403, "cross_origin", true, web(op.method, op.path, "alice", "", cross))
		step := c.expect(name+": no step-up token", 401, "challenge_required", true, web(op.method, op.path, "alice", "", nil))
		var d deviceauth.DenialBody
		if err := json.Unmarshal(step.body, &d); err != nil {
			t.Fatal(err)
		}
		c.expect(name+": unapproved token", 403, "challenge_failed", true, web(op.method, op.path, "alice", d.Token, nil))
		for _, p := range []struct {
			state deviceauth.ActionState
			code  string
		}{{deviceauth.StateBlock, "blocked"}, {deviceauth.StateReview, "review"}, {deviceauth.StateAllow, "step_up_required"}} {
			pol.set(p.state)
			c.expect(name+": policy "+string(p.state), 403, p.code, true, web(op.method, op.path, "alice", "", nil))
		}
		pol.set("")
		e.store.Fail.Store(true)
		c.expect(name+": store down", 503, "unavailable", true, web(op.method, op.path, "alice", "", nil))
		e.store.Fail.Store(false)
		approve(t, alice.Client, d.ChallengeID)
		if op.method == "POST" {
			c.expect(name+": approved step-up", 201, "", true, web(op.method, op.path, "alice", d.Token, nil))
		} else {
			c.expect(name+": approved step-up", 204, "", true, web(op.method, op.path, "alice", d.Token, nil))
		}
	}
	c.expect("mint: first device, no step-up", 201, "", true, web("POST", "/v1/web/registration-tokens", "dave", "", nil))
	c.expect("mint: bad user ID", 400, "invalid_request", true, web("POST", "/v1/web/registration-tokens", longUser, "", nil))
	c.expect("remove from the web: unknown credential", 404, "not_found", true, web("DELETE", "/v1/web/credentials/unknownCredential", "alice", "", nil))
	c.expect("remove from the web: another user's credential", 404, "not_found", true, web("DELETE", "/v1/web/credentials/"+bob.CredentialID, "alice", "", nil))
	c.expect("remove from the web: the last credential", 204, "", true, web("DELETE", "/v1/web/credentials/"+bob.CredentialID, "bob", "", nil))

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
		return c.send("POST", gated+"/example/transfer", string(b), h)
	}
	c.expect("gated: nobody", 401, "unauthenticated", true, transfer("", "", "10", "Bob"))
	c.expect("gated: no credential", 403, "enrollment_required", true, transfer("frank", "", "10", "Bob"))
	gate := c.expect("gated: no token", 401, "challenge_required", true, transfer("alice", "", "10", "Bob"))
	var d deviceauth.DenialBody
	if err := json.Unmarshal(gate.body, &d); err != nil {
		t.Fatal(err)
	}
	c.expect("gated: unapproved token", 403, "challenge_failed", true, transfer("alice", d.Token, "10", "Bob"))
	approve(t, alice.Client, d.ChallengeID)
	c.expect("gated: token for other details", 403, "challenge_failed", true, transfer("alice", d.Token, "9999", "Bob"))
	c.expect("gated: approved token", 200, "", true, transfer("alice", d.Token, "10", "Bob"))
	c.expect("gated: used token", 403, "challenge_failed", true, transfer("alice", d.Token, "10", "Bob"))
	c.expect("gated: not a transfer", 400, "invalid_request", false, c.send("POST", gated+"/example/transfer", "not json", map[string]string{"X-User": "alice", "Content-Type": "application/json"}))
	c.expect("gated: bidi control in the payee", 400, "invalid_details", true, transfer("alice", "", "10", "Bob\u202e"))
	c.expect("gated: oversize body", 413, "body_too_large", true, transfer("alice", "", strings.Repeat("9", 70<<10), "Bob"))
	pol.set(deviceauth.StateBlock)
	c.expect("gated: policy BLOCK", 403, "blocked", true, transfer("alice", "", "10", "Bob"))
	pol.set(deviceauth.StateReview)
	c.expect("gated: policy REVIEW", 403, "review", true, transfer("alice", "", "10", "Bob"))
	pol.set(deviceauth.StateAllow)
	c.expect("gated: policy ALLOW", 200, "", true, transfer("alice", "", "10", "Bob"))
	pol.set("")
	e.store.Fail.Store(true)
	c.expect("gated: store down", 503, "unavailable", true, transfer("alice", "", "10", "Bob"))
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
		}
	})
	gated := gatedServer(t, e)
	tokens := mintTokens(t, e, "alice", 3)
	alice, alice2 := c.newDevice(e), c.newDevice(e)
	c.expect("register", 201, "", true, func() { alice.Register(ctx, tokens[0], "phone", "ios") })
	c.expect("register", 201, "", true, func() { alice2.Register(ctx, tokens[1], "tablet", "ios") })
	c.expect("register over the rate", 429, "rate_limited", true, func() { c.newDevice(e).Register(ctx, tokens[2], "phone", "ios") })

	res := e.track("alice", "transfer", deviceauth.Details{}, false) // the user's one challenge
	var ch device.Challenge
	c.expect("fetch", 200, "", true, func() { ch, _ = alice.Challenge(ctx, res.ChallengeID) })
	c.expect("fetch over the rate", 429, "rate_limited", true, func() { alice.Challenge(ctx, res.ChallengeID) })
	c.expect("pending over the rate", 429, "rate_limited", true, func() { alice.Pending(ctx) })
	c.expect("remove over the rate", 429, "rate_limited", true, func() { alice.Remove(ctx) })
	c.expect("approve", 200, "", true, func() { alice.Approve(ctx, ch, "") })
	c.expect("respond over the rate", 429, "rate_limited", true, func() { alice.Approve(ctx, ch, "") })

	base := e.srv.URL + "/deviceauth"
	user := map[string]string{"X-User": "alice"}
	c.expect("mint: challenges over the rate", 429, "rate_limited", true, c.send("POST", base+"/v1/web/registration-tokens", "", user))
	c.expect("remove from the web: challenges over the rate", 429, "rate_limited", true, c.send("DELETE", base+"/v1/web/credentials/"+alice2.CredentialID, "", user))
	c.expect("gated: challenges over the rate", 429, "rate_limited", true, c.send("POST", gated+"/example/transfer", `{"amount":"10","payee":"Bob"}`,
		map[string]string{"X-User": "alice", "Content-Type": "application/json"}))
}

// oasResponse is one documented response: an operation and a status.
type oasResponse struct {
	method, path string
	status       int
}

// oasCheck validates recorded exchanges against the document and keeps
// track of which responses (and error codes) were exercised.
type oasCheck struct {
	t      *testing.T
	router routers.Router
	rec    *recorder
	hc     *http.Client
	seen   map[oasResponse]map[string]bool
	done   int // exchanges of rec already validated
	last   exchange
}

// expect runs send, which must make exactly one request through the
// recorder, and checks its exchange: the status and error code are want and
// code, the request conforms to the document exactly when conforming says
// so (a request the server refuses as malformed should be refused by the
// document too), and the response matches the document. Exchanges made
// since the last check (by helpers such as approve) are validated first, as
// conforming.
func (c *oasCheck) expect(what string, want int, code string, conforming bool, send func()) exchange {
	c.t.Helper()
	c.flush()
	send()
	xs := c.rec.since(c.done)
	if len(xs) != 1 {
		c.t.Fatalf("%s: %d requests were made, want 1", what, len(xs))
	}
	c.done++
	x := xs[0]
	c.last = x
	if x.status != want || x.code() != code {
		c.t.Errorf("%s: %s %s answered %d %q (%s), want %d %q", what, x.method, x.url.Path, x.status, x.code(), x.body, want, code)
	}
	c.validate(what, x, conforming)
	return x
}

// flush validates the exchanges not yet checked, as conforming requests.
func (c *oasCheck) flush() {
	c.t.Helper()
	for _, x := range c.rec.since(c.done) {
		c.done++
		c.validate("background request", x, true)
	}
}

func (c *oasCheck) lastBody() string { return string(c.last.body) }

// validate checks one exchange against the document and records it.
func (c *oasCheck) validate(what string, x exchange, conforming bool) {
	c.t.Helper()
	ctx := context.Background()
	req := x.request(ctx)
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Errorf("%s: %s %s is not an operation of docs/openapi.yaml: %v", what, x.method, x.url.Path, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, RejectWhenRequestBodyNotSpecified: true, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	switch err := openapi3filter.ValidateRequest(ctx, in); {
	case conforming && err != nil:
		c.t.Errorf("%s: the request %s %s does not conform to docs/openapi.yaml: %v", what, x.method, x.url.Path, err)
	case !conforming && err == nil:
		c.t.Errorf("%s: the server refused %s %s with %d %q, but the request conforms to docs/openapi.yaml: the document should refuse it too",
			what, x.method, x.url.Path, x.status, x.code())
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.header, Options: opts}
	out.SetBodyBytes(x.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Errorf("%s: the response to %s %s (%d %s) does not match docs/openapi.yaml: %v", what, x.method, x.url.Path, x.status, x.body, err)
	}
	// WWW-Authenticate goes with challenge_required and nothing else.
	if wa := x.header.Get("WWW-Authenticate"); (x.code() == "challenge_required") != (wa != "") {
		c.t.Errorf("%s: %d %q with WWW-Authenticate %q", what, x.status, x.code(), wa)
	}
	k := oasResponse{route.Method, route.Path, x.status}
	if c.seen[k] == nil {
		c.seen[k] = map[string]bool{}
	}
	if code := x.code(); code != "" {
		c.seen[k][code] = true
	}
}

// send returns a function that sends a request through the recorder.
func (c *oasCheck) send(method, target, body string, header map[string]string) func() {
	return func() {
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			c.t.Fatal(err)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		c.do(req)
	}
}

// signed returns a function that sends a request signed by d's key (RFC
// 9421, deviceauth profile), after edit changes its headers when given.
func (c *oasCheck) signed(d oasDevice, method, target, body string, edit func(http.Header)) func() {
	return func() {
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			c.t.Fatal(err)
		}
		if err := httpsig.Sign(req, []byte(body), d.CredentialID, d.key, d.Now(), ""); err != nil {
			c.t.Fatal(err)
		}
		if edit != nil {
			edit(req.Header)
		}
		c.do(req)
	}
}

// resend returns a function that sends x's request again, byte for byte.
func (c *oasCheck) resend(x exchange) func() {
	return func() { c.do(x.request(context.Background())) }
}

func (c *oasCheck) do(req *http.Request) {
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
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
		c.t.Fatal(err)
	}
	d, err := device.New(e.srv.URL+"/deviceauth", key)
	if err != nil {
		c.t.Fatal(err)
	}
	d.Now = e.clock.Now
	d.HTTPClient = c.hc
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

// recorder is an http.RoundTripper that records every request and response
// it carries.
type recorder struct {
	mu  sync.Mutex
	log []exchange
}

type exchange struct {
	method    string
	url       *url.URL
	reqHeader http.Header
	reqBody   []byte
	status    int
	header    http.Header
	body      []byte
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	x := exchange{method: req.Method, url: new(url.URL), reqHeader: req.Header.Clone(), reqBody: body}
	*x.url = *req.URL
	resp, err := http.DefaultTransport.RoundTrip(x.request(req.Context()))
	if err != nil {
		return nil, err
	}
	x.body, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	x.status, x.header = resp.StatusCode, resp.Header.Clone()
	resp.Body = io.NopCloser(bytes.NewReader(x.body))
	r.mu.Lock()
	r.log = append(r.log, x)
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) since(i int) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log[i:])
}

// request rebuilds the recorded request.
func (x exchange) request(ctx context.Context) *http.Request {
	u := *x.url
	req, _ := http.NewRequestWithContext(ctx, x.method, u.String(), bytes.NewReader(x.reqBody))
	req.Header = x.reqHeader.Clone()
	return req
}

// code is the "error" member of the answer, "" when there is none.
func (x exchange) code() string {
	var b struct {
		Error string `json:"error"`
	}
	json.Unmarshal(x.body, &b)
	return b.Error
}

// documentedCodes returns the values the "error" member of a response's
// JSON body may take: the enum under properties.error, intersected across
// allOf and united across oneOf/anyOf. It is empty for a response without
// an error body.
func documentedCodes(r *openapi3.Response) map[string]bool {
	mt := r.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return map[string]bool{}
	}
	codes := schemaCodes(mt.Schema.Value)
	if codes == nil {
		return map[string]bool{}
	}
	return codes
}

// schemaCodes is documentedCodes for one schema; nil means unconstrained.
func schemaCodes(s *openapi3.Schema) map[string]bool {
	var out map[string]bool
	intersect := func(other map[string]bool) {
		switch {
		case other == nil:
		case out == nil:
			out = other
		default:
			maps.DeleteFunc(out, func(k string, _ bool) bool { return !other[k] })
		}
	}
	if p := s.Properties["error"]; p != nil && len(p.Value.Enum) > 0 {
		set := map[string]bool{}
		for _, v := range p.Value.Enum {
			set[v.(string)] = true
		}
		intersect(set)
	}
	for _, sub := range s.AllOf {
		intersect(schemaCodes(sub.Value))
	}
	if alts := append(slices.Clone(s.OneOf), s.AnyOf...); len(alts) > 0 {
		union := map[string]bool{}
		for _, sub := range alts {
			maps.Copy(union, schemaCodes(sub.Value))
		}
		intersect(union)
	}
	return out
}

func setOf(ss []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return m
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

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
