package roottest_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// countingSigner counts the device's signatures.
type countingSigner struct {
	crypto.Signer
	n atomic.Int64
}

func (c *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.Sign(r, digest, opts)
}

// enrolCounting enrols an ES256 device of user whose signatures are counted.
func enrolCounting(t *testing.T, e *env, user string) (*device.Client, *countingSigner) {
	t.Helper()
	key, err := device.NewP256Key()
	if err != nil {
		t.Fatal(err)
	}
	signer := &countingSigner{Signer: key}
	d, err := device.New(e.srv.URL+"/deviceauth", signer)
	if err != nil {
		t.Fatal(err)
	}
	d.Now = e.clock.Now
	g, err := e.svc.MintRegistrationToken(context.Background(), user, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Register(context.Background(), g.Token, "phone of "+user, "test"); err != nil {
		t.Fatal(err)
	}
	signer.n.Store(0)
	return d, signer
}

// trackInApp tracks a transfer for in-app verification and returns the
// result and the payload's JSON as the application would hand it over.
func trackInApp(t *testing.T, e *env, req deviceauth.TrackRequest) (deviceauth.TrackResult, []byte) {
	t.Helper()
	req.InApp = true
	res, err := e.svc.Track(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.InApp == nil {
		t.Fatalf("Track InApp: no in-app challenge in %+v", res)
	}
	payload, err := json.Marshal(res.InApp)
	if err != nil {
		t.Fatal(err)
	}
	return res, payload
}

// TestInApp_OneSignatureCycle: an in-app challenge is answered with the
// device's one signature, from the payload alone, and validates once, as
// IN_APP; the payload carries no verification code.
func TestInApp_OneSignatureCycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d, signer := enrolCounting(t, e, "alice")
	res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
	if res.VerificationCode != "" || strings.Contains(string(payload), "erification") || res.InApp.ChallengeID != res.ChallengeID ||
		len(res.Methods) != 1 || res.Methods[0] != deviceauth.MethodInApp {
		t.Fatalf("in-app result %+v, payload %s", res, payload)
	}
	ch, err := d.InAppChallenge(payload)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Action != "transfer" || ch.Details.Message != transferDetails.Message || len(ch.Details.Fields) != len(transferDetails.Fields) {
		t.Fatalf("the phone reads %+v", ch)
	}
	if r, err := d.Approve(ctx, ch, ""); err != nil || r.State != "APPROVED" {
		t.Fatalf("Approve = %+v, %v", r, err)
	}
	if n := signer.n.Load(); n != 1 {
		t.Fatalf("the device signed %d times for the cycle, want 1", n)
	}
	v := e.validate(res.Token, "alice", "transfer", transferDetails)
	if !v.Valid || v.Method != deviceauth.MethodInApp || v.CredentialID != d.CredentialID {
		t.Fatalf("Validate = %+v", v)
	}
	if v := e.validate(res.Token, "alice", "transfer", transferDetails); v.Valid {
		t.Fatal("an in-app token validated twice")
	}
}

// TestInApp_NeverElsewhere: an in-app challenge is not listed, fetched or
// claimed by a device, and neither Require's answers nor any other
// challenge carries a nonce.
func TestInApp_NeverElsewhere(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res, _ := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	if list, err := d.Pending(ctx); err != nil || len(list) != 0 {
		t.Fatalf("pending = %+v, %v: an in-app challenge is listed", list, err)
	}
	if _, err := d.Challenge(ctx, res.ChallengeID); apiCode(err) != "not_found" {
		t.Fatalf("signed fetch of an in-app challenge: %v, want not_found", err)
	}
	if _, err := cycletest.FetchChallenge(e.svc, ctx, seam.Device{CredentialID: d.CredentialID, UserID: "alice"}, res.ChallengeID); !isCode(err, "not_found") {
		t.Fatalf("fetch without HTTP: %v", err)
	}
	other := e.track("alice", "transfer", deviceauth.Details{}, false)
	if other.InApp != nil {
		t.Fatalf("a challenge not tracked in-app carries %+v", other.InApp)
	}
	g := newGatedEnv(t, nil)
	g.enrol("bob", "ES256")
	rec := g.transfer("bob", "", "10")
	if body := rec.Body.String(); rec.Code != 401 || strings.Contains(body, "nonce") || strings.Contains(body, "inApp") {
		t.Fatalf("Require answered %d %s", rec.Code, body)
	}
}

// TestInApp_NamedCredentialOnly: with CredentialID, only that phone may
// answer; another device of the same user gets the answer every other
// wrong key gets.
func TestInApp_NamedCredentialOnly(t *testing.T) { coldAndWarm(t, testInAppNamedCredentialOnly) }

func testInAppNamedCredentialOnly(t *testing.T, warm bool) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	tablet := e.device("ES256")
	if _, err := tablet.Register(ctx, e.addToken(phone, "alice"), "tablet", "test"); err != nil {
		t.Fatal(err)
	}
	if warm {
		inAppOnce(t, e, phone, "alice")
		inAppOnce(t, e, tablet, "alice")
	}
	res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", CredentialID: phone.CredentialID})
	if res.InApp.CredentialID != phone.CredentialID {
		t.Fatalf("payload names %q", res.InApp.CredentialID)
	}
	if _, err := tablet.InAppChallenge(payload); err == nil {
		t.Fatal("the tablet read a payload for the phone")
	}
	// A tablet that signs anyway (a client that does not check).
	ch, err := phone.InAppChallenge(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tablet.Approve(ctx, ch, ""); apiCode(err) != "invalid_response" {
		t.Fatalf("the tablet's answer: %v, want invalid_response", err)
	}
	if _, err := phone.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); !v.Valid || v.CredentialID != phone.CredentialID {
		t.Fatalf("Validate = %+v", v)
	}
}

