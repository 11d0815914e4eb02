package roottest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
)

// The method that answered is the method that counts: a phone's approval
// never stands in for a passkey assertion, nor an approval without number
// matching for one with it.

// deviceAndPasskey enrols a device for user, then (stepped up by that
// device) a passkey, and returns both.
func deviceAndPasskey(t *testing.T, e *env, user string) (*device.Client, deviceauth.Credential) {
	t.Helper()
	ctx := context.Background()
	phone := e.enrol(user, "ES256")
	res := e.track(user, deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false)
	approve(t, phone, res.ChallengeID, res.VerificationCode)
	resp, _ := json.Marshal(fakeRegistration{RawID: []byte("raw-" + user)})
	pk, err := registerPasskey(e.svc, ctx, user, res.Token, resp)
	if err != nil {
		t.Fatal(err)
	}
	return phone, pk
}

// approveByPasskey answers challenge id of user with passkey pk.
func approveByPasskey(t *testing.T, e *env, user, id string, pk deviceauth.Credential, signCount uint32) {
	t.Helper()
	ctx := context.Background()
	opts, err := passkeyOptions(e.svc, ctx, user, id)
	if err != nil {
		t.Fatalf("PasskeyOptions: %v", err)
	}
	var o struct {
		PublicKey struct {
			Challenge []byte `json:"challenge"`
		} `json:"publicKey"`
	}
	json.Unmarshal(opts, &o)
	body, _ := json.Marshal(fakeAssertion{ID: pk.ID, Challenge: o.PublicKey.Challenge, SignCount: signCount})
	req, _ := http.NewRequest(http.MethodPost, "/", nil)
	req.RemoteAddr = "192.0.2.1:1234"
	if _, err := respondPasskey(e.svc, ctx, req, user, id, body); err != nil {
		t.Fatalf("RespondPasskey: %v", err)
	}
}

func TestMethods_DeviceCannotAnswerAPasskeyOnlyChallenge(t *testing.T) {
	e := newEnv(t, noRateLimits, func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	ctx := context.Background()
	kd := e.enrolKeyed("alice")
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer", Details: transferDetails,
		Methods: []deviceauth.Method{deviceauth.MethodPasskey}})
	if err != nil {
		t.Fatal(err)
	}
	if res.VerificationCode != "" {
		t.Fatalf("a passkey-only challenge carries code %q; user verification is its proof", res.VerificationCode)
	}
	// The phone's pending list does not offer it…
	pending, err := kd.Pending(ctx)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending = %+v, %v; want none: a device cannot answer a passkey-only challenge", pending, err)
	}
	// …and a validly signed approval of it is refused and changes nothing.
	ch, err := kd.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Respond(ctx, kd.response(t, ch, "approve", "")); !errors.Is(err, deviceauth.ErrInvalidResponse) {
		t.Fatalf("a device's approval of a passkey-only challenge: %v, want invalid_response", err)
	}
	if st, _ := e.svc.ChallengeState(ctx, res.Token, "alice"); st != "PENDING" {
		t.Fatalf("state after the refused approval: %s, want PENDING", st)
	}
	if v := e.validate(res.Token, "alice", "transfer", transferDetails); v.Valid {
		t.Fatalf("Validate = %+v after a device answered a passkey-only challenge", v)
	}
}

