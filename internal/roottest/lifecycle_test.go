package roottest_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
)

// TestLifecycle_StolenSessionCannotTakeOverASingleDevice is the attack the
// device lifecycle closes: a session alone (no device) tries to remove a
// user's only phone, then to mint a token for its own phone. Both need a
// step-up the session cannot get; the phone stays, nothing is enrolled.
func TestLifecycle_StolenSessionCannotTakeOverASingleDevice(t *testing.T) {
	e := newEnv(t, headerUsers)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	if st, d, _ := e.webCall(t, "DELETE", "/v1/web/credentials/"+phone.CredentialID, "alice", "", nil, nil); st != 401 || d.Error != "challenge_required" {
		t.Fatalf("the session removing the only phone: %d %+v, want 401 challenge_required", st, d)
	}
	if err := e.svc.RemoveCredential(ctx, "alice", phone.CredentialID, ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
		t.Fatalf("RemoveCredential of the only phone without step-up: %v", err)
	}
	if st, d, _ := e.webCall(t, "POST", "/v1/web/registration-tokens", "alice", "", nil, nil); st != 401 || d.Error != "challenge_required" {
		t.Fatalf("the session minting a token: %d %+v, want 401 challenge_required", st, d)
	}
	if cs, _ := e.svc.Credentials(ctx, "alice"); len(cs) != 1 || cs[0].ID != phone.CredentialID {
		t.Fatalf("credentials after the attempts: %+v", cs)
	}
	if n := e.events.count(event.CredentialRemoved); n != 0 {
		t.Fatalf("%d removal events", n)
	}
}

// TestLifecycle_FirstDeviceTokenEnrolsOnlyAFirstDevice: a token minted
// while the user had no credential (no step-up) is refused once the user
// has one, and so is a passkey registration begun then.
func TestLifecycle_FirstDeviceTokenEnrolsOnlyAFirstDevice(t *testing.T) {
	e := newEnv(t, noRateLimits, withPasskeys)
	ctx := context.Background()
	early, err := e.svc.MintRegistrationToken(ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	ceremony, err := beginPasskeyRegistration(e.svc, ctx, "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	phone := e.enrol("alice", "ES256")
	if _, err := e.device("ES256").Register(ctx, early.Token, "thief", "android"); apiCode(err) != "registration_failed" {
		t.Fatalf("the early token after the first enrolment: %v, want registration_failed", err)
	}
	resp, _ := json.Marshal(fakeRegistration{RawID: []byte{9}})
	if _, err := finishPasskeyRegistration(e.svc, ctx, ceremony, "alice", resp); !errors.Is(err, deviceauth.ErrRegistrationFailed) {
		t.Fatalf("a passkey registration begun before the first enrolment: %v, want registration_failed", err)
	}
	if cs, _ := e.svc.Credentials(ctx, "alice"); len(cs) != 1 || cs[0].ID != phone.CredentialID {
		t.Fatalf("credentials: %+v", cs)
	}
	if n := e.events.count(event.RegistrationRefused); n != 2 {
		t.Fatalf("%d registration.refused events, want 2", n)
	}
	// A token minted with a step-up adds a second device as before.
	if _, err := e.device("ES256").Register(ctx, e.addToken(phone, "alice"), "tablet", "android"); err != nil {
		t.Fatalf("a token minted with a step-up: %v", err)
	}
}

// TestLifecycle_RemovalNotifiesDevicesAndEndsSessions: a removal from the
// web notifies the remaining devices and the removed one (through its push
// token); a device removing itself notifies the others. Each emits
// credential.removed and sessions.endOthers.
func TestLifecycle_RemovalNotifiesDevicesAndEndsSessions(t *testing.T) {
	rec := newRecorder()
	e := pushEnv(t, rec, noRateLimits)
	ctx := context.Background()
	phone := e.enrol("alice", "ES256")
	token := e.addToken(phone, "alice")
	tab := e.device("ES256")
	tab.PushToken = "push-of-the-tablet" // signed by the v2 registration proof
	if _, err := tab.Register(ctx, token, "tablet", "android"); err != nil {
		t.Fatalf("registering the tablet: %v", err)
	}
	cs, _ := e.svc.Credentials(ctx, "alice")
	i := slices.IndexFunc(cs, func(c deviceauth.Credential) bool { return c.ID == tab.CredentialID })
	tablet := cs[i]
	if n := rec.next(t); n.Type != deviceauth.NotificationCredentialAdded {
		t.Fatalf("first notification %+v, want credential.added", n)
	}
	third := e.device("ES256")
	if _, err := third.Register(ctx, e.addToken(phone, "alice"), "laptop", "linux"); err != nil {
		t.Fatal(err)
	}
	rec.next(t) // credential.added

	rm := e.stepUp(phone, "alice", deviceauth.ActionRemoveAuthenticator, deviceauth.RemovalDetails(tablet))
	if err := e.svc.RemoveCredential(ctx, "alice", tablet.ID, rm); err != nil {
		t.Fatal(err)
	}
	n := rec.next(t)
	if n.Type != deviceauth.NotificationCredentialRemoved || n.RemovedCredentialID != tablet.ID ||
		n.RemovedPushToken != "push-of-the-tablet" || !slices.Equal(slices.Sorted(slices.Values(n.CredentialIDs)), slices.Sorted(slices.Values([]string{phone.CredentialID, third.CredentialID}))) {
		t.Fatalf("removal from the web notified %+v", n)
	}
	if err := third.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	n = rec.next(t)
	if n.Type != deviceauth.NotificationCredentialRemoved || n.RemovedCredentialID != third.CredentialID ||
		n.RemovedPushToken != "" || !slices.Equal(n.CredentialIDs, []string{phone.CredentialID}) {
		t.Fatalf("a device removing itself notified %+v", n)
	}
	if r, s := e.events.count(event.CredentialRemoved), e.events.count(event.EndOtherSessions); r != 2 || s != 2 {
		t.Fatalf("%d credential.removed and %d sessions.endOthers events, want 2 and 2", r, s)
	}
}
