package roottest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

var transferDetails = deviceauth.Details{
	Message: "Send 10.00 EUR to Bob",
	Fields:  []deviceauth.Field{{Label: "Amount", Value: "10.00 EUR"}, {Label: "Payee", Value: "Bob"}},
}

func TestFlow_RegisterTrackFetchApproveValidate(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			d := e.enrol("alice", alg)

			creds, err := e.svc.Credentials(ctx, "alice")
			if err != nil || len(creds) != 1 || creds[0].ID != d.CredentialID || creds[0].Algorithm != alg || creds[0].Kind != "device" {
				t.Fatalf("Credentials = %+v, %v; want the one %s device %s", creds, err, alg, d.CredentialID)
			}

			res := e.track("alice", "transfer", transferDetails, false)
			if !res.Enrolled || res.VerificationCode != "" || !strings.HasPrefix(res.Token, "dat_") {
				t.Fatalf("Track = %+v", res)
			}
			if got := e.clock.Now().Add(5 * time.Minute); !res.ExpiresAt.Equal(got) {
				t.Fatalf("ExpiresAt = %v, want %v", res.ExpiresAt, got)
			}
			ch, err := d.Challenge(ctx, res.ChallengeID)
			if err != nil {
				t.Fatalf("Challenge: %v", err)
			}
			if ch.State != "PENDING" || ch.Action != "transfer" || ch.Details.Message != transferDetails.Message ||
				len(ch.Details.Fields) != 2 || ch.Details.Fields[1] != transferDetails.Fields[1] || len(ch.Nonce) != 32 || ch.VerificationCodeRequired {
				t.Fatalf("fetched challenge = %+v", ch)
			}
			// Not valid before it is approved, and that failed attempt does not burn it.
			if v := e.validate(res.Token, "alice", "transfer", transferDetails); v.Valid || v.State != deviceauth.StateChallengeFailed {
				t.Fatalf("Validate before approval = %+v", v)
			}
			r, err := d.Approve(ctx, ch, "")
			if err != nil || r.State != "APPROVED" {
				t.Fatalf("Approve = %+v, %v", r, err)
			}
			v := e.validate(res.Token, "alice", "transfer", transferDetails)
			if !v.Valid || v.State != deviceauth.StateChallengeSucceeded || v.CredentialID != d.CredentialID ||
				v.Method != deviceauth.MethodDevice || v.ChallengeID != res.ChallengeID || v.UserID != "alice" {
				t.Fatalf("Validate = %+v", v)
			}
			if v := e.validate(res.Token, "alice", "transfer", transferDetails); v.Valid {
				t.Fatal("a token validated twice")
			}
			if n := e.events.count(event.ChallengeValidated); n != 1 {
				t.Fatalf("%d validated events, want 1", n)
			}
			creds, _ = e.svc.Credentials(ctx, "alice")
			if !creds[0].LastUsedAt.Equal(e.clock.Now()) {
				t.Fatalf("LastUsedAt = %v, want %v", creds[0].LastUsedAt, e.clock.Now())
			}
		})
	}
}

func TestFlow_Deny(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res := e.track("alice", "signIn", deviceauth.Details{}, false)
	ch, err := d.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.Deny(ctx, ch, "not_me")
	if err != nil || r.State != "DENIED" {
		t.Fatalf("Deny = %+v, %v", r, err)
	}
	if v := e.validate(res.Token, "alice", "signIn", deviceauth.Details{}); v.Valid || v.State != deviceauth.StateChallengeFailed {
		t.Fatalf("Validate after deny = %+v", v)
	}
	if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "challenge_closed" {
		t.Fatalf("approve after deny: %v, want challenge_closed", err)
	}
	if n := e.events.count(event.ChallengeDenied); n != 1 {
		t.Fatalf("%d denied events, want 1", n)
	}
}

func TestFlow_PendingListsOnlyOwnUnexpired(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.enrol("alice", "ES256")
	b := e.enrol("bob", "EdDSA")
	first := e.track("alice", "transfer", deviceauth.Details{}, false)
	e.clock.Advance(time.Minute)
	second := e.track("alice", "signIn", deviceauth.Details{}, false)
	e.track("bob", "transfer", deviceauth.Details{}, false)

	got, err := a.Pending(ctx)
	if err != nil || len(got) != 2 || got[0].ID != first.ChallengeID || got[1].ID != second.ChallengeID {
		t.Fatalf("alice Pending = %+v, %v", got, err)
	}
	if got, err := b.Pending(ctx); err != nil || len(got) != 1 {
		t.Fatalf("bob Pending = %+v, %v", got, err)
	}
	// A challenge of another user is not found, the same as an unknown one.
	if _, err := b.Challenge(ctx, first.ChallengeID); apiCode(err) != "not_found" {
		t.Fatalf("bob fetching alice's challenge: %v", err)
	}
	if _, err := b.Challenge(ctx, "unknownChallengeID"); apiCode(err) != "not_found" {
		t.Fatalf("unknown challenge: %v", err)
	}
	e.clock.Advance(4*time.Minute + time.Second) // first expired, second not
	got, err = a.Pending(ctx)
	if err != nil || len(got) != 1 || got[0].ID != second.ChallengeID {
		t.Fatalf("Pending after expiry = %+v, %v", got, err)
	}
}

