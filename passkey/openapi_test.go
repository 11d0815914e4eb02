package passkey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/openapitest"
	"github.com/deviceauth/deviceauth/passkey"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// openapiCoverage lists every response of the passkey ceremonies in
// docs/openapi.yaml (the paths under /v1/passkey/, which this package's
// Handler serves), by operation and status, with the error codes its body
// may carry. The test fails when the document declares a response (or a
// code) of these paths that is not listed here, when a row is not in the
// document, and when a row or one of its codes was not exercised against
// the real server. The rest of the document is package deviceauth's
// TestOpenAPI_ResponsesMatchDocument's; the exchanges this test makes on
// those paths (passkey step-up with real WebAuthn) are validated too.
var openapiCoverage = []struct {
	method, path string
	status       int
	codes        []string
}{
	{"POST", "/v1/passkey/registration/options", 200, nil},
	{"POST", "/v1/passkey/registration/options", 400, []string{"invalid_request"}},
	{"POST", "/v1/passkey/registration/options", 401, []string{"unauthenticated", "challenge_required"}},
	{"POST", "/v1/passkey/registration/options", 403, []string{"cross_origin", "step_up_required", "challenge_failed", "blocked", "review"}},
	{"POST", "/v1/passkey/registration/options", 413, []string{"body_too_large"}},
	{"POST", "/v1/passkey/registration/options", 429, []string{"rate_limited"}},
	{"POST", "/v1/passkey/registration/options", 503, []string{"unavailable"}},

	{"POST", "/v1/passkey/registration", 201, nil},
	{"POST", "/v1/passkey/registration", 400, []string{"invalid_request"}},
	{"POST", "/v1/passkey/registration", 401, []string{"unauthenticated"}},
	{"POST", "/v1/passkey/registration", 403, []string{"cross_origin", "registration_failed"}},
	{"POST", "/v1/passkey/registration", 409, []string{"credential_limit"}},
	{"POST", "/v1/passkey/registration", 413, []string{"body_too_large"}},
	{"POST", "/v1/passkey/registration", 503, []string{"unavailable"}},

	{"POST", "/v1/passkey/login/options", 200, nil},
	{"POST", "/v1/passkey/login/options", 400, []string{"invalid_request"}},
	{"POST", "/v1/passkey/login/options", 403, []string{"cross_origin"}},
	{"POST", "/v1/passkey/login/options", 413, []string{"body_too_large"}},
	{"POST", "/v1/passkey/login/options", 429, []string{"rate_limited"}},
	{"POST", "/v1/passkey/login/options", 503, []string{"unavailable"}},

	{"POST", "/v1/passkey/login", 200, nil},
	{"POST", "/v1/passkey/login", 400, []string{"invalid_request"}},
	{"POST", "/v1/passkey/login", 403, []string{"cross_origin", "invalid_assertion", "passkey_clone"}},
	{"POST", "/v1/passkey/login", 413, []string{"body_too_large"}},
	{"POST", "/v1/passkey/login", 503, []string{"unavailable"}},

	{"GET", "/v1/passkey/passkey.js", 200, nil},
}

// ownedByPasskey says which paths of docs/openapi.yaml this test owns.
func ownedByPasskey(path string) bool { return strings.HasPrefix(path, "/v1/passkey/") }

// TestOpenAPI_PasskeyResponsesMatchDocument drives every documented
// response of the passkey ceremonies through a real server, with the
// software authenticator, and validates each request and response against
// docs/openapi.yaml.
func TestOpenAPI_PasskeyResponsesMatchDocument(t *testing.T) {
	c := openapitest.Load(t, "../docs/openapi.yaml")
	t.Run("registration", func(t *testing.T) { c.SetT(t); openapiRegistration(t, c) })
	t.Run("sign-in", func(t *testing.T) { c.SetT(t); openapiSignIn(t, c) })
	t.Run("rate limits", func(t *testing.T) { c.SetT(t); openapiPasskeyRateLimits(t, c) })
	t.Run("https cookies", func(t *testing.T) { c.SetT(t); openapiSecureCookies(t, c) })
	c.SetT(t)

	// The document, the table and what was exercised agree.
	var rows []openapitest.Row
	for _, r := range openapiCoverage {
		rows = append(rows, openapitest.Row{Method: r.method, Path: r.path, Status: r.status, Codes: r.codes})
	}
	c.AssertComplete(rows, ownedByPasskey)
}

