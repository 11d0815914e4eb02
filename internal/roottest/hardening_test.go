package roottest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// createQRs creates n QR challenges from the given client IPs in turn and
// counts how many were let through.
func createQRs(t *testing.T, e *env, n int, ip func(i int) netip.Addr) int {
	t.Helper()
	passed := 0
	for i := range n {
		_, err := e.svc.CreateQR(context.Background(), deviceauth.QRRequest{ClientIP: ip(i)})
		switch {
		case err == nil:
			passed++
		case !errorsIs(err, deviceauth.ErrRateLimited):
			t.Fatalf("CreateQR %d: %v", i, err)
		}
	}
	return passed
}

func TestRateLimits_IPv6CountsBySlash64(t *testing.T) {
	qr30 := func(c *deviceauth.Config) { c.RateLimits.QR = deviceauth.Rate{Limit: 30} }
	e := newEnv(t, qr30)
	// One client holding 2001:db8:1:2::/64 uses a new address every time.
	subnet := func(i int) netip.Addr {
		b := netip.MustParseAddr("2001:db8:1:2::").As16()
		b[8], b[13], b[15] = byte(i), byte(i*7), byte(i*13)
		return netip.AddrFrom16(b)
	}
	if got := createQRs(t, e, 200, subnet); got != 30 {
		t.Fatalf("%d of 200 QR creations from one /64 passed, want exactly 30", got)
	}
	// The next /64 has its own count.
	next := func(int) netip.Addr { return netip.MustParseAddr("2001:db8:1:3::1") }
	if got := createQRs(t, e, 1, next); got != 1 {
		t.Fatal("a client of another /64 was limited")
	}

	// An IPv4-mapped address is the IPv4 client it maps: one bucket…
	e = newEnv(t, qr30)
	mixed := func(i int) netip.Addr {
		if i%2 == 0 {
			return netip.MustParseAddr("::ffff:192.0.2.1")
		}
		return netip.MustParseAddr("192.0.2.1")
	}
	if got := createQRs(t, e, 40, mixed); got != 30 {
		t.Fatalf("%d of 40 from 192.0.2.1, plain and mapped, passed; want 30 (one bucket)", got)
	}
	// …and two IPv4 clients, mapped or not, are two buckets (not the
	// mapped range's /64).
	if got := createQRs(t, e, 30, func(int) netip.Addr { return netip.MustParseAddr("::ffff:192.0.2.2") }); got != 30 {
		t.Fatalf("%d of 30 from another IPv4 client (mapped) passed, want 30", got)
	}
	if got := createQRs(t, e, 30, func(int) netip.Addr { return netip.MustParseAddr("192.0.2.3") }); got != 30 {
		t.Fatalf("%d of 30 from a third IPv4 client passed, want 30", got)
	}
}

func TestRateLimits_PrefixLengthsConfigurable(t *testing.T) {
	e := newEnv(t, func(c *deviceauth.Config) {
		c.RateLimits.QR = deviceauth.Rate{Limit: 5}
		c.RateLimits.IPv4Prefix = 24
		c.RateLimits.IPv6Prefix = 128
	})
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}) }
	if got := createQRs(t, e, 20, v4); got != 5 {
		t.Fatalf("%d of 20 from one IPv4 /24 passed, want 5", got)
	}
	v6 := func(i int) netip.Addr {
		b := netip.MustParseAddr("2001:db8::").As16()
		b[15] = byte(i)
		return netip.AddrFrom16(b)
	}
	if got := createQRs(t, e, 20, v6); got != 20 {
		t.Fatalf("%d of 20 distinct IPv6 addresses passed under /128, want 20", got)
	}
}

