package roottest_test

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
)

func TestExpiry_RegistrationToken(t *testing.T) {
	for _, c := range []struct {
		name    string
		advance time.Duration
		want    string
	}{
		{"at ttl-1s", 10*time.Minute - time.Second, ""},
		{"at ttl+1s", 10*time.Minute + time.Second, "registration_failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			g, err := e.svc.MintRegistrationToken(context.Background(), "alice", "")
			if err != nil {
				t.Fatal(err)
			}
			if want := e.clock.Now().Add(10 * time.Minute); !g.ExpiresAt.Equal(want) {
				t.Fatalf("ExpiresAt %v, want %v", g.ExpiresAt, want)
			}
			e.clock.Advance(c.advance)
			_, err = e.device("ES256").Register(context.Background(), g.Token, "phone", "ios")
			if got := apiCode(err); got != c.want {
				t.Fatalf("Register: %q, want %q", got, c.want)
			}
		})
	}
}

func TestExpiry_Challenge(t *testing.T) {
	for _, c := range []struct {
		name        string
		advance     time.Duration
		approveErr  string
		wantValid   bool
		validateGap time.Duration
	}{
		{"approve and validate at ttl-1s", 5*time.Minute - time.Second, "", true, 0},
		{"approve at ttl+1s", 5*time.Minute + time.Second, "challenge_closed", false, 0},
		{"validate at ttl+1s", 5*time.Minute - time.Second, "", false, 2 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			d := e.enrol("alice", "ES256")
			res := e.track("alice", "transfer", deviceauth.Details{}, false)
			ch, err := d.Challenge(ctx, res.ChallengeID)
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(c.advance)
			_, err = d.Approve(ctx, ch, "")
			if got := apiCode(err); got != c.approveErr {
				t.Fatalf("Approve: %q, want %q", got, c.approveErr)
			}
			e.clock.Advance(c.validateGap)
			if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); v.Valid != c.wantValid {
				t.Fatalf("Validate = %+v, want valid %v", v, c.wantValid)
			}
		})
	}
}

func TestStepUp_AddingACredential(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.enrol("alice", "ES256")

	if _, err := e.svc.MintRegistrationToken(ctx, "alice", ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("second token without step-up: %v, want step_up_required", err)
	}
	// A validated challenge for another action is not a step-up.
	other := e.track("alice", "transfer", deviceauth.Details{}, false)
	approve(t, first, other.ChallengeID, other.VerificationCode)
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", other.Token); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("step-up with a transfer token: %v", err)
	}
	// Bob's approved addAuthenticator does not let alice add a device.
	bob := e.enrol("bob", "ES256")
	bobs := e.track("bob", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false)
	approve(t, bob, bobs.ChallengeID, bobs.VerificationCode)
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", bobs.Token); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("step-up with bob's token: %v", err)
	}

	res := e.track("alice", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false)
	approve(t, first, res.ChallengeID, res.VerificationCode)
	g, err := e.svc.MintRegistrationToken(ctx, "alice", res.Token)
	if err != nil {
		t.Fatalf("step-up with an approved addAuthenticator: %v", err)
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", res.Token); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("step-up token reused: %v", err)
	}
	second := e.device("EdDSA")
	if _, err := second.Register(ctx, g.Token, "tablet", "android"); err != nil {
		t.Fatal(err)
	}
	if creds, _ := e.svc.Credentials(ctx, "alice"); len(creds) != 2 {
		t.Fatalf("%d credentials, want 2", len(creds))
	}
}

