package authsignal_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/compat/authsignal"
)

var platforms = []string{"ios", "android"}

// TestMobile_WireVectors pins the encodings the SDKs use, from their
// source: the Basic headers of the browser, iOS and Android for
// tenant-123, the removal window's text at 1767225600, the publicKey query
// of docs/protocol.md's P-256 vector key in both encodings, and that the
// adapter reads each of them (including Android's raw "+").
func TestMobile_WireVectors(t *testing.T) {
	if got := browserBasic(); got != "Basic dGVuYW50LTEyMw==" {
		t.Errorf("browser Basic = %s", got)
	}
	e := newEnv(t, authsignal.Config{})
	if got := (&phone{platform: "ios"}).basic(); got != "Basic dGVuYW50LTEyMzo" {
		t.Errorf("iOS Basic = %s", got)
	}
	if got := (&phone{platform: "android"}).basic(); got != "Basic dGVuYW50LTEyMzo=" {
		t.Errorf("Android Basic = %s", got)
	}
	if got := window(time.Unix(1767225600, 0)); got != "2945376.0" {
		t.Errorf("window = %s, want 2945376.0", got)
	}
	// docs/protocol.md's P-256 vector key.
	x, _ := new(big.Int).SetString("60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6", 16)
	y, _ := new(big.Int).SetString("7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299", 16)
	vec := &phone{e: e, key: &ecdsa.PrivateKey{PublicKey: ecdsa.PublicKey{Curve: elliptic.P256(), X: x, Y: y}}}
	if !strings.HasPrefix(vec.publicKey(), "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEYP7U") || !strings.HasSuffix(vec.publicKey(), "8KU1EYimQ==") {
		t.Errorf("vector publicKey = %s", vec.publicKey())
	}
	vec.platform = "ios"
	const vectorQuery = "TUZrd0V3WUhLb1pJemowQ0FRWUlLb1pJemowREFRY0RRZ0FFWVA3VXVpVmFuVEhKWWV0MHhqVnRhTUJKdUpJN1lmcHM1bWxpTG1EeW43WjVBLzRRQ0xpOG1hUWE2ZWxXS0x4azh2R3lEQzErbjFGM284S1UxRVlpbVE9PQ"
	if q := vec.query(); q != "publicKey="+vectorQuery {
		t.Errorf("iOS query = %s", q)
	}
	vec.platform = "android"
	if q := vec.query(); q != "publicKey="+vectorQuery+"==" {
		t.Errorf("Android query = %s", q)
	}

	// Every header form reaches the endpoint; a wrong tenant does not.
	for _, auth := range []string{browserBasic(), (&phone{platform: "ios"}).basic(), (&phone{platform: "android"}).basic()} {
		r := e.do("GET", "/as/v1/client/user-authenticators/push?"+vec.query(), auth, nil)
		checkErrorShape(t, "getCredential of an unknown key with "+auth, r, 404, "not_found")
	}
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("other-tenant:"))
	checkErrorShape(t, "wrong tenant", e.do("GET", "/as/v1/client/user-authenticators/push?"+vec.query(), wrong, nil), 401, "unauthorized")

	// An Android query (padded, unescaped) finds the key it names. The
	// double encoding of base64 text never yields "+" or "/" (see
	// TestQueryPublicKey_RawPlus for the parser's handling of them).
	p := e.phone("android", "push")
	id := p.enrol("android-user")
	if !strings.HasSuffix(p.query(), "=") {
		t.Fatalf("Android query %s is not padded", p.query())
	}
	r := e.do("GET", p.path("push?"+p.query()), p.basic(), nil)
	if r.Status != 200 || r.str("userAuthenticatorId") != id || r.str("userId") != "android-user" || r.str("verifiedAt") == "" {
		t.Fatalf("getCredential with a padded query = %d %s", r.Status, r.Raw)
	}
}

