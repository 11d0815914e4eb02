package redisstore_test

import (
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/store"
)

// A ceremony of a known user, whose ID the Service mints with the user's
// tag, is kept in the user's hash tag; one without a user in a tag of its
// own ID. The server keeps each for its lifetime plus the grace: the TTL
// collects garbage, the caller's now decides.
func TestCeremony_KeysAndTTL(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, redisstore.DefaultKeyPrefix)
	ctx := t.Context()
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	mine := store.Ceremony{ID: ids.NewUserID("ce", "user1"), UserID: "user1", Kind: "passkey.register",
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	anonymous := store.Ceremony{ID: "ce_anonymous1", Kind: "passkey.login", CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute)}
	for _, tc := range []struct {
		c   store.Ceremony
		key string
	}{
		{mine, "deviceauth:v1:{t:" + ids.UserTag("user1") + "}:ce:" + mine.ID},
		{anonymous, "deviceauth:v1:{ce:" + anonymous.ID + "}"},
	} {
		if err := st.PutCeremony(ctx, tc.c); err != nil {
			t.Fatalf("PutCeremony %s: %v", tc.c.ID, err)
		}
		if !mr.Exists(tc.key) {
			t.Fatalf("ceremony %s is not at %s; keys: %q", tc.c.ID, tc.key, mr.Keys())
		}
		if got, want := mr.TTL(tc.key), tc.c.ExpiresAt.Sub(now)+5*time.Minute; got != want {
			t.Fatalf("TTL of %s = %v, want %v (its lifetime and the grace)", tc.key, got, want)
		}
		if _, err := st.TakeCeremony(ctx, tc.c.ID, now); err != nil {
			t.Fatalf("TakeCeremony %s: %v", tc.c.ID, err)
		}
		if mr.Exists(tc.key) {
			t.Fatalf("ceremony %s is still at %s after TakeCeremony", tc.c.ID, tc.key)
		}
	}
}