func TestStepUp_RemovingACredential(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.enrol("alice", "ES256")
	res := e.track("alice", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false)
	approve(t, first, res.ChallengeID, res.VerificationCode)
	g, _ := e.svc.MintRegistrationToken(ctx, "alice", res.Token)
	second := e.device("ES256")
	if _, err := second.Register(ctx, g.Token, "tablet", "android"); err != nil {
		t.Fatal(err)
	}

	if err := e.svc.RemoveCredential(ctx, "alice", second.CredentialID, ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("removal without step-up: %v", err)
	}
	if err := e.svc.RemoveCredential(ctx, "bob", second.CredentialID, ""); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("removal by another user: %v, want not_found", err)
	}
	creds, _ := e.svc.Credentials(ctx, "alice")
	byID := map[string]deviceauth.Credential{creds[0].ID: creds[0], creds[1].ID: creds[1]}
	// An approval bound to removing the first device cannot remove the second.
	wrong := e.track("alice", deviceauth.ActionRemoveAuthenticator, deviceauth.RemovalDetails(byID[first.CredentialID]), false)
	approve(t, first, wrong.ChallengeID, wrong.VerificationCode)
	if err := e.svc.RemoveCredential(ctx, "alice", second.CredentialID, wrong.Token); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("removal with an approval for another device: %v", err)
	}
	rm := e.track("alice", deviceauth.ActionRemoveAuthenticator, deviceauth.RemovalDetails(byID[second.CredentialID]), false)
	ch, _ := first.Challenge(ctx, rm.ChallengeID)
	if ch.Details.Message != "Remove tablet" || ch.Details.Fields[1].Value != second.CredentialID {
		t.Fatalf("the device is not shown what it removes: %+v", ch.Details)
	}
	approve(t, first, rm.ChallengeID, rm.VerificationCode)
	if err := e.svc.RemoveCredential(ctx, "alice", second.CredentialID, rm.Token); err != nil {
		t.Fatalf("removal with step-up: %v", err)
	}
	creds, _ = e.svc.Credentials(ctx, "alice")
	if len(creds) != 1 || creds[0].ID != first.CredentialID {
		t.Fatalf("credentials after removal: %+v", creds)
	}
	// The last credential needs a step-up like any other.
	if err := e.svc.RemoveCredential(ctx, "alice", first.CredentialID, ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("removing the last credential without step-up: %v, want step_up_required", err)
	}
	last := e.stepUp(first, "alice", deviceauth.ActionRemoveAuthenticator, deviceauth.RemovalDetails(byID[first.CredentialID]))
	if err := e.svc.RemoveCredential(ctx, "alice", first.CredentialID, last); err != nil {
		t.Fatalf("removing the last credential with step-up: %v", err)
	}
	if n := e.events.count(event.CredentialRemoved); n != 2 {
		t.Fatalf("%d removal events, want 2", n)
	}
}

func TestRegistration_MaxCredentialsPerUser(t *testing.T) {
	e := newEnv(t, func(c *deviceauth.Config) { c.MaxCredentialsPerUser = 2 })
	ctx := context.Background()
	first := e.enrol("alice", "ES256")
	for i, want := range []string{"", "credential_limit"} {
		res := e.track("alice", deviceauth.ActionAddAuthenticator, deviceauth.Details{}, false)
		approve(t, first, res.ChallengeID, res.VerificationCode)
		g, err := e.svc.MintRegistrationToken(ctx, "alice", res.Token)
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.device("ES256").Register(ctx, g.Token, "another", "ios")
		if got := apiCode(err); got != want {
			t.Fatalf("registration %d: %q, want %q", i+2, got, want)
		}
	}
	if creds, _ := e.svc.Credentials(ctx, "alice"); len(creds) != 2 {
		t.Fatalf("%d credentials, want 2", len(creds))
	}
}

func TestRegistration_ProofOfPossessionChecked(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	g, _ := e.svc.MintRegistrationToken(ctx, "alice", "")
	// A signature over other bytes does not register, and does not burn the token.
	d := e.enrolKeyed("zed")
	msg := []byte("not the registration message")
	reg := deviceauth.Registration{Token: g.Token, Algorithm: "ES256", PublicKey: mustSPKI(t, d), Signature: d.signDER(t, msg), Name: "x"}
	if _, err := e.svc.Register(ctx, reg); !errors.Is(err, deviceauth.ErrRegistrationFailed) {
		t.Fatalf("bad proof: %v", err)
	}
	if _, err := e.device("ES256").Register(ctx, g.Token, "phone", "ios"); err != nil {
		t.Fatalf("the token was burnt by a bad proof: %v", err)
	}
}

// approve fetches challenge id with d and approves it.
func approve(t testing.TB, d *device.Client, id, code string) {
	t.Helper()
	ch, err := d.Challenge(context.Background(), id)
	if err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	if _, err := d.Approve(context.Background(), ch, code); err != nil {
		t.Fatalf("Approve: %v", err)
	}
}

func mustSPKI(t testing.TB, d keyedDevice) []byte {
	b, err := x509.MarshalPKIXPublicKey(&d.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