// TestMobile_PushApproveValidatesOnce: for both platforms, a track, a
// device added with its token, the browser's push, the device's signed
// fetch and approval, and validate: refused while the action does not
// accept weak bindings (and still approved), then valid once where it
// does, reporting the weak binding.
func TestMobile_PushApproveValidatesOnce(t *testing.T) {
	for _, pf := range platforms {
		t.Run(pf, func(t *testing.T) {
			e := newEnv(t, authsignal.Config{})
			e.mount("/weak", authsignal.Config{WeakActions: []string{"transfer"}})
			p := e.phone(pf, "push")
			id := p.enrol("alice")
			if r := e.do("GET", p.path("push?"+p.query()), p.basic(), nil); r.Status != 200 || r.str("userAuthenticatorId") != id || r.str("userId") != "alice" {
				t.Fatalf("getCredential = %d %s", r.Status, r.Raw)
			}
			if r := p.fetch(); r.Status != 200 || r.str("userAuthenticatorId") != id || r.str("challengeId") != "" {
				t.Fatalf("fetch with nothing pending = %d %s", r.Status, r.Raw)
			}

			tr := e.track("alice", "transfer", map[string]any{"ipAddress": "203.0.113.9", "userAgent": "Firefox"})
			if tr.str("state") != "CHALLENGE_REQUIRED" || !tr.bool("isEnrolled") || tr.str("token") == "" || tr.str("idempotencyKey") == "" {
				t.Fatalf("track = %s", tr.Raw)
			}
			push := e.do("POST", "/as/v1/client/challenge/push", "Bearer "+tr.str("token"), map[string]any{"action": "transfer"})
			if push.Status != 200 || push.str("challengeId") == "" {
				t.Fatalf("push.challenge = %d %s", push.Status, push.Raw)
			}
			chID := push.str("challengeId")
			verify := func() reply {
				return e.do("POST", "/as/v1/client/verify/push", "Bearer "+tr.str("token"), map[string]any{"challengeId": chID})
			}
			if v := verify(); v.Status != 200 || v.bool("isVerified") || v.bool("isConsumed") || v.str("accessToken") != "" {
				t.Fatalf("verify before approval = %d %s", v.Status, v.Raw)
			}
			f := p.fetch()
			if f.Status != 200 || f.str("challengeId") != chID || f.str("userId") != "alice" || f.str("actionCode") != "transfer" ||
				f.str("ipAddress") != "203.0.113.9" || f.str("userAgent") != "Firefox" || f.str("idempotencyKey") != tr.str("idempotencyKey") {
				t.Fatalf("fetch = %d %s", f.Status, f.Raw)
			}
			if u := p.update("push", chID, true); u.Status != 200 || !u.bool("isVerified") {
				t.Fatalf("updateChallenge = %d %s", u.Status, u.Raw)
			}
			v := verify()
			if v.Status != 200 || !v.bool("isVerified") || !strings.HasPrefix(v.str("accessToken"), "dat_") {
				t.Fatalf("verify after approval = %d %s", v.Status, v.Raw)
			}
			tok := v.str("accessToken")
			if r := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); r.Status != 200 || r.bool("isValid") || r.str("state") != "CHALLENGE_FAILED" {
				t.Fatalf("validate where weak bindings are refused = %d %s", r.Status, r.Raw)
			}
			weak := e.do("POST", "/weak/v1/validate", "Basic "+base64.StdEncoding.EncodeToString([]byte(secretKey+":")), map[string]any{"token": tok, "userId": "alice"})
			if weak.Status != 200 || !weak.bool("isValid") || weak.str("state") != "CHALLENGE_SUCCEEDED" || weak.str("action") != "transfer" ||
				weak.str("actionCode") != "transfer" || weak.str("userId") != "alice" || !weak.bool("weakBinding") ||
				weak.str("idempotencyKey") != tr.str("idempotencyKey") {
				t.Fatalf("validate where weak bindings are accepted = %d %s", weak.Status, weak.Raw)
			}
			again := e.do("POST", "/weak/v1/validate", "Basic "+base64.StdEncoding.EncodeToString([]byte(secretKey+":")), map[string]any{"token": tok, "userId": "alice"})
			if again.bool("isValid") {
				t.Fatal("a token validated twice")
			}
			if _, has := weak.Body["error"]; has {
				t.Fatal("a success body carries an error member")
			}
		})
	}
}