// openapiRegistration exercises the registration ceremony, with the
// passkey step-up it needs for a second credential.
func openapiRegistration(t *testing.T, c *openapitest.Checker) {
	e := newOASEnv(t, nil)
	auth := &softAuthenticator{Origin: testOrigin}
	alice, anon := e.browser(c, "alice"), e.browser(c, "")
	post := e.poster(c)
	cross := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}
	huge := `{"name":"` + strings.Repeat("n", 70<<10) + `"}`

	// POST /v1/passkey/registration/options
	c.Expect("options without a body", 200, "", true, post(alice, registrationOptionsPath, ""))
	c.Expect("options: nobody", 401, "unauthenticated", true, post(anon, registrationOptionsPath, `{}`))
	c.Expect("options: cross-origin", 403, "cross_origin", true, post(alice, registrationOptionsPath, `{}`, cross...))
	c.Expect("options: bad JSON", 400, "invalid_request", false, post(alice, registrationOptionsPath, `{"name":`))
	c.Expect("options: unknown member", 400, "invalid_request", false, post(alice, registrationOptionsPath, `{"name":"Laptop","user":"bob"}`))
	c.Expect("options: name too long", 400, "invalid_request", false, post(alice, registrationOptionsPath, `{"name":"`+strings.Repeat("n", 65)+`"}`))
	c.Expect("options: control character in the name", 400, "invalid_request", false, post(alice, registrationOptionsPath, `{"name":"a\u0007b"}`))
	c.Expect("options: bad user ID", 400, "invalid_request", true, post(e.browser(c, strings.Repeat("u", 300)), registrationOptionsPath, `{}`))
	c.Expect("options: oversize body", 413, "body_too_large", false, post(alice, registrationOptionsPath, huge))
	e.store.Fail.Store(true)
	c.Expect("options: store down", 503, "unavailable", true, post(alice, registrationOptionsPath, `{}`))
	e.store.Fail.Store(false)
	e.usersFail.Store(true)
	c.Expect("options: session store down", 503, "unavailable", true, post(alice, registrationOptionsPath, `{}`))
	e.usersFail.Store(false)
	opts := c.Expect("options", 200, "", true, post(alice, registrationOptionsPath, `{"name":"Laptop"}`))
	ceremony := setCookie(t, opts, "deviceauth-passkey-registration")

	// POST /v1/passkey/registration
	resp, cred := auth.Create(t, opts.Body)
	c.Expect("finish: nobody", 401, "unauthenticated", true, post(anon, registrationPath, string(resp)))
	c.Expect("finish: cross-origin", 403, "cross_origin", true, post(alice, registrationPath, string(resp), cross...))
	c.Expect("finish: bad JSON", 400, "invalid_request", false, post(alice, registrationPath, `{"id":`))
	c.Expect("finish: unknown member", 400, "invalid_request", false, post(alice, registrationPath, withMember(t, resp, "smuggled", true)))
	c.Expect("finish: not a registration go-webauthn can parse", 400, "invalid_request", true, post(alice, registrationPath,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"AA","attestationObject":"AA"},"clientExtensionResults":{}}`))
	c.Expect("finish: oversize body", 413, "body_too_large", false, post(alice, registrationPath, `{"id":"`+strings.Repeat("A", 70<<10)+`"}`))
	c.Expect("finish: no ceremony cookie", 403, "registration_failed", true, post(e.browser(c, "alice"), registrationPath, string(resp)))
	withCeremony := []string{"Cookie", sessionCookie + "=alice; " + ceremony}
	// A failing store keeps the ceremony cookie: the browser retries.
	e.store.Fail.Store(true)
	if x := c.Expect("finish: store down", 503, "unavailable", true, post(alice, registrationPath, string(resp))); len(x.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("the store's failure set %q, want the ceremony cookie kept", x.Header.Values("Set-Cookie"))
	}
	e.store.Fail.Store(false)
	e.usersFail.Store(true)
	c.Expect("finish: session store down", 503, "unavailable", true, post(alice, registrationPath, string(resp)))
	e.usersFail.Store(false)
	done := c.Expect("finish", 201, "", true, post(alice, registrationPath, string(resp)))
	if !cleared(done, "deviceauth-passkey-registration") {
		t.Errorf("the finish did not clear the ceremony cookie: %q", done.Header.Values("Set-Cookie"))
	}
	c.Expect("finish: replayed into the used ceremony", 403, "registration_failed", true, post(c.Client(), registrationPath, string(resp), withCeremony...))
	bob := e.browser(c, "bob")
	bobOpts := c.Expect("bob's options", 200, "", true, post(bob, registrationOptionsPath, `{}`))
	evil, _ := (&softAuthenticator{Origin: "https://evil.example"}).Create(t, bobOpts.Body)
	c.Expect("finish: made for another origin", 403, "registration_failed", true, post(bob, registrationPath, string(evil)))

	// A second credential needs a step-up (and is over the limit of one).
	step := c.Expect("options: enrolled, no token", 401, "challenge_required", true, post(alice, registrationOptionsPath, `{}`))
	var denial deviceauth.DenialBody
	if err := json.Unmarshal(step.Body, &denial); err != nil {
		t.Fatal(err)
	}
	c.Expect("options: a token that is not valid", 403, "challenge_failed", true, post(alice, registrationOptionsPath, `{}`, deviceauth.TokenHeader, "dat_bogus"))
	for _, p := range []struct {
		state deviceauth.ActionState
		code  string
	}{{deviceauth.StateBlock, "blocked"}, {deviceauth.StateReview, "review"}, {deviceauth.StateAllow, "step_up_required"}} {
		e.pol.set(p.state)
		c.Expect("options: step-up policy "+string(p.state), 403, p.code, true, post(alice, registrationOptionsPath, `{}`))
	}
	e.pol.set("")
	stepOpts := c.Expect("step-up options", 200, "", true, post(alice, "/deviceauth/v1/web/challenges/"+denial.ChallengeID+"/passkey/options", `{}`))
	// The step-up answers a malformed assertion as the sign-in does: 400.
	c.Expect("step-up: unknown member", 400, "invalid_request", false, post(alice, "/deviceauth/v1/web/challenges/"+denial.ChallengeID+"/passkey", withMember(t, auth.Get(t, cred, stepOpts.Body), "smuggled", true)))
	c.Expect("step-up: not an assertion go-webauthn can parse", 400, "invalid_request", true, post(alice, "/deviceauth/v1/web/challenges/"+denial.ChallengeID+"/passkey",
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"AA","authenticatorData":"AA","signature":"AA"},"clientExtensionResults":{}}`))
	c.Expect("step-up with the passkey", 200, "", true, post(alice, "/deviceauth/v1/web/challenges/"+denial.ChallengeID+"/passkey", string(auth.Get(t, cred, stepOpts.Body))))
	opts = c.Expect("options with the step-up token", 200, "", true, post(alice, registrationOptionsPath, `{"name":"Phone"}`, deviceauth.TokenHeader, denial.Token))
	second, _ := (&softAuthenticator{Origin: testOrigin}).Create(t, opts.Body)
	c.Expect("finish: over the credential limit", 409, "credential_limit", true, post(alice, registrationPath, string(second)))

	// GET /v1/passkey/passkey.js
	script := c.Expect("script", 200, "", true, c.Send("GET", e.srv.URL+"/deviceauth/v1/passkey/passkey.js", "", nil))
	if !strings.Contains(string(script.Body), "DeviceAuth") {
		t.Errorf("passkey.js without DeviceAuth")
	}
}

