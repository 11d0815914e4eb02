package passkey_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/passkey"
	"github.com/deviceauth/deviceauth/store"
)

func TestRegisterThenSignIn_Discoverable(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, pub := alice.register(e.auth, "Laptop")
	if pub.Kind != "passkey" || pub.Name != "Laptop" || pub.ID != seam.CredentialID(cred.ID) {
		t.Fatalf("registered %+v, want passkey Laptop %s", pub, seam.CredentialID(cred.ID))
	}
	// Listed like a device key.
	creds, err := e.svc.Credentials(context.Background(), "alice")
	if err != nil || len(creds) != 1 || creds[0].ID != pub.ID || creds[0].Kind != "passkey" {
		t.Fatalf("Credentials = %+v, %v", creds, err)
	}
	// The user handle is stable per user and is not the user ID.
	if len(cred.UserHandle) != 32 || strings.Contains(string(cred.UserHandle), "alice") {
		t.Fatalf("user handle %x", cred.UserHandle)
	}

	anon := e.browser()
	res := anon.login(e.auth, cred)
	if res.status != http.StatusOK {
		t.Fatalf("sign-in: %v", res)
	}
	var in struct {
		UserID       string `json:"userId"`
		CredentialID string `json:"credentialId"`
	}
	json.Unmarshal(res.body, &in)
	if in.UserID != "alice" || in.CredentialID != pub.ID || anon.user() != "alice" || e.signIns.Load() != 1 {
		t.Fatalf("signed in %+v as %q after %d SignIn calls, want alice with %s", in, anon.user(), e.signIns.Load(), pub.ID)
	}
	p, err := e.store.GetCredential(context.Background(), pub.ID)
	if err != nil || p.SignCount != 1 || p.LastUsedAt.IsZero() {
		t.Fatalf("after sign-in the passkey is %+v, %v; want sign count 1 and a last use", p, err)
	}
}

func TestCeremonyCookie_HttpOnlyStrictScopedAndCleared(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, _ := alice.register(e.auth, "")
	opts := alice.loginOptions("")
	var set *http.Cookie
	for _, c := range (&http.Response{Header: opts.header}).Cookies() {
		if c.Name == "deviceauth-passkey-login" {
			set = c
		}
	}
	if set == nil || !set.HttpOnly || set.SameSite != http.SameSiteStrictMode || set.Path != "/deviceauth/v1/passkey/" || set.Secure || set.MaxAge != 300 {
		t.Fatalf("ceremony cookie %+v: want HttpOnly, SameSite=Strict, Path=/deviceauth/v1/passkey/, Max-Age=300, not Secure on http", set)
	}
	if opts.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("options Cache-Control %q", opts.header.Get("Cache-Control"))
	}
	fin := alice.post(loginPath, e.auth.Get(t, cred, opts.body))
	if fin.status != http.StatusOK {
		t.Fatalf("sign-in: %v", fin)
	}
	cleared := false
	for _, c := range (&http.Response{Header: fin.header}).Cookies() {
		cleared = cleared || (c.Name == "deviceauth-passkey-login" && c.MaxAge < 0)
	}
	if !cleared {
		t.Fatalf("the finish did not clear the ceremony cookie: %v", fin.header["Set-Cookie"])
	}
}

func TestCeremonyCookie_SecureOnHTTPS(t *testing.T) {
	e := newEnv(t, func(c *passkey.Config) {
		c.RPID, c.Origins = "example.com", []string{"https://app.example.com"}
	})
	opts := e.browser().post(loginOptionsPath, map[string]string{})
	for _, c := range (&http.Response{Header: opts.header}).Cookies() {
		if c.Name == "__Secure-deviceauth-passkey-login" && c.Secure && c.HttpOnly && c.SameSite == http.SameSiteStrictMode {
			return
		}
	}
	t.Fatalf("want a Secure __Secure-deviceauth-passkey-login cookie, got %v", opts.header["Set-Cookie"])
}