// TestMobile_PushDeny: a denial (the same signed bytes as an approval) ends
// the challenge; the browser sees it consumed and unverified, and no
// token validates.
func TestMobile_PushDeny(t *testing.T) {
	for _, pf := range platforms {
		t.Run(pf, func(t *testing.T) {
			e := newEnv(t, authsignal.Config{WeakActions: []string{"transfer"}})
			p := e.phone(pf, "push")
			p.enrol("alice")
			tr := e.track("alice", "transfer", nil)
			chID := e.do("POST", "/as/v1/client/challenge/push", "Bearer "+tr.str("token"), map[string]any{"action": "transfer"}).str("challengeId")
			if u := p.update("push", chID, false); u.Status != 200 || u.bool("isVerified") {
				t.Fatalf("deny = %d %s", u.Status, u.Raw)
			}
			v := e.do("POST", "/as/v1/client/verify/push", "Bearer "+tr.str("token"), map[string]any{"challengeId": chID})
			if v.Status != 200 || v.bool("isVerified") || !v.bool("isConsumed") || v.str("accessToken") != "" {
				t.Fatalf("verify after deny = %d %s", v.Status, v.Raw)
			}
			// Approving after the denial replays the same signature: the
			// state machine refuses it.
			checkErrorShape(t, "approve after deny", p.update("push", chID, true), 409, "challenge_closed")
		})
	}
}

