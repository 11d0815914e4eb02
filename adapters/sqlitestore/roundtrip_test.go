package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/store"
)

// A challenge cycle (track → fetch → respond → validate, docs/architecture.md#performance-model) makes
// these store calls, with the rate limits off (each limit is one
// IncrementCounter more):
//
//	Track:          BeginChallenge (for a user with device keys only)
//	FetchChallenge: GetChallenge
//	Respond:        GetChallengeCredential, TransitionChallenge (PENDING → APPROVED,
//	                with CredentialUsed)
//	Validate:       ConsumeChallenge
//
// Each is one SQL statement, but TransitionChallenge with CredentialUsed,
// which updates the challenge and the credential in one immediate
// transaction: BEGIN, two UPDATEs, COMMIT.
var cycleCalls = map[string]int{
	"BeginChallenge": 1, "GetChallenge": 1, "GetChallengeCredential": 1, "TransitionChallenge": 1, "ConsumeChallenge": 1,
}

// cycleStepStatements are the SQL statements of each step of a cycle,
// indexed by cycletest step.
var cycleStepStatements = [cycletest.Steps]int64{
	cycletest.Track:    1,
	cycletest.Fetch:    1,
	cycletest.Respond:  5,
	cycletest.Validate: 1,
}

const (
	cycleCallCount      = 5
	cycleStatementCount = 8
)

// TestRoundTrips_ChallengeCycle pins the store calls and SQL statements of
// one challenge cycle, and of each of its steps, after a warm-up.
func TestRoundTrips_ChallengeCycle(t *testing.T) {
	st := openMigrated(t, tempPath(t))
	counting := &countingStore{Store: st}
	e := cycletest.New(t, counting)
	e.Cycle(t, nil) // warm-up: the statement cache, the key cache

	const cycles = 10
	counting.reset()
	var steps [cycletest.Steps]int64
	statements := sqlitestore.Statements(st)
	last := statements
	for range cycles {
		e.Cycle(t, func(step int) {
			now := sqlitestore.Statements(st)
			steps[step] += now - last
			last = now
		})
	}
	statements = sqlitestore.Statements(st) - statements

	calls := counting.snapshot()
	total := 0
	for m, n := range calls {
		if n%cycles != 0 {
			t.Errorf("%s: %d calls in %d cycles, not a whole number per cycle", m, n, cycles)
		}
		calls[m] = n / cycles
		total += n / cycles
	}
	if !maps.Equal(calls, cycleCalls) {
		t.Errorf("store calls per cycle: got %v, want %v", calls, cycleCalls)
	}
	if total != cycleCallCount {
		t.Errorf("store calls per cycle: got %d, want %d", total, cycleCallCount)
	}
	if statements != cycles*cycleStatementCount {
		t.Errorf("SQL statements: got %d in %d cycles, want %d per cycle", statements, cycles, cycleStatementCount)
	}
	for step, n := range steps {
		if n != cycles*cycleStepStatements[step] {
			t.Errorf("%s: %d SQL statements in %d cycles, want %d per cycle",
				cycletest.StepNames[step], n, cycles, cycleStepStatements[step])
		}
	}
}