// TestInApp_Bindings: the in-app answer is bound like any other: to the
// user, action and details at Validate, to the challenge's nonce and
// details in the signature, single use, expiring; a denial never
// validates.
func TestInApp_Bindings(t *testing.T) { coldAndWarm(t, testInAppBindings) }

func testInAppBindings(t *testing.T, warm bool) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	mallory := e.enrol("mallory", "ES256")
	if warm {
		inAppOnce(t, e, d, "alice")
		inAppOnce(t, e, mallory, "mallory")
	}

	res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
	ch, _ := d.InAppChallenge(payload)
	// A signature over other details, or another nonce, does not answer.
	forged := ch
	forged.Details = deviceauth.Details{Message: "Send 10 000 EUR to Mallory"}
	if _, err := d.Approve(ctx, forged, ""); apiCode(err) != "invalid_response" {
		t.Fatalf("answer over other details: %v", err)
	}
	forged = ch
	forged.Nonce = append([]byte{ch.Nonce[0] ^ 1}, ch.Nonce[1:]...) // another nonce whatever its first byte was
	if _, err := d.Approve(ctx, forged, ""); apiCode(err) != "invalid_response" {
		t.Fatalf("answer over another nonce: %v", err)
	}
	// Another user's key, even with the payload, does not answer.
	if _, err := mallory.Approve(ctx, ch, ""); apiCode(err) != "invalid_response" {
		t.Fatalf("another user's answer: %v", err)
	}
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	// Replayed: the challenge is closed.
	if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "challenge_closed" {
		t.Fatalf("replayed answer: %v", err)
	}
	for _, tt := range []struct {
		user, action string
		details      deviceauth.Details
	}{{"mallory", "transfer", transferDetails}, {"alice", "withdraw", transferDetails}, {"alice", "transfer", deviceauth.Details{Message: "Send 10 000 EUR to Mallory"}}} {
		if v := e.validate(res.Token, tt.user, tt.action, tt.details); v.Valid {
			t.Fatalf("validated for %s %s %+v", tt.user, tt.action, tt.details)
		}
	}

	denied, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	ch, _ = d.InAppChallenge(payload)
	if _, err := d.Deny(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	if v := e.validate(denied.Token, "alice", "transfer", deviceauth.Details{}); v.Valid {
		t.Fatal("a denied in-app challenge validated")
	}

	late, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	ch, _ = d.InAppChallenge(payload)
	e.clock.Advance(5*time.Minute + time.Second)
	if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "challenge_closed" {
		t.Fatalf("answer after expiry: %v", err)
	}
	if v := e.validate(late.Token, "alice", "transfer", deviceauth.Details{}); v.Valid {
		t.Fatal("an expired in-app challenge validated")
	}
}