// openapiSignIn exercises the sign-in ceremony.
func openapiSignIn(t *testing.T, c *openapitest.Checker) {
	e := newOASEnv(t, nil)
	auth := &softAuthenticator{Origin: testOrigin}
	post := e.poster(c)
	cross := []string{"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}
	alice := e.browser(c, "alice")
	opts := c.Expect("registration options", 200, "", true, post(alice, registrationOptionsPath, `{}`))
	resp, cred := auth.Create(t, opts.Body)
	c.Expect("registration", 201, "", true, post(alice, registrationPath, string(resp)))

	// POST /v1/passkey/login/options
	b := e.browser(c, "")
	c.Expect("options without a body", 200, "", true, post(b, loginOptionsPath, ""))
	c.Expect("options, username-first", 200, "", true, post(b, loginOptionsPath, `{"username":"alice"}`))
	c.Expect("options, unknown username", 200, "", true, post(b, loginOptionsPath, `{"username":"nobody"}`))
	c.Expect("options: bad JSON", 400, "invalid_request", false, post(b, loginOptionsPath, `{"username":`))
	c.Expect("options: unknown member", 400, "invalid_request", false, post(b, loginOptionsPath, `{"user":"alice"}`))
	c.Expect("options: username too long", 400, "invalid_request", false, post(b, loginOptionsPath, `{"username":"`+strings.Repeat("u", 257)+`"}`))
	c.Expect("options: cross-origin", 403, "cross_origin", true, post(b, loginOptionsPath, `{}`, cross...))
	c.Expect("options: oversize body", 413, "body_too_large", false, post(b, loginOptionsPath, `{"username":"`+strings.Repeat("u", 70<<10)+`"}`))
	e.store.Fail.Store(true)
	c.Expect("options: store down", 503, "unavailable", true, post(b, loginOptionsPath, `{}`))
	e.store.Fail.Store(false)
	opts = c.Expect("options", 200, "", true, post(b, loginOptionsPath, `{}`))
	ceremony := setCookie(t, opts, "deviceauth-passkey-login")

	// POST /v1/passkey/login
	assertion := auth.Get(t, cred, opts.Body)
	c.Expect("finish: cross-origin", 403, "cross_origin", true, post(b, loginPath, string(assertion), cross...))
	c.Expect("finish: bad JSON", 400, "invalid_request", false, post(b, loginPath, `{"id":`))
	c.Expect("finish: unknown member", 400, "invalid_request", false, post(b, loginPath, withMember(t, assertion, "smuggled", true)))
	c.Expect("finish: not an assertion go-webauthn can parse", 400, "invalid_request", true, post(b, loginPath,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"AA","authenticatorData":"AA","signature":"AA"},"clientExtensionResults":{}}`))
	c.Expect("finish: oversize body", 413, "body_too_large", false, post(b, loginPath, `{"id":"`+strings.Repeat("A", 70<<10)+`"}`))
	c.Expect("finish: no ceremony cookie", 403, "invalid_assertion", true, post(e.browser(c, ""), loginPath, string(assertion)))
	withCeremony := []string{"Cookie", ceremony}
	// A failing store keeps the ceremony cookie: the browser retries.
	e.store.Fail.Store(true)
	if x := c.Expect("finish: store down", 503, "unavailable", true, post(b, loginPath, string(assertion))); len(x.Header.Values("Set-Cookie")) != 0 {
		t.Errorf("the store's failure set %q, want the ceremony cookie kept", x.Header.Values("Set-Cookie"))
	}
	e.store.Fail.Store(false)
	done := c.Expect("finish", 200, "", true, post(b, loginPath, string(assertion)))
	if !cleared(done, "deviceauth-passkey-login") || !strings.HasPrefix(done.Header.Values("Set-Cookie")[len(done.Header.Values("Set-Cookie"))-1], sessionCookie+"=alice") {
		t.Errorf("the sign-in set %q: want the ceremony cookie cleared, then the session", done.Header.Values("Set-Cookie"))
	}
	c.Expect("finish: replayed into the used ceremony", 403, "invalid_assertion", true, post(c.Client(), loginPath, string(assertion), withCeremony...))
	opts = c.Expect("options", 200, "", true, post(b, loginOptionsPath, `{}`))
	c.Expect("finish: made for another origin", 403, "invalid_assertion", true, post(b, loginPath, string(auth.Get(t, cred, opts.Body, func(s *signing) { s.Origin = "https://evil.example" }))))
	opts = c.Expect("options", 200, "", true, post(b, loginOptionsPath, `{}`))
	c.Expect("finish, counter 10", 200, "", true, post(b, loginPath, string(auth.Get(t, cred, opts.Body, func(s *signing) { s.Count = 10 }))))
	opts = c.Expect("options", 200, "", true, post(b, loginOptionsPath, `{}`))
	c.Expect("finish: counter backwards", 403, "passkey_clone", true, post(b, loginPath, string(auth.Get(t, cred, opts.Body, func(s *signing) { s.Count = 5 }))))
	opts = c.Expect("options", 200, "", true, post(b, loginOptionsPath, `{}`))
	e.signInFail.Store(true)
	// The passkey verified, so the ceremony is used: its cookie goes.
	if x := c.Expect("finish: the session cannot be started", 503, "unavailable", true, post(b, loginPath, string(auth.Get(t, cred, opts.Body, func(s *signing) { s.Count = 11 })))); !cleared(x, "deviceauth-passkey-login") {
		t.Errorf("the failing Config.SignIn set %q, want the ceremony cookie cleared", x.Header.Values("Set-Cookie"))
	}
	e.signInFail.Store(false)
}

// openapiPasskeyRateLimits exercises the 429s, on a Service with tiny limits.
func openapiPasskeyRateLimits(t *testing.T, c *openapitest.Checker) {
	e := newOASEnv(t, func(cfg *deviceauth.Config) {
		cfg.RateLimits.Ceremonies = deviceauth.Rate{Limit: 1, Window: time.Hour}
		cfg.RateLimits.Challenges = deviceauth.Rate{Limit: 1, Window: time.Hour}
	})
	auth := &softAuthenticator{Origin: testOrigin}
	post := e.poster(c)
	b := e.browser(c, "")
	c.Expect("sign-in options", 200, "", true, post(b, loginOptionsPath, `{}`))
	c.Expect("sign-in options over the rate", 429, "rate_limited", true, post(b, loginOptionsPath, `{}`))

	alice := e.browser(c, "alice")
	opts := c.Expect("registration options", 200, "", true, post(alice, registrationOptionsPath, `{}`))
	resp, _ := auth.Create(t, opts.Body)
	c.Expect("registration", 201, "", true, post(alice, registrationPath, string(resp)))
	c.Expect("registration options: a step-up", 401, "challenge_required", true, post(alice, registrationOptionsPath, `{}`))
	c.Expect("registration options: step-ups over the rate", 429, "rate_limited", true, post(alice, registrationOptionsPath, `{}`))
}

// openapiSecureCookies runs both ceremonies where every origin is https:
// the ceremony cookies are then __Secure- prefixed and Secure. (The test
// server is plain http, so the cookies are sent by hand: a cookie jar
// keeps Secure cookies for https.)
func openapiSecureCookies(t *testing.T, c *openapitest.Checker) {
	const origin = "https://app.example.com"
	e := newOASEnv(t, nil, func(cfg *passkey.Config) { cfg.RPID, cfg.Origins = "example.com", []string{origin} })
	auth := &softAuthenticator{Origin: origin}
	post := e.poster(c)
	session := sessionCookie + "=alice"
	opts := c.Expect("registration options", 200, "", true, post(c.Client(), registrationOptionsPath, `{}`, "Cookie", session))
	ceremony := setCookie(t, opts, "__Secure-deviceauth-passkey-registration")
	resp, cred := auth.Create(t, opts.Body)
	c.Expect("registration", 201, "", true, post(c.Client(), registrationPath, string(resp), "Cookie", session+"; "+ceremony))
	opts = c.Expect("sign-in options", 200, "", true, post(c.Client(), loginOptionsPath, `{}`))
	ceremony = setCookie(t, opts, "__Secure-deviceauth-passkey-login")
	if !strings.Contains(opts.Header.Get("Set-Cookie"), "; Secure") {
		t.Errorf("sign-in ceremony cookie %q is not Secure", opts.Header.Get("Set-Cookie"))
	}
	assertion := string(auth.Get(t, cred, opts.Body))
	c.Expect("sign-in with the cookie of plain http", 403, "invalid_assertion", true, post(c.Client(), loginPath, assertion, "Cookie", strings.TrimPrefix(ceremony, "__Secure-")))
	opts = c.Expect("sign-in options", 200, "", true, post(c.Client(), loginOptionsPath, `{}`))
	ceremony = setCookie(t, opts, "__Secure-deviceauth-passkey-login")
	c.Expect("sign-in", 200, "", true, post(c.Client(), loginPath, string(auth.Get(t, cred, opts.Body)), "Cookie", ceremony))
}

// oasEnv is a Service with Passkeys served as an application mounts them,
// like env (internal/roottest/env_test.go), with what the document's test needs besides: a
// store, a session store and a sign-in that can fail, a policy it sets,
// and one credential per user.
type oasEnv struct {
	svc        *deviceauth.Service
	srv        *httptest.Server
	store      *instancetest.Faulty
	pol        *policySwitch
	usersFail  atomic.Bool
	signInFail atomic.Bool
}

func newOASEnv(t *testing.T, edit func(*deviceauth.Config), editPasskeys ...func(*passkey.Config)) *oasEnv {
	t.Helper()
	pcfg := passkey.Config{RPID: "localhost", Origins: []string{testOrigin}, DisplayName: "deviceauth tests",
		Key: bytes.Repeat([]byte{7}, 32)}
	for _, f := range editPasskeys {
		f(&pcfg)
	}
	pk, err := passkey.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &oasEnv{store: &instancetest.Faulty{Store: memstore.New()}, pol: &policySwitch{}}
	users := deviceauth.UserResolverFunc(func(r *http.Request) (string, error) {
		if e.usersFail.Load() {
			return "", errors.New("injected session store failure")
		}
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			return "", nil
		}
		return c.Value, nil
	})
	signIn := func(w http.ResponseWriter, r *http.Request, userID string) error {
		if e.signInFail.Load() {
			return errors.New("injected session store failure")
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: userID, Path: "/", HttpOnly: true})
		return nil
	}
	off := deviceauth.Rate{Limit: -1}
	cfg := deviceauth.Config{
		Store: e.store, Keys: [][]byte{bytes.Repeat([]byte{9}, 32)}, PublicURL: pcfg.Origins[0] + "/deviceauth",
		Users: users, Passkeys: pk, SignIn: signIn, Rules: e.pol, MaxCredentialsPerUser: 1, Logger: slog.New(slog.DiscardHandler),
		RateLimits: deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off, Pushes: off, QR: off, Ceremonies: off},
	}
	if edit != nil {
		edit(&cfg)
	}
	if e.svc, err = deviceauth.New(cfg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", e.svc.Handler()))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Close()
		e.svc.Close(context.Background())
	})
	return e
}

// browser returns a browser (a cookie jar) whose requests c records,
// signed in as user unless user is "".
func (e *oasEnv) browser(c *openapitest.Checker, user string) *http.Client {
	b := c.Browser()
	if user != "" {
		u, _ := url.Parse(e.srv.URL)
		b.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: user, Path: "/"}})
	}
	return b
}

// poster returns a function that makes a function that POSTs body (JSON,
// when there is one) to path with b, with header pairs.
func (e *oasEnv) poster(c *openapitest.Checker) func(b *http.Client, path, body string, header ...string) func() {
	return func(b *http.Client, path, body string, header ...string) func() {
		h := map[string]string{}
		if body != "" {
			h["Content-Type"] = "application/json"
		}
		for i := 0; i+1 < len(header); i += 2 {
			h[header[i]] = header[i+1]
		}
		return c.SendWith(b, "POST", e.srv.URL+path, body, h)
	}
}

// setCookie returns the "name=value" of the cookie that x's answer set.
func setCookie(t *testing.T, x openapitest.Exchange, name string) string {
	t.Helper()
	for _, ck := range (&http.Response{Header: x.Header}).Cookies() {
		if ck.Name == name && ck.Value != "" {
			return ck.Name + "=" + ck.Value
		}
	}
	t.Fatalf("no %s cookie in %q", name, x.Header.Values("Set-Cookie"))
	return ""
}

// cleared reports whether x's answer cleared the cookie name.
func cleared(x openapitest.Exchange, name string) bool {
	for _, ck := range (&http.Response{Header: x.Header}).Cookies() {
		if ck.Name == name && ck.Value == "" && ck.MaxAge < 0 {
			return true
		}
	}
	return false
}

// withMember returns the JSON object body with one more member.
func withMember(t *testing.T, body []byte, name string, value any) string {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	m[name] = value
	return string(mustJSON(t, m))
}

// policySwitch challenges every action, unless the test sets another
// verdict.
type policySwitch struct {
	mu    sync.Mutex
	state deviceauth.ActionState
}

func (p *policySwitch) set(s deviceauth.ActionState) {
	p.mu.Lock()
	p.state = s
	p.mu.Unlock()
}

func (p *policySwitch) Decide(context.Context, deviceauth.PolicyInput) (deviceauth.Decision, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != "" {
		return deviceauth.Decision{State: p.state}, nil
	}
	return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
}