func TestFinishLogin_ConcurrentFinishOfOneCeremonyHasOneSuccess(t *testing.T) {
	e := newEnv(t)
	cred, _ := e.browser().signInAs("alice").register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("")
	cookie := ceremonyCookie(t, opts, "deviceauth-passkey-login")
	assertion := e.auth.Get(t, cred, opts.body)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			// Each its own client, all with the same ceremony cookie and
			// the same assertion.
			res := e.browser().post(loginPath, assertion, "Cookie", cookie)
			switch {
			case res.status == http.StatusOK:
				ok.Add(1)
			case res.status == http.StatusForbidden && res.code() == "invalid_assertion":
				refused.Add(1)
			default:
				t.Errorf("finish: %v", res)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || refused.Load() != 15 {
		t.Fatalf("%d finishes succeeded and %d were refused, want 1 and 15", ok.Load(), refused.Load())
	}
}

func TestFinishLogin_ReplayedAssertionRejected(t *testing.T) {
	e := newEnv(t)
	cred, _ := e.browser().signInAs("alice").register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("")
	cookie := ceremonyCookie(t, opts, "deviceauth-passkey-login")
	assertion := e.auth.Get(t, cred, opts.body)
	if res := b.post(loginPath, assertion); res.status != http.StatusOK {
		t.Fatalf("first use: %v", res)
	}
	// The same assertion for the same (used) ceremony.
	if res := e.browser().post(loginPath, assertion, "Cookie", cookie); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("replay into the used ceremony: %v, want 403 invalid_assertion", res)
	}
	// The same assertion for a new ceremony: its challenge is another.
	c := e.browser()
	c.loginOptions("")
	if res := c.post(loginPath, assertion); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("replay into a new ceremony: %v, want 403 invalid_assertion", res)
	}
	if c.user() != "" {
		t.Fatalf("a replay signed in %q", c.user())
	}
}

func TestFinishLogin_RejectsBadAssertions(t *testing.T) {
	tests := []struct {
		name   string
		change func(*signing)
		cause  string // what go-webauthn found wrong
	}{
		{"wrong origin", func(s *signing) { s.Origin = "https://evil.example" }, "Error validating origin"},
		{"origin of another port", func(s *signing) { s.Origin = "http://localhost:9999" }, "Error validating origin"},
		{"wrong RP ID hash", func(s *signing) { s.RPID = "evil.example" }, "RP Hash mismatch"},
		{"challenge of another ceremony", func(s *signing) { s.Challenge = b64(make([]byte, 32)) }, "Error validating challenge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			cred, _ := e.browser().signInAs("alice").register(e.auth, "")
			b := e.browser()
			if res := b.login(e.auth, cred, tt.change); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
				t.Fatalf("%s: %v, want 403 invalid_assertion", tt.name, res)
			}
			if b.user() != "" || e.signIns.Load() != 0 {
				t.Fatalf("%s signed in %q", tt.name, b.user())
			}
			// The verifier alone, to see that it failed for this reason.
			ctx := context.Background()
			opts, state, err := e.pk.BeginLogin(ctx, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.pk.FinishLogin(ctx, e.auth.Get(t, cred, opts, tt.change), func() ([]byte, error) { return state, nil }, e.store.GetCredential)
			var pe *protocol.Error
			if !errors.As(err, &pe) || !strings.Contains(pe.Details+" "+pe.DevInfo, tt.cause) {
				t.Fatalf("%s: FinishLogin = %v, want a failure caused by %q", tt.name, err, tt.cause)
			}
		})
	}
}

func TestFinishLogin_RejectsOtherSignatures(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, _ := alice.register(e.auth, "")
	other, _ := e.browser().signInAs("bob").register(e.auth, "")
	// Bob's key signs, Alice's credential ID and user handle are claimed.
	forged := *other
	forged.ID, forged.UserHandle = cred.ID, cred.UserHandle
	if res := e.browser().login(e.auth, &forged); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("another key's signature: %v, want 403 invalid_assertion", res)
	}
	// Alice's key with Bob's user handle.
	mixed := *cred
	mixed.UserHandle = other.UserHandle
	if res := e.browser().login(e.auth, &mixed); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("another user's handle: %v, want 403 invalid_assertion", res)
	}
}

