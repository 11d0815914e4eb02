package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/cyclestore"

	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/store"
)

// Upgraded checks a store whose data was written by an earlier release
// and then upgraded (a migration, a key layout): the registration token
// with oldTokenHash, written for "user1" before the first-device flag
// existed and unexpired at now, reads as not first-device; new tokens keep
// the flag; credentials are created as before; and the optional records
// the store keeps (recovery codes, ceremonies) work. Adapter upgrade tests
// build the old data their own way and call it.
func Upgraded(t *testing.T, st store.Store, oldTokenHash []byte, now time.Time) {
	t.Helper()
	ctx := t.Context()
	got, err := st.ConsumeRegistrationToken(ctx, oldTokenHash, now)
	if err != nil || got.UserID != "user1" || got.FirstDevice {
		t.Fatalf("the earlier release's token after the upgrade: %+v, %v; want user1, not first-device", got, err)
	}
	newHash := sha256.Sum256([]byte("a token of this release"))
	want := store.RegistrationToken{Hash: newHash[:], UserID: "user1", CreatedAt: now, ExpiresAt: now.Add(time.Minute), FirstDevice: true}
	if err := st.PutRegistrationToken(ctx, want); err != nil {
		t.Fatal(err)
	}
	if got, err := st.ConsumeRegistrationToken(ctx, newHash[:], now); err != nil || !got.FirstDevice {
		t.Fatalf("a new first-device token: %+v, %v", got, err)
	}
	c := store.Credential{ID: "cr_upgraded", UserID: "user1", Kind: store.KindDevice, Name: "phone", CreatedAt: now}
	if err := st.CreateCredential(ctx, c, 1); err != nil {
		t.Fatalf("CreateCredential after the upgrade: %v", err)
	}
	if rs, ok := st.(store.RecoveryCodeStore); ok {
		codes := recoveryHashes("upgraded", 2)
		if err := rs.ReplaceRecoveryCodes(ctx, "user1", codes); err != nil {
			t.Fatalf("ReplaceRecoveryCodes after the upgrade: %v", err)
		}
		if left, err := rs.UseRecoveryCode(ctx, "user1", codes[0]); err != nil || left != 1 {
			t.Fatalf("UseRecoveryCode after the upgrade: %d left, %v", left, err)
		}
	}
	if cs, ok := st.(store.CeremonyStore); ok {
		UpgradedCeremonies(t, cs, now)
	}
}

