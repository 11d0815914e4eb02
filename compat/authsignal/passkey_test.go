package authsignal_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/compat/authsignal"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/internal/webauthntest"
	"github.com/deviceauth/deviceauth/passkey"
	"github.com/deviceauth/deviceauth/store"
)

// The SDKs' passkey calls, made in Go with internal/webauthntest's
// software authenticator as the browser SDK makes them (its dist/index.js:
// PasskeyApiClient), so the flows and their refusals are covered without
// Chromium; browser_passkey_test.go runs the SDK itself.

// withPasskeys gives the Service a passkey verifier for RP ID localhost
// and the origin http://localhost:<port> of the test server (Chromium
// treats localhost as secure, and the software authenticator says so).
func withPasskeys(t testing.TB) func(*deviceauth.Config) {
	return func(c *deviceauth.Config) {
		pk, err := passkey.New(passkey.Config{RPID: "localhost", Origins: []string{localOrigin(t, c.PublicURL)},
			DisplayName: "compat tests", Key: []byte(strings.Repeat("k", 32))})
		if err != nil {
			t.Fatal(err)
		}
		c.Passkeys = pk
	}
}

// localOrigin is the origin of u with its host localhost.
func localOrigin(t testing.TB, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + p.Port()
}

// authenticator is a software authenticator of the test server's origin.
func (e *env) authenticator() *webauthntest.Authenticator {
	return &webauthntest.Authenticator{Origin: localOrigin(e.t, e.srv.URL)}
}

// options is the options member of r, as JSON.
func options(t testing.TB, r reply) []byte {
	t.Helper()
	o, ok := r.Body["options"].(map[string]any)
	if r.Status != 200 || !ok {
		t.Fatalf("options = %d %s", r.Status, r.Raw)
	}
	return webauthntest.MustJSON(t, o)
}

const pkPath = "/as/v1/client/user-authenticators/passkey"

// signUp is passkey.signUp({token}): registration options, the
// authenticator's credential, then the finish, whose reply it returns.
func (e *env) signUp(a *webauthntest.Authenticator, token string) (reply, *webauthntest.Credential) {
	e.t.Helper()
	o := e.do("POST", pkPath+"/registration-options", "Bearer "+token, map[string]any{"username": "alice", "authenticatorAttachment": "platform"})
	resp, cred := a.Create(e.t, options(e.t, o))
	return e.do("POST", pkPath, "Bearer "+token, map[string]any{"registrationCredential": json.RawMessage(resp),
		"conditionalCreate": false, "challengeId": o.str("challengeId")}), cred
}

// mustSignUp signs up with token and returns the passkey.
func (e *env) mustSignUp(a *webauthntest.Authenticator, token string) *webauthntest.Credential {
	e.t.Helper()
	r, cred := e.signUp(a, token)
	if r.Status != 200 || !r.bool("isVerified") || r.str("userAuthenticatorId") != seam.CredentialID(cred.ID) {
		e.t.Fatalf("sign-up = %d %s", r.Status, r.Raw)
	}
	return cred
}

// passkeyChallenge is POST /v1/client/challenge {action}, as signIn({action})
// sends it first.
func (e *env) passkeyChallenge(action string) string {
	e.t.Helper()
	r := e.do("POST", "/as/v1/client/challenge", browserBasic(), map[string]any{"action": action})
	if r.Status != 200 || r.str("challengeId") == "" {
		e.t.Fatalf("challenge = %d %s", r.Status, r.Raw)
	}
	return r.str("challengeId")
}

// signIn is the rest of passkey.signIn with authorization auth (the
// token's Bearer or the tenant's Basic) for challengeID (none with a
// token): the options, cred's assertion, then the verify's reply.
func (e *env) signIn(a *webauthntest.Authenticator, cred *webauthntest.Credential, auth, challengeID string) reply {
	e.t.Helper()
	body := map[string]any{}
	if challengeID != "" {
		body["challengeId"] = challengeID
	}
	o := e.do("POST", pkPath+"/authentication-options", auth, body)
	return e.do("POST", "/as/v1/client/verify/passkey", auth, map[string]any{"authenticationCredential": json.RawMessage(a.Get(e.t, cred, options(e.t, o))),
		"deviceId": "6f1c1d3e-0000-4000-8000-000000000000", "challengeId": o.str("challengeId")})
}