func TestFinishLogin_CounterBackwardsIsRefusedWithCloneEvent(t *testing.T) {
	e := newEnv(t)
	cred, pub := e.browser().signInAs("alice").register(e.auth, "")
	if res := e.browser().login(e.auth, cred, func(s *signing) { s.Count = 10 }); res.status != http.StatusOK {
		t.Fatalf("sign-in at 10: %v", res)
	}
	b := e.browser()
	res := b.login(e.auth, cred, func(s *signing) { s.Count = 5 })
	if res.status != http.StatusForbidden || res.code() != "passkey_clone" {
		t.Fatalf("counter 10 → 5: %v, want 403 passkey_clone", res)
	}
	if b.user() != "" || e.signIns.Load() != 1 {
		t.Fatalf("a clone signed in %q", b.user())
	}
	if n := e.events.count(event.PasskeyClone); n != 1 {
		t.Fatalf("%d %s events, want 1", n, event.PasskeyClone)
	}
	// The same count again is no better; the stored count never goes down.
	if res := e.browser().login(e.auth, cred, func(s *signing) { s.Count = 10 }); res.code() != "passkey_clone" {
		t.Fatalf("counter 10 → 10: %v, want passkey_clone", res)
	}
	if p, _ := e.store.GetCredential(context.Background(), pub.ID); p.SignCount != 10 {
		t.Fatalf("stored sign count %d, want 10", p.SignCount)
	}
	if res := e.browser().login(e.auth, cred, func(s *signing) { s.Count = 11 }); res.status != http.StatusOK {
		t.Fatalf("counter 11: %v", res)
	}
}

func TestFinishLogin_SyncedPasskeyZeroCountersAndBackupFlags(t *testing.T) {
	e := newEnv(t)
	synced := &softAuthenticator{Origin: testOrigin, Backup: true}
	cred, pub := e.browser().signInAs("alice").register(synced, "")
	for i := range 3 {
		if res := e.browser().login(synced, cred); res.status != http.StatusOK {
			t.Fatalf("sign-in %d with counter 0 after 0: %v", i, res)
		}
	}
	p, err := e.store.GetCredential(context.Background(), pub.ID)
	if err != nil || p.SignCount != 0 || p.Flags != store.FlagBackupEligible|store.FlagBackupState {
		t.Fatalf("synced passkey %+v, %v: want sign count 0, flags BE|BS", p, err)
	}
	if n := e.events.count(event.PasskeyClone); n != 0 {
		t.Fatalf("%d clone events for 0 and 0", n)
	}
}

func TestFinishLogin_RemovedPasskeyRejected(t *testing.T) {
	e := newEnv(t)
	cred, pub := e.browser().signInAs("alice").register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("")
	if err := e.store.DeleteCredential(context.Background(), "alice", pub.ID); err != nil {
		t.Fatal(err)
	}
	if res := b.post(loginPath, e.auth.Get(t, cred, opts.body)); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("removed passkey: %v, want 403 invalid_assertion", res)
	}
}

func TestFinishLogin_ExpiredCeremonyRejected(t *testing.T) {
	e := newEnv(t)
	cred, _ := e.browser().signInAs("alice").register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("")
	e.clock.Advance(5*time.Minute + time.Second)
	if res := b.post(loginPath, e.auth.Get(t, cred, opts.body)); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("expired ceremony: %v, want 403 invalid_assertion", res)
	}
}

func TestFinishLogin_WithoutCeremonyIsTheSameAnswerAsWrong(t *testing.T) {
	e := newEnv(t)
	cred, _ := e.browser().signInAs("alice").register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("")
	assertion := e.auth.Get(t, cred, opts.body)
	noCookie := e.browser().post(loginPath, assertion)
	unknown := e.browser().login(e.auth, &softCredential{ID: []byte("unknown-credential"), Key: cred.Key, RPID: "localhost", UserHandle: cred.UserHandle})
	if noCookie.status != unknown.status || string(noCookie.body) != string(unknown.body) || noCookie.code() != "invalid_assertion" {
		t.Fatalf("no ceremony: %v; unknown passkey: %v; want the same 403 invalid_assertion", noCookie, unknown)
	}
}