// hostileContext are user agents (and origins) a browser may send, and
// what the phone must show of them.
var hostileContext = []struct {
	name, sent, shown string
}{
	{"bidi override", "Mozilla/5.0 \u202Egnp.exe", "Mozilla/5.0 \uFFFDgnp.exe"},
	{"bidi isolate run", "Chrome\u2066\u2067\u2069/1", "Chrome\uFFFD/1"},
	{"line separator", "Safari\u2028Approve: yes", "Safari\uFFFDApprove: yes"},
	{"tag characters", "Chrome\U000E0041\U000E0042\U000E0043/1", "Chrome\uFFFD/1"},
	{"zero width", "bank\u200B.example", "bank\uFFFD.example"},
	{"controls", "a\x00b\x1b[2Jc\u0085d", "a\uFFFDb\uFFFD[2Jc\uFFFDd"},
	{"invalid UTF-8", "bad\xff\xfeua", "bad\uFFFDua"},
	{"long multibyte", strings.Repeat("€", 1000), strings.Repeat("€", 170)},
	{"long decomposed", strings.Repeat("e\u0301", 600), strings.Repeat("é", 256)},
	{"cut before a combining mark", strings.Repeat("x", 511) + "q\u0301", strings.Repeat("x", 511)},
	{"plain", "Mozilla/5.0 (X11; Linux x86_64)", "Mozilla/5.0 (X11; Linux x86_64)"},
}

func TestContext_UserAgentFilteredLikeDetails(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	for _, c := range hostileContext {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", UserAgent: c.sent})
			if err != nil {
				t.Fatal(err)
			}
			ch, err := d.Challenge(ctx, res.ChallengeID)
			if err != nil {
				t.Fatal(err)
			}
			if ch.UserAgent != c.shown {
				t.Fatalf("the phone shows user agent %+q, want %+q", ch.UserAgent, c.shown)
			}
		})
	}
}

func TestContext_QRUserAgentAndOriginFilteredLikeDetails(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	for _, c := range hostileContext {
		t.Run(c.name, func(t *testing.T) {
			q, err := e.svc.CreateQR(ctx, deviceauth.QRRequest{UserAgent: c.sent, Origin: "https://" + c.sent})
			if err != nil {
				t.Fatal(err)
			}
			code, err := device.ParseQRPayload(q.Payload)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := d.Claim(ctx, code)
			if err != nil {
				t.Fatal(err)
			}
			wantOrigin := protocolContext("https://"+c.shown, 256)
			if ch.UserAgent != c.shown || ch.Origin != wantOrigin {
				t.Fatalf("the phone shows user agent %+q, origin %+q; want %+q, %+q", ch.UserAgent, ch.Origin, c.shown, wantOrigin)
			}
		})
	}
}

// protocolContext cuts an already filtered string to n bytes on a
// character boundary, as the 256-byte origin cap does.
func protocolContext(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func TestRespond_VerificationCodeOnDenyRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	res := e.track("alice", "transfer", deviceauth.Details{}, true)
	ch, err := d.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	// Validly signed over the code: still refused, before anything changes.
	if _, err := e.svc.Respond(ctx, d.response(t, ch, "deny", "12")); !errorsIs(err, deviceauth.ErrInvalidRequest) {
		t.Fatalf("deny with a verification code: %v, want invalid_request", err)
	}
	body := fmt.Sprintf(`{"credentialId":%q,"decision":"deny","verificationCode":"12","signature":%q}`,
		d.CredentialID, protocol.EncodeBase64(d.signDER(t, d.ResponseMessage(ch, "deny", "", "12"))))
	if st, code := e.postJSON("/v1/challenges/"+ch.ID+"/response", []byte(body)); st != 400 || code != "invalid_request" {
		t.Fatalf("POST deny with a verification code: %d %s, want 400 invalid_request", st, code)
	}
	if got, _ := d.Challenge(ctx, ch.ID); got.State != "PENDING" {
		t.Fatalf("state %s after refused denials, want PENDING", got.State)
	}
	if n := e.events.count(event.WrongCode); n != 0 {
		t.Fatalf("%d wrong-code events, want 0", n)
	}
}