// TestMobile_QRClaimApprove: a browser's QR challenge, claimed and
// approved by a device, goes unclaimed → claimed → approved with a token
// for the REST poller, which validates once for the device's user. Another
// device of the same user cannot approve what this one claimed, and the
// claim's body replayed as an approval (the same valid signature) after
// the approval is refused by the state machine.
func TestMobile_QRClaimApprove(t *testing.T) {
	for _, pf := range platforms {
		t.Run(pf, func(t *testing.T) {
			e := newEnv(t, authsignal.Config{WeakActions: []string{"signIn"}})
			p := e.phone(pf, "qr-code")
			p.enrol("alice")
			tr := e.track("alice", "addAuthenticator", map[string]any{"scope": "add:authenticators"})
			other := e.phone(pf, "qr-code")
			if u := p.update("qr-code", "x", true); u.Status == 200 {
				t.Fatal("approved a challenge that does not exist")
			}
			// The second device needs a step-up: approve it with the first.
			chID := e.do("POST", "/as/v1/client/challenge", "Bearer "+tr.str("token"), map[string]any{}).str("challengeId")
			if r := e.do("POST", "/as/v1/client/verify/in-app", "Bearer "+tr.str("token"), map[string]any{
				"challengeId": chID, "publicKey": p.publicKey(), "signature": p.sign(chID)}); r.Status != 200 {
				t.Fatalf("in-app approval of the step-up = %d %s", r.Status, r.Raw)
			}
			e.mount("/weakadd", authsignal.Config{WeakActions: []string{"addAuthenticator"}})
			r := e.do("POST", "/weakadd/v1/client/user-authenticators/qr-code", "Bearer "+tr.str("token"), map[string]any{
				"publicKey": other.publicKey(), "deviceName": "second", "devicePlatform": pf})
			if r.Status != 200 {
				t.Fatalf("adding a second device after an approved step-up = %d %s", r.Status, r.Raw)
			}

			qr := e.do("POST", "/as/v1/client/challenge/qr-code", browserBasic(), map[string]any{"action": "signIn"})
			if qr.Status != 200 || qr.str("challengeId") == "" || qr.str("deviceCode") == "" || qr.str("expiresAt") == "" {
				t.Fatalf("qr challenge = %d %s", qr.Status, qr.Raw)
			}
			id, code := qr.str("challengeId"), qr.str("deviceCode")
			poll := func() reply {
				return e.do("POST", "/as/v1/client/verify/qr-code", browserBasic(), map[string]any{"challengeId": id, "deviceCode": code})
			}
			if s := poll(); s.Status != 200 || s.bool("isClaimed") || s.bool("isConsumed") || s.bool("isVerified") {
				t.Fatalf("poll unclaimed = %d %s", s.Status, s.Raw)
			}
			checkErrorShape(t, "poll with another device code", e.do("POST", "/as/v1/client/verify/qr-code", browserBasic(),
				map[string]any{"challengeId": id, "deviceCode": strings.Repeat("A", 43)}), 404, "not_found")
			claimSig := p.sign(id)
			c := e.do("POST", p.path("qr-code/challenge/claim"), p.basic(), map[string]any{"challengeId": id, "publicKey": p.publicKey(), "signature": claimSig})
			if c.Status != 200 || !c.bool("success") || c.str("actionCode") != "signIn" {
				t.Fatalf("claim = %d %s", c.Status, c.Raw)
			}
			checkErrorShape(t, "a second claim", other.claim(id), 409, "challenge_closed")
			if s := poll(); !s.bool("isClaimed") || s.bool("isConsumed") || s.bool("isVerified") {
				t.Fatalf("poll claimed = %s", s.Raw)
			}
			checkErrorShape(t, "approval by a device that did not claim", other.update("qr-code", id, true), 403, "invalid_response")
			if u := p.update("qr-code", id, true); u.Status != 200 || !u.bool("isVerified") {
				t.Fatalf("approve = %d %s", u.Status, u.Raw)
			}
			// The claim's signature is a valid approval too (the same
			// bytes): replayed, the state machine refuses it.
			checkErrorShape(t, "the claim's signature replayed as a second approval", e.do("POST", p.path("qr-code/challenge"), p.basic(), map[string]any{
				"challengeId": id, "publicKey": p.publicKey(), "approved": true, "signature": claimSig}), 409, "challenge_closed")
			s := poll()
			if !s.bool("isVerified") || !strings.HasPrefix(s.str("accessToken"), "dat_") {
				t.Fatalf("poll approved = %s", s.Raw)
			}
			if v := e.server("POST", "/validate", map[string]any{"token": s.str("accessToken"), "userId": "mallory"}); v.bool("isValid") {
				t.Fatal("validated for another user")
			}
			if v := e.server("POST", "/validate", map[string]any{"token": s.str("accessToken"), "userId": "alice"}); !v.bool("isValid") || v.str("action") != "signIn" {
				t.Fatalf("validate = %s", v.Raw)
			}
		})
	}
}

// TestMobile_InAppWithoutUser: a phone asks for a challenge with the
// tenant header and an action of the allow-list, signs its ID, and gets
// the token its backend validates once for the phone's user. An action
// outside the allow-list is refused.
func TestMobile_InAppWithoutUser(t *testing.T) {
	for _, pf := range platforms {
		t.Run(pf, func(t *testing.T) {
			e := newEnv(t, authsignal.Config{WeakActions: []string{"signIn"}})
			p := e.phone(pf, "in-app")
			id := p.enrol("alice")
			checkErrorShape(t, "in-app challenge for an action off the list",
				e.do("POST", "/as/v1/client/challenge", p.basic(), map[string]any{"action": "transfer"}), 400, "invalid_request")
			ch := e.do("POST", "/as/v1/client/challenge", p.basic(), map[string]any{"action": "signIn"})
			if ch.Status != 200 || ch.str("challengeId") == "" {
				t.Fatalf("challenge = %d %s", ch.Status, ch.Raw)
			}
			chID := ch.str("challengeId")
			v := e.do("POST", "/as/v1/client/verify/in-app", p.basic(), map[string]any{"challengeId": chID, "publicKey": p.publicKey(), "signature": p.sign(chID)})
			if v.Status != 200 || v.str("userId") != "alice" || v.str("userAuthenticatorId") != id || !strings.HasPrefix(v.str("token"), "dat_") {
				t.Fatalf("verify in-app = %d %s", v.Status, v.Raw)
			}
			if r := e.server("POST", "/validate", map[string]any{"token": v.str("token"), "userId": "alice", "action": "signIn"}); !r.bool("isValid") {
				t.Fatalf("validate = %s", r.Raw)
			}
		})
	}
}

