package pgxstore_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// TestMigrate_UpgradesToAttestation: a schema made by the release before
// the attestation migration, holding a credential, migrates, and the
// Service reads that credential as not attested.
func TestMigrate_UpgradesToAttestation(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	ident := pgx.Identifier{schema}.Sanitize()
	ctx := t.Context()
	names, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := tx.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("SET LOCAL search_path TO " + ident)
	exec(`CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`)
	applied := 0
	for _, name := range names {
		if strings.Contains(name, "_attestation") {
			break
		}
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		applied++
		exec(string(body))
		exec(`INSERT INTO schema_version VALUES ($1, now())`, applied)
	}
	if applied == 0 || applied == len(names) {
		t.Fatalf("applied %d of %d migrations before the attestation one", applied, len(names))
	}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	exec(`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform, push_token,
		created_at, last_used_at, sign_count, flags, passkey)
		VALUES ('cr_old', 'alice', 'device', 'ES256', '\x01', 'Old phone', 'android', '', $1, NULL, 0, 0, NULL)`, created)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	c, err := st.GetCredential(ctx, "cr_old")
	if err != nil {
		t.Fatalf("GetCredential after the upgrade: %v", err)
	}
	if c.Name != "Old phone" || !c.CreatedAt.Equal(created) || c.Attestation != nil {
		t.Fatalf("old credential after the upgrade: %+v", c)
	}
	svc, err := deviceauth.New(deviceauth.Config{Store: st, Keys: [][]byte{[]byte(strings.Repeat("k", 32))},
		PublicURL: "https://app.example/deviceauth", SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	creds, err := svc.Credentials(ctx, "alice")
	if err != nil || len(creds) != 1 {
		t.Fatalf("Credentials: %v, %v", creds, err)
	}
	if a := creds[0].Attestation; a.Kind != "none" || a.HardwareBacked || a.UserAuthRequired || a.SecurityLevel != "unknown" {
		t.Fatalf("old credential's attestation = %+v, want not attested", a)
	}
}

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
