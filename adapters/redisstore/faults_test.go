package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store"
)

// A private redis-server (AOF on, in a temporary directory) is stopped with
// SIGTERM and started again on the same port in the middle of traffic:
// requests fail closed meanwhile, then work again without a new Store;
// credentials survive (AOF); the wake-up subscription, started before the
// outage, reconnects by itself.
func TestOutage_RedisServerRestart(t *testing.T) {
	srv := startRedisServer(t)
	client := outageClient(t, srv.Addr)
	st := newStore(t, client, "deviceauth")
	watchCtx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := st.Watch(watchCtx, "before-the-outage"); err != nil { // starts the subscription
		t.Fatalf("Watch: %v", err)
	}
	instancetest.Outage(t, st, func() {
		srv.Stop()
		wantUnavailable(t, st)
	}, srv.Start)
	wantWakeUp(t, st, st)
}

// miniredis failing every command with an error reply.
func TestOutage_MiniredisErrors(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, "deviceauth")
	instancetest.Outage(t, st, func() {
		mr.SetError("ERR injected outage")
		wantUnavailable(t, st)
	}, func() { mr.SetError("") })
	wantWakeUp(t, st, st)
}

// miniredis closed (connections refused), then restarted on the same
// address with its data.
func TestOutage_MiniredisClosed(t *testing.T) {
	mr, _ := miniredisClient(t)
	client := outageClient(t, mr.Addr())
	st := newStore(t, client, "deviceauth")
	watchCtx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := st.Watch(watchCtx, "before-the-outage"); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	instancetest.Outage(t, st, func() {
		mr.Close()
		wantUnavailable(t, st)
	}, func() {
		if err := mr.Restart(); err != nil {
			t.Fatalf("restarting miniredis on %s: %v", mr.Addr(), err)
		}
	})
	wantWakeUp(t, st, st)
}

// wantUnavailable fails t unless reads and writes fail with a driver error
// rather than a sentinel the Service would take as an answer (a missing
// record is not an outage).
func wantUnavailable(t *testing.T, st store.Store) {
	t.Helper()
	ctx, now := t.Context(), time.Now()
	_, err := st.GetCredential(ctx, "cred1")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetCredential during the outage: %v, want a driver error", err)
	}
	_, err = st.TransitionChallenge(ctx, "ch1", store.Transition{From: store.StatePending, To: store.StateApproved}, now)
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict) {
		t.Fatalf("TransitionChallenge during the outage: %v, want a driver error", err)
	}
}

// wantWakeUp fails t unless a waiter on watcher is woken by an approval
// made through writer.
func wantWakeUp(t *testing.T, watcher, writer *redisstore.Store) {
	t.Helper()
	ctx, now := t.Context(), time.Now()
	id := "wake-" + rand.Text()
	c := store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := writer.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge after the outage: %v", err)
	}
	woken, err := watcher.Watch(ctx, id)
	if err != nil {
		t.Fatalf("Watch after the outage: %v", err)
	}
	if _, err := writer.TransitionChallenge(ctx, id, store.Transition{
		From: store.StatePending, To: store.StateApproved, UserID: "user1", CredentialID: "cred1", AnsweredAt: now,
	}, now); err != nil {
		t.Fatalf("TransitionChallenge after the outage: %v", err)
	}
	select {
	case <-woken:
	case <-time.After(10 * time.Second): // a failure bound, not a wait for time to pass
		t.Fatal("a waiter was not woken by an approval after the outage")
	}
}