// TestMobile_RemoveCredential: a key removes itself by signing the current
// ten-minute window (or the one before), once; an older window, another
// key's signature and a replay are refused.
func TestMobile_RemoveCredential(t *testing.T) {
	for _, pf := range platforms {
		t.Run(pf, func(t *testing.T) {
			e := newEnv(t, authsignal.Config{})
			p := e.phone(pf, "push")
			p.enrol("alice")
			stranger := e.phone(pf, "push")
			remove := func(sig string) reply {
				return e.do("POST", p.path("push/remove"), p.basic(), map[string]any{"publicKey": p.publicKey(), "signature": sig})
			}
			old := p.sign(window(e.clock.Now().Add(-20 * time.Minute)))
			checkErrorShape(t, "removal signed two windows ago", remove(old), 401, "unauthorized")
			checkErrorShape(t, "removal signed by another key", remove(stranger.sign(window(e.clock.Now()))), 401, "unauthorized")
			checkErrorShape(t, "removal with a malformed signature", remove("AAAA"), 401, "unauthorized")
			prev := p.sign(window(e.clock.Now().Add(-10 * time.Minute)))
			if r := remove(prev); r.Status != 200 || r.str("removedAuthenticatorId") == "" {
				t.Fatalf("remove = %d %s", r.Status, r.Raw)
			}
			checkErrorShape(t, "replayed removal", remove(prev), 401, "unauthorized")
			checkErrorShape(t, "getCredential after removal", e.do("GET", p.path("push?"+p.query()), p.basic(), nil), 404, "not_found")
		})
	}
}

// TestMobile_UnsignedPushFetch: older SDKs fetch by public key alone; that
// is refused unless Config.AllowUnsignedPushFetch, and a signed fetch's
// message signs once.
func TestMobile_UnsignedPushFetch(t *testing.T) {
	e := newEnv(t, authsignal.Config{})
	e.mount("/old", authsignal.Config{AllowUnsignedPushFetch: true})
	p := e.phone("ios", "push")
	id := p.enrol("alice")
	checkErrorShape(t, "unsigned fetch", e.do("GET", p.path("push/challenge?"+p.query()), p.basic(), nil), 401, "unauthorized")
	if r := e.do("GET", "/old/v1/client/user-authenticators/push/challenge?"+p.query(), p.basic(), nil); r.Status != 200 || r.str("userAuthenticatorId") != id {
		t.Fatalf("unsigned fetch where allowed = %d %s", r.Status, r.Raw)
	}
	m := e.do("POST", p.path("push/challenge/sign?"+p.query()), p.basic(), nil).str("message")
	sig := p.sign(m)
	if r := e.do("GET", p.path("push/challenge?"+p.query()), p.basic(), nil, "X-Authsignal-Signature", sig); r.Status != 200 {
		t.Fatalf("signed fetch = %d %s", r.Status, r.Raw)
	}
	checkErrorShape(t, "replayed fetch signature", e.do("GET", p.path("push/challenge?"+p.query()), p.basic(), nil, "X-Authsignal-Signature", sig), 401, "unauthorized")
	stranger := e.phone("ios", "push")
	m = e.do("POST", p.path("push/challenge/sign?"+p.query()), p.basic(), nil).str("message")
	checkErrorShape(t, "fetch signed by another key", e.do("GET", p.path("push/challenge?"+p.query()), p.basic(), nil, "X-Authsignal-Signature", stranger.sign(m)), 401, "unauthorized")
}