// TestRoundTrips_PerMethod pins the statements of each method on its
// success and its failure paths: one statement, and a second, cheap read
// only where a compare-and-set changed nothing and must tell ErrNotFound
// from ErrConflict (or ErrLimit), or BeginChallenge must tell why it
// created nothing. Transactions count BEGIN and COMMIT (or ROLLBACK).
func TestRoundTrips_PerMethod(t *testing.T) {
	st := openMigrated(t, tempPath(t))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	challenge := func(id, key string) store.Challenge {
		return store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending,
			IdempotencyKey: key, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	}
	cred := store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}
	approve := store.Transition{From: store.StatePending, To: store.StateApproved}
	answer := store.Transition{From: store.StatePending, To: store.StateApproved, UserID: "user1",
		CredentialID: "cred1", AnsweredAt: now, CredentialUsed: true}
	binding := store.Binding{UserID: "user1", Action: "transfer"}
	begin := func(c store.Challenge, kinds ...store.CredentialKind) store.Begin {
		return store.Begin{Challenge: c, Counter: "wrong-codes", CounterLimit: 1, Kinds: kinds}
	}
	tests := []struct {
		name string
		call func(ctx context.Context) error
		want int64
	}{
		{"CreateCredential", func(ctx context.Context) error { return st.CreateCredential(ctx, cred, 1) }, 1},
		{"CreateCredential over the limit", func(ctx context.Context) error {
			c := cred
			c.ID = "cred2"
			return ignore(st.CreateCredential(ctx, c, 1), store.ErrLimit)
		}, 2},
		{"GetCredential", func(ctx context.Context) error { _, err := st.GetCredential(ctx, "cred1"); return err }, 1},
		{"ListCredentials", func(ctx context.Context) error { _, err := st.ListCredentials(ctx, "user1"); return err }, 1},
		{"UpdateCredential", func(ctx context.Context) error {
			_, err := st.UpdateCredential(ctx, "user1", "cred1", store.CredentialUpdate{LastUsedAt: now})
			return err
		}, 1},
		{"UpdateCredential of another user's", func(ctx context.Context) error {
			_, err := st.UpdateCredential(ctx, "user2", "cred1", store.CredentialUpdate{LastUsedAt: now})
			return ignore(err, store.ErrNotFound)
		}, 2},
		{"CreateChallenge", func(ctx context.Context) error {
			_, err := st.CreateChallenge(ctx, challenge("ch1", ""), now)
			return err
		}, 1},
		{"CreateChallenge with an idempotency key", func(ctx context.Context) error {
			_, err := st.CreateChallenge(ctx, challenge("ch2", "key1"), now)
			return err
		}, 4},
		{"CreateChallenge repeating an idempotency key", func(ctx context.Context) error {
			_, err := st.CreateChallenge(ctx, challenge("ch3", "key1"), now)
			return err
		}, 3},
		{"GetChallenge", func(ctx context.Context) error { _, err := st.GetChallenge(ctx, "ch1", now); return err }, 1},
		{"ListPendingChallenges", func(ctx context.Context) error { _, err := st.ListPendingChallenges(ctx, "user1", now); return err }, 1},
		{"RecordAttempt", func(ctx context.Context) error {
			_, err := st.RecordAttempt(ctx, "ch1", store.StatePending, now)
			return err
		}, 1},
		{"TransitionChallenge", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch1", approve, now)
			return err
		}, 1},
		{"TransitionChallenge that loses", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch1", approve, now)
			return ignore(err, store.ErrConflict)
		}, 2},
		{"TransitionChallenge of a missing challenge", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch9", approve, now)
			return ignore(err, store.ErrNotFound)
		}, 2},
		{"Watch", func(ctx context.Context) error { _, err := st.Watch(ctx, "ch1"); return err }, 1},
		{"PutRegistrationToken", func(ctx context.Context) error {
			return st.PutRegistrationToken(ctx, store.RegistrationToken{Hash: []byte("h"), UserID: "user1", ExpiresAt: now.Add(time.Minute)})
		}, 1},
		{"ConsumeRegistrationToken", func(ctx context.Context) error {
			_, err := st.ConsumeRegistrationToken(ctx, []byte("h"), now)
			return err
		}, 1},
		{"IncrementCounter", func(ctx context.Context) error { _, err := st.IncrementCounter(ctx, "k", time.Minute, now); return err }, 1},
		{"Counter", func(ctx context.Context) error { _, err := st.Counter(ctx, "k", now); return err }, 1},
		{"ClaimNonce", func(ctx context.Context) error { return st.ClaimNonce(ctx, "n", now.Add(time.Minute), now) }, 1},
		{"BeginChallenge", func(ctx context.Context) error {
			return wantBegun(st.BeginChallenge(ctx, begin(challenge("ch4", ""), store.KindDevice), now))
		}, 1},
		{"BeginChallenge refused by the counter", func(ctx context.Context) error {
			b := begin(challenge("ch5", ""), store.KindDevice)
			b.Counter = "k" // 1, from IncrementCounter
			return wantNotBegun(st.BeginChallenge(ctx, b, now))
		}, 2},
		{"BeginChallenge for other kinds", func(ctx context.Context) error {
			return wantNotBegun(st.BeginChallenge(ctx, begin(challenge("ch5", ""), store.KindPasskey), now))
		}, 2},
		{"BeginChallenge of a user without credentials", func(ctx context.Context) error {
			c := challenge("ch5", "")
			c.UserID = "user2"
			return wantNotBegun(st.BeginChallenge(ctx, begin(c), now))
		}, 2},
		{"BeginChallenge repeating an idempotency key", func(ctx context.Context) error {
			return wantBegun(st.BeginChallenge(ctx, begin(challenge("ch5", "key1"), store.KindDevice), now))
		}, 5},
		{"BeginChallenge with an existing ID", func(ctx context.Context) error {
			_, err := st.BeginChallenge(ctx, begin(challenge("ch1", ""), store.KindDevice), now)
			return ignore(err, store.ErrConflict)
		}, 3},
		{"GetChallengeCredential", func(ctx context.Context) error {
			_, _, err := st.GetChallengeCredential(ctx, "ch4", "cred1", now)
			return err
		}, 1},
		{"GetChallengeCredential of a missing credential", func(ctx context.Context) error {
			_, _, err := st.GetChallengeCredential(ctx, "ch4", "cred9", now)
			return ignore(err, store.ErrNotFound)
		}, 1},
		{"TransitionChallenge with CredentialUsed", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch4", answer, now)
			return err
		}, 4},
		{"TransitionChallenge with CredentialUsed that loses", func(ctx context.Context) error {
			_, err := st.TransitionChallenge(ctx, "ch4", answer, now)
			return ignore(err, store.ErrConflict)
		}, 4},
		{"ConsumeChallenge refused by the credential's kind", func(ctx context.Context) error {
			b := binding
			b.Kinds = []store.CredentialKind{store.KindPasskey}
			_, _, err := st.ConsumeChallenge(ctx, "ch4", b, now)
			return ignore(err, store.ErrConflict)
		}, 2},
		{"ConsumeChallenge", func(ctx context.Context) error {
			_, _, err := st.ConsumeChallenge(ctx, "ch4", binding, now)
			return err
		}, 1},
		{"ConsumeChallenge of a consumed challenge", func(ctx context.Context) error {
			_, _, err := st.ConsumeChallenge(ctx, "ch4", binding, now)
			return ignore(err, store.ErrConflict)
		}, 2},
		{"ConsumeChallenge whose credential is gone", func(ctx context.Context) error {
			_, _, err := st.ConsumeChallenge(ctx, "ch1", binding, now) // approved without a credential
			return ignore(err, store.ErrRevoked)
		}, 1},
		{"ConsumeChallenge of a missing challenge", func(ctx context.Context) error {
			_, _, err := st.ConsumeChallenge(ctx, "ch9", binding, now)
			return ignore(err, store.ErrNotFound)
		}, 2},
		{"DeleteCredential", func(ctx context.Context) error { return st.DeleteCredential(ctx, "user1", "cred1") }, 1},
		{"DeleteUserCredentials", func(ctx context.Context) error { _, err := st.DeleteUserCredentials(ctx, "user1"); return err }, 1},
	}
	for _, tt := range tests {
		before := sqlitestore.Statements(st)
		if err := tt.call(t.Context()); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := sqlitestore.Statements(st) - before; got != tt.want {
			t.Errorf("%s: %d statements, want %d", tt.name, got, tt.want)
		}
	}
}

