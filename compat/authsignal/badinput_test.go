package authsignal_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/compat/authsignal"
)

// TestBadInput: the compat endpoints refuse what native ones refuse, in
// the SDKs' error shape: unknown members (while the members the SDKs send
// for features the adapter lacks are tolerated), oversized bodies, a bad
// secret or tenant, an expired client token (expired_token, which the
// browser SDK reports to onTokenExpired); one refusal for every
// bad-signature reason; nothing stored on failure.
func TestBadInput(t *testing.T) {
	e := newEnv(t, authsignal.Config{ClientTokenTTL: time.Minute})
	p := e.phone("ios", "push")
	p.enrol("alice")

	checkErrorShape(t, "unknown member", e.server("POST", "/users/alice/actions/transfer", map[string]any{"bogus": 1}), 400, "invalid_request")
	checkErrorShape(t, "duplicate member", e.server("POST", "/validate", `{"token":"a","token":"b","userId":"alice"}`), 400, "invalid_request")
	if r := e.server("POST", "/users/alice/actions/transfer", map[string]any{"redirectUrl": "https://x", "email": "a@b", "locale": "en"}); r.Status != 200 {
		t.Fatalf("tolerated members = %d %s", r.Status, r.Raw)
	}
	big := `{"custom":{"x":"` + strings.Repeat("a", 20<<10) + `"}}`
	checkErrorShape(t, "oversized body", e.server("POST", "/users/alice/actions/transfer", big), 413, "body_too_large")
	wrongSecret := "Basic " + base64.StdEncoding.EncodeToString([]byte("sk_wrong_0123456789abcd:"))
	checkErrorShape(t, "wrong secret", e.do("POST", "/as/v1/validate", wrongSecret, map[string]any{"token": "x", "userId": "alice"}), 401, "unauthorized")
	checkErrorShape(t, "the tenant header on the server API", e.do("POST", "/as/v1/validate", p.basic(), map[string]any{"token": "x", "userId": "alice"}), 401, "unauthorized")
	checkErrorShape(t, "unknown endpoint", e.do("GET", "/as/v1/nothing", p.basic(), nil), 404, "not_found")

	tr := e.track("alice", "transfer", nil)
	chID := e.do("POST", "/as/v1/client/challenge", "Bearer "+tr.str("token"), nil).str("challengeId")
	// Every bad signature is the same refusal, and leaves the challenge
	// pending.
	for name, sig := range map[string]string{
		"malformed":       "AAAA",
		"not base64":      "***",
		"over other text": p.sign("other"),
		"by another key":  e.phone("ios", "push").sign(chID),
	} {
		r := e.do("POST", p.path("push/challenge"), p.basic(), map[string]any{"challengeId": chID, "publicKey": p.publicKey(), "approved": true, "signature": sig})
		checkErrorShape(t, "signature "+name, r, 403, "invalid_response")
	}
	if st, _ := e.svc.ChallengeState(context.Background(), seamToken(e, chID), "alice"); st != "PENDING" {
		t.Fatalf("challenge is %s after bad signatures, want PENDING", st)
	}

	// Nothing stored on failure: a malformed key adds nothing.
	bob := e.track("bob", "enrol", nil).str("token")
	for _, key := range []string{"", "not base64!", base64.StdEncoding.EncodeToString([]byte("not a key"))} {
		r := e.do("POST", p.path("push"), "Bearer "+bob, map[string]any{"publicKey": key, "deviceName": "x", "devicePlatform": "ios"})
		if r.Status != 400 {
			t.Fatalf("key %q = %d %s, want 400", key, r.Status, r.Raw)
		}
	}
	if cs, _ := e.svc.Credentials(context.Background(), "bob"); len(cs) != 0 {
		t.Fatalf("bob has %d credentials after refusals", len(cs))
	}

	e.clock.Add(time.Minute)
	checkErrorShape(t, "expired client token", e.do("POST", "/as/v1/client/challenge/push", "Bearer "+tr.str("token"), map[string]any{"action": "transfer"}), 401, "expired_token")
	checkErrorShape(t, "forged client token", e.do("POST", "/as/v1/client/challenge/push", "Bearer asct_"+strings.Repeat("A", 80), map[string]any{"action": "transfer"}), 401, "unauthorized")
}
