package pgxstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/internal/pgxtrace"
	"github.com/deviceauth/deviceauth/store"
)

// The tests here cover the races that a statement's snapshot cannot see:
// a write that another transaction commits while the statement waits for
// its row lock. Each holds that write open in a transaction of its own,
// starts the Store's call, waits (polling pg_stat_activity, never a sleep)
// until the call's backend waits for a lock, then commits.

// snapshotEnv is a Store whose pool's backends carry a known
// application_name, with its round trips counted, and a second pool for the
// transaction that races it and for watching the Store's backend.
type snapshotEnv struct {
	st      *pgxstore.Store
	schema  string
	appName string
	trips   *pgxtrace.RoundTrips
	other   *pgxpool.Pool
	now     time.Time
}

func newSnapshotEnv(t *testing.T) *snapshotEnv {
	t.Helper()
	e := &snapshotEnv{appName: randomName("deviceauth_snapshot_"), trips: &pgxtrace.RoundTrips{},
		now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	pool := newPool(t, 2, func(cfg *pgxpool.Config) {
		cfg.ConnConfig.RuntimeParams["application_name"] = e.appName
		cfg.ConnConfig.Tracer = e.trips
	})
	e.schema = newSchema(t, pool)
	e.st = openStore(t, pool, e.schema)
	e.other = newPool(t, 2)
	if err := e.st.CreateCredential(t.Context(), store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice,
		Algorithm: "ES256", PublicKey: []byte("spki"), CreatedAt: e.now}, 0); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	return e
}

// challenge is a pending challenge of user1.
func (e *snapshotEnv) challenge(id, key string) store.Challenge {
	return store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending,
		Method: "DEVICE", Methods: []string{"DEVICE"}, DetailsDigest: []byte("digest"), IdempotencyKey: key,
		CreatedAt: e.now, ExpiresAt: e.now.Add(5 * time.Minute)}
}

