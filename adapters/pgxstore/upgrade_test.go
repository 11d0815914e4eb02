package pgxstore_test

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/migrationtest"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// TestMigrate_UpgradesToAttestation: a schema made by the release before
// the attestation migration, holding a credential, migrates, and the
// Service reads that credential as not attested.
func TestMigrate_UpgradesToAttestation(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	ctx := t.Context()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	schemaBefore(t, pool, schema, "_attestation", func(exec func(string, ...any)) {
		exec(`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform, push_token,
			created_at, last_used_at, sign_count, flags, passkey)
			VALUES ('cr_old', 'alice', 'device', 'ES256', '\x01', 'Old phone', 'android', '', $1, NULL, 0, 0, NULL)`, created)
	})

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

// schemaBefore builds in schema the schema of the release before the
// migration whose file name contains name (every migration before it
// applied and recorded), then calls fill to write that release's records,
// all in one transaction. It returns how many migrations it applied.
func schemaBefore(t *testing.T, pool *pgxpool.Pool, schema, name string, fill func(exec func(sql string, args ...any))) int {
	t.Helper()
	ctx := t.Context()
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
	exec("SET LOCAL search_path TO " + pgx.Identifier{schema}.Sanitize())
	exec(`CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`)
	migrations := migrationtest.Before(t, "migrations", name)
	for i, body := range migrations {
		exec(body)
		exec(`INSERT INTO schema_version VALUES ($1, now())`, i+1)
	}
	fill(exec)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return len(migrations)
}

// TestMigrate_UpgradesToCeremonies: a schema made at version 3, the
// release before the ceremonies table, holding that release's records (a
// first-device registration token, a credential, a challenge, recovery
// codes), migrates; its records read as before, and ceremonies are put and
// taken.
func TestMigrate_UpgradesToCeremonies(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	applied := schemaBefore(t, pool, schema, "_ceremonies", func(exec func(string, ...any)) {
		exec(`INSERT INTO registration_tokens (hash, user_id, created_at, expires_at, first_device)
			VALUES ($1, 'user1', $2, $3, true)`, storetest.OldTokenHash, now, now.Add(10*time.Minute))
		exec(`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform, push_token,
			created_at, last_used_at, sign_count, flags, passkey, attestation)
			VALUES ($1, 'user1', 'device', 'ES256', '\x01', 'phone', 'ios', '', $2, NULL, 0, 0, NULL, NULL)`,
			storetest.OldCredentialID, now)
		exec(`INSERT INTO challenges (id, user_id, action, state, method, methods, nonce, details, details_digest,
			verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at, credential_id,
			deny_reason, answered_at, attempts, claimed_by, claim_secret_hash, browser_binding_hash, passkey,
			attestation_required) VALUES ($1, 'user1', 'transfer', 'PENDING', 'DEVICE', '{DEVICE}', '\x00', NULL,
			NULL, '', '', '', '', '', $2, $3, '', '', NULL, 0, '', NULL, NULL, NULL, '')`,
			storetest.OldChallengeID, now, now.Add(5*time.Minute))
		exec(`INSERT INTO recovery_codes (user_id, hash) VALUES ('user1', $1), ('user1', $2)`,
			storetest.OldRecoveryCodes[0], storetest.OldRecoveryCodes[1])
	})
	if applied != 3 {
		t.Fatalf("the release before the ceremonies table is at version %d, want 3", applied)
	}

	st := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	storetest.UpgradedToCeremonies(t, st, now)
}