// wantBegun is err, or an error when begun holds no challenge.
func wantBegun(begun store.Begun, err error) error {
	if err == nil && begun.Challenge.ID == "" {
		return errors.New("no challenge created or found")
	}
	return err
}

// wantNotBegun is err, or an error when begun holds a challenge.
func wantNotBegun(begun store.Begun, err error) error {
	if err == nil && begun.Challenge.ID != "" {
		return fmt.Errorf("challenge %s created or found", begun.Challenge.ID)
	}
	return err
}

// ignore is err, or nil when err is want.
func ignore(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return err
}

// BenchmarkChallengeCycleSQLite is one whole cycle through Service calls
// (rate limits off) over memstore and over sqlitestore on a file: track →
// fetch → the device signs → respond → validate. Compare it with
// BenchmarkBaselineSignVerify of the same run.
func BenchmarkChallengeCycleSQLite(b *testing.B) {
	cycletest.Benchmark(b, "SQLite", func(tb testing.TB) store.Store { return openMigrated(tb, tempPath(tb)) })
}

// BenchmarkBaselineSignVerify is the floor of a challenge cycle: one ES256
// signature by the device and one verification by the server (the root
// package's benchmark, here so that both run in one process).
func BenchmarkBaselineSignVerify(b *testing.B) { cycletest.BaselineSignVerify(b) }

// countingStore is a store.Store (and store.CycleStore: the store it
// wraps must be one) that counts the calls of each method.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(method string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = make(map[string]int)
	}
	c.calls[method]++
}