// TestInApp_RouteCanInsistOnASecondDevice: a Validate that admits other
// methods refuses an in-app answer, and one that admits IN_APP only
// refuses any other; neither refusal uses the token up.
func TestInApp_RouteCanInsistOnASecondDevice(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	ch, _ := d.InAppChallenge(payload)
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	validate := func(token string, methods ...deviceauth.Method) bool {
		v, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: token, UserID: "alice", Action: "transfer", Methods: methods})
		if err != nil {
			t.Fatal(err)
		}
		return v.Valid
	}
	if validate(res.Token, deviceauth.MethodPush, deviceauth.MethodDevice) {
		t.Fatal("a route for a second device passed an in-app answer")
	}
	if !validate(res.Token, deviceauth.MethodInApp) {
		t.Fatal("the refusal used the in-app token up")
	}
	other := e.track("alice", "transfer", deviceauth.Details{}, false)
	approve(t, d, other.ChallengeID, other.VerificationCode)
	if validate(other.Token, deviceauth.MethodInApp) {
		t.Fatal("a route for in-app answers passed a fetched one")
	}
	if !validate(other.Token, deviceauth.MethodDevice) {
		t.Fatal("the refusal used the token up")
	}
}

// TestInApp_BadRequests: in-app is asked for explicitly and alone.
func TestInApp_BadRequests(t *testing.T) {
	e := newEnv(t)
	e.enrol("alice", "ES256")
	for _, req := range []deviceauth.TrackRequest{
		{UserID: "alice", Action: "transfer", InApp: true, Methods: []deviceauth.Method{deviceauth.MethodDevice}},
		{UserID: "alice", Action: "transfer", InApp: true, VerificationCode: true},
		{UserID: "alice", Action: "transfer", CredentialID: "cr_x"},
		{UserID: "alice", Action: "transfer", Methods: []deviceauth.Method{deviceauth.MethodInApp}},
		{UserID: "alice", Action: "transfer", InApp: true, CredentialID: "not an id!"},
	} {
		if _, err := e.svc.Track(context.Background(), req); !isCode(err, "invalid_request") {
			t.Errorf("Track(%+v) = %v, want invalid_request", req, err)
		}
	}
}

// TestInApp_ProtocolVector: the documented in-app payload reads on a
// device as the challenge whose answer message the document gives.
func TestInApp_ProtocolVector(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### In-app challenge and its answer \\(one signature\\), EdDSA\n\n.*?```json\n(.*?)\n```.*?\\(\\d+ bytes\\): `([0-9a-f]+)`").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/protocol.md has no in-app vector")
	}
	key, _ := device.NewEd25519Key()
	d, err := device.New("https://app.example.com/deviceauth", key)
	if err != nil {
		t.Fatal(err)
	}
	d.CredentialID = "cred_Ed25519Vector01"
	ch, err := d.InAppChallenge(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(d.ResponseMessage(ch, "approve", "", "")); got != string(m[2]) {
		t.Fatalf("the device would sign %s, the document says %s", got, m[2])
	}
}

// TestInApp_PassesAGatedRoute: the token of an in-app answer passes a
// Require route (whose number matching, as a passkey's, does not apply to
// it), once; a route that names other methods refuses it.
func TestInApp_PassesAGatedRoute(t *testing.T) {
	g := newGatedEnv(t, nil)
	ctx := context.Background()
	d := g.enrol("alice", "ES256")
	details := deviceauth.Details{Message: "Transfer",
		Fields: []deviceauth.Field{{Label: "Amount", Value: "10"}, {Label: "Payee", Value: "Bob"}}}
	res, payload := trackInApp(t, g.env, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: details})
	ch, _ := d.InAppChallenge(payload)
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	pushOnly := &gatedEnv{env: g.env}
	pushOnly.handler = g.svc.Require("transfer", transferDetailsFunc, deviceauth.WithMethods(deviceauth.MethodPush))(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("the push-only route ran") }))
	if rec := pushOnly.transfer("alice", res.Token, "10"); rec.Code != 403 {
		t.Fatalf("a push-only route: %d %s", rec.Code, rec.Body)
	}
	if rec := g.transfer("alice", res.Token, "10"); rec.Code != 200 || g.lastV.Method != deviceauth.MethodInApp {
		t.Fatalf("the gated route: %d %s, validation %+v", rec.Code, rec.Body, g.lastV)
	}
	if rec := g.transfer("alice", res.Token, "10"); rec.Code != 403 {
		t.Fatalf("the token passed twice: %d", rec.Code)
	}
}

