package memstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

var start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestCollectGarbage_KeepsExpiredChallengeForRetention(t *testing.T) {
	s := New()
	ctx := t.Context()
	c := store.Challenge{ID: "ch1", UserID: "user1", State: store.StatePending, CreatedAt: start, ExpiresAt: start.Add(5 * time.Minute)}
	if _, err := s.CreateChallenge(ctx, c, start); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	got, err := s.GetChallenge(ctx, c.ID, c.ExpiresAt.Add(expiredChallengeRetention-time.Second))
	if err != nil || got.State != store.StateExpired {
		t.Fatalf("GetChallenge just inside the retention: got state %q, error %v; want EXPIRED, nil", got.State, err)
	}
	_, err = s.GetChallenge(ctx, c.ID, c.ExpiresAt.Add(expiredChallengeRetention))
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetChallenge at the end of the retention: got error %v, want ErrNotFound", err)
	}
	if len(s.challenges) != 0 || len(s.userChallenges) != 0 || len(s.garbage) != 0 {
		t.Fatalf("after collection: %d challenges, %d users indexed, %d queued; want none",
			len(s.challenges), len(s.userChallenges), len(s.garbage))
	}
}

func TestCollectGarbage_DropsExpiredTokensCountersNoncesAndCeremonies(t *testing.T) {
	s := New()
	ctx := t.Context()
	expires := start.Add(time.Minute)
	if err := s.PutRegistrationToken(ctx, store.RegistrationToken{Hash: []byte("hash"), UserID: "user1", ExpiresAt: expires}); err != nil {
		t.Fatalf("PutRegistrationToken: %v", err)
	}
	if err := s.PutCeremony(ctx, store.Ceremony{ID: "ce1", Kind: "passkey.login", ExpiresAt: expires}); err != nil {
		t.Fatalf("PutCeremony: %v", err)
	}
	if _, err := s.IncrementCounter(ctx, "key1", time.Minute, start); err != nil {
		t.Fatalf("IncrementCounter: %v", err)
	}
	if err := s.ClaimNonce(ctx, "nonce1", expires, start); err != nil {
		t.Fatalf("ClaimNonce: %v", err)
	}
	if _, err := s.Counter(ctx, "other", expires); err != nil {
		t.Fatalf("Counter: %v", err)
	}
	if len(s.tokens) != 0 || len(s.counters) != 0 || len(s.nonces) != 0 || len(s.ceremonies) != 0 || len(s.garbage) != 0 {
		t.Fatalf("after collection: %d tokens, %d counters, %d nonces, %d ceremonies, %d queued; want none",
			len(s.tokens), len(s.counters), len(s.nonces), len(s.ceremonies), len(s.garbage))
	}
}

func TestCollectGarbage_IsBoundedAndSkipsRenewedRecords(t *testing.T) {
	s := New()
	ctx := t.Context()
	expires := start.Add(time.Minute)
	for i := range gcBudget {
		hash := []byte(fmt.Sprintf("hash%d", i))
		if err := s.PutRegistrationToken(ctx, store.RegistrationToken{Hash: hash, UserID: "user1", ExpiresAt: expires}); err != nil {
			t.Fatalf("PutRegistrationToken: %v", err)
		}
	}
	// The counter's window ends just after the tokens, so a call the tokens
	// use up the budget of leaves its queue entry behind.
	if _, err := s.IncrementCounter(ctx, "key1", time.Minute+time.Millisecond, start); err != nil {
		t.Fatalf("IncrementCounter: %v", err)
	}
	now := expires.Add(2 * time.Millisecond)
	if n, err := s.IncrementCounter(ctx, "key1", time.Minute, now); err != nil || n != 1 {
		t.Fatalf("IncrementCounter after the window: got %d, %v; want 1, nil", n, err)
	}
	if len(s.tokens) != 0 || len(s.garbage) != 2 {
		t.Fatalf("after one call: %d tokens, %d queued; want 0 tokens and the counter's old and new entries", len(s.tokens), len(s.garbage))
	}
	// The old entry is stale: the counter in its new window stays.
	if n, err := s.Counter(ctx, "key1", now.Add(time.Millisecond)); err != nil || n != 1 {
		t.Fatalf("Counter after its stale queue entry was collected: got %d, %v; want 1, nil", n, err)
	}
	if len(s.garbage) != 1 {
		t.Fatalf("after the stale entry: %d queued, want 1", len(s.garbage))
	}
}

func TestWatch_ContextDoneUnregisters(t *testing.T) {
	s := New()
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Watch(ctx, "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	cancel()
	timeout := time.After(10 * time.Second) // a failure bound only
	for open := true; open; {
		select {
		case _, open = <-ch:
		case <-timeout:
			t.Fatal("Watch channel not closed 10s after its context ended")
		}
	}
	if n := s.watchers.Len(); n != 0 {
		t.Fatalf("after the context ended: %d challenges watched, want 0", n)
	}
}

// TestGCQueue_PopsInOrder: whatever order entries are queued in, including
// equal deadlines, pop returns them earliest first, each once.
func TestGCQueue_PopsInOrder(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var q gcQueue
	want := map[string]time.Time{}
	for i := range 500 {
		at := base.Add(time.Duration((i*7919)%97) * time.Second) // scattered, with repeats
		key := fmt.Sprint(i)
		q.add(at, gcChallenge, key)
		want[key] = at
	}
	var last time.Time
	for len(q) > 0 {
		e := q.pop()
		if e.at.Before(last) {
			t.Fatalf("popped %v after %v", e.at, last)
		}
		if at, ok := want[e.key]; !ok || !at.Equal(e.at) {
			t.Fatalf("popped %q at %v: not queued so, or twice", e.key, e.at)
		}
		delete(want, e.key)
		last = e.at
	}
	if len(want) != 0 {
		t.Fatalf("%d entries never popped", len(want))
	}
}
