package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// Rounds of the racing tests. storetest's default is 100; under -race on two
// cores each round of 64 racers costs about 0.1 s per racing subtest here,
// so the conformance suite runs fewer to keep the package near a minute.
const (
	conformanceRounds   = 30
	manyInstancesRounds = 100
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openMigrated opens the database file path, migrates it and closes it
// when t ends.
//
// Unless told otherwise it uses WithFastCommits: an fsync per commit
// protects against power cuts, which these tests do not simulate, and
// would only slow them; TestOpen_SetsPragmasOnEveryConnection checks that
// the default is FULL.
func openMigrated(t testing.TB, path string, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	if len(opts) == 0 {
		opts = []sqlitestore.Option{sqlitestore.WithFastCommits()}
	}
	st, err := sqlitestore.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return st
}

// tempPath is a database file in a new temporary directory of t.
func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "deviceauth.db")
}

// rawDB opens path with the bare driver, for a test to look at or lock the
// file behind the store's back; it is closed when t ends.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("sql.Open: %v", err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	var paths sync.Map // *sqlitestore.Store → its file, for Twin
	storetest.Run(t, storetest.Harness{
		New: func(t testing.TB) store.Store {
			path := tempPath(t)
			st := openMigrated(t, path)
			paths.Store(st, path)
			return st
		},
		// A second Open of the file: what a second process holds.
		Twin: func(t testing.TB, st store.Store) store.Store {
			path, _ := paths.Load(st)
			return openMigrated(t, path.(string))
		},
		Rounds: conformanceRounds,
	})
}

// TestTransitionToConsumed_PassesTheRecord: the trigger of migration 0005
// gives the action record the pass time of a TransitionChallenge to
// CONSUMED (the record methods' consume), as of ConsumeChallenge.
func TestTransitionToConsumed_PassesTheRecord(t *testing.T) {
	storetest.ConsumedByTransition(t, openMigrated(t, tempPath(t)), time.Now())
}

// TestManyInstances runs the many-instances proof over two Store values,
// two Open calls on one file: what two processes sharing the file see.
// Its wake-up subtest crosses the handles through the data_version poller.
func TestManyInstances(t *testing.T) {
	path := tempPath(t)
	a, b := openMigrated(t, path), openMigrated(t, path)
	instancetest.ManyInstances(t, a, b, manyInstancesRounds)
}

// TestWatch_WakesAcrossHandles: a change made through one Store value wakes
// a waiter of another over the same file, within a bound.
func TestWatch_WakesAcrossHandles(t *testing.T) {
	path := tempPath(t)
	a, b := openMigrated(t, path), openMigrated(t, path)
	ctx, now := t.Context(), time.Now()
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := b.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	woken, err := a.Watch(ctx, c.ID)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	for _, tr := range []store.Transition{
		{From: store.StatePending, To: store.StateApproved, CredentialID: "cred1"},
		{From: store.StateApproved, To: store.StateConsumed},
	} {
		if _, err := b.TransitionChallenge(ctx, c.ID, tr, now); err != nil {
			t.Fatalf("TransitionChallenge to %s on b: %v", tr.To, err)
		}
		select {
		case <-woken:
		case <-time.After(10 * time.Second): // a failure bound only
			t.Fatalf("the waiter on a was not woken within 10 s of the transition to %s on b", tr.To)
		}
	}
}

// TestWatch_OfMissingChallengeWakesWhenCreatedElsewhere: watching an ID
// that does not exist yet is fine, and its creation through another handle
// is a change.
func TestWatch_OfMissingChallengeWakesWhenCreatedElsewhere(t *testing.T) {
	path := tempPath(t)
	a, b := openMigrated(t, path), openMigrated(t, path)
	ctx, now := t.Context(), time.Now()
	woken, err := a.Watch(ctx, "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := b.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	select {
	case <-woken:
	case <-time.After(10 * time.Second): // a failure bound only
		t.Fatal("the waiter on a was not woken within 10 s of the challenge's creation on b")
	}
}

// TestOutage_FileLockedByAnotherConnection runs the outage proof with a
// real SQLite outage: another connection (a backup, a migration, a stuck
// process) holds the file's write lock. Every write then fails with
// SQLITE_BUSY after the busy timeout, wrapped; reads go on, as WAL allows.
// Releasing the lock ends the outage without a new Store or Service.
func TestOutage_FileLockedByAnotherConnection(t *testing.T) {
	path := tempPath(t)
	st := openMigrated(t, path, sqlitestore.WithBusyTimeout(100*time.Millisecond))
	holder := newLockHolder(t, path)
	instancetest.Outage(t, st, holder.lock, holder.unlock)
}

