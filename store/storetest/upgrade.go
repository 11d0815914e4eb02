package storetest

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

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
