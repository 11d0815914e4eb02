package pgxstore_test

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/migrate"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// firstRelease is the schema version of the first release: 0001 only,
// before 0002_attestation.
const firstRelease = 1

// schemaAt makes schema as the release whose newest migration was version
// made it: migrations 1 … version applied from migrations/ and recorded in
// schema_version, then then's statements (the data that release wrote),
// all in one transaction.
func schemaAt(t *testing.T, pool *pgxpool.Pool, schema string, version int, then func(exec func(sql string, args ...any))) {
	t.Helper()
	ctx := t.Context()
	list, err := migrate.Load(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if version < 1 || version >= len(list) {
		t.Fatalf("schemaAt(%d): want a version from 1 to %d, the one before the newest", version, len(list)-1)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		exec := func(sql string, args ...any) {
			t.Helper()
			if _, err := tx.Exec(ctx, sql, args...); err != nil {
				t.Fatalf("building a schema at version %d: %s: %v", version, sql, err)
			}
		}
		exec("SET LOCAL search_path TO " + pgx.Identifier{schema}.Sanitize())
		exec(`CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`)
		for _, m := range list[:version] {
			exec(m.SQL)
			exec(`INSERT INTO schema_version (version, applied_at) VALUES ($1, now())`, m.Version)
		}
		if then != nil {
			then(exec)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("building a schema at version %d: %v", version, err)
	}
}

// TestMigrate_UpgradesToAttestation: a schema made by the release before
// the attestation migration, holding a credential, migrates, and the
// Service reads that credential as not attested.
func TestMigrate_UpgradesToAttestation(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	schemaAt(t, pool, schema, firstRelease, func(exec func(string, ...any)) {
		exec(`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform, push_token,
			created_at, last_used_at, sign_count, flags, passkey)
			VALUES ('cr_old', 'alice', 'device', 'ES256', '\x01', 'Old phone', 'android', '', $1, NULL, 0, 0, NULL)`, created)
	})
	st := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	instancetest.UpgradedCredential(t, st, created)
}

// TestMigrate_UpgradesASchemaOfTheFirstRelease: a schema made by the first
// release (0001 applied, a registration token written by it) works after
// Migrate: the old token reads as not first-device, new tokens keep the
// flag, and credentials are created as before.
func TestMigrate_UpgradesASchemaOfTheFirstRelease(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	now := time.Now().Truncate(time.Millisecond).UTC()
	oldHash := sha256.Sum256([]byte("a token of the first release"))
	schemaAt(t, pool, schema, firstRelease, func(exec func(string, ...any)) {
		exec(`INSERT INTO registration_tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			oldHash[:], "user1", now, now.Add(10*time.Minute))
	})
	st := openStore(t, pool, schema)
	wantVersions(t, pool, schema)
	storetest.Upgraded(t, st, oldHash[:], now.Add(time.Second))
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
	schemaAt(t, pool, schema, 3, func(exec func(string, ...any)) {
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

	st := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	storetest.UpgradedToCeremonies(t, st, now)
}