// UpgradedCeremonies checks that a store upgraded from a release before
// ceremonies had a record of their own (a schema without their table)
// puts a ceremony and takes it exactly once, at now.
func UpgradedCeremonies(t *testing.T, st store.CeremonyStore, now time.Time) {
	t.Helper()
	ctx := t.Context()
	want := store.Ceremony{ID: ids.NewUserID("ce", "user1"), UserID: "user1", Kind: "passkey.register",
		Data: []byte("session"), FirstDevice: true, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := st.PutCeremony(ctx, want); err != nil {
		t.Fatalf("PutCeremony after the upgrade: %v", err)
	}
	got, err := st.TakeCeremony(ctx, want.ID, now)
	if err != nil {
		t.Fatalf("TakeCeremony after the upgrade: %v", err)
	}
	sameRecord(t, got, want, "TakeCeremony after the upgrade")
	if _, err := st.TakeCeremony(ctx, want.ID, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second TakeCeremony after the upgrade: %v, want ErrNotFound", err)
	}
}

// Records an adapter's upgrade test writes, in its own storage format, as
// the release before ceremonies had a record of their own (schema 3 of
// the SQL stores) left them; UpgradedToCeremonies reads them back.
var (
	// OldTokenHash is the hash of a first-device registration token of
	// "user1", unexpired at the now passed to UpgradedToCeremonies.
	OldTokenHash = []byte{1, 2}
	// OldCredentialID is a device credential of "user1" named "phone".
	OldCredentialID = "cr_v3"
	// OldChallengeID is a pending challenge of "user1", unexpired at now.
	OldChallengeID = "ch_v3"
	// OldRecoveryCodes are the hashes of "user1"'s two recovery codes.
	OldRecoveryCodes = [][]byte{{0x0a}, {0x0b}}
)

// UpgradedToCeremonies checks a store upgraded from the release before
// ceremonies had a record of their own: the records the adapter wrote as
// that release (OldTokenHash, OldCredentialID, OldChallengeID,
// OldRecoveryCodes) read as before at now, and ceremonies work
// (UpgradedCeremonies).
func UpgradedToCeremonies(t *testing.T, st store.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	if tok, err := st.ConsumeRegistrationToken(ctx, OldTokenHash, now); err != nil || tok.UserID != "user1" || !tok.FirstDevice {
		t.Fatalf("the earlier release's token after the upgrade: %+v, %v; want user1's, first-device", tok, err)
	}
	if c, err := st.GetCredential(ctx, OldCredentialID); err != nil || c.UserID != "user1" || c.Name != "phone" {
		t.Fatalf("the earlier release's credential after the upgrade: %+v, %v; want user1's phone", c, err)
	}
	if ch, err := st.GetChallenge(ctx, OldChallengeID, now); err != nil || ch.UserID != "user1" || ch.State != store.StatePending {
		t.Fatalf("the earlier release's challenge after the upgrade: %+v, %v; want user1's, pending", ch, err)
	}
	rs, ok := st.(store.RecoveryCodeStore)
	if !ok {
		t.Fatal("the store lost store.RecoveryCodeStore in the upgrade")
	}
	if left, err := rs.UseRecoveryCode(ctx, "user1", OldRecoveryCodes[0]); err != nil || left != len(OldRecoveryCodes)-1 {
		t.Fatalf("an earlier release's recovery code after the upgrade: %d left, %v; want %d, nil", left, err, len(OldRecoveryCodes)-1)
	}
	cs, ok := st.(store.CeremonyStore)
	if !ok {
		t.Fatal("the upgraded store does not implement store.CeremonyStore")
	}
	UpgradedCeremonies(t, cs, now)
}

// UpgradedToActions checks a store upgraded from the release before action
// records (schema 4 of SQLite, 5 of PostgreSQL): the earlier release's
// pending challenge OldChallengeID of "user1", approved by OldCredentialID,
// is consumed as before (it has no record, and none appears), and action
// records work: a new challenge's record is kept in step with it, and a
// record put by PutAction reads back whole.
func UpgradedToActions(t *testing.T, st store.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	as, ok := st.(store.ActionStore)
	if !ok {
		t.Fatal("the upgraded store does not implement store.ActionStore")
	}
	old, err := st.TransitionChallenge(ctx, OldChallengeID, store.Transition{From: store.StatePending, To: store.StateApproved,
		UserID: "user1", CredentialID: OldCredentialID, AnsweredAt: now}, now)
	if err != nil {
		t.Fatalf("approving the earlier release's challenge after the upgrade: %v", err)
	}
	cs := cyclestore.For(st)
	b := store.Binding{UserID: "user1", Action: old.Action, DetailsDigest: old.DetailsDigest}
	if _, _, err := cs.ConsumeChallenge(ctx, OldChallengeID, b, now); err != nil {
		t.Fatalf("consuming the earlier release's challenge after the upgrade: %v", err)
	}
	if _, err := as.GetAction(ctx, "user1", OldChallengeID, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a record of the earlier release's challenge: %v, want ErrNotFound", err)
	}
	c := store.Challenge{ID: ids.NewUserID("ch", "user1"), UserID: "user1", Action: "transfer", State: store.StatePending,
		Method: "DEVICE", Methods: []string{"DEVICE"}, Nonce: []byte{1}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	rec := store.ActionRecord{ID: c.ID, UserID: "user1", Action: "transfer", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		Outcome: "CHALLENGE_REQUIRED", Prefix: "192.0.2.0/24", Browser: "b", Data: []byte(`{}`)}
	c.Record = &rec
	if _, err := st.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge with a record after the upgrade: %v", err)
	}
	if _, err := st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateDenied,
		UserID: "user1", CredentialID: OldCredentialID, AnsweredAt: now}, now); err != nil {
		t.Fatal(err)
	}
	got, err := as.GetAction(ctx, "user1", c.ID, now)
	if err != nil || got.Result != store.StateDenied || got.Kind != store.KindDevice {
		t.Fatalf("the new challenge's record after a denial: %+v, %v; want DENIED by a device", got, err)
	}
	put := store.ActionRecord{ID: ids.NewUserID("ac", "user1"), UserID: "user1", Action: "login", CreatedAt: now,
		ExpiresAt: now.Add(time.Hour), Outcome: "REVIEW", Prefix: "2001:db8::/64", Review: store.ReviewPending,
		Binding: []byte("binding"), Data: []byte(`{"ip":"2001:db8::1"}`)}
	must(t, as.PutAction(ctx, put), "PutAction after the upgrade")
	wantAction(t, as, put, now, "a record put after the upgrade")
	list, err := as.Actions(ctx, store.ActionQuery{UserID: "user1"}, now)
	must(t, err, "Actions after the upgrade")
	if len(list) != 2 {
		t.Fatalf("Actions after the upgrade: %d records, want 2 (the challenge's and the one put)", len(list))
	}
}
