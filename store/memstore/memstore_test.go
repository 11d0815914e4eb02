package memstore_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
	"github.com/deviceauth/deviceauth/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(testing.TB) store.Store { return memstore.New() },
	})
}

// The suite over memstore's record methods alone: the cycle steps are then
// the fallback the Service makes of them, and must keep the contract too,
// racing consumes included.
func TestConformance_RecordMethodsOnly(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(testing.TB) store.Store {
			st := storetest.RecordOnly(memstore.New())
			if _, ok := st.(store.CycleStore); ok {
				t.Fatal("RecordOnly kept the cycle steps")
			}
			return st
		},
	})
}

// TestTransitionToConsumed_PassesTheRecord: a consume by TransitionChallenge
// (the record methods' way) sets the action record's pass time as
// ConsumeChallenge does.
func TestTransitionToConsumed_PassesTheRecord(t *testing.T) {
	storetest.ConsumedByTransition(t, memstore.New(), time.Now())
}

func TestClose_ClosesWatchChannels(t *testing.T) {
	s := memstore.New()
	ctx := t.Context()
	first, err := s.Watch(ctx, "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	second, err := s.Watch(ctx, "ch2")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v, want nil", err)
	}
	for _, ch := range []<-chan struct{}{first, second} {
		if _, ok := <-ch; ok {
			t.Fatal("Watch channel delivered a value after Close, want it closed")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
}

func TestWatch_ContextDoneAfterCloseDoesNotPanic(t *testing.T) {
	s := memstore.New()
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.Watch(ctx, "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	cancel() // would close the channel a second time if Close had not unregistered it
	if _, ok := <-ch; ok {
		t.Fatal("Watch channel delivered a value, want it closed")
	}
}

// BenchmarkTransition measures one PENDING → APPROVED compare-and-set.
func BenchmarkTransition(b *testing.B) {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	approve := store.Transition{From: store.StatePending, To: store.StateApproved, UserID: "user1", CredentialID: "cred1", AnsweredAt: now}
	// Challenges are made in untimed batches; each batch moves the clock on so
	// that earlier batches are collected and the store stays small.
	const batch = 1024
	ids := make([]string, batch)
	next, made := batch, 0
	for b.Loop() {
		if next == batch {
			b.StopTimer()
			now = now.Add(2 * time.Hour)
			approve.AnsweredAt = now
			for i := range ids {
				ids[i] = "ch" + strconv.Itoa(made)
				made++
				if _, err := s.CreateChallenge(ctx, benchmarkChallenge(ids[i], now), now); err != nil {
					b.Fatal(err)
				}
			}
			next = 0
			b.StartTimer()
		}
		if _, err := s.TransitionChallenge(ctx, ids[next], approve, now); err != nil {
			b.Fatal(err)
		}
		next++
	}
}

// BenchmarkCreateChallenge measures storing one challenge, garbage
// collection of expired ones included: the clock moves a second per call.
func BenchmarkCreateChallenge(b *testing.B) {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	for b.Loop() {
		now = now.Add(time.Second)
		if _, err := s.CreateChallenge(ctx, benchmarkChallenge("ch"+strconv.Itoa(i), now), now); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchmarkChallenge(id string, now time.Time) store.Challenge {
	return store.Challenge{
		ID:            id,
		UserID:        "user1",
		Action:        "transfer",
		State:         store.StatePending,
		Method:        "PUSH",
		Methods:       []string{"DEVICE", "PUSH"},
		Nonce:         make([]byte, 32),
		Details:       []byte(`{"message":"Pay 10 EUR","fields":[]}`),
		DetailsDigest: make([]byte, 32),
		CreatedAt:     now,
		ExpiresAt:     now.Add(5 * time.Minute),
	}
}
