package roottest_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

// TestReset_OnlyTheGrantEnrols: after an operator reset the user has no
// credential, yet the session alone cannot mint a token, nor can a token
// minted before the reset, a forged grant, another user's grant or a used
// one enrol; the grant mints exactly one token, which enrols; the reset is
// recorded with its operator and reason, and no grant reaches a log.
func TestReset_OnlyTheGrantEnrols(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	e.enrol("bob", "ES256")
	before := e.addToken(phone, "alice") // minted with a step-up, before the reset

	g, err := e.svc.ResetCredentials(ctx, deviceauth.ResetRequest{UserID: "alice", Operator: "agent-7", Reason: "lost phone, ID checked"})
	if err != nil || !strings.HasPrefix(g.Token, "deg_") || !g.ExpiresAt.Equal(e.clock.Now().Add(24*time.Hour).Truncate(time.Second)) {
		t.Fatalf("ResetCredentials = %+v, %v", g, err)
	}
	if cs, _ := e.svc.Credentials(ctx, "alice"); len(cs) != 0 {
		t.Fatalf("after the reset alice has %d credentials", len(cs))
	}
	if cs, _ := e.svc.Credentials(ctx, "bob"); len(cs) != 1 {
		t.Fatalf("the reset touched bob: %d credentials", len(cs))
	}
	refused := func(what, token string) {
		t.Helper()
		if _, err := e.svc.MintRegistrationToken(ctx, "alice", token); !errors.Is(err, deviceauth.ErrStepUpRequired) {
			t.Fatalf("%s: MintRegistrationToken = %v, want step_up_required", what, err)
		}
	}
	refused("the session alone", "")
	thief := e.device("ES256")
	if _, err := thief.Register(ctx, before, "thief", "android"); err == nil {
		t.Fatal("a token minted before the reset enrolled a device")
	}
	forged := "deg_" + base64.RawURLEncoding.EncodeToString(append([]byte{0, 0, 0, 0, 0x7f, 0, 0, 0}, make([]byte, 24)...))
	refused("a forged grant", forged)
	bobs, err := e.svc.ResetCredentials(ctx, deviceauth.ResetRequest{UserID: "bob", Operator: "agent-7", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	refused("bob's grant", bobs.Token)

	rt, err := e.svc.MintRegistrationToken(ctx, "alice", g.Token)
	if err != nil {
		t.Fatalf("the grant: %v", err)
	}
	refused("the grant, used", g.Token)
	refused("the session, while the granted device is not yet enrolled", "")
	fresh := e.device("ES256")
	if _, err := fresh.Register(ctx, rt.Token, "new phone", "ios"); err != nil {
		t.Fatalf("the granted token: %v", err)
	}
	if cs, _ := e.svc.Credentials(ctx, "alice"); len(cs) != 1 || cs[0].ID != fresh.CredentialID {
		t.Fatalf("after enrolling alice has %+v", cs)
	}
	// From now on the ordinary rules: a further device needs a step-up.
	refused("a second device without a step-up", "")

	var reset []event.Event
	for _, ev := range e.events.all() {
		if ev.Type == event.CredentialsReset && ev.UserID == "alice" {
			reset = append(reset, ev)
		}
	}
	if len(reset) != 1 || reset[0].Operator != "agent-7" || reset[0].Reason != "lost phone, ID checked" {
		t.Fatalf("reset events %+v", reset)
	}
	if n := e.events.count(event.EndOtherSessions); n < 2 {
		t.Fatalf("%d sessions.endOthers events, want one per reset", n)
	}
	for _, secret := range []string{g.Token, bobs.Token, rt.Token, strings.TrimPrefix(g.Token, "deg_")} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatal("a grant or token reached the logs")
		}
	}
}

// TestReset_GrantExpires: a grant is refused from its expiry on, and the
// account stays locked.
func TestReset_GrantExpires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.enrol("alice", "ES256")
	g, err := e.svc.ResetCredentials(ctx, deviceauth.ResetRequest{UserID: "alice", Operator: "desk", Reason: "lost", GrantTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Hour)
	for _, tok := range []string{g.Token, ""} {
		if _, err := e.svc.MintRegistrationToken(ctx, "alice", tok); !errors.Is(err, deviceauth.ErrStepUpRequired) {
			t.Fatalf("after expiry, token %q: %v", tok, err)
		}
	}
	// A new reset gives a new grant, which works.
	g2, err := e.svc.ResetCredentials(ctx, deviceauth.ResetRequest{UserID: "alice", Operator: "desk", Reason: "again"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", g2.Token); err != nil {
		t.Fatalf("the new grant: %v", err)
	}
}

// TestReset_RacingGrantUsesMintOneToken: of racing uses of one grant,
// exactly one mints a token (the store's single-use code decides).
func TestReset_RacingGrantUsesMintOneToken(t *testing.T) {
	e := newEnv(t, noRateLimits, func(c *deviceauth.Config) { c.RateLimits.Recovery = deviceauth.Rate{Limit: -1} })
	ctx := context.Background()
	e.enrol("alice", "ES256")
	g, err := e.svc.ResetCredentials(ctx, deviceauth.ResetRequest{UserID: "alice", Operator: "desk", Reason: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := e.svc.MintRegistrationToken(ctx, "alice", g.Token); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, deviceauth.ErrStepUpRequired) {
				t.Errorf("a racing use: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("%d racing uses minted a token, want 1", ok.Load())
	}
}

// TestReset_BadRequests: operator and reason are required and bounded.
func TestReset_BadRequests(t *testing.T) {
	e := newEnv(t)
	for _, r := range []deviceauth.ResetRequest{
		{UserID: "alice", Reason: "no operator"},
		{UserID: "alice", Operator: "desk"},
		{UserID: "alice", Operator: strings.Repeat("x", 129), Reason: "r"},
		{UserID: "alice", Operator: "desk\u202e", Reason: "r"},
		{UserID: "alice", Operator: "desk", Reason: "r", GrantTTL: 31 * 24 * time.Hour},
		{Operator: "desk", Reason: "r"},
	} {
		if _, err := e.svc.ResetCredentials(context.Background(), r); !errors.Is(err, deviceauth.ErrInvalidRequest) {
			t.Errorf("ResetCredentials(%+v) = %v, want invalid_request", r, err)
		}
	}
}

// TestReset_WebEndpointTakesTheGrant: on POST /v1/web/registration-tokens
// a reset user's session alone gets 403 step_up_required (no challenge:
// there is no device to approve one), and the grant in Deviceauth-Token
// gets the token.
func TestReset_WebEndpointTakesTheGrant(t *testing.T) {
	e := newEnv(t, headerUsers)
	e.enrol("alice", "ES256")
	g, err := e.svc.ResetCredentials(context.Background(), deviceauth.ResetRequest{UserID: "alice", Operator: "desk", Reason: "lost"})
	if err != nil {
		t.Fatal(err)
	}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", nil, nil); st != 403 || d.Error != "step_up_required" || d.ChallengeID != "" {
		t.Fatalf("the session alone: %d %+v", st, d)
	}
	var rg deviceauth.RegistrationGrant
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", g.Token, nil, &rg); st != 201 || !strings.HasPrefix(rg.Token, "drt_") {
		t.Fatalf("with the grant: %d %+v %+v", st, d, rg)
	}
}