// validateOnce fails unless token validates once for user (as PASSKEY, not
// weak, for action) and then no more.
func validateOnce(t testing.TB, e *env, token, user, action string) {
	t.Helper()
	r := e.server("POST", "/validate", map[string]any{"token": token, "userId": user})
	if !r.bool("isValid") || r.str("verificationMethod") != "PASSKEY" || r.Body["weakBinding"] != nil || r.str("action") != action {
		t.Fatalf("validate = %s; want valid, PASSKEY, not weak, %s", r.Raw, action)
	}
	if r := e.server("POST", "/validate", map[string]any{"token": token, "userId": user}); r.bool("isValid") {
		t.Fatal("validated twice")
	}
}

// trackedChallenge is the ID of the challenge track tr created, as the
// client token's POST /v1/client/challenge gives it.
func trackedChallenge(e *env, tr reply) string {
	e.t.Helper()
	r := e.do("POST", "/as/v1/client/challenge", "Bearer "+tr.str("token"), nil)
	if r.Status != 200 || r.str("challengeId") == "" {
		e.t.Fatalf("challenge = %d %s", r.Status, r.Raw)
	}
	return r.str("challengeId")
}

// challengeState is the state of challenge id.
func challengeState(t testing.TB, e *env, id string) store.State {
	t.Helper()
	ch, err := seam.Compat.Challenge(e.svc, context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ch.State
}

// TestPasskey_SignUpAndSignIn: a first passkey is added with a track's
// client token (no accessToken: an enrolment verifies nothing); it then
// approves the track's own challenge (signIn({token})) and a sign-in with
// an action (signIn({action})), each giving a token the backend validates
// once, as PASSKEY and not weak though no action is in WeakActions;
// isAvailableOnDevice finds it among unknown IDs.
func TestPasskey_SignUpAndSignIn(t *testing.T) {
	e := newEnv(t, authsignal.Config{}, withPasskeys(t))
	a := e.authenticator()
	tok := e.track("alice", "signUp", nil).str("token")
	r, cred := e.signUp(a, tok)
	ua, _ := r.Body["userAuthenticator"].(map[string]any)
	if r.Status != 200 || !r.bool("isVerified") || r.str("userId") != "alice" || r.str("userAuthenticatorId") != seam.CredentialID(cred.ID) ||
		r.Body["accessToken"] != nil || r.Body["error"] != nil || ua["verificationMethod"] != "PASSKEY" {
		t.Fatalf("sign-up = %d %s", r.Status, r.Raw)
	}
	if l := e.server("GET", "/users/alice/authenticators", nil); !strings.Contains(string(l.Raw), `"verificationMethod":"PASSKEY"`) {
		t.Fatalf("authenticators = %s", l.Raw)
	}

	// signIn({token}): the challenge of a track made now that alice is
	// enrolled (the first one made none), her passkeys listed. Android
	// sends challengeId null.
	tok = e.track("alice", "signIn", nil).str("token")
	o := e.do("POST", pkPath+"/authentication-options", "Bearer "+tok, `{"challengeId":null}`)
	var ro webauthntest.RequestOptions
	webauthntest.ReadOptions(t, options(t, o), &ro)
	if len(ro.AllowCredentials) != 1 || ro.AllowCredentials[0].ID != webauthntest.B64(cred.ID) || ro.RPID != "localhost" || o.Body["options"].(map[string]any)["publicKey"] != nil {
		t.Fatalf("options with the token = %s; want alice's passkey, bare", o.Raw)
	}
	v := e.signIn(a, cred, "Bearer "+tok, "")
	if v.Status != 200 || !v.bool("isVerified") || v.str("userId") != "alice" || v.str("userAuthenticatorId") != seam.CredentialID(cred.ID) || v.Body["error"] != nil {
		t.Fatalf("verify with the token = %d %s", v.Status, v.Raw)
	}
	validateOnce(t, e, v.str("accessToken"), "alice", "signIn")

	// signIn({action}): discoverable, the passkey names the user.
	id := e.passkeyChallenge("signIn")
	o = e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id})
	ro = webauthntest.RequestOptions{}
	webauthntest.ReadOptions(t, options(t, o), &ro)
	if len(ro.AllowCredentials) != 0 || o.str("challengeId") != id {
		t.Fatalf("options with an action = %s; want discoverable", o.Raw)
	}
	v = e.signIn(a, cred, browserBasic(), id)
	if v.Status != 200 || v.str("userId") != "alice" || !strings.HasPrefix(v.str("accessToken"), "dat_") {
		t.Fatalf("verify with an action = %d %s", v.Status, v.Raw)
	}
	validateOnce(t, e, v.str("accessToken"), "alice", "signIn")

	// isAvailableOnDevice.
	known, unknown := webauthntest.B64(cred.ID), webauthntest.B64([]byte("unknown-credential"))
	if g := e.do("GET", pkPath+"?credentialIds="+unknown+","+known, browserBasic(), nil); g.Status != 200 || g.str("credentialId") != known || g.str("verifiedAt") == "" || g.Body["userId"] != nil {
		t.Fatalf("isAvailableOnDevice = %d %s", g.Status, g.Raw)
	}
	if g := e.do("GET", pkPath+"?credentialId="+known, e.phone("android", "push").basic(), nil); g.Status != 200 {
		t.Fatalf("the mobile lookup = %d %s", g.Status, g.Raw)
	}
	checkErrorShape(t, "an unknown passkey", e.do("GET", pkPath+"?credentialIds="+unknown, browserBasic(), nil), 404, "not_found")
	checkErrorShape(t, "no tenant", e.do("GET", pkPath+"?credentialIds="+known, "", nil), 401, "unauthorized")
	for _, q := range []string{"", "?credentialIds=", "?credentialIds=a&credentialId=b", "?credentialIds=not*base64", "?credentialIds=" + strings.Repeat("AA,", 33) + "AA"} {
		checkErrorShape(t, "query "+q, e.do("GET", pkPath+q, browserBasic(), nil), 400, "invalid_request")
	}
}