func TestMethods_PasskeyRoutePassesOnlyOnAPasskey(t *testing.T) {
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithMethods(deviceauth.MethodPasskey, deviceauth.MethodDevice)},
		noRateLimits, func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	passkeyOnly := g.svc.Require("transfer", transferDetailsFunc, deviceauth.WithMethods(deviceauth.MethodPasskey))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, _ := deviceauth.FromContext(r.Context())
			if v.Method != deviceauth.MethodPasskey {
				t.Errorf("the passkey-only route ran with method %q", v.Method)
			}
			w.WriteHeader(http.StatusOK)
		}))
	phone, pk := deviceAndPasskey(t, g.env, "alice")

	// The route offers both; the phone approves.
	b := denialOf(t, g.transfer("alice", "", "10"))
	if b.VerificationCode == "" {
		t.Fatal("a Require challenge a phone may answer asks for no code")
	}
	approve(t, phone, b.ChallengeID, b.VerificationCode)
	serve := func(h http.Handler, token string) int {
		req := httptest.NewRequest(http.MethodPost, "/transfer", strings.NewReader(`{"amount":"10","payee":"Bob"}`))
		req.Header.Set("X-User", "alice")
		req.Header.Set(deviceauth.TokenHeader, token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if st := serve(passkeyOnly, b.Token); st != http.StatusForbidden {
		t.Fatalf("a phone's approval at a passkey-only route: %d, want 403", st)
	}
	// Refused, not consumed: it still passes the route it was made for,
	// reporting the method that answered (DEVICE, not the primary PASSKEY).
	if st := serve(g.handler, b.Token); st != http.StatusOK {
		t.Fatalf("the token refused at the passkey route, at its own route: %d, want 200", st)
	}
	if g.lastV.Method != deviceauth.MethodDevice || g.lastV.CredentialID != phone.CredentialID {
		t.Fatalf("Validation = %+v, want the phone's DEVICE approval", g.lastV)
	}

	// A passkey assertion passes the passkey-only route, as PASSKEY.
	b = denialOf(t, g.transfer("alice", "", "10"))
	approveByPasskey(t, g.env, "alice", b.ChallengeID, pk, 1)
	if st := serve(passkeyOnly, b.Token); st != http.StatusOK {
		t.Fatalf("a passkey's approval at the passkey-only route: %d, want 200", st)
	}
	if n := g.events.count(event.ValidationFailed); n != 1 {
		t.Fatalf("%d validation_failed events, want 1 (the phone's token at the passkey route)", n)
	}
}

func TestMethods_CodeRouteRefusesAnApproveOnlyToken(t *testing.T) {
	g := newGatedEnv(t, nil)
	phone := g.enrol("alice", "ES256")
	ctx := context.Background()
	// A challenge made without number matching for the same user, action
	// and details (an app's own Track), approved from the phone's list.
	res := g.track("alice", "transfer", deviceauth.Details{Message: "Transfer", Fields: []deviceauth.Field{{Label: "Amount", Value: "10"}, {Label: "Payee", Value: "Bob"}}}, false)
	if res.VerificationCode != "" {
		t.Fatal("Track without VerificationCode asked for a code")
	}
	approve(t, phone, res.ChallengeID, "")
	if rec := g.transfer("alice", res.Token, "10"); rec.Code != http.StatusForbidden || g.ran != 0 {
		t.Fatalf("an approve-only token at a route that asks for a code: %d (ran %d), want 403", rec.Code, g.ran)
	}
	// Not consumed by the refusal.
	v, err := g.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: "alice", Action: "transfer",
		Details: deviceauth.Details{Message: "Transfer", Fields: []deviceauth.Field{{Label: "Amount", Value: "10"}, {Label: "Payee", Value: "Bob"}}}})
	if err != nil || !v.Valid {
		t.Fatalf("Validate without a code requirement after the refusal = %+v, %v; want valid", v, err)
	}
}

// Approve-only is not the default for what fatigue attacks target: the
// phone must type the code the browser shows, and it sees what it approves.
func TestNumberMatching_DefaultForStepUpsAndPhoneChallenges(t *testing.T) {
	e := newEnv(t, headerUsers, noRateLimits)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	tablet := e.device("EdDSA")

	// Adding a device, asked from the web: a code, and the request named.
	st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", map[string]string{"User-Agent": "Firefox/140"}, nil)
	if st != 401 || d.VerificationCode == "" {
		t.Fatalf("addAuthenticator step-up: %d %+v, want challenge_required with a code", st, d)
	}
	ch, err := phone.Challenge(ctx, d.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.VerificationCodeRequired || ch.Details.Message != "Add a new device to your account" ||
		ch.UserAgent != "Firefox/140" || ch.ClientIP != "127.0.0.1" {
		t.Fatalf("the phone is shown %+v; want the addition named, its browser and IP, and a code to type", ch)
	}
	if _, err := phone.Approve(ctx, ch, ""); apiCode(err) != "wrong_code" {
		t.Fatalf("approving an addition without the code: %v, want wrong_code", err)
	}
	approve(t, phone, d.ChallengeID, d.VerificationCode)
	var g deviceauth.RegistrationGrant
	if st, _, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", d.Token, nil, &g); st != 201 {
		t.Fatalf("mint with the matched step-up: %d", st)
	}
	if _, err := tablet.Register(ctx, g.Token, "tablet", "android"); err != nil {
		t.Fatal(err)
	}

	// Removing one: a code, and the device being removed named.
	st, d, _ = e.webCall(t, "DELETE", "/v1/web/credentials/"+tablet.CredentialID, "alice", "", nil, nil)
	if st != 401 || d.VerificationCode == "" {
		t.Fatalf("removeAuthenticator step-up: %d %+v, want challenge_required with a code", st, d)
	}
	if ch, _ := phone.Challenge(ctx, d.ChallengeID); !ch.VerificationCodeRequired || ch.Details.Message != "Remove tablet" {
		t.Fatalf("the phone is shown %+v; want the removal of the tablet and a code to type", ch)
	}

	// An app's own addAuthenticator and push challenges ask for it too.
	if res := e.track("alice", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false); res.VerificationCode == "" {
		t.Fatal("Track of addAuthenticator asked for no code")
	}
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "signIn", Methods: []deviceauth.Method{deviceauth.MethodPush}})
	if err != nil || res.VerificationCode == "" {
		t.Fatalf("Track of a push = %+v, %v; want a code", res, err)
	}
	// An in-app challenge (the app's own Track, DEVICE) keeps its choice.
	if res := e.track("alice", "transfer", transferDetails, false); res.VerificationCode != "" {
		t.Fatal("an in-app Track without VerificationCode asked for a code")
	}
}

