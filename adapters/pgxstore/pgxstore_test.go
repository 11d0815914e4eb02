package pgxstore_test

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/internal/testenv"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestConformance runs the whole store contract against the real server,
// each test in a schema of its own: 100 rounds of 64 racers (20 rounds in
// -short).
func TestConformance(t *testing.T) {
	pool := newPool(t, 20, noCommitFlush)
	storetest.Run(t, storetest.Harness{
		New: func(t testing.TB) store.Store {
			return openStore(t, pool, newSchema(t, pool))
		},
		// Another Store over the schema, on a pool of its own: what a
		// second instance holds.
		Twin: func(t testing.TB, st store.Store) store.Store {
			return openStore(t, newPool(t, 8, noCommitFlush), st.(*pgxstore.Store).Schema())
		},
		Rounds: rounds(100),
	})
}

// TestTransitionToConsumed_PassesTheRecord: the trigger of migration 0006
// gives the action record the pass time of a TransitionChallenge to
// CONSUMED (the record methods' consume), as of ConsumeChallenge.
func TestTransitionToConsumed_PassesTheRecord(t *testing.T) {
	pool := newPool(t, 2)
	storetest.ConsumedByTransition(t, openStore(t, pool, newSchema(t, pool)), time.Now())
}

// rounds is n, or 20 in -short.
func rounds(n int) int {
	if testing.Short() {
		return 20
	}
	return n
}

// noCommitFlush turns off synchronous_commit for the pool's sessions: the
// racing tests serialise thousands of commits on one row, and waiting for a
// WAL flush at each dominates their time. It changes durability after a
// server crash only — not atomicity or isolation, which are what the tests
// prove.
func noCommitFlush(cfg *pgxpool.Config) {
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
}

// randomName returns prefix followed by 12 random lower-case letters and
// digits: a valid unquoted identifier.
func randomName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:12])
}

// newPool opens a pool of at most maxConns connections to the test server
// (skipping the test when DEVICEAUTH_POSTGRES_URL is not set), under a
// random application_name unless configure sets another; it is closed when
// t ends.
func newPool(t testing.TB, maxConns int32, configure ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL(t))
	if err != nil {
		t.Fatalf("parse %s: %v", testenv.PostgresURLVar, err)
	}
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = randomName("deviceauth_test_")
	for _, c := range configure {
		c(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool.NewWithConfig: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newSchema creates a schema with a random name, dropped with everything in
// it when t ends.
func newSchema(t testing.TB, pool *pgxpool.Pool) string {
	t.Helper()
	name := randomName("deviceauth_test_")
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := pool.Exec(t.Context(), "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("CREATE SCHEMA: %v", err)
	}
	t.Cleanup(func() { dropSchema(t, pool, name) })
	return name
}

func dropSchema(t testing.TB, pool *pgxpool.Pool, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("DROP SCHEMA %s: %v", name, err)
	}
}

// openStore returns a migrated Store over pool in schema, closed when t
// ends.
func openStore(t testing.TB, pool *pgxpool.Pool, schema string, opts ...pgxstore.Option) *pgxstore.Store {
	t.Helper()
	st, err := pgxstore.New(pool, append([]pgxstore.Option{pgxstore.WithSchema(schema)}, opts...)...)
	if err != nil {
		t.Fatalf("pgxstore.New: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// eventually fails t unless cond holds within limit, checking every few
// milliseconds: a bound on a wait for something to happen, never a wait for
// time to pass.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantWakeUp fails t unless a value arrives on ch within limit.
func wantWakeUp(t testing.TB, ch <-chan struct{}, limit time.Duration, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("%s: the Watch channel was closed, want a wake-up", what)
		}
	case <-time.After(limit): // a failure bound, not a wait for time to pass
		t.Fatalf("%s: no wake-up within %v", what, limit)
	}
}
