package roottest_test

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

func recoveryConfig(c *deviceauth.Config) { c.RecoveryCodes = 10 }

// TestRecovery_IssuingNeedsAStepUpWithNumberMatching: a session alone,
// an approval without a code, or a recovery code cannot mint codes; an
// approval with number matching can, and the codes are 80-bit, distinct
// and shown once.
func TestRecovery_IssuingNeedsAStepUpWithNumberMatching(t *testing.T) {
	e := newEnv(t, recoveryConfig, func(c *deviceauth.Config) { c.ApproveOnly = true })
	ctx := context.Background()
	if _, err := e.svc.RecoveryCodes(ctx, "alice", ""); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("codes for a user without a credential: %v, want not_found", err)
	}
	phone := e.enrol("alice", "ES256")
	if _, err := e.svc.RecoveryCodes(ctx, "alice", ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("codes for the session alone: %v", err)
	}
	noCode := e.track("alice", deviceauth.ActionRecoveryCodes, deviceauth.Details{}, false)
	approve(t, phone, noCode.ChallengeID, noCode.VerificationCode)
	if _, err := e.svc.RecoveryCodes(ctx, "alice", noCode.Token); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("codes after an approval without number matching: %v", err)
	}
	codes, err := e.svc.RecoveryCodes(ctx, "alice", e.stepUp(phone, "alice", deviceauth.ActionRecoveryCodes, deviceauth.Details{}))
	if err != nil {
		t.Fatal(err)
	}
	shape := regexp.MustCompile(`^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$`) // 16 base32 characters: 80 bits
	seen := map[string]bool{}
	for _, c := range codes {
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("code %q is malformed or repeated in %v", c, codes)
		}
		seen[c] = true
	}
	if len(codes) != 10 {
		t.Fatalf("%d codes, want 10", len(codes))
	}
	if _, err := e.svc.RecoveryCodes(ctx, "alice", codes[0]); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("a recovery code minting new codes: %v", err)
	}
	// Regenerating revokes the earlier set.
	fresh, err := e.svc.RecoveryCodes(ctx, "alice", e.stepUp(phone, "alice", deviceauth.ActionRecoveryCodes, deviceauth.Details{}))
	if err != nil || len(fresh) != 10 {
		t.Fatalf("regenerating: %d codes, %v", len(fresh), err)
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", codes[1]); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("a revoked code: %v, want step_up_required", err)
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", fresh[1]); err != nil {
		t.Fatalf("a code of the new set: %v", err)
	}
}

// TestRecovery_ALostPhone: the user lost the only phone. One code removes
// it, another mints the token for the new phone (here while the old one is
// still there); each works once, emits an event, tells the app to end the
// other sessions and notifies the devices.
func TestRecovery_ALostPhone(t *testing.T) {
	rec := newRecorder()
	e := pushEnv(t, rec, recoveryConfig, noRateLimits)
	ctx := context.Background()
	lost := e.enrol("alice", "ES256")
	codes, err := e.svc.RecoveryCodes(ctx, "alice", e.stepUp(lost, "alice", deviceauth.ActionRecoveryCodes, deviceauth.Details{}))
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.MintRegistrationToken(ctx, "alice", codes[0])
	if err != nil {
		t.Fatalf("a recovery code for the new phone's token: %v", err)
	}
	if n := rec.next(t); n.Type != deviceauth.NotificationRecoveryCodeUsed || len(n.CredentialIDs) != 1 || n.CredentialIDs[0] != lost.CredentialID {
		t.Fatalf("notification %+v, want recoveryCode.used to the lost phone", n)
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", codes[0]); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("the same code twice: %v", err)
	}
	newPhone := e.device("ES256")
	if _, err := newPhone.Register(ctx, g.Token, "new phone", "ios"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RemoveCredential(ctx, "alice", lost.CredentialID, " "+codes[1]+" "); err != nil {
		t.Fatalf("a recovery code removing the lost phone: %v", err)
	}
	if err := e.svc.RemoveCredential(ctx, "alice", newPhone.CredentialID, codes[1]); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("a used code removing the new phone: %v", err)
	}
	if cs, _ := e.svc.Credentials(ctx, "alice"); len(cs) != 1 || cs[0].ID != newPhone.CredentialID {
		t.Fatalf("credentials: %+v", cs)
	}
	if u, s := e.events.count(event.RecoveryCodeUsed), e.events.count(event.EndOtherSessions); u != 2 || s != 3 {
		t.Fatalf("%d recoveryCode.used and %d sessions.endOthers events, want 2 and 3 (two uses, one removal)", u, s)
	}
}