// TestBusy_IsAWrappedSQLiteBusyError: a write that finds the file locked
// for longer than the busy timeout fails with an error that wraps the
// driver's SQLITE_BUSY, says what happened, and is none of the store's
// sentinels.
func TestBusy_IsAWrappedSQLiteBusyError(t *testing.T) {
	path := tempPath(t)
	st := openMigrated(t, path, sqlitestore.WithBusyTimeout(50*time.Millisecond))
	holder := newLockHolder(t, path)
	holder.lock()
	defer holder.unlock()

	start := time.Now()
	_, err := st.IncrementCounter(t.Context(), "key1", time.Minute, start)
	if err == nil {
		t.Fatal("IncrementCounter while another connection holds the write lock: got nil error")
	}
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY {
		t.Fatalf("got error %v, want one wrapping a *sqlite.Error with code SQLITE_BUSY", err)
	}
	if !strings.Contains(err.Error(), "busy timeout (50ms)") {
		t.Fatalf("got error %q, want it to name the busy timeout (50ms)", err)
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrConflict, store.ErrLimit, store.ErrClosed} {
		if errors.Is(err, sentinel) {
			t.Fatalf("got error %v, which is %v; want no sentinel", err, sentinel)
		}
	}
	if waited := time.Since(start); waited < 50*time.Millisecond {
		t.Fatalf("IncrementCounter failed after %v, want at least the busy timeout of 50ms", waited)
	}
	// Reads do not need the write lock.
	if _, err := st.Counter(t.Context(), "key1", start); err != nil {
		t.Fatalf("Counter while another connection holds the write lock: %v", err)
	}
}

// lockHolder is another connection to a database file that can take and
// release its write lock.
type lockHolder struct {
	t    testing.TB
	conn *sql.Conn
}

func newLockHolder(t testing.TB, path string) *lockHolder {
	t.Helper()
	conn, err := rawDB(t, path).Conn(context.Background())
	if err != nil {
		t.Fatalf("Conn: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &lockHolder{t: t, conn: conn}
}

func (h *lockHolder) lock() {
	if _, err := h.conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		h.t.Fatalf("BEGIN IMMEDIATE on the lock holder: %v", err)
	}
}

func (h *lockHolder) unlock() {
	if _, err := h.conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		h.t.Fatalf("ROLLBACK on the lock holder: %v", err)
	}
}

// TestReopen_KeepsRecords: what one Store wrote, a Store opened later on
// the same file reads — the example app keeps its users' devices across
// restarts.
func TestReopen_KeepsRecords(t *testing.T) {
	path := tempPath(t)
	ctx, now := t.Context(), time.Now().UTC().Truncate(time.Millisecond)
	cred := store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, Algorithm: "ES256",
		PublicKey: []byte("spki"), Name: "phone", Platform: "ios", CreatedAt: now}
	ch := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		Methods: []string{"DEVICE"}, Nonce: []byte("nonce"), CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}

	first, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := first.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if err := first.CreateCredential(ctx, cred, 10); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	if _, err := first.CreateChallenge(ctx, ch, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	second := openMigrated(t, path)
	creds, err := second.ListCredentials(ctx, "user1")
	if err != nil {
		t.Fatalf("ListCredentials after reopening: %v", err)
	}
	if len(creds) != 1 || creds[0].ID != cred.ID || string(creds[0].PublicKey) != "spki" || !creds[0].CreatedAt.Equal(now) {
		t.Fatalf("ListCredentials after reopening: got %+v, want the one credential %s", creds, cred.ID)
	}
	got, err := second.GetChallenge(ctx, ch.ID, now)
	if err != nil || got.State != store.StatePending || string(got.Nonce) != "nonce" {
		t.Fatalf("GetChallenge after reopening: got %+v, %v; want the PENDING challenge", got, err)
	}
}

func TestOpen_RefusesWhatIsNotAFilePath(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db?mode=memory"} {
		if st, err := sqlitestore.Open(path); err == nil {
			st.Close()
			t.Errorf("Open(%q): got nil error, want one", path)
		}
	}
}

// TestOpen_PathWithURICharacters: a path with characters that mean
// something in a URI names that very file.
func TestOpen_PathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?b#c%20d.db")
	openMigrated(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database file: %v", err)
	}
}