func (c *countingStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = nil
}

func (c *countingStore) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.calls)
}

func (c *countingStore) CreateCredential(ctx context.Context, cr store.Credential, max int) error {
	c.count("CreateCredential")
	return c.Store.CreateCredential(ctx, cr, max)
}

func (c *countingStore) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	c.count("GetCredential")
	return c.Store.GetCredential(ctx, id)
}

func (c *countingStore) ListCredentials(ctx context.Context, userID string) ([]store.Credential, error) {
	c.count("ListCredentials")
	return c.Store.ListCredentials(ctx, userID)
}

func (c *countingStore) UpdateCredential(ctx context.Context, userID, id string, u store.CredentialUpdate) (store.Credential, error) {
	c.count("UpdateCredential")
	return c.Store.UpdateCredential(ctx, userID, id, u)
}

func (c *countingStore) DeleteCredential(ctx context.Context, userID, id string) error {
	c.count("DeleteCredential")
	return c.Store.DeleteCredential(ctx, userID, id)
}

func (c *countingStore) DeleteUserCredentials(ctx context.Context, userID string) (int, error) {
	c.count("DeleteUserCredentials")
	return c.Store.DeleteUserCredentials(ctx, userID)
}

func (c *countingStore) CreateChallenge(ctx context.Context, ch store.Challenge, now time.Time) (store.Challenge, error) {
	c.count("CreateChallenge")
	return c.Store.CreateChallenge(ctx, ch, now)
}

func (c *countingStore) GetChallenge(ctx context.Context, id string, now time.Time) (store.Challenge, error) {
	c.count("GetChallenge")
	return c.Store.GetChallenge(ctx, id, now)
}

func (c *countingStore) TransitionChallenge(ctx context.Context, id string, t store.Transition, now time.Time) (store.Challenge, error) {
	c.count("TransitionChallenge")
	return c.Store.TransitionChallenge(ctx, id, t, now)
}

func (c *countingStore) RecordAttempt(ctx context.Context, id string, from store.State, now time.Time) (store.Challenge, error) {
	c.count("RecordAttempt")
	return c.Store.RecordAttempt(ctx, id, from, now)
}

func (c *countingStore) ListPendingChallenges(ctx context.Context, userID string, now time.Time) ([]store.Challenge, error) {
	c.count("ListPendingChallenges")
	return c.Store.ListPendingChallenges(ctx, userID, now)
}

func (c *countingStore) Watch(ctx context.Context, id string) (<-chan struct{}, error) {
	c.count("Watch")
	return c.Store.Watch(ctx, id)
}

func (c *countingStore) PutRegistrationToken(ctx context.Context, t store.RegistrationToken) error {
	c.count("PutRegistrationToken")
	return c.Store.PutRegistrationToken(ctx, t)
}

func (c *countingStore) ConsumeRegistrationToken(ctx context.Context, hash []byte, now time.Time) (store.RegistrationToken, error) {
	c.count("ConsumeRegistrationToken")
	return c.Store.ConsumeRegistrationToken(ctx, hash, now)
}

func (c *countingStore) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	c.count("BeginChallenge")
	return c.Store.(store.CycleStore).BeginChallenge(ctx, b, now)
}

func (c *countingStore) GetChallengeCredential(ctx context.Context, id, credentialID string, now time.Time) (store.Challenge, store.Credential, error) {
	c.count("GetChallengeCredential")
	return c.Store.(store.CycleStore).GetChallengeCredential(ctx, id, credentialID, now)
}

func (c *countingStore) ConsumeChallenge(ctx context.Context, id string, b store.Binding, now time.Time) (store.Challenge, store.CredentialKind, error) {
	c.count("ConsumeChallenge")
	return c.Store.(store.CycleStore).ConsumeChallenge(ctx, id, b, now)
}

func (c *countingStore) IncrementCounter(ctx context.Context, key string, window time.Duration, now time.Time) (int64, error) {
	c.count("IncrementCounter")
	return c.Store.IncrementCounter(ctx, key, window, now)
}

func (c *countingStore) Counter(ctx context.Context, key string, now time.Time) (int64, error) {
	c.count("Counter")
	return c.Store.Counter(ctx, key, now)
}

func (c *countingStore) ClaimNonce(ctx context.Context, nonce string, expiresAt, now time.Time) error {
	c.count("ClaimNonce")
	return c.Store.ClaimNonce(ctx, nonce, expiresAt, now)
}