// TestInApp_RouteAdmittingInAppAndOthers: a route that admits IN_APP beside
// another method tracks its own challenges for the other method (a route
// never tracks in-app), and passes an in-app token too.
func TestInApp_RouteAdmittingInAppAndOthers(t *testing.T) {
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithMethods(deviceauth.MethodDevice, deviceauth.MethodInApp)})
	ctx := context.Background()
	d := g.enrol("alice", "ES256")
	rec := g.transfer("alice", "", "10")
	b := denialOf(t, rec)
	if rec.Code != 401 || len(b.Methods) != 1 || b.Methods[0] != deviceauth.MethodDevice {
		t.Fatalf("without a token: %d %+v, want a DEVICE challenge", rec.Code, b)
	}
	details := deviceauth.Details{Message: "Transfer",
		Fields: []deviceauth.Field{{Label: "Amount", Value: "10"}, {Label: "Payee", Value: "Bob"}}}
	res, payload := trackInApp(t, g.env, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: details})
	ch, _ := d.InAppChallenge(payload)
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	if rec := g.transfer("alice", res.Token, "10"); rec.Code != 200 || g.lastV.Method != deviceauth.MethodInApp {
		t.Fatalf("the in-app token: %d %s", rec.Code, rec.Body)
	}
	inAppOnly := &gatedEnv{env: g.env}
	inAppOnly.handler = g.svc.Require("transfer", transferDetailsFunc, deviceauth.WithMethods(deviceauth.MethodInApp))(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("ran without a token") }))
	if rec := inAppOnly.transfer("alice", "", "10"); rec.Code != 403 || denialOf(t, rec).Error != "step_up_required" {
		t.Fatalf("an in-app-only route without a token: %d %s", rec.Code, rec.Body)
	}
}

// TestInApp_RevokedCredentialNeverValidates: an instance answers an in-app
// challenge it tracked from what it has read of the answering credential,
// with the transition as its one store call
// (docs/architecture.md#the-store-contract), so the answer of a credential
// removed elsewhere — on another instance; here straight in the store — is
// still recorded there. Validate, whose store call checks that the
// approving credential still exists, fails the challenge: a revoked
// credential never passes a gate, whenever it was removed. A removal
// through the instance itself drops what it had read at once.
func TestInApp_RevokedCredentialNeverValidates(t *testing.T) {
	ctx := context.Background()
	warm := func(t *testing.T) (*env, *device.Client) {
		e := newEnv(t, noRateLimits)
		d := e.enrol("alice", "ES256")
		inAppOnce(t, e, d, "alice")
		return e, d
	}
	answer := func(t *testing.T, e *env, d *device.Client) deviceauth.TrackResult {
		res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
		ch, _ := d.InAppChallenge(payload)
		if r, err := d.Approve(ctx, ch, ""); err != nil || r.State != "APPROVED" {
			t.Fatalf("Approve = %+v, %v", r, err)
		}
		return res
	}
	wantRevoked := func(t *testing.T, e *env, token string) {
		t.Helper()
		if v := e.validate(token, "alice", "transfer", transferDetails); v.Valid {
			t.Fatalf("a revoked credential's approval validated: %+v", v)
		}
		if st, err := e.svc.ChallengeState(ctx, token, "alice"); err != nil || st != store.StateFailed {
			t.Fatalf("ChallengeState = %s, %v; want FAILED", st, err)
		}
		evs := e.events.all()
		if last := evs[len(evs)-1]; last.Type != event.ValidationFailed || last.Reason != "credential_revoked" {
			t.Fatalf("last event %+v, want validation_failed for credential_revoked", last)
		}
	}

	t.Run("BetweenAnswerAndValidate", func(t *testing.T) {
		e, d := warm(t)
		res := answer(t, e, d)
		if err := e.store.DeleteCredential(ctx, "alice", d.CredentialID); err != nil {
			t.Fatal(err)
		}
		wantRevoked(t, e, res.Token)
	})
	t.Run("ElsewhereBeforeTheAnswer", func(t *testing.T) {
		e, d := warm(t)
		res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
		if err := e.store.DeleteCredential(ctx, "alice", d.CredentialID); err != nil {
			t.Fatal(err)
		}
		ch, _ := d.InAppChallenge(payload)
		before := e.store.Calls.Load()
		if r, err := d.Approve(ctx, ch, ""); err != nil || r.State != "APPROVED" {
			t.Fatalf("Approve = %+v, %v; want the answer recorded from what the instance had read", r, err)
		}
		if n := e.store.Calls.Load() - before; n != 1 {
			t.Fatalf("the answer made %d store calls, want 1 (its transition)", n)
		}
		wantRevoked(t, e, res.Token)
	})
	t.Run("HereBeforeTheAnswer", func(t *testing.T) {
		e, d := warm(t)
		tablet := e.device("ES256")
		if _, err := tablet.Register(ctx, e.addToken(d, "alice"), "tablet", "test"); err != nil {
			t.Fatal(err)
		}
		res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails})
		if err := d.Remove(ctx); err != nil {
			t.Fatal(err)
		}
		ch, _ := d.InAppChallenge(payload)
		if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "invalid_response" {
			t.Fatalf("a removed phone's answer: %v, want invalid_response", err)
		}
		if st, err := e.svc.ChallengeState(ctx, res.Token, "alice"); err != nil || st != store.StatePending {
			t.Fatalf("ChallengeState = %s, %v; want PENDING", st, err)
		}
	})
}

