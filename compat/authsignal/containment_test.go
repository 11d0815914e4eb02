package authsignal_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/compat/authsignal"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// The containment of the weaker bindings (docs/compat-authsignal.md): a
// test for each rule.

// TestContain_CompatAnswerNeverApprovesNative: a compat device cannot
// answer a challenge the application tracked natively, neither through
// the compat endpoint nor by signing the native answer with its key.
func TestContain_CompatAnswerNeverApprovesNative(t *testing.T) {
	e := newEnv(t, authsignal.Config{WeakActions: []string{"transfer"}})
	p := e.phone("ios", "push")
	credID := p.enrol("alice")
	res, err := e.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	if err != nil || res.ChallengeID == "" {
		t.Fatalf("native Track = %+v, %v", res, err)
	}
	checkErrorShape(t, "compat approval of a native challenge", p.update("push", res.ChallengeID, true), 403, "invalid_response")
	checkErrorShape(t, "compat claim of a native challenge", p.claim(res.ChallengeID), 403, "invalid_response")
	// The native answer, signed by the compat key: refused too.
	nonce := []byte{}
	ch, err := seam.Steps.FetchChallenge(e.svc, context.Background(), seam.Device{CredentialID: credID, UserID: "alice"}, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	nonce = ch.(deviceauth.ChallengeView).Nonce
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: res.ChallengeID, Nonce: nonce, Action: "transfer", CredentialID: credID,
		Decision: "approve", DetailsDigest: digestOfEmpty()})
	sig := signRaw(t, p.key, msg)
	if _, err := e.svc.Respond(context.Background(), deviceauth.DeviceAnswer{ChallengeID: res.ChallengeID, CredentialID: credID,
		Decision: "approve", Signature: sig}); !errors.Is(err, deviceauth.ErrInvalidResponse) {
		t.Fatalf("native answer signed by a compat key = %v, want ErrInvalidResponse", err)
	}
	if v, _ := e.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer", WeakBinding: true}); v.Valid {
		t.Fatal("a native challenge validated after compat attempts")
	}
}

// TestContain_NativeAnswerNotDowngraded: a native device that answers a
// compat challenge (it sees it among its pending ones) gives a strong
// approval, which validates where weak bindings are refused and reports
// no weak binding; the native key cannot use the compat endpoints.
func TestContain_NativeAnswerNotDowngraded(t *testing.T) {
	e := newEnv(t, authsignal.Config{})
	d := e.nativeDevice("alice")
	tr := e.track("alice", "transfer", nil)
	pending, err := d.Pending(context.Background())
	if err != nil || len(pending) != 1 || !strings.HasPrefix(pending[0].ID, "as_") {
		t.Fatalf("native Pending = %+v, %v", pending, err)
	}
	if r, err := d.Approve(context.Background(), pending[0], ""); err != nil || r.State != "APPROVED" {
		t.Fatalf("native Approve = %+v, %v", r, err)
	}
	tok := seam.Compat.Token(e.svc, pending[0].ID)
	v := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"})
	if !v.bool("isValid") || v.bool("weakBinding") || v.str("verificationMethod") != "DEVICE" {
		t.Fatalf("validate of a native approval = %s", v.Raw)
	}
	_ = tr
}

