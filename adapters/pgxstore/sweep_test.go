package pgxstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/store"
)

func TestSweep_DeletesOnlyWhatNoReadCanSee(t *testing.T) {
	pool := newPool(t, 4)
	st := openStore(t, pool, newSchema(t, pool))
	ctx := t.Context()
	start := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	ttl := 5 * time.Minute

	challenge := func(id string) store.Challenge {
		return store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending,
			IdempotencyKey: "key-" + id, CreatedAt: start, ExpiresAt: start.Add(ttl)}
	}
	for _, id := range []string{"ch1", "ch2"} {
		if _, err := st.CreateChallenge(ctx, challenge(id), start); err != nil {
			t.Fatalf("CreateChallenge: %v", err)
		}
	}
	late := challenge("ch3")
	late.ExpiresAt = start.Add(3 * time.Hour)
	if _, err := st.CreateChallenge(ctx, late, start); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	if err := st.PutRegistrationToken(ctx, store.RegistrationToken{Hash: []byte("h1"), UserID: "user1",
		CreatedAt: start, ExpiresAt: start.Add(ttl)}); err != nil {
		t.Fatalf("PutRegistrationToken: %v", err)
	}
	if _, err := st.IncrementCounter(ctx, "key1", ttl, start); err != nil {
		t.Fatalf("IncrementCounter: %v", err)
	}
	if err := st.ClaimNonce(ctx, "nonce1", start.Add(ttl), start); err != nil {
		t.Fatalf("ClaimNonce: %v", err)
	}
	lasting := store.Ceremony{ID: "ce2", Kind: "passkey.login", CreatedAt: start, ExpiresAt: start.Add(3 * time.Hour)}
	for _, c := range []store.Ceremony{{ID: "ce1", Kind: "passkey.login", CreatedAt: start, ExpiresAt: start.Add(ttl)}, lasting} {
		if err := st.PutCeremony(ctx, c); err != nil {
			t.Fatalf("PutCeremony: %v", err)
		}
	}
	kept := store.ActionRecord{ID: "ac2", UserID: "user1", Action: "transfer", CreatedAt: start,
		ExpiresAt: start.Add(3 * time.Hour), Outcome: "ALLOW"}
	for _, a := range []store.ActionRecord{{ID: "ac1", UserID: "user1", Action: "transfer", CreatedAt: start,
		ExpiresAt: start.Add(ttl), Outcome: "ALLOW"}, kept} {
		if err := st.PutAction(ctx, a); err != nil {
			t.Fatalf("PutAction: %v", err)
		}
	}

	sweep := func(now time.Time, want int64) {
		t.Helper()
		n, err := st.Sweep(ctx, now)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if n != want {
			t.Fatalf("Sweep at start+%v deleted %d rows, want %d", now.Sub(start), n, want)
		}
	}
	// Nothing has expired a second before ExpiresAt.
	sweep(start.Add(ttl-time.Second), 0)

	// At ExpiresAt: the token, the counter, the nonce, two idempotency keys,
	// the expired ceremony and the expired action record go; the
	// challenges stay and read as EXPIRED.
	now := start.Add(ttl)
	sweep(now, 7)
	got, err := st.GetChallenge(ctx, "ch1", now)
	if err != nil || got.State != store.StateExpired {
		t.Fatalf("GetChallenge after Sweep at ExpiresAt: %s, %v; want EXPIRED", got.State, err)
	}

	// ExpiredChallengeRetention later, the expired challenges go too.
	now = start.Add(ttl + pgxstore.ExpiredChallengeRetention)
	sweep(now, 2)
	if _, err := st.GetChallenge(ctx, "ch1", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetChallenge after the retention: %v, want ErrNotFound", err)
	}
	if _, err := st.GetChallenge(ctx, "ch3", now); err != nil {
		t.Fatalf("GetChallenge of an unexpired challenge after Sweep: %v", err)
	}
	if got, err := st.TakeCeremony(ctx, lasting.ID, now); err != nil || got.ID != lasting.ID {
		t.Fatalf("TakeCeremony of an unexpired ceremony after Sweep: %q, %v; want it", got.ID, err)
	}
	// Read as of their creation: the expired record is gone, not hidden.
	if got, err := st.Actions(ctx, store.ActionQuery{UserID: "user1"}, start); err != nil || len(got) != 1 || got[0].ID != kept.ID {
		t.Fatalf("Actions, at the records' creation, after Sweep: %+v, %v; want only %s", got, err, kept.ID)
	}

	st.Close()
	if _, err := st.Sweep(ctx, now); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Sweep after Close: %v, want ErrClosed", err)
	}
}
