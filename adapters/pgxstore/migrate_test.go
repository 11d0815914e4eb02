package pgxstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/store"
)

// versions returns the versions recorded in schema's schema_version.
func versions(t *testing.T, pool *pgxpool.Pool, schema string) []int {
	t.Helper()
	rows, _ := pool.Query(t.Context(), "SELECT version FROM "+pgx.Identifier{schema}.Sanitize()+".schema_version ORDER BY version")
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatalf("reading schema_version: %v", err)
	}
	return vs
}

func wantVersions(t *testing.T, pool *pgxpool.Pool, schema string) {
	t.Helper()
	got := versions(t, pool, schema)
	if len(got) != pgxstore.SchemaVersion || got[len(got)-1] != pgxstore.SchemaVersion {
		t.Fatalf("schema_version holds %v, want 1…%d once each", got, pgxstore.SchemaVersion)
	}
}

func TestMigrate_TwiceIsNoOp(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	st := openStore(t, pool, schema) // the first Migrate
	ctx := t.Context()
	c := store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := st.CreateCredential(ctx, c, 0); err != nil {
		t.Fatalf("CreateCredential: %v", err)
	}
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	wantVersions(t, pool, schema)
	if _, err := st.GetCredential(ctx, c.ID); err != nil {
		t.Fatalf("GetCredential after the second Migrate: %v, want the credential kept", err)
	}
}

// TestMigrate_ConcurrentOnTwoPools starts from no schema at all, as a
// fleet's first deployment does: every Migrate must succeed.
func TestMigrate_ConcurrentOnTwoPools(t *testing.T) {
	pools := []*pgxpool.Pool{newPool(t, 4), newPool(t, 4)}
	schema := randomName("deviceauth_test_")
	t.Cleanup(func() { dropSchema(t, pools[0], schema) })
	const perPool = 3
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		errs  []error
		start = make(chan struct{})
	)
	for _, pool := range pools {
		for range perPool {
			st, err := pgxstore.New(pool, pgxstore.WithSchema(schema))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			wg.Go(func() {
				<-start
				if err := st.Migrate(t.Context()); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d concurrent Migrate calls failed, want none: %v", len(errs), 2*perPool, errors.Join(errs...))
	}
	wantVersions(t, pools[0], schema)
}

func TestMigrate_NewerSchemaIsRefused(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	st := openStore(t, pool, schema)
	newer := pgxstore.SchemaVersion + 1
	if _, err := pool.Exec(t.Context(), "INSERT INTO "+pgx.Identifier{schema}.Sanitize()+
		".schema_version (version, applied_at) VALUES ($1, $2)", newer, time.Now()); err != nil {
		t.Fatal(err)
	}
	err := st.Migrate(t.Context())
	if !errors.Is(err, pgxstore.ErrSchemaTooNew) {
		t.Fatalf("Migrate of a schema at version %d: got %v, want ErrSchemaTooNew", newer, err)
	}
	for _, want := range []string{schema, fmt.Sprint(newer), fmt.Sprint(pgxstore.SchemaVersion)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Migrate error %q does not name %q", err, want)
		}
	}
}

func TestMigrate_AfterCloseIsErrClosed(t *testing.T) {
	pool := offlinePool(t)
	st, err := pgxstore.New(pool, pgxstore.WithSchema(randomName("deviceauth_test_")))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := st.Migrate(context.Background()); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Migrate after Close: got %v, want store.ErrClosed", err)
	}
}

func TestNew_RefusesBadOptions(t *testing.T) {
	pool := offlinePool(t)
	for _, tt := range []struct {
		name string
		opt  pgxstore.Option
	}{
		{"empty schema", pgxstore.WithSchema("")},
		{"schema over 63 bytes", pgxstore.WithSchema(strings.Repeat("s", 64))},
		{"schema with NUL", pgxstore.WithSchema("a\x00b")},
		{"poll interval under 10ms", pgxstore.WithPollInterval(time.Millisecond)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := pgxstore.New(pool, tt.opt); err == nil {
				t.Fatal("New: got nil error, want the option refused")
			}
		})
	}
	if _, err := pgxstore.New(nil); err == nil {
		t.Fatal("New(nil): got nil error, want one")
	}
}

// offlinePool returns a pool that never connects (pgxpool connects lazily),
// for tests that need no server.
func offlinePool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