func TestFlow_WrongCodeRule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res := e.track("alice", "transfer", transferDetails, true)
	if len(res.VerificationCode) != 2 {
		t.Fatalf("verification code %q, want 2 digits", res.VerificationCode)
	}
	ch, err := d.Challenge(ctx, res.ChallengeID)
	if err != nil || !ch.VerificationCodeRequired {
		t.Fatalf("Challenge = %+v, %v", ch, err)
	}
	wrong := "00"
	if res.VerificationCode == wrong {
		wrong = "01"
	}
	// Four wrong codes leave the challenge pending.
	for i := 1; i <= 4; i++ {
		_, err := d.Approve(ctx, ch, wrong)
		if apiCode(err) != "wrong_code" {
			t.Fatalf("wrong code %d: %v", i, err)
		}
		if got, _ := d.Challenge(ctx, ch.ID); got.State != "PENDING" {
			t.Fatalf("after %d wrong codes state %s", i, got.State)
		}
	}
	// An unsigned (badly signed) wrong code does not count.
	d2 := e.device("ES256")
	d2.CredentialID = d.CredentialID
	if _, err := d2.Approve(ctx, ch, wrong); apiCode(err) != "invalid_response" {
		t.Fatalf("forged wrong code: %v", err)
	}
	// A missing code is a wrong code too.
	if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "wrong_code" {
		t.Fatalf("5th wrong code: %v", err)
	}
	if got, _ := d.Challenge(ctx, ch.ID); got.State != "FAILED" {
		t.Fatalf("after 5 wrong codes state %s, want FAILED", got.State)
	}
	if _, err := d.Approve(ctx, ch, res.VerificationCode); apiCode(err) != "challenge_closed" {
		t.Fatalf("right code after FAILED: %v", err)
	}
	// The window is per (user, action) and a new challenge does not reset it.
	r2, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	if err != nil || r2.State != deviceauth.StateBlock || r2.ChallengeID != "" {
		t.Fatalf("Track in the window = %+v, %v; want BLOCK", r2, err)
	}
	other := e.track("alice", "signIn", deviceauth.Details{}, false)
	if other.State != deviceauth.StateChallengeRequired {
		t.Fatal("another action was blocked")
	}
	e.clock.Advance(10*time.Minute - time.Second)
	if r, _ := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"}); r.State != deviceauth.StateBlock {
		t.Fatalf("Track at window-1s = %s, want BLOCK", r.State)
	}
	e.clock.Advance(2 * time.Second)
	if r, _ := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"}); r.State != deviceauth.StateChallengeRequired {
		t.Fatalf("Track after the window = %s, want CHALLENGE_REQUIRED", r.State)
	}
}

func TestFlow_RightCodeApproves(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "EdDSA")
	res := e.track("alice", "transfer", transferDetails, true)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	if r, err := d.Approve(ctx, ch, res.VerificationCode); err != nil || r.State != "APPROVED" {
		t.Fatalf("Approve with the right code = %+v, %v", r, err)
	}
	if v := e.validate(res.Token, "alice", "transfer", transferDetails); !v.Valid {
		t.Fatalf("Validate = %+v", v)
	}
}

func TestFlow_DeviceRemovesItself(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	if _, err := d.Approve(ctx, ch, ""); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove(ctx); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// Removal takes effect at once for an approved, not yet validated challenge.
	if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); v.Valid {
		t.Fatal("a challenge approved by a removed credential validated")
	}
	if creds, _ := e.svc.Credentials(ctx, "alice"); len(creds) != 0 {
		t.Fatalf("credentials after removal: %+v", creds)
	}
	if _, err := d.Pending(ctx); apiCode(err) != "unauthorized" {
		t.Fatalf("removed device listing: %v", err)
	}
}

func TestFlow_RemovedCredentialCannotAnswerPending(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	ch, _ := d.Challenge(ctx, res.ChallengeID)
	if err := d.Remove(ctx); err != nil {
		t.Fatalf("the only credential removing itself: %v", err)
	}
	if _, err := d.Approve(ctx, ch, ""); apiCode(err) != "invalid_response" {
		t.Fatalf("removed credential approving: %v", err)
	}
}

func TestTrack_DefaultMethodsFollowTheUsersCredentials(t *testing.T) {
	e := newEnv(t, withPasskeys)
	ctx := context.Background()
	e.enrol("alice", "ES256")
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "transfer"})
	if err != nil || len(res.Methods) != 1 || res.Methods[0] != deviceauth.MethodDevice {
		t.Fatalf("device user: %+v, %v", res.Methods, err)
	}
	addFakePasskey(t, e, "bob", []byte("bob-key"), 0)
	res, err = e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "bob", Action: "transfer"})
	if err != nil || len(res.Methods) != 1 || res.Methods[0] != deviceauth.MethodPasskey {
		t.Fatalf("passkey-only user: %+v, %v", res.Methods, err)
	}
}