func TestRegistration_StepUpWhenEnrolled(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	first, _ := alice.register(e.auth, "Laptop")

	res := alice.post(registrationOptionsPath, map[string]string{"name": "Phone"})
	var denial deviceauth.DenialBody
	json.Unmarshal(res.body, &denial)
	if res.status != http.StatusUnauthorized || denial.Error != "challenge_required" || denial.Token == "" ||
		!slices.Equal(denial.Methods, []deviceauth.Method{deviceauth.MethodPasskey}) ||
		!strings.HasPrefix(res.header.Get("WWW-Authenticate"), `Deviceauth challenge_id="`+denial.ChallengeID+`"`) {
		t.Fatalf("second registration without step-up: %v %v", res, res.header)
	}
	if bad := alice.post(registrationOptionsPath, map[string]string{}, deviceauth.TokenHeader, "dat_bogus"); bad.status != http.StatusForbidden || bad.code() != "challenge_failed" {
		t.Fatalf("with a bad token: %v, want 403 challenge_failed", bad)
	}
	// Approve the addAuthenticator challenge with the passkey (the Service's
	// step-up endpoints), then retry with the token.
	opts := alice.post(stepUpOptionsPath(denial.ChallengeID), nil)
	if opts.status != http.StatusOK {
		t.Fatalf("step-up options: %v", opts)
	}
	if ok := alice.post(stepUpPath(denial.ChallengeID), e.auth.Get(t, first, opts.body)); ok.status != http.StatusOK || !strings.Contains(string(ok.body), `"APPROVED"`) {
		t.Fatalf("step-up: %v", ok)
	}
	second := &softAuthenticator{Origin: testOrigin}
	_, pub := alice.register(second, "Phone", deviceauth.TokenHeader, denial.Token)
	creds, _ := e.svc.Credentials(context.Background(), "alice")
	if len(creds) != 2 || pub.Name != "Phone" {
		t.Fatalf("after the step-up alice has %d passkeys (%+v)", len(creds), pub)
	}
	// The token was consumed.
	if again := alice.post(registrationOptionsPath, map[string]string{}, deviceauth.TokenHeader, denial.Token); again.code() != "challenge_failed" {
		t.Fatalf("reused step-up token: %v, want challenge_failed", again)
	}
}

func TestRegistration_BoundToTheSignedInUser(t *testing.T) {
	e := newEnv(t)
	b := e.browser().signInAs("alice")
	opts := b.post(registrationOptionsPath, map[string]string{})
	if opts.status != http.StatusOK {
		t.Fatalf("options: %v", opts)
	}
	resp, _ := e.auth.Create(t, opts.body)
	b.signInAs("mallory") // the session changed between the halves
	if res := b.post(registrationPath, resp); res.status != http.StatusForbidden || res.code() != "registration_failed" {
		t.Fatalf("finish as another user: %v, want 403 registration_failed", res)
	}
	if creds, _ := e.svc.Credentials(context.Background(), "mallory"); len(creds) != 0 {
		t.Fatalf("mallory got %+v", creds)
	}
	if res := e.browser().post(registrationOptionsPath, map[string]string{}); res.status != http.StatusUnauthorized || res.code() != "unauthenticated" {
		t.Fatalf("registration without a session: %v, want 401 unauthenticated", res)
	}
}

func TestRegistration_RejectsWrongOriginAndReplay(t *testing.T) {
	e := newEnv(t)
	b := e.browser().signInAs("alice")
	opts := b.post(registrationOptionsPath, map[string]string{})
	evil := &softAuthenticator{Origin: "https://evil.example"}
	resp, _ := evil.Create(t, opts.body)
	if res := b.post(registrationPath, resp); res.status != http.StatusForbidden || res.code() != "registration_failed" {
		t.Fatalf("registration from another origin: %v, want 403 registration_failed", res)
	}
	opts = b.post(registrationOptionsPath, map[string]string{})
	resp, _ = e.auth.Create(t, opts.body)
	if res := b.post(registrationPath, resp); res.status != http.StatusCreated {
		t.Fatalf("registration: %v", res)
	}
	if res := b.post(registrationPath, resp); res.status != http.StatusForbidden || res.code() != "registration_failed" {
		t.Fatalf("replayed registration: %v, want 403 registration_failed", res)
	}
}

// track creates a challenge for alice's transfer that a passkey may answer.
func track(t *testing.T, e *env, details deviceauth.Details) deviceauth.TrackResult {
	t.Helper()
	res, err := e.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: details,
		Methods: []deviceauth.Method{deviceauth.MethodDevice, deviceauth.MethodPasskey}})
	if err != nil || res.ChallengeID == "" {
		t.Fatalf("Track = %+v, %v", res, err)
	}
	return res
}

