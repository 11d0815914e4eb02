package pgxstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/testenv"
	"github.com/deviceauth/deviceauth/store"
)

// errServerDown is what a faultyServer's connection attempts fail with
// while it is down.
var errServerDown = errors.New("test: the database is down")

// faultyServer makes the shared server look down to one pool, and only to
// it: the pool's connections carry their own application_name, so they can
// be told apart from everyone else's and terminated; a BeforeConnect hook
// refuses new ones while the server is down.
type faultyServer struct {
	t       *testing.T
	appName string
	down    atomic.Bool
	admin   *pgx.Conn // a connection of its own, never terminated
}

func newFaultyServer(t *testing.T) *faultyServer {
	t.Helper()
	f := &faultyServer{t: t, appName: randomName("deviceauth_fault_")}
	cfg, err := pgx.ParseConfig(testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = randomName("deviceauth_admin_")
	f.admin, err = pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	t.Cleanup(func() { f.admin.Close(context.Background()) })
	return f
}

// configure is a newPool option that puts the pool behind f.
func (f *faultyServer) configure(cfg *pgxpool.Config) {
	cfg.ConnConfig.RuntimeParams["application_name"] = f.appName
	cfg.BeforeConnect = func(context.Context, *pgx.ConnConfig) error {
		if f.down.Load() {
			return errServerDown
		}
		return nil
	}
}

// Down refuses new connections, then terminates the pool's backends until
// none is left (a backend that was connecting when the flag was set shows
// up late, and a terminated one lingers a moment).
func (f *faultyServer) Down() {
	f.t.Helper()
	f.down.Store(true)
	eventually(f.t, 10*time.Second, "terminating the pool's backends", func() bool {
		return len(f.terminateAll()) == 0
	})
}

// terminateAll terminates every backend with the pool's application_name
// and returns their pids. pg_terminate_backend is called in the SELECT
// list, which PostgreSQL evaluates only for rows that passed the WHERE: in
// the WHERE itself it could run before the application_name test, on
// everyone's backends.
func (f *faultyServer) terminateAll() []int32 {
	f.t.Helper()
	rows, _ := f.admin.Query(f.t.Context(), `SELECT pid, pg_terminate_backend(pid)
		FROM pg_stat_activity WHERE application_name = $1`, f.appName)
	pids, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (int32, error) {
		var (
			pid int32
			ok  bool
		)
		err := row.Scan(&pid, &ok)
		return pid, err
	})
	if err != nil {
		f.t.Fatalf("pg_terminate_backend: %v", err)
	}
	return pids
}

// Up lets connections through again.
func (f *faultyServer) Up() { f.down.Store(false) }

// listenerPID returns the pid of the backend of the pool's that last ran
// LISTEN — the Store's listening connection — or 0 when there is none.
func (f *faultyServer) listenerPID() int32 {
	f.t.Helper()
	var pid int32
	err := f.admin.QueryRow(f.t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE application_name = $1 AND query ILIKE 'LISTEN %'`, f.appName).Scan(&pid)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0
	}
	if err != nil {
		f.t.Fatalf("finding the listener: %v", err)
	}
	return pid
}

// terminate ends one backend, which must be the pool's.
func (f *faultyServer) terminate(pid int32) {
	f.t.Helper()
	var ok bool
	err := f.admin.QueryRow(f.t.Context(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE pid = $1 AND application_name = $2`, pid, f.appName).Scan(&ok)
	if err != nil || !ok {
		f.t.Fatalf("terminating backend %d: %v, %v", pid, ok, err)
	}
}

// TestOutage runs the fail-closed proof with the database made unreachable
// for the store's pool: all its connections terminated and new ones refused.
func TestOutage(t *testing.T) {
	server := newFaultyServer(t)
	pool := newPool(t, 8, server.configure)
	schema := newSchema(t, pool)
	st := openStore(t, pool, schema)
	instancetest.Outage(t, st, server.Down, server.Up)
}

// TestWatch_ReconnectsWhenListenConnectionIsKilled kills the Store's LISTEN
// connection: the Store must open another, wake its watchers (changes made
// meanwhile were not notified), and be woken by later changes again.
func TestWatch_ReconnectsWhenListenConnectionIsKilled(t *testing.T) {
	server := newFaultyServer(t)
	pool := newPool(t, 4, server.configure)
	schema := newSchema(t, pool)
	// A poll interval longer than the test, so that the listener never pings
	// and its backend's last query stays LISTEN.
	st := openStore(t, pool, schema, pgxstore.WithPollInterval(time.Hour))
	writer := openStore(t, newPool(t, 4), schema)
	ctx := t.Context()
	now := time.Now().UTC()
	for _, id := range []string{"ch1", "ch2"} {
		c := store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending,
			CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
		if _, err := writer.CreateChallenge(ctx, c, now); err != nil {
			t.Fatalf("CreateChallenge: %v", err)
		}
	}
	before, err := st.Watch(ctx, "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	killed := server.listenerPID()
	if killed == 0 {
		t.Fatal("no backend of the store's pool has run LISTEN after Watch returned")
	}
	server.terminate(killed)

	eventually(t, 10*time.Second, "a new LISTEN connection", func() bool {
		pid := server.listenerPID()
		return pid != 0 && pid != killed
	})
	wantWakeUp(t, before, 10*time.Second, "the watcher from before the reconnection")

	// Watch returns once the new connection listens; anything already in its
	// channel is from the reconnection, so drain it first.
	after, err := st.Watch(ctx, "ch2")
	if err != nil {
		t.Fatalf("Watch after the reconnection: %v", err)
	}
	select {
	case <-after:
	default:
	}
	if _, err := writer.TransitionChallenge(ctx, "ch2", store.Transition{From: store.StatePending, To: store.StateApproved}, now); err != nil {
		t.Fatalf("TransitionChallenge: %v", err)
	}
	wantWakeUp(t, after, 10*time.Second, "Watch after the reconnection, woken by another store's change")
}

// TestWatch_FailsWhileServerIsDown: with no connection to LISTEN on, Watch
// reports the driver error instead of promising wake-ups it cannot give,
// and works again once the server is back.
func TestWatch_FailsWhileServerIsDown(t *testing.T) {
	server := newFaultyServer(t)
	pool := newPool(t, 4, server.configure)
	schema := newSchema(t, pool)
	st := openStore(t, pool, schema, pgxstore.WithPollInterval(50*time.Millisecond))
	server.Down()
	// The pool may still hold a terminated connection, so the error is
	// either the hook's or the dead connection's.
	if _, err := st.Watch(t.Context(), "ch1"); err == nil || errors.Is(err, store.ErrClosed) {
		t.Fatalf("Watch while the server is down: got %v, want a driver error", err)
	}
	server.Up()
	eventually(t, 10*time.Second, "Watch after the server came back", func() bool {
		_, err := st.Watch(t.Context(), "ch1")
		return err == nil
	})
}