// TestPasskey_RegistrationRules: adding a passkey needs the client token
// and, for a user who has a credential, the step-up of adding a device key
// (a compat key's approval only for WeakActions); a ceremony is its
// user's and single use; nothing is stored on a refusal.
func TestPasskey_RegistrationRules(t *testing.T) {
	e := newEnv(t, authsignal.Config{WeakActions: []string{"addWeak"}}, withPasskeys(t))
	a := e.authenticator()
	for name, auth := range map[string]string{"no token": "", "the tenant": browserBasic(), "a forged token": "Bearer asct_" + strings.Repeat("A", 80)} {
		checkErrorShape(t, "registration options with "+name, e.do("POST", pkPath+"/registration-options", auth, map[string]any{"username": "alice"}), 401, "unauthorized")
		checkErrorShape(t, "registration with "+name, e.do("POST", pkPath, auth, map[string]any{"registrationCredential": map[string]any{}, "challengeId": "ce_x"}), 401, "unauthorized")
	}
	p := e.phone("ios", "push")
	p.enrol("alice")
	credentials := func(user string) int {
		cs, err := e.svc.Credentials(context.Background(), user)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	// Enrolled: no scope, or a scope whose challenge is not approved, or
	// approved by the compat key for an action that does not admit it.
	for _, action := range []string{"plain", "scoped", "addStrong"} {
		body := map[string]any{}
		if action != "plain" {
			body["scope"] = "add:authenticators"
		}
		tr := e.track("alice", action, body)
		if action == "addStrong" {
			if u := p.update("push", trackedChallenge(e, tr), true); u.Status != 200 {
				t.Fatalf("approve = %d %s", u.Status, u.Raw)
			}
		}
		checkErrorShape(t, "registration options, step-up "+action, e.do("POST", pkPath+"/registration-options", "Bearer "+tr.str("token"), map[string]any{}), 403, "step_up_required")
	}
	if n := credentials("alice"); n != 1 {
		t.Fatalf("alice has %d credentials after refusals, want 1", n)
	}
	// Approved by the compat key for an action of WeakActions: admitted.
	tr := e.track("alice", "addWeak", map[string]any{"scope": "add:authenticators"})
	if u := p.update("push", trackedChallenge(e, tr), true); u.Status != 200 {
		t.Fatalf("approve = %d %s", u.Status, u.Raw)
	}
	e.mustSignUp(a, tr.str("token"))
	if n := credentials("alice"); n != 2 {
		t.Fatalf("alice has %d credentials, want 2", n)
	}

	// A ceremony is its user's, and single use.
	bob := e.track("bob", "signUp", nil).str("token")
	o := e.do("POST", pkPath+"/registration-options", "Bearer "+bob, map[string]any{"username": "bob", "displayName": "Bob"})
	resp, _ := a.Create(t, options(t, o))
	finish := func(token string) reply {
		return e.do("POST", pkPath, "Bearer "+token, map[string]any{"registrationCredential": json.RawMessage(resp), "challengeId": o.str("challengeId"), "deviceId": nil})
	}
	checkErrorShape(t, "bob's ceremony finished by carol", finish(e.track("carol", "signUp", nil).str("token")), 403, "registration_failed")
	checkErrorShape(t, "a used ceremony", finish(bob), 403, "registration_failed")
	if credentials("bob")+credentials("carol") != 0 {
		t.Fatal("a refused ceremony stored a passkey")
	}
	// Another ceremony of bob's, answered for another origin: refused.
	o = e.do("POST", pkPath+"/registration-options", "Bearer "+bob, nil)
	evil, _ := (&webauthntest.Authenticator{Origin: "https://evil.example"}).Create(t, options(t, o))
	checkErrorShape(t, "another origin", e.do("POST", pkPath, "Bearer "+bob, map[string]any{"registrationCredential": json.RawMessage(evil), "challengeId": o.str("challengeId")}), 403, "registration_failed")
	if credentials("bob") != 0 {
		t.Fatal("a refused registration stored a passkey")
	}
}

// TestPasskey_Containment: an assertion answers only the challenge it was
// made for; a token answers only its own track's challenge; the tenant
// header answers only an unclaimed challenge of POST /v1/client/challenge
// — never a tracked, QR or native one; another user's passkey does not
// answer a user's challenge; an answered challenge is not answered again.
func TestPasskey_Containment(t *testing.T) {
	e := newEnv(t, authsignal.Config{}, withPasskeys(t))
	a := e.authenticator()
	alice := e.mustSignUp(a, e.track("alice", "signUp", nil).str("token"))
	bob := e.mustSignUp(a, e.track("bob", "signUp", nil).str("token"))

	// An assertion made for A does not finish B, and leaves both open.
	idA, idB := e.passkeyChallenge("signIn"), e.passkeyChallenge("signIn")
	oA := e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": idA})
	assertion := json.RawMessage(a.Get(t, alice, options(t, oA)))
	verify := func(auth, id string, cred json.RawMessage) reply {
		return e.do("POST", "/as/v1/client/verify/passkey", auth, map[string]any{"authenticationCredential": cred, "challengeId": id})
	}
	checkErrorShape(t, "A's assertion on B", verify(browserBasic(), idB, assertion), 403, "invalid_assertion")
	if challengeState(t, e, idA) != store.StateUnclaimed || challengeState(t, e, idB) != store.StateUnclaimed {
		t.Fatal("a refused assertion claimed a challenge")
	}
	if r := verify(browserBasic(), idA, assertion); r.Status != 200 || r.str("userId") != "alice" {
		t.Fatalf("A's assertion on A = %d %s", r.Status, r.Raw)
	}
	checkErrorShape(t, "the assertion again", verify(browserBasic(), idA, assertion), 409, "challenge_closed")

	// A token answers its own track's challenge only; bob's passkey does
	// not answer alice's.
	t1, t2 := e.track("alice", "transfer", nil), e.track("alice", "transfer", nil)
	id2 := trackedChallenge(e, t2)
	checkErrorShape(t, "another track's challenge", e.do("POST", pkPath+"/authentication-options", "Bearer "+t1.str("token"), map[string]any{"challengeId": id2}), 404, "not_found")
	checkErrorShape(t, "bob's passkey for alice", e.signIn(a, bob, "Bearer "+t1.str("token"), ""), 403, "invalid_assertion")
	if st := challengeState(t, e, trackedChallenge(e, t1)); st != store.StatePending {
		t.Fatalf("alice's challenge is %s after bob's assertion", st)
	}

	// The tenant header reaches neither a tracked, a QR nor a native
	// challenge.
	qr := e.do("POST", "/as/v1/client/challenge/qr-code", browserBasic(), map[string]any{"action": "signIn"}).str("challengeId")
	native, err := e.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Methods: []deviceauth.Method{deviceauth.MethodPasskey}})
	if err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{"tracked": id2, "QR": qr, "native": native.ChallengeID} {
		checkErrorShape(t, "options for a "+name+" challenge", e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id}), 404, "not_found")
		checkErrorShape(t, "verify of a "+name+" challenge", verify(browserBasic(), id, assertion), 404, "not_found")
	}
	if v, _ := e.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: native.Token, UserID: "alice", Action: "transfer"}); v.Valid {
		t.Fatal("a native challenge validated after compat attempts")
	}
}