var (
	details25 = deviceauth.Details{Message: "Send 25.00 EUR to Bob", Fields: []deviceauth.Field{{Label: "Amount", Value: "25.00 EUR"}, {Label: "Payee", Value: "Bob"}}}
	details99 = deviceauth.Details{Message: "Send 9999.00 EUR to Mallory", Fields: []deviceauth.Field{{Label: "Amount", Value: "9999.00 EUR"}, {Label: "Payee", Value: "Mallory"}}}
)

func TestStepUp_PasskeyAssertionBoundToActionAndDetails(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, pub := alice.register(e.auth, "")
	wanted, other := track(t, e, details25), track(t, e, details99)

	otherOpts := alice.post(stepUpOptionsPath(other.ChallengeID), nil)
	wantedOpts := alice.post(stepUpOptionsPath(wanted.ChallengeID), nil)
	if otherOpts.status != http.StatusOK || wantedOpts.status != http.StatusOK {
		t.Fatalf("step-up options: %v / %v", otherOpts, wantedOpts)
	}
	var o requestOptions
	json.Unmarshal(wantedOpts.body, &o)
	if len(o.PublicKey.AllowCredentials) != 1 || o.PublicKey.AllowCredentials[0].ID != b64(cred.ID) || o.PublicKey.RPID != "localhost" {
		t.Fatalf("step-up options %s: want alice's one passkey, rpId localhost", wantedOpts.body)
	}
	// An assertion made for the other details does not approve this one.
	if res := alice.post(stepUpPath(wanted.ChallengeID), e.auth.Get(t, cred, otherOpts.body)); res.status != http.StatusForbidden || res.code() != "invalid_assertion" {
		t.Fatalf("assertion for other details: %v, want 403 invalid_assertion", res)
	}
	if res := alice.post(stepUpPath(wanted.ChallengeID), e.auth.Get(t, cred, wantedOpts.body)); res.status != http.StatusOK {
		t.Fatalf("step-up: %v", res)
	}
	v, err := e.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: wanted.Token, UserID: "alice", Action: "transfer", Details: details25})
	if err != nil || !v.Valid || v.Method != deviceauth.MethodPasskey || v.CredentialID != pub.ID {
		t.Fatalf("Validate = %+v, %v; want valid by PASSKEY with %s", v, err, pub.ID)
	}
	// Another user's browser cannot answer alice's challenge.
	third := track(t, e, details25)
	if res := e.browser().signInAs("bob").post(stepUpOptionsPath(third.ChallengeID), nil); res.status != http.StatusNotFound {
		t.Fatalf("bob asking for alice's challenge: %v, want 404", res)
	}
}

func TestStepUp_CloneAndRemovedPasskey(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, pub := alice.register(e.auth, "")
	first := track(t, e, details25)
	opts := alice.post(stepUpOptionsPath(first.ChallengeID), nil)
	if res := alice.post(stepUpPath(first.ChallengeID), e.auth.Get(t, cred, opts.body, func(s *signing) { s.Count = 7 })); res.status != http.StatusOK {
		t.Fatalf("step-up: %v", res)
	}
	second := track(t, e, details25)
	opts = alice.post(stepUpOptionsPath(second.ChallengeID), nil)
	if res := alice.post(stepUpPath(second.ChallengeID), e.auth.Get(t, cred, opts.body, func(s *signing) { s.Count = 3 })); res.code() != "passkey_clone" {
		t.Fatalf("counter 7 → 3 in a step-up: %v, want passkey_clone", res)
	}
	if n := e.events.count(event.PasskeyClone); n != 1 {
		t.Fatalf("%d clone events, want 1", n)
	}
	if err := e.store.DeleteCredential(context.Background(), "alice", pub.ID); err != nil {
		t.Fatal(err)
	}
	if res := alice.post(stepUpPath(second.ChallengeID), e.auth.Get(t, cred, opts.body)); res.status < 400 {
		t.Fatalf("a removed passkey answered a step-up: %v", res)
	}
}