// inAppOnce runs one in-app cycle of d, user's device, on e's instance,
// which has then read d's credential: its next in-app answers there take
// the one-call path.
func inAppOnce(t *testing.T, e *env, d *device.Client, user string) {
	t.Helper()
	res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: user, Action: "warm-up"})
	ch, err := d.InAppChallenge(payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Approve(context.Background(), ch, ""); err != nil {
		t.Fatal(err)
	}
	if v := e.validate(res.Token, user, "warm-up", deviceauth.Details{}); !v.Valid {
		t.Fatalf("warm-up Validate = %+v", v)
	}
}

// coldAndWarm runs test twice: with devices the instance has not read
// (each answer reads the challenge and the credential), and after warm
// has run an in-app cycle of each (answers take the one-call path).
func coldAndWarm(t *testing.T, test func(t *testing.T, warm bool)) {
	t.Run("Cold", func(t *testing.T) { test(t, false) })
	t.Run("Warm", func(t *testing.T) { test(t, true) })
}

// TestInApp_RacingAnswersOneWins: answers to one in-app challenge racing
// on the instance that tracked it (the one-call path, the device read
// before) and on another instance over the same store (the read path):
// exactly one is recorded, every other is challenge_closed, and the
// challenge validates once. Run with -race.
func TestInApp_RacingAnswersOneWins(t *testing.T) {
	e := newEnv(t, noRateLimits)
	ctx := context.Background()
	d := e.enrolKeyed("alice")
	cfg := deviceauth.Config{Store: e.store, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: e.srv.URL + "/deviceauth", Now: e.clock.Now, Timer: e.clock.After, Logger: slog.New(slog.DiscardHandler)}
	noRateLimits(&cfg)
	other, err := deviceauth.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(ctx) })
	inAppOnce(t, e, d.Client, "alice")
	for round := range 20 {
		res, payload := trackInApp(t, e, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
		ch, _ := d.InAppChallenge(payload)
		sig := d.signDER(t, d.ResponseMessage(ch, "approve", "", ""))
		var approved, closed atomic.Int64
		instancetest.Race(8, func(i int) {
			svc := e.svc
			if i%2 == 1 {
				svc = other
			}
			_, err := svc.Respond(ctx, deviceauth.DeviceAnswer{ChallengeID: ch.ID, CredentialID: d.CredentialID, Decision: "approve", Signature: sig})
			switch {
			case err == nil:
				approved.Add(1)
			case isCode(err, "challenge_closed"):
				closed.Add(1)
			default:
				t.Errorf("round %d: Respond: %v", round, err)
			}
		})
		if approved.Load() != 1 || closed.Load() != 7 {
			t.Fatalf("round %d: %d answers recorded and %d closed, want 1 and 7", round, approved.Load(), closed.Load())
		}
		if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); !v.Valid {
			t.Fatalf("round %d: Validate = %+v", round, v)
		}
	}
}