func TestNumberMatching_PasskeyChallengeHasNoCode(t *testing.T) {
	g := newGatedEnv(t, nil, noRateLimits, func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	pk := addFakePasskey(t, g.env, "alice", []byte("raw"), 0)
	b := denialOf(t, g.transfer("alice", "", "10"))
	if b.VerificationCode != "" || len(b.Methods) != 1 || b.Methods[0] != deviceauth.MethodPasskey {
		t.Fatalf("a passkey user's challenge: %+v, want PASSKEY without a code", b)
	}
	approveByPasskey(t, g.env, "alice", b.ChallengeID, pk, 1)
	if rec := g.transfer("alice", b.Token, "10"); rec.Code != http.StatusOK || g.lastV.Method != deviceauth.MethodPasskey {
		t.Fatalf("the passkey's token at a route asking for codes: %d %+v, want 200 by PASSKEY", rec.Code, g.lastV)
	}
}

func TestNumberMatching_ApproveOnlyOptsOut(t *testing.T) {
	g := newGatedEnv(t, nil, func(c *deviceauth.Config) { c.ApproveOnly = true })
	phone := g.enrol("alice", "ES256")
	b := denialOf(t, g.transfer("alice", "", "10"))
	if b.VerificationCode != "" {
		t.Fatalf("with ApproveOnly, Require asked for code %q", b.VerificationCode)
	}
	approve(t, phone, b.ChallengeID, "")
	if rec := g.transfer("alice", b.Token, "10"); rec.Code != http.StatusOK {
		t.Fatalf("an approve-only token with ApproveOnly: %d, want 200", rec.Code)
	}
	if res := g.track("alice", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false); res.VerificationCode != "" {
		t.Fatal("with ApproveOnly, an addAuthenticator step-up asked for a code")
	}
}

// rememberAll is a StepUpMemory that remembers every step-up forever.
type rememberAll struct{ su []deviceauth.StepUp }

func (m *rememberAll) Recall(_ *http.Request, userID, action string, digest []byte, _ time.Time) (deviceauth.StepUp, bool, error) {
	for _, su := range m.su {
		if su.UserID == userID && su.Action == action && bytes.Equal(su.DetailsDigest, digest) {
			return su, true, nil
		}
	}
	return deviceauth.StepUp{}, false, nil
}

func (m *rememberAll) Remember(_ http.ResponseWriter, _ *http.Request, su deviceauth.StepUp) error {
	m.su = append(m.su, su)
	return nil
}

// A remembered phone approval does not pass a passkey-only route either.
func TestMethods_RememberedStepUpKeepsItsMethod(t *testing.T) {
	mem := &rememberAll{}
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithStepUpMemory(mem)}, noRateLimits,
		func(c *deviceauth.Config) { c.Passkeys = fakePasskeys{} })
	phone, _ := deviceAndPasskey(t, g.env, "alice")
	b := denialOf(t, g.transfer("alice", "", "10"))
	approve(t, phone, b.ChallengeID, b.VerificationCode)
	if rec := g.transfer("alice", b.Token, "10"); rec.Code != http.StatusOK || len(mem.su) != 1 {
		t.Fatalf("the phone's token: %d, %d remembered", rec.Code, len(mem.su))
	}
	if rec := g.transfer("alice", "", "10"); rec.Code != http.StatusOK || !g.lastV.Remembered {
		t.Fatalf("the remembered approval at its own route: %d %+v", rec.Code, g.lastV)
	}
	g.handler = g.svc.Require("transfer", transferDetailsFunc, deviceauth.WithStepUpMemory(mem),
		deviceauth.WithMethods(deviceauth.MethodPasskey))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the passkey-only route ran on a remembered phone approval")
	}))
	if rec := g.transfer("alice", "", "10"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("the remembered phone approval at a passkey-only route: %d, want 401 challenge_required", rec.Code)
	}
}