// keys returns the member names of a JSON object, recursively, with
// arrays reduced to the keys of their first element.
func keys(t *testing.T, v any, prefix string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			out = append(out, prefix+k)
			out = append(out, keys(t, sub, prefix+k+".")...)
		}
	case []any:
		for _, sub := range x {
			out = append(out, keys(t, sub, prefix+"[].")...)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestUsernameFirst_KnownAndUnknownUsersLookAlike(t *testing.T) {
	e := newEnv(t)
	cred, _ := e.browser().signInAs("alice").register(e.auth, "")
	options := func(name string) (answer, requestOptions, map[string]any) {
		res := e.browser().loginOptions(name)
		var o requestOptions
		var raw map[string]any
		json.Unmarshal(res.body, &o)
		json.Unmarshal(res.body, &raw)
		return res, o, raw
	}
	knownRes, known, knownRaw := options("alice")
	unknownRes, unknown, unknownRaw := options("nobody")
	if knownRes.status != unknownRes.status || !reflect.DeepEqual(keys(t, knownRaw, ""), keys(t, unknownRaw, "")) {
		t.Fatalf("known and unknown answers differ in shape:\n%s\n%s", knownRes.body, unknownRes.body)
	}
	if len(known.PublicKey.AllowCredentials) != 4 || len(unknown.PublicKey.AllowCredentials) != 4 {
		t.Fatalf("allowCredentials: %d for alice, %d for nobody; want 4 each", len(known.PublicKey.AllowCredentials), len(unknown.PublicKey.AllowCredentials))
	}
	if !slices.ContainsFunc(known.PublicKey.AllowCredentials, func(d struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}) bool {
		return d.ID == b64(cred.ID)
	}) {
		t.Fatalf("alice's passkey is not in her list %s", knownRes.body)
	}
	for _, n := range []string{"deviceauth-passkey-login"} {
		ceremonyCookie(t, knownRes, n)
		ceremonyCookie(t, unknownRes, n)
	}
	_, again, _ := options("nobody")
	_, other, _ := options("somebody")
	if !reflect.DeepEqual(unknown.PublicKey.AllowCredentials, again.PublicKey.AllowCredentials) {
		t.Fatalf("the decoys of one unknown username changed between requests")
	}
	if reflect.DeepEqual(unknown.PublicKey.AllowCredentials, other.PublicKey.AllowCredentials) {
		t.Fatalf("two unknown usernames got the same decoys")
	}
	if known.PublicKey.Challenge == again.PublicKey.Challenge {
		t.Fatalf("two ceremonies share a challenge")
	}

	// Alice signs in username-first; her passkey does not finish a
	// sign-in that named someone else.
	b := e.browser()
	res := b.loginOptions("alice")
	if fin := b.post(loginPath, e.auth.Get(t, cred, res.body)); fin.status != http.StatusOK || b.user() != "alice" {
		t.Fatalf("username-first sign-in: %v", fin)
	}
	for _, name := range []string{"nobody", "bob"} {
		c := e.browser()
		res := c.loginOptions(name)
		if fin := c.post(loginPath, e.auth.Get(t, cred, res.body)); fin.status != http.StatusForbidden || fin.code() != "invalid_assertion" {
			t.Fatalf("alice's passkey for username %q: %v, want 403 invalid_assertion", name, fin)
		}
	}
}

func TestUsernameFirst_LookupUsername(t *testing.T) {
	e := newEnv(t, func(c *passkey.Config) {
		c.LookupUsername = func(_ context.Context, name string) (string, error) {
			if name == "ada@example.com" {
				return "u-1", nil
			}
			return "", nil
		}
		c.AllowCredentials = 2
	})
	cred, _ := e.browser().signInAs("u-1").register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("ada@example.com")
	var o requestOptions
	json.Unmarshal(opts.body, &o)
	if len(o.PublicKey.AllowCredentials) != 2 {
		t.Fatalf("allowCredentials %s, want 2", opts.body)
	}
	if fin := b.post(loginPath, e.auth.Get(t, cred, opts.body)); fin.status != http.StatusOK || b.user() != "u-1" {
		t.Fatalf("sign-in by email: %v", fin)
	}
}