// TestPasskey_RacingAnswers: two passkeys of two users answer one
// unclaimed challenge at once: exactly one claims and approves it, and
// the token validates for that user only.
func TestPasskey_RacingAnswers(t *testing.T) {
	e := newEnv(t, authsignal.Config{}, withPasskeys(t))
	a := e.authenticator()
	creds := map[string]*webauthntest.Credential{}
	for _, u := range []string{"alice", "bob"} {
		creds[u] = e.mustSignUp(a, e.track(u, "signUp", nil).str("token"))
	}
	for range 5 {
		id := e.passkeyChallenge("signIn")
		o := options(t, e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id}))
		bodies := map[string]any{}
		for u, c := range creds {
			bodies[u] = map[string]any{"authenticationCredential": json.RawMessage(a.Get(t, c, o)), "challengeId": id}
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		won := map[string]reply{}
		for u, b := range bodies {
			wg.Go(func() {
				r := e.do("POST", "/as/v1/client/verify/passkey", browserBasic(), b)
				mu.Lock()
				defer mu.Unlock()
				if r.Status == 200 {
					won[u] = r
				} else if r.Status != 409 {
					t.Errorf("%s = %d %s; want 200 or 409", u, r.Status, r.Raw)
				}
			})
		}
		wg.Wait()
		if len(won) != 1 {
			t.Fatalf("%d answers approved one challenge", len(won))
		}
		for u, r := range won {
			other := map[string]string{"alice": "bob", "bob": "alice"}[u]
			if v := e.server("POST", "/validate", map[string]any{"token": r.str("accessToken"), "userId": other}); v.bool("isValid") {
				t.Fatalf("%s's approval validated for %s", u, other)
			}
			validateOnce(t, e, r.str("accessToken"), u, "signIn")
		}
	}
}

