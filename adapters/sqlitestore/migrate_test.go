package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
)

// newestSchema is the number of the last file in migrations/.
const newestSchema = 2

// schemaVersions returns the versions recorded in the file's
// schema_version table, in order.
func schemaVersions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		t.Fatalf("reading schema_version: %v", err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return versions
}

// wantSchema fails t unless the file's schema_version lists 1 … newest.
func wantSchema(t *testing.T, db *sql.DB) {
	t.Helper()
	got := schemaVersions(t, db)
	if len(got) != newestSchema || got[len(got)-1] != newestSchema {
		t.Fatalf("schema_version lists %v, want 1 … %d once each", got, newestSchema)
	}
}

// dataVersion is PRAGMA data_version on db's one connection: it moves when
// another connection commits.
func dataVersion(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var v int64
	if err := db.QueryRowContext(t.Context(), `PRAGMA data_version`).Scan(&v); err != nil {
		t.Fatalf("PRAGMA data_version: %v", err)
	}
	return v
}

func TestMigrate_TwiceIsANoOp(t *testing.T) {
	path := tempPath(t)
	st := openMigrated(t, path)
	raw := rawDB(t, path)
	wantSchema(t, raw)
	before := dataVersion(t, raw)
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if after := dataVersion(t, raw); after != before {
		t.Fatalf("the second Migrate committed a change (data_version %d → %d), want none", before, after)
	}
	wantSchema(t, raw)
}

// TestMigrate_ConcurrentlyOnTwoHandles: two Store values (as two processes
// would) migrate a new file at once; the immediate transaction serialises
// them, both succeed, and each migration is applied once.
func TestMigrate_ConcurrentlyOnTwoHandles(t *testing.T) {
	path := tempPath(t)
	stores := make([]*sqlitestore.Store, 2)
	for i := range stores {
		st, err := sqlitestore.Open(path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { st.Close() })
		stores[i] = st
	}
	errs := make([]error, len(stores))
	var start, done sync.WaitGroup
	start.Add(1)
	for i, st := range stores {
		done.Go(func() {
			start.Wait()
			errs[i] = st.Migrate(context.Background())
		})
	}
	start.Done()
	done.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate on handle %d: %v", i, err)
		}
	}
	wantSchema(t, rawDB(t, path))
}

// TestMigrate_RefusesNewerSchema: a file that a newer release migrated is
// not touched by this one.
func TestMigrate_RefusesNewerSchema(t *testing.T) {
	path := tempPath(t)
	openMigrated(t, path)
	raw := rawDB(t, path)
	if _, err := raw.ExecContext(t.Context(), `INSERT INTO schema_version (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatalf("recording a newer schema: %v", err)
	}
	st, err := sqlitestore.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	err = st.Migrate(t.Context())
	if !errors.Is(err, sqlitestore.ErrSchemaTooNew) {
		t.Fatalf("Migrate of a file at schema version 999: got %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "999") {
		t.Fatalf("Migrate's error %q does not name the file's version 999", err)
	}
}

// TestMigrate_MethodsBeforeMigrateFail: an unmigrated file gives errors,
// not panics or empty results, and Migrate then makes it work.
func TestMigrate_MethodsBeforeMigrateFail(t *testing.T) {
	st, err := sqlitestore.Open(tempPath(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer st.Close()
	if _, err := st.ListCredentials(t.Context(), "user1"); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("ListCredentials before Migrate: got %v, want a no such table error", err)
	}
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if list, err := st.ListCredentials(t.Context(), "user1"); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("ListCredentials after Migrate: got %v, %v; want an empty list", list, err)
	}
}