func TestHandler_RefusesBadRequests(t *testing.T) {
	e := newEnv(t)
	alice := e.browser().signInAs("alice")
	cred, _ := alice.register(e.auth, "")
	b := e.browser()
	opts := b.loginOptions("")
	var extra map[string]any
	json.Unmarshal(e.auth.Get(t, cred, opts.body), &extra)
	extra["smuggled"] = true
	tests := []struct {
		name   string
		do     func() answer
		status int
		code   string
	}{
		{"unknown member in options", func() answer { return b.post(loginOptionsPath, []byte(`{"user":"x"}`)) }, 400, "invalid_request"},
		{"options body not JSON", func() answer { return b.post(loginOptionsPath, []byte(`{"username":`)) }, 400, "invalid_request"},
		{"trailing data", func() answer { return b.post(loginOptionsPath, []byte(`{} {}`)) }, 400, "invalid_request"},
		{"name too long", func() answer {
			return alice.post(registrationOptionsPath, map[string]string{"name": strings.Repeat("n", 65)})
		}, 400, "invalid_request"},
		{"unknown member in the assertion", func() answer { return b.post(loginPath, extra) }, 400, "invalid_request"},
		{"body over the cap", func() answer { return b.post(loginPath, []byte(`{"id":"`+strings.Repeat("A", 65<<10)+`"}`)) }, 413, "body_too_large"},
		{"cross-origin", func() answer { return b.post(loginOptionsPath, map[string]string{}, "Sec-Fetch-Site", "cross-site") }, 403, "cross_origin"},
		{"GET of a POST endpoint", func() answer { return b.do(mustRequest(t, "GET", e.srv.URL+loginOptionsPath)) }, 405, "method_not_allowed"},
		{"unknown path", func() answer { return b.post("/deviceauth/v1/passkey/nope", nil) }, 404, "not_found"},
	}
	for _, tt := range tests {
		res := tt.do()
		if res.status != tt.status || res.code() != tt.code {
			t.Errorf("%s: %v, want %d %s", tt.name, res, tt.status, tt.code)
		}
	}
	// None of that used up the ceremony: the good assertion still works.
	if res := b.post(loginPath, e.auth.Get(t, cred, opts.body)); res.status != http.StatusOK {
		t.Fatalf("after malformed requests the sign-in fails: %v", res)
	}
}

func mustRequest(t *testing.T, method, url string) *http.Request {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestHandler_ServesScript(t *testing.T) {
	e := newEnv(t)
	res := e.browser().do(mustRequest(t, "GET", e.srv.URL+"/deviceauth/v1/passkey/passkey.js"))
	if res.status != http.StatusOK || !strings.HasPrefix(res.header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(res.body), "DeviceAuth") || !strings.Contains(string(res.body), "signInWithUsername") {
		t.Fatalf("passkey.js: %d %s", res.status, res.header)
	}
}

// TestSeam_CeremoniesWithoutHTTP: the verifier's half of the ceremonies,
// as the Service drives them: state out, state back through take (called
// only once the response has parsed), a passkey and an assertion out.
func TestSeam_CeremoniesWithoutHTTP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	opts, state, err := e.pk.BeginRegistration(ctx, "alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, cred := e.auth.Create(t, opts)
	taken := 0
	take := func() ([]byte, error) { taken++; return state, nil }
	if _, err := e.pk.FinishRegistration(ctx, []byte(`{}`), take); !errors.Is(err, seam.ErrMalformed) || taken != 0 {
		t.Fatalf("malformed registration: %v, %d takes", err, taken)
	}
	np, err := e.pk.FinishRegistration(ctx, resp, take)
	if err != nil || taken != 1 || seam.CredentialID(np.RawID) != seam.CredentialID(cred.ID) {
		t.Fatalf("FinishRegistration = %+v, %v", np, err)
	}
	stored := store.Credential{ID: seam.CredentialID(np.RawID), UserID: "alice", Kind: store.KindPasskey, Passkey: np.Data}
	lookup := func(_ context.Context, id string) (store.Credential, error) {
		if id != stored.ID {
			return store.Credential{}, store.ErrNotFound
		}
		return stored, nil
	}
	lo, lstate, err := e.pk.BeginLogin(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	taken = 0
	take = func() ([]byte, error) { taken++; return lstate, nil }
	if _, err := e.pk.FinishLogin(ctx, []byte(`{}`), take, lookup); !errors.Is(err, seam.ErrMalformed) || taken != 0 {
		t.Fatalf("malformed assertion: %v, %d takes", err, taken)
	}
	a, err := e.pk.FinishLogin(ctx, e.auth.Get(t, cred, lo), take, lookup)
	if err != nil || taken != 1 || a.CredentialID != stored.ID {
		t.Fatalf("FinishLogin = %+v, %v", a, err)
	}
}