// race runs sql (with args) in a transaction on the other pool, then call
// in a goroutine; once call's backend waits for a lock, it commits the
// transaction and returns how many statements call ran (a first run's
// prepare is not counted).
func (e *snapshotEnv) race(t *testing.T, call func(), sql string, args ...any) int64 {
	t.Helper()
	ctx := t.Context()
	tx, err := e.other.Begin(ctx)
	if err != nil {
		t.Fatalf("BEGIN: %v", err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	before := e.trips.Queries.Load()
	done := make(chan struct{})
	go func() {
		defer close(done)
		call()
	}()
	eventually(t, 10*time.Second, "the store's statement waiting for a lock", func() bool {
		var waiting bool
		err := e.other.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE application_name = $1 AND wait_event_type = 'Lock')`, e.appName).Scan(&waiting)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		return waiting
	})
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("COMMIT: %v", err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a failure bound, not a wait for time to pass
		t.Fatal("the store's call did not return after the racing commit")
	}
	return e.trips.Queries.Load() - before
}

func (e *snapshotEnv) table(name string) string {
	return pgx.Identifier{e.schema, name}.Sanitize()
}

// A create that holds the idempotency key commits while BeginChallenge's
// claim waits for it: the statement cannot see the holder, so a second one
// reads it, and nothing else is stored.
func TestBeginChallenge_KeyHolderCommittedDuringStatement(t *testing.T) {
	e := newSnapshotEnv(t)
	holder := e.challenge("holder", "key1")
	var (
		begun store.Begun
		err   error
	)
	trips := e.race(t, func() {
		begun, err = e.st.BeginChallenge(context.Background(), store.Begin{Challenge: e.challenge("late", "key1")}, e.now)
	}, `WITH c AS (
			INSERT INTO `+e.table("challenges")+` (id, user_id, action, state, method, verification_code,
				idempotency_key, client_ip, user_agent, origin, created_at, expires_at, credential_id,
				deny_reason, attempts, claimed_by, details_digest, methods)
			VALUES ($1, $2, $3, $4, $5, '', $6, '', '', '', $7, $8, '', '', 0, '', $9, $10)
		)
		INSERT INTO `+e.table("challenge_idempotency")+` (user_id, key, challenge_id, expires_at)
		VALUES ($2, $6, $1, $8)`,
		holder.ID, holder.UserID, holder.Action, string(holder.State), holder.Method, holder.IdempotencyKey,
		holder.CreatedAt, holder.ExpiresAt, holder.DetailsDigest, holder.Methods)
	if err != nil {
		t.Fatalf("BeginChallenge: %v", err)
	}
	if begun.Challenge.ID != holder.ID || begun.Counter != 0 || !store.SameKinds(begun.Kinds, []store.CredentialKind{store.KindDevice}) {
		t.Fatalf("BeginChallenge = %+v, want the holder %q, counter 0, kinds [device]", begun, holder.ID)
	}
	if trips != 2 {
		t.Errorf("BeginChallenge ran %d statements, want 2 (its own, then the holder's read)", trips)
	}
	if _, err := e.st.GetChallenge(t.Context(), "late", e.now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetChallenge(late) = %v, want ErrNotFound: nothing but the holder is stored", err)
	}
}

// approve moves challenge id to APPROVED by cred1.
func (e *snapshotEnv) approve(t *testing.T, id string) {
	t.Helper()
	if _, err := e.st.TransitionChallenge(t.Context(), id, store.Transition{From: store.StatePending,
		To: store.StateApproved, UserID: "user1", CredentialID: "cred1", AnsweredAt: e.now}, e.now); err != nil {
		t.Fatalf("TransitionChallenge: %v", err)
	}
}

// Another consumer commits while ConsumeChallenge waits for the row: the
// answer is ErrConflict with the record as that one left it (CONSUMED, not
// the APPROVED of the statement's snapshot), in one statement.
func TestConsumeChallenge_ConsumedDuringStatement(t *testing.T) {
	e := newSnapshotEnv(t)
	c := e.challenge("ch1", "")
	if _, err := e.st.CreateChallenge(t.Context(), c, e.now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	e.approve(t, c.ID)
	var (
		got  store.Challenge
		kind store.CredentialKind
		err  error
	)
	trips := e.race(t, func() {
		got, kind, err = e.st.ConsumeChallenge(context.Background(), c.ID,
			store.Binding{UserID: c.UserID, Action: c.Action, DetailsDigest: c.DetailsDigest}, e.now)
	}, `UPDATE `+e.table("challenges")+` SET state = 'CONSUMED' WHERE id = $1`, c.ID)
	if !errors.Is(err, store.ErrConflict) || got.State != store.StateConsumed || got.ID != c.ID || kind != "" {
		t.Fatalf("ConsumeChallenge = %q %q, %v; want the CONSUMED record, no kind, ErrConflict", got.State, kind, err)
	}
	if trips != 1 {
		t.Errorf("ConsumeChallenge ran %d statements, want 1", trips)
	}
}

// The challenge is approved while ConsumeChallenge runs: the statement's
// snapshot has it pending, so a second statement consumes it.
func TestConsumeChallenge_ApprovedDuringStatement(t *testing.T) {
	e := newSnapshotEnv(t)
	c := e.challenge("ch1", "")
	if _, err := e.st.CreateChallenge(t.Context(), c, e.now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	var (
		got  store.Challenge
		kind store.CredentialKind
		err  error
	)
	trips := e.race(t, func() {
		got, kind, err = e.st.ConsumeChallenge(context.Background(), c.ID,
			store.Binding{UserID: c.UserID, Action: c.Action, DetailsDigest: c.DetailsDigest}, e.now)
	}, `UPDATE `+e.table("challenges")+` SET state = 'APPROVED', credential_id = 'cred1' WHERE id = $1`, c.ID)
	if err != nil || got.State != store.StateConsumed || kind != store.KindDevice {
		t.Fatalf("ConsumeChallenge = %q %q, %v; want CONSUMED by a device", got.State, kind, err)
	}
	if trips != 2 {
		t.Errorf("ConsumeChallenge ran %d statements, want 2", trips)
	}
}