// TestContain_WeakRefusedUnlessRouteAccepts: Validate refuses a compat
// approval by default and leaves it approved; ValidateRequest.WeakBinding
// admits it once; Require passes its token only WithWeakBinding.
func TestContain_WeakRefusedUnlessRouteAccepts(t *testing.T) {
	e := newEnv(t, authsignal.Config{})
	p := e.phone("android", "push")
	p.enrol("alice")
	approved := func(action string) string {
		tr := e.track("alice", action, nil)
		id := e.do("POST", "/as/v1/client/challenge", "Bearer "+tr.str("token"), nil).str("challengeId")
		if u := p.update("push", id, true); u.Status != 200 {
			t.Fatalf("approve: %d %s", u.Status, u.Raw)
		}
		return seam.Compat.Token(e.svc, id)
	}
	ctx := context.Background()
	tok := approved("transfer")
	if v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: tok, UserID: "alice", Action: "transfer"}); err != nil || v.Valid {
		t.Fatalf("Validate of a weak approval by default = %+v, %v", v, err)
	}
	if st, _ := e.svc.ChallengeState(ctx, tok, "alice"); st != "APPROVED" {
		t.Fatalf("after the refusal the challenge is %s, want APPROVED", st)
	}
	v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: tok, UserID: "alice", Action: "transfer", WeakBinding: true})
	if err != nil || !v.Valid || !v.WeakBinding {
		t.Fatalf("Validate with WeakBinding = %+v, %v", v, err)
	}

	users := deviceauth.UserResolverFunc(func(*http.Request) (string, error) { return "alice", nil })
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	strict := e.svc.Require("pay", deviceauth.WithUserResolver(users))(ok)
	weak := e.svc.Require("pay", deviceauth.WithUserResolver(users), deviceauth.WithWeakBinding())(ok)
	gated := func(h http.Handler, token string) int {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/pay", nil)
		r.Header.Set(deviceauth.TokenHeader, token)
		h.ServeHTTP(w, r)
		return w.Code
	}
	tok = approved("pay")
	if c := gated(strict, tok); c != http.StatusForbidden {
		t.Fatalf("Require without WithWeakBinding = %d, want 403", c)
	}
	if c := gated(weak, tok); c != http.StatusNoContent {
		t.Fatalf("Require WithWeakBinding = %d, want 204", c)
	}
}

// TestContain_OneKeyOneUser: a key another user registered is refused,
// and nothing changes; the same user adding it again gets the credential
// it has.
func TestContain_OneKeyOneUser(t *testing.T) {
	e := newEnv(t, authsignal.Config{})
	p := e.phone("ios", "push")
	id := p.enrol("alice")
	checkErrorShape(t, "bob registering alice's key", p.add(e.track("bob", "enrol", nil).str("token")), 403, "registration_failed")
	if creds, _ := e.svc.Credentials(context.Background(), "bob"); len(creds) != 0 {
		t.Fatalf("bob has %d credentials after the refusal", len(creds))
	}
	if again := p.mustAdd(e.track("alice", "enrol", nil).str("token")); again != id {
		t.Fatalf("re-adding alice's key = %s, want %s", again, id)
	}
	// A key in another encoding (the raw point) is refused: a key is found
	// by the hash of the one encoding the SDKs send.
	raw, _ := p.key.PublicKey.Bytes()
	r := e.do("POST", p.path("push"), "Bearer "+e.track("carol", "enrol", nil).str("token"), map[string]any{
		"publicKey": b64(raw), "deviceName": "x", "devicePlatform": "ios"})
	checkErrorShape(t, "a raw point", r, 400, "invalid_key")
}

// TestContain_ValidateNeedsItsUser: the server API refuses a token
// without its user, and a token for another user is not valid.
func TestContain_ValidateNeedsItsUser(t *testing.T) {
	e := newEnv(t, authsignal.Config{WeakActions: []string{"transfer"}})
	p := e.phone("ios", "push")
	p.enrol("mallory")
	tr := e.track("mallory", "transfer", nil)
	id := e.do("POST", "/as/v1/client/challenge", "Bearer "+tr.str("token"), nil).str("challengeId")
	p.update("push", id, true)
	tok := seam.Compat.Token(e.svc, id)
	checkErrorShape(t, "validate without userId", e.server("POST", "/validate", map[string]any{"token": tok}), 400, "invalid_request")
	if v := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "victim"}); v.Status != 200 || v.bool("isValid") {
		t.Fatalf("mallory's token in the victim's flow = %d %s", v.Status, v.Raw)
	}
	if v := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "mallory", "action": "signIn"}); v.bool("isValid") {
		t.Fatal("validated for another action")
	}
	if v := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "mallory"}); !v.bool("isValid") {
		t.Fatalf("validate for its user = %s", v.Raw)
	}
}

