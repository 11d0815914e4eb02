package redisstore_test

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// TestRegistrationToken_OfThePreviousReleaseStaysReadable: a registration
// token as the previous release wrote it (no first-device field) is
// consumed by this release as a token that is not first-device.
func TestRegistrationToken_OfThePreviousReleaseStaysReadable(t *testing.T) {
	ctx := t.Context()
	_, client := miniredisClient(t)
	st := newStore(t, client, redisstore.DefaultKeyPrefix)
	now := time.Now().Truncate(time.Millisecond).UTC()
	hash := sha256.Sum256([]byte("a token of the previous release"))
	key := redisstore.DefaultKeyPrefix + ":v1:rt:" + base64.RawURLEncoding.EncodeToString(hash[:])
	if err := client.HSet(ctx, key, "u", "user1", "ca", strconv.FormatInt(now.UnixMilli(), 10),
		"ea", strconv.FormatInt(now.Add(10*time.Minute).UnixMilli(), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	storetest.Upgraded(t, st, hash[:], now.Add(time.Second))
}

// TestUpgrade_ChallengesOfThePreviousReleaseWithoutRecords: action records
// add keys (…:a:<id>, …:actions, …:passed, reviews) and change none; a
// challenge and credential as the previous release wrote them (the same
// hashes, with no record) are consumed as before beside action records.
func TestUpgrade_ChallengesOfThePreviousReleaseWithoutRecords(t *testing.T) {
	ctx := t.Context()
	_, client := miniredisClient(t)
	st := newStore(t, client, redisstore.DefaultKeyPrefix)
	now := time.Now().Truncate(time.Millisecond).UTC()
	if err := st.CreateCredential(ctx, store.Credential{ID: storetest.OldCredentialID, UserID: "user1", Kind: store.KindDevice,
		Name: "phone", CreatedAt: now}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateChallenge(ctx, store.Challenge{ID: storetest.OldChallengeID, UserID: "user1", Action: "transfer",
		State: store.StatePending, Method: "DEVICE", Methods: []string{"DEVICE"}, Nonce: []byte{0},
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	storetest.UpgradedToActions(t, st, now)
}
