package sqlitestore

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

func openTemp(t *testing.T, opts ...Option) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "deviceauth.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

// TestOpen_SetsPragmasOnEveryConnection reads the pragmas back from several
// connections of the pool at once.
func TestOpen_SetsPragmasOnEveryConnection(t *testing.T) {
	for _, tt := range []struct {
		name        string
		opts        []Option
		busy        int64
		synchronous int64 // 1 NORMAL, 2 FULL
	}{
		{"defaults", nil, 5000, 2},
		{"options", []Option{WithBusyTimeout(250 * time.Millisecond), WithFastCommits()}, 250, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, tt.opts...)
			ctx := t.Context()
			for i := range 3 {
				conn, err := s.db.Conn(ctx) // held, so the next one is another connection
				if err != nil {
					t.Fatalf("Conn: %v", err)
				}
				defer conn.Close()
				var mode string
				var busy, synchronous int64
				if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy); err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous); err != nil {
					t.Fatal(err)
				}
				if mode != "wal" || busy != tt.busy || synchronous != tt.synchronous {
					t.Errorf("connection %d: journal_mode %s, busy_timeout %d, synchronous %d; want wal, %d, %d",
						i, mode, busy, synchronous, tt.busy, tt.synchronous)
				}
			}
		})
	}
}

// TestWatch_PollerRunsOnlyWhileWatched: the poller starts with the first
// watcher, stops with the last, and starts again with a new one.
func TestWatch_PollerRunsOnlyWhileWatched(t *testing.T) {
	s := openTemp(t)
	polling := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.poller != nil
	}
	if polling() {
		t.Fatal("a poller runs before any Watch")
	}
	for range 2 {
		ctx1, cancel1 := contextWithCancel(t)
		ctx2, cancel2 := contextWithCancel(t)
		ch1, err := s.Watch(ctx1, "ch1")
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		ch2, err := s.Watch(ctx2, "ch2")
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		if !polling() {
			t.Fatal("no poller while two challenges are watched")
		}
		cancel1()
		waitClosed(t, ch1)
		if !polling() {
			t.Fatal("the poller stopped while a challenge is still watched")
		}
		cancel2()
		waitClosed(t, ch2)
		if polling() {
			t.Fatal("the poller still runs after the last watcher left")
		}
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}

// waitClosed reads ch until it is closed, failing t after 10 s.
func waitClosed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	timeout := time.After(10 * time.Second) // a failure bound only
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timeout:
			t.Fatal("the Watch channel was not closed within 10 s of its context's end")
		}
	}
}

// TestConsumeChallenge_ApprovedBetweenItsStatements: a challenge that the
// update finds pending but the read after it finds approved (a Respond
// approved it in between) is consumed by a second update, as if the
// Validate had come after the approval, rather than refused as APPROVED.
func TestConsumeChallenge_ApprovedBetweenItsStatements(t *testing.T) {
	s := openTemp(t, WithFastCommits())
	ctx, now := t.Context(), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cred := store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}
	if err := s.CreateCredential(ctx, cred, 0); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		DetailsDigest: []byte("digest"), CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := s.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	refused := 0
	s.consumeRefused = func() {
		if refused++; refused > 1 {
			return
		}
		if _, err := s.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved,
			UserID: "user1", CredentialID: "cred1", AnsweredAt: now}, now); err != nil {
			t.Errorf("TransitionChallenge: %v", err)
		}
	}
	got, kind, err := s.ConsumeChallenge(ctx, c.ID, store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte("digest")}, now)
	if err != nil || got.State != store.StateConsumed || kind != store.KindDevice {
		t.Fatalf("ConsumeChallenge = %s, %q, %v; want CONSUMED, device, nil", got.State, kind, err)
	}
	if refused != 1 {
		t.Errorf("the update was refused %d times, want once", refused)
	}

	// Consumed now, it stays refused: one update, one read, no second
	// round.
	refused = 0
	s.consumeRefused = func() { refused++ }
	got, _, err = s.ConsumeChallenge(ctx, c.ID, store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte("digest")}, now)
	if !errors.Is(err, store.ErrConflict) || got.State != store.StateConsumed {
		t.Fatalf("second ConsumeChallenge = %s, %v; want CONSUMED, ErrConflict", got.State, err)
	}
	if refused != 1 {
		t.Errorf("the second consume's update was refused %d times, want once", refused)
	}
}