// TestPasskey_BadInput: strict bodies with the SDKs' extra members
// tolerated, the size cap, malformed and mis-made assertions refused with
// nothing changed, the rate limits of the native passkey paths (the
// ceremony limit on options, the respond limit on answers), and 404 when
// the Service has no passkeys.
func TestPasskey_BadInput(t *testing.T) {
	e := newEnv(t, authsignal.Config{}, withPasskeys(t), func(c *deviceauth.Config) {
		c.RateLimits.Ceremonies = deviceauth.Rate{Limit: 8, Window: time.Minute}
		c.RateLimits.Respond = deviceauth.Rate{Limit: 5, Window: time.Minute}
	})
	a := e.authenticator()
	tok := e.track("alice", "signUp", nil).str("token")
	checkErrorShape(t, "registration options, unknown member", e.do("POST", pkPath+"/registration-options", "Bearer "+tok, map[string]any{"name": "x"}), 400, "invalid_request")
	checkErrorShape(t, "registration, no credential", e.do("POST", pkPath, "Bearer "+tok, map[string]any{"challengeId": "ce_x"}), 400, "invalid_request")
	cred := e.mustSignUp(a, tok) // options: 1 register; no ceremony

	id := e.passkeyChallenge("signIn")
	o := e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id}) // ceremony 1
	good := json.RawMessage(a.Get(t, cred, options(t, o)))
	checkErrorShape(t, "options without challengeId", e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{}), 400, "invalid_request")
	checkErrorShape(t, "options, unknown member", e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id, "x": 1}), 400, "invalid_request")
	verify := func(body any) reply { return e.do("POST", "/as/v1/client/verify/passkey", browserBasic(), body) }
	checkErrorShape(t, "verify, unknown member", verify(map[string]any{"authenticationCredential": good, "challengeId": id, "userId": "alice"}), 400, "invalid_request")
	checkErrorShape(t, "verify, no credential", verify(map[string]any{"challengeId": id}), 400, "invalid_request")
	checkErrorShape(t, "verify, oversized", verify(`{"challengeId":"`+id+`","authenticationCredential":{"x":"`+strings.Repeat("a", 20<<10)+`"}}`), 413, "body_too_large")
	for name, cred := range map[string]any{"not an object": "x", "no rawId": map[string]any{"id": "x"}, "rawId not base64url": map[string]any{"rawId": "***"}} { // respond 1-3
		checkErrorShape(t, "verify, "+name, verify(map[string]any{"authenticationCredential": cred, "challengeId": id}), 400, "invalid_request")
	}
	evil := json.RawMessage((&webauthntest.Authenticator{Origin: "https://evil.example"}).Get(t, cred, options(t, o), func(s *webauthntest.Signing) { s.Count = 1 }))
	checkErrorShape(t, "verify, another origin", verify(map[string]any{"authenticationCredential": evil, "challengeId": id}), 403, "invalid_assertion") // respond 4
	if challengeState(t, e, id) != store.StateUnclaimed {
		t.Fatal("a refused assertion changed the challenge")
	}
	if r := verify(map[string]any{"authenticationCredential": good, "challengeId": id, "deviceId": "d"}); r.Status != 200 { // respond 5
		t.Fatalf("the good assertion after refusals = %d %s", r.Status, r.Raw)
	}
	checkErrorShape(t, "the respond limit", verify(map[string]any{"authenticationCredential": good, "challengeId": id}), 429, "rate_limited")
	for range 7 { // ceremonies 2-8
		e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id})
	}
	checkErrorShape(t, "the ceremony limit", e.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": id}), 429, "rate_limited")

	plain := newEnv(t, authsignal.Config{})
	checkErrorShape(t, "no passkeys configured", plain.do("POST", pkPath+"/registration-options", "Bearer "+plain.track("alice", "signUp", nil).str("token"), nil), 404, "not_found")
	checkErrorShape(t, "no passkeys configured", plain.do("POST", pkPath+"/authentication-options", browserBasic(), map[string]any{"challengeId": plain.passkeyChallenge("signIn")}), 404, "not_found")
}