// TestRecovery_AttemptsAreRateLimitedPerUser: after RateLimits.Recovery
// wrong codes even a right one is refused.
func TestRecovery_AttemptsAreRateLimitedPerUser(t *testing.T) {
	e := newEnv(t, recoveryConfig)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	codes, err := e.svc.RecoveryCodes(ctx, "alice", e.stepUp(phone, "alice", deviceauth.ActionRecoveryCodes, deviceauth.Details{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := e.svc.MintRegistrationToken(ctx, "alice", "AAAA-AAAA-AAAA-AAAA"); !errors.Is(err, deviceauth.ErrStepUpRequired) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := e.svc.MintRegistrationToken(ctx, "alice", codes[0]); !errors.Is(err, deviceauth.ErrRateLimited) {
		t.Fatalf("a right code over the limit: %v, want rate_limited", err)
	}
}

// TestRecovery_WebAttemptsAreRateLimitedPerIP: wrong codes for several
// users from one client IP exhaust its limit; a right code for yet another
// user from that IP is then refused.
func TestRecovery_WebAttemptsAreRateLimitedPerIP(t *testing.T) {
	e := newEnv(t, headerUsers, recoveryConfig)
	ctx := context.Background()
	zoe := e.enrol("zoe", "ES256")
	codes, err := e.svc.RecoveryCodes(ctx, "zoe", e.stepUp(zoe, "zoe", deviceauth.ActionRecoveryCodes, deviceauth.Details{}))
	if err != nil {
		t.Fatal(err)
	}
	for i, user := range []string{"u1", "u2", "u3", "u4", "u5"} {
		e.enrol(user, "ES256")
		if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", user, "AAAA-AAAA-AAAA-AAAA", nil, nil); st != 403 {
			t.Fatalf("wrong code %d: %d %+v", i, st, d)
		}
	}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "zoe", codes[0], nil, nil); st != 429 || d.Error != "rate_limited" {
		t.Fatalf("a right code from the IP over its limit: %d %+v, want 429 rate_limited", st, d)
	}
	// Outside the web (no client IP), the per-user limit alone applies.
	if _, err := e.svc.MintRegistrationToken(ctx, "zoe", codes[0]); err != nil {
		t.Fatalf("the same code through the Service: %v", err)
	}
}

// TestRecovery_CodeInTheWebEndpoints: a code in Deviceauth-Token mints a
// registration token once; the second use is refused as a failed step-up.
func TestRecovery_CodeInTheWebEndpoints(t *testing.T) {
	e := newEnv(t, headerUsers, recoveryConfig)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	codes, err := e.svc.RecoveryCodes(ctx, "alice", e.stepUp(phone, "alice", deviceauth.ActionRecoveryCodes, deviceauth.Details{}))
	if err != nil {
		t.Fatal(err)
	}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", codes[2], nil, nil); st != 201 {
		t.Fatalf("a recovery code minting a token from the web: %d %+v", st, d)
	}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", codes[2], nil, nil); st != 403 || d.Error != "challenge_failed" {
		t.Fatalf("the same code again: %d %+v, want 403 challenge_failed", st, d)
	}
	if st, d, _ := e.webCall(t, "DELETE", "/v1/web/credentials/"+phone.CredentialID, "alice", codes[3], nil, nil); st != 204 {
		t.Fatalf("a recovery code removing the phone from the web: %d %+v", st, d)
	}
}
