package pgxstore_test

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/store/storetest"
)

// TestMigrate_UpgradesASchemaOfTheFirstRelease: a schema made by the first
// release (0001 applied, a registration token written by it) works after
// Migrate: the old token reads as not first-device, new tokens keep the
// flag, and credentials are created as before.
func TestMigrate_UpgradesASchemaOfTheFirstRelease(t *testing.T) {
	ctx := t.Context()
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	first, err := os.ReadFile("migrations/0001_initial.sql")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond).UTC()
	oldHash := sha256.Sum256([]byte("a token of the first release"))
	ident := pgx.Identifier{schema}.Sanitize()
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			"SET LOCAL search_path TO " + ident,
			string(first),
			`CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`,
			`INSERT INTO schema_version (version, applied_at) VALUES (1, now())`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO registration_tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			oldHash[:], "user1", now, now.Add(10*time.Minute))
		return err
	})
	if err != nil {
		t.Fatalf("building a first-release schema: %v", err)
	}
	st := openStore(t, pool, schema)
	wantVersions(t, pool, schema)
	storetest.Upgraded(t, st, oldHash[:], now.Add(time.Second))
}