// TestContain_StepUpToAdd: a user who has a credential adds another only
// with a token tracked with scope add:authenticators whose challenge an
// existing device approved — and a compat approval counts only where the
// action accepts weak bindings. Nothing is stored by a refusal.
func TestContain_StepUpToAdd(t *testing.T) {
	e := newEnv(t, authsignal.Config{})
	e.mount("/weak", authsignal.Config{WeakActions: []string{"addDevice"}})
	first := e.phone("ios", "push")
	first.enrol("alice")
	second := e.phone("android", "push")
	count := func() int {
		cs, _ := e.svc.Credentials(context.Background(), "alice")
		return len(cs)
	}
	checkErrorShape(t, "adding without the scope", second.add(e.track("alice", "addDevice", nil).str("token")), 403, "step_up_required")
	scoped := e.track("alice", "addDevice", map[string]any{"scope": "add:authenticators"})
	checkErrorShape(t, "adding before the step-up is approved", second.add(scoped.str("token")), 403, "step_up_required")
	chID := e.do("POST", "/as/v1/client/challenge", "Bearer "+scoped.str("token"), nil).str("challengeId")
	if u := first.update("push", chID, true); u.Status != 200 {
		t.Fatalf("approve step-up: %d %s", u.Status, u.Raw)
	}
	checkErrorShape(t, "adding with a weak step-up where it is refused", second.add(scoped.str("token")), 403, "step_up_required")
	if n := count(); n != 1 {
		t.Fatalf("%d credentials after refusals, want 1", n)
	}
	r := e.do("POST", "/weak/v1/client/user-authenticators/push", "Bearer "+scoped.str("token"), map[string]any{
		"publicKey": second.publicKey(), "deviceName": "second", "devicePlatform": "android"})
	if r.Status != 200 {
		t.Fatalf("adding with a weak step-up where accepted = %d %s", r.Status, r.Raw)
	}
	third := e.phone("ios", "push")
	checkErrorShape(t, "a consumed step-up used again", e.do("POST", "/weak/v1/client/user-authenticators/push", "Bearer "+scoped.str("token"), map[string]any{
		"publicKey": third.publicKey(), "deviceName": "third", "devicePlatform": "ios"}), 403, "step_up_required")
	if n := count(); n != 2 {
		t.Fatalf("%d credentials, want 2", n)
	}
}

// TestContain_QRActionAllowList: browsers and phones ask for challenges
// without a user only for the Service's QRActions.
func TestContain_QRActionAllowList(t *testing.T) {
	e := newEnv(t, authsignal.Config{}, func(c *deviceauth.Config) { c.QRActions = []string{"signIn", "link"} })
	checkErrorShape(t, "QR for transfer", e.do("POST", "/as/v1/client/challenge/qr-code", browserBasic(), map[string]any{"action": "transfer"}), 400, "invalid_request")
	if r := e.do("POST", "/as/v1/client/challenge/qr-code", browserBasic(), map[string]any{"action": "link"}); r.Status != 200 {
		t.Fatalf("QR for an allowed action = %d %s", r.Status, r.Raw)
	}
}

// TestContain_RateLimits: the compat endpoints count against the
// Service's limits (here the fetch limit of key lookups and the
// challenges-per-user limit of track).
func TestContain_RateLimits(t *testing.T) {
	e := newEnv(t, authsignal.Config{}, func(c *deviceauth.Config) {
		c.RateLimits.Fetch = deviceauth.Rate{Limit: 3, Window: time.Minute}
		c.RateLimits.Challenges = deviceauth.Rate{Limit: 2, Window: time.Minute}
	})
	p := e.phone("ios", "push")
	p.enrol("alice")
	for i := range 3 {
		if r := e.do("GET", p.path("push?"+p.query()), p.basic(), nil); r.Status != 200 {
			t.Fatalf("lookup %d = %d", i, r.Status)
		}
	}
	checkErrorShape(t, "fourth lookup", e.do("GET", p.path("push?"+p.query()), p.basic(), nil), 429, "rate_limited")
	e.track("alice", "transfer", nil) // the second: enrolling tracked the first
	checkErrorShape(t, "third track", e.server("POST", "/users/alice/actions/transfer", map[string]any{}), 429, "rate_limited")
}

func digestOfEmpty() []byte {
	d := protocol.DetailsDigest(deviceauth.Details{Fields: []deviceauth.Field{}})
	return d[:]
}

func signRaw(t *testing.T, k *ecdsa.PrivateKey, msg []byte) []byte {
	t.Helper()
	p := &phone{key: k}
	sig, ok := decodeStd(p.sign(string(msg)))
	if !ok {
		t.Fatal("signature")
	}
	return sig
}