// TestSweep_DeletesOnlyGarbage: an expired challenge reads as EXPIRED until
// ExpiredChallengeRetention has passed; expired tokens, counters, nonces,
// ceremonies and action records go at once; nothing unexpired is touched.
func TestSweep_DeletesOnlyGarbage(t *testing.T) {
	st := openMigrated(t, tempPath(t))
	ctx := t.Context()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	expires := start.Add(5 * time.Minute)
	for _, id := range []string{"old", "new"} {
		c := store.Challenge{ID: id, UserID: "user1", Action: "transfer", State: store.StatePending, CreatedAt: start, ExpiresAt: expires}
		if id == "new" {
			c.ExpiresAt = expires.Add(2 * sqlitestore.ExpiredChallengeRetention)
		}
		if _, err := st.CreateChallenge(ctx, c, start); err != nil {
			t.Fatalf("CreateChallenge: %v", err)
		}
	}
	if err := st.PutRegistrationToken(ctx, store.RegistrationToken{Hash: []byte("h"), UserID: "user1", CreatedAt: start, ExpiresAt: expires}); err != nil {
		t.Fatalf("PutRegistrationToken: %v", err)
	}
	if _, err := st.IncrementCounter(ctx, "key1", 5*time.Minute, start); err != nil {
		t.Fatalf("IncrementCounter: %v", err)
	}
	if err := st.ClaimNonce(ctx, "nonce1", expires, start); err != nil {
		t.Fatalf("ClaimNonce: %v", err)
	}
	lasting := store.Ceremony{ID: "ce_new", Kind: "passkey.login", CreatedAt: start, ExpiresAt: expires.Add(2 * sqlitestore.ExpiredChallengeRetention)}
	for _, c := range []store.Ceremony{{ID: "ce_old", Kind: "passkey.login", CreatedAt: start, ExpiresAt: expires}, lasting} {
		if err := st.PutCeremony(ctx, c); err != nil {
			t.Fatalf("PutCeremony: %v", err)
		}
	}
	kept := store.ActionRecord{ID: "ac_new", UserID: "user1", Action: "transfer", CreatedAt: start,
		ExpiresAt: expires.Add(2 * sqlitestore.ExpiredChallengeRetention), Outcome: "ALLOW"}
	for _, a := range []store.ActionRecord{{ID: "ac_old", UserID: "user1", Action: "transfer", CreatedAt: start,
		ExpiresAt: expires, Outcome: "ALLOW"}, kept} {
		if err := st.PutAction(ctx, a); err != nil {
			t.Fatalf("PutAction: %v", err)
		}
	}

	// Inside the retention: the token, counter, nonce, expired ceremony and
	// expired action record go, the challenges stay, and the expired one
	// reads as EXPIRED.
	now := expires.Add(sqlitestore.ExpiredChallengeRetention - time.Millisecond)
	if n, err := st.Sweep(ctx, now); err != nil || n != 5 {
		t.Fatalf("Sweep inside the retention: got %d, %v; want 5 rows (token, counter, nonce, ceremony, action record), nil", n, err)
	}
	if got, err := st.GetChallenge(ctx, "old", now); err != nil || got.State != store.StateExpired {
		t.Fatalf("GetChallenge of an expired challenge inside the retention: got %q, %v; want EXPIRED", got.State, err)
	}
	// At the end of the retention the expired challenge goes too.
	now = expires.Add(sqlitestore.ExpiredChallengeRetention)
	if n, err := st.Sweep(ctx, now); err != nil || n != 1 {
		t.Fatalf("Sweep at the end of the retention: got %d, %v; want 1, nil", n, err)
	}
	if _, err := st.GetChallenge(ctx, "old", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetChallenge after the sweep: got %v, want ErrNotFound", err)
	}
	if got, err := st.GetChallenge(ctx, "new", now); err != nil || got.State != store.StatePending {
		t.Fatalf("GetChallenge of an unexpired challenge after the sweep: got %q, %v; want PENDING", got.State, err)
	}
	if got, err := st.TakeCeremony(ctx, lasting.ID, now); err != nil || got.ID != lasting.ID {
		t.Fatalf("TakeCeremony of an unexpired ceremony after the sweeps: got %q, %v; want it", got.ID, err)
	}
	if got, err := st.Actions(ctx, store.ActionQuery{UserID: "user1"}, start); err != nil || len(got) != 1 || got[0].ID != kept.ID {
		t.Fatalf("Actions, at the records' creation, after the sweeps: got %+v, %v; want only %s", got, err, kept.ID)
	}
}