// TestJSON_NamesCaseSensitiveAndDuplicatesRefused: member names match
// case-sensitively and a duplicate member is 400 invalid_request, on every
// body the Handler decodes. Each body below is otherwise valid and, with
// encoding/json's rules (case-insensitive names, last duplicate wins),
// was accepted.
func TestJSON_NamesCaseSensitiveAndDuplicatesRefused(t *testing.T) {
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
	bob := e.enrolKeyedBody(g.Token)
	approve := protocol.EncodeBase64(d.signDER(t, d.ResponseMessage(ch, "approve", "", "")))
	resp := fmt.Sprintf(`{"credentialId":%q,"decision":"approve","signature":%q}`, d.CredentialID, approve)
	respPath := "/v1/challenges/" + ch.ID + "/response"
	cases := []struct {
		name, path, body string
	}{
		{"register: Token", "/v1/credentials", strings.Replace(bob, `"token":`, `"Token":`, 1)},
		{"register: duplicate name", "/v1/credentials", strings.Replace(bob, `"name":`, `"name":"other","name":`, 1)},
		{"register: duplicate token", "/v1/credentials", strings.Replace(bob, `"token":`, `"token":"drt_forged","token":`, 1)},
		{"respond: CredentialId", respPath, strings.Replace(resp, `"credentialId":`, `"CredentialId":`, 1)},
		{"respond: duplicate decision", respPath, strings.Replace(resp, `"decision":"approve"`, `"decision":"deny","decision":"approve"`, 1)},
		{"respond: DECISION", respPath, strings.Replace(resp, `"decision":`, `"DECISION":`, 1)},
		{"qr: Action", "/v1/qr", `{"Action":"signIn"}`},
		{"qr: duplicate action", "/v1/qr", `{"action":"transfer","action":"signIn"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if st, code := e.postJSON(c.path, []byte(c.body)); st != 400 || code != "invalid_request" {
				t.Fatalf("POST %s %s: %d %s, want 400 invalid_request", c.path, c.body, st, code)
			}
		})
	}
	// Nothing was changed by the refusals; the exact bodies still work.
	if got, _ := d.Challenge(ctx, ch.ID); got.State != "PENDING" {
		t.Fatalf("challenge %s after refused bodies, want PENDING", got.State)
	}
	if st, code := e.postJSON("/v1/credentials", []byte(bob)); st != 201 {
		t.Fatalf("the exact registration body: %d %s, want 201", st, code)
	}
	if st, code := e.postJSON(respPath, []byte(resp)); st != 200 {
		t.Fatalf("the exact response body: %d %s, want 200", st, code)
	}
}

// enrolKeyedBody returns the JSON of a valid registration with token for a
// new P-256 key.
func (e *env) enrolKeyedBody(token string) string {
	e.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	h := sha256.Sum256(protocol.RegistrationMessage(token, "ES256", spki, "phone", "ios"))
	sig, _ := ecdsa.SignASN1(rand.Reader, key, h[:])
	return fmt.Sprintf(`{"token":%q,"algorithm":"ES256","publicKey":%q,"signature":%q,"name":"phone","platform":"ios"}`,
		token, protocol.EncodeBase64(spki), protocol.EncodeBase64(sig))
}

// registration returns a Registration for token by a new P-256 key, its
// proof made with sign over the key's SPKI.
func registration(t *testing.T, token, pushToken string, msg func(spki []byte) []byte) deviceauth.Registration {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	h := sha256.Sum256(msg(spki))
	sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return deviceauth.Registration{Token: token, Algorithm: "ES256", PublicKey: spki, Signature: sig, Name: "phone", Platform: "ios", PushToken: pushToken}
}

func TestRegister_PushTokenCoveredBySignature(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	mint := func(user string) string {
		g, err := e.svc.MintRegistrationToken(ctx, user, "")
		if err != nil {
			t.Fatal(err)
		}
		return g.Token
	}
	pushTokens := func(user, id string) map[string]string {
		m, err := e.svc.PushTokens(ctx, user, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	// v2: the push token is signed and stored.
	tok := mint("alice")
	v2 := registration(t, tok, "apns-alice", func(spki []byte) []byte {
		return protocol.RegistrationMessageV2(tok, "ES256", spki, "phone", "ios", "apns-alice")
	})
	swapped := v2
	swapped.PushToken = "apns-relay" // a relay swaps the token: the proof no longer verifies
	if _, err := e.svc.Register(ctx, swapped); !errorsIs(err, deviceauth.ErrRegistrationFailed) {
		t.Fatalf("v2 proof with a swapped push token: %v, want registration_failed", err)
	}
	c, err := e.svc.Register(ctx, v2) // the failed attempt did not burn the token
	if err != nil {
		t.Fatal(err)
	}
	if got := pushTokens("alice", c.ID); got[c.ID] != "apns-alice" || len(got) != 1 {
		t.Fatalf("push tokens after a v2 registration: %v", got)
	}

	// v1 still registers, but the unsigned push token is dropped.
	tok = mint("bob")
	v1 := registration(t, tok, "apns-unsigned", func(spki []byte) []byte {
		return protocol.RegistrationMessage(tok, "ES256", spki, "phone", "ios")
	})
	c, err = e.svc.Register(ctx, v1)
	if err != nil {
		t.Fatalf("v1 registration: %v", err)
	}
	if got := pushTokens("bob", c.ID); len(got) != 0 {
		t.Fatalf("a v1 registration stored the unsigned push token: %v", got)
	}

	// The device client registers with v2 and rotates with a signed request.
	d := e.device("EdDSA")
	d.PushToken = "fcm-1"
	if _, err := d.Register(ctx, mint("carol"), "phone", "android"); err != nil {
		t.Fatal(err)
	}
	if got := pushTokens("carol", d.CredentialID); got[d.CredentialID] != "fcm-1" {
		t.Fatalf("push tokens after device.Register: %v", got)
	}
	if err := d.SetPushToken(ctx, "fcm-2"); err != nil {
		t.Fatal(err)
	}
	if got := pushTokens("carol", d.CredentialID); got[d.CredentialID] != "fcm-2" {
		t.Fatalf("push tokens after SetPushToken: %v", got)
	}
	if err := d.SetPushToken(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := pushTokens("carol", d.CredentialID); len(got) != 0 {
		t.Fatalf("push tokens after clearing: %v", got)
	}
}

func TestPushToken_OnlyTheDeviceItselfSetsIt(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	alice := e.enrolKeyed("alice")
	mallory := e.enrolKeyed("mallory")
	path := "/v1/credentials/" + alice.CredentialID + "/push-token"
	body := `{"pushToken":"attacker"}`
	if st, code := e.putJSON(path, body, nil); st != 401 || code != "unauthorized" {
		t.Fatalf("unsigned: %d %s, want 401 unauthorized", st, code)
	}
	if st, code := e.putJSON(path, body, &mallory); st != 404 || code != "not_found" {
		t.Fatalf("signed by another device: %d %s, want 404 not_found", st, code)
	}
	if got, _ := e.svc.PushTokens(ctx, "alice", []string{alice.CredentialID}); len(got) != 0 {
		t.Fatalf("push tokens %v after refused requests, want none", got)
	}
}

// putJSON sends PUT path with body, signed by d when it is not nil.
func (e *env) putJSON(path, body string, d *keyedDevice) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/deviceauth"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if d != nil {
		if err := httpsig.Sign(req, []byte(body), d.CredentialID, d.key, e.clock.Now(), ""); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.do(req)
}

func TestClaim_RefusesQRCodeOfAnotherServer(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	q, err := e.svc.CreateQR(ctx, deviceauth.QRRequest{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := device.ParseQRPayload(q.Payload)
	if err != nil {
		t.Fatal(err)
	}
	base := e.srv.URL + "/deviceauth"
	for _, other := range []string{
		"https://evil.example/deviceauth",
		strings.Replace(base, "http://", "https://", 1),
		base + "/other",
		strings.TrimSuffix(base, "/deviceauth"),
		strings.Replace(base, "127.0.0.1", "localhost", 1),
	} {
		forged := code
		forged.BaseURL = other
		if _, err := d.Claim(ctx, forged); err == nil || apiCode(err) != "not an API error: "+err.Error() {
			t.Fatalf("Claim of a code for %s: %v, want a refusal before any request", other, err)
		}
	}
	// Nothing was claimed: the code still works with the right server,
	// however its URL is spelled.
	code.BaseURL = strings.Replace(base, "http://", "HTTP://", 1) + "/"
	if ch, err := d.Claim(ctx, code); err != nil || ch.State != "PENDING" {
		t.Fatalf("Claim with the server's own base: %+v, %v", ch, err)
	}
}