// TestContain_RulesWhenUserKnown: challenges a browser (QR) or a phone
// (in-app) creates without a user run the Service's rules once a device
// claims them, with the asker's IP and user agent, and write the action
// record under the challenge's method: a BLOCK fails the challenge and
// refuses the claim; CHALLENGE_REQUIRED lets it through, recorded. A
// track the rules BLOCK or hold for review (REVIEW_REQUIRED, the SDKs'
// name) hands out no token.
func TestContain_RulesWhenUserKnown(t *testing.T) {
	var seen []deviceauth.PolicyInput
	e := newEnv(t, authsignal.Config{WeakActions: []string{"signIn"}}, func(c *deviceauth.Config) {
		c.QRActions = []string{"signIn"}
		c.Rules = deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			seen = append(seen, in)
			if in.UserID == "mallory" && in.Action == "signIn" {
				return deviceauth.Decision{State: deviceauth.StateBlock, Rule: "no-mallory"}, nil
			}
			if in.Action == "payout" {
				return deviceauth.Decision{State: deviceauth.StateReview, Rule: "hold-payouts"}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		})
	})
	alice, mallory := e.phone("ios", "qr-code"), e.phone("android", "qr-code")
	alice.enrol("alice")
	mallory.enrol("mallory")
	inApp := e.phone("android", "in-app")
	inApp.enrol("bob")
	if tr := e.track("mallory", "signIn", map[string]any{"scope": "add:authenticators"}); tr.str("state") != "BLOCK" || tr.str("token") != "" {
		t.Fatalf("a blocked track = %s; want BLOCK without a token", tr.Raw)
	}
	if tr := e.track("alice", "payout", map[string]any{"scope": "add:authenticators"}); tr.str("state") != "REVIEW_REQUIRED" || tr.str("token") != "" {
		t.Fatalf("a track held for review = %s; want REVIEW_REQUIRED (the SDKs' name) without a token", tr.Raw)
	}
	seen = nil

	qr := func() string {
		r := e.do("POST", "/as/v1/client/challenge/qr-code", browserBasic(), map[string]any{"action": "signIn"}, "User-Agent", "Browser/1")
		if r.Status != 200 {
			t.Fatalf("QR challenge = %d %s", r.Status, r.Raw)
		}
		return r.str("challengeId")
	}
	blocked := qr()
	checkErrorShape(t, "a blocked user's claim", mallory.claim(blocked), 409, "challenge_closed")
	if ch, err := seam.Compat.Challenge(e.svc, context.Background(), blocked); err != nil || ch.State != store.StateFailed {
		t.Fatalf("blocked challenge = %v %v; want FAILED", ch.State, err)
	}
	checkErrorShape(t, "an approval after the block", mallory.update("qr-code", blocked, true), 403, "invalid_response")

	passed := qr()
	if c := alice.claim(passed); c.Status != 200 {
		t.Fatalf("alice's claim = %d %s", c.Status, c.Raw)
	}
	ch := e.do("POST", "/as/v1/client/challenge", inApp.basic(), map[string]any{"action": "signIn"}, "User-Agent", "App/2")
	chID := ch.str("challengeId")
	if v := e.do("POST", "/as/v1/client/verify/in-app", inApp.basic(), map[string]any{"challengeId": chID, "publicKey": inApp.publicKey(), "signature": inApp.sign(chID)}); v.Status != 200 {
		t.Fatalf("verify in-app = %d %s", v.Status, v.Raw)
	}

	if len(seen) != 3 || seen[0].UserID != "mallory" || seen[1].UserID != "alice" || seen[2].UserID != "bob" ||
		seen[1].UserAgent != "Browser/1" || seen[2].UserAgent != "App/2" || !seen[1].ClientIP.IsLoopback() ||
		!slices.Equal(seen[1].Methods, []deviceauth.Method{deviceauth.MethodQRCode}) || !slices.Equal(seen[2].Methods, []deviceauth.Method{deviceauth.MethodInApp}) {
		t.Fatalf("the rules saw %+v", seen)
	}
	for user, want := range map[string][]string{"mallory": {"BLOCK no-mallory", "BLOCK no-mallory"}, "alice": {"CHALLENGE_REQUIRED "}, "bob": {"CHALLENGE_REQUIRED "}} {
		list, _, err := e.svc.Actions(context.Background(), deviceauth.ActionQuery{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range list {
			if a.Action == "enrol" || a.Action == "payout" {
				continue
			}
			got = append(got, string(a.State)+" "+a.Rule)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s's action records = %q; want %q", user, got, want)
		}
	}
}
