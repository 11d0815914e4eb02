package pgxstore_test

import (
	"crypto/sha256"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/migrate"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// firstRelease is the schema version of the first release: 0001 only,
// before 0002_attestation.
const firstRelease = 1

// versionBefore is the schema version of the release before the migration
// named NNNN_name.sql: NNNN-1.
func versionBefore(t *testing.T, name string) int {
	t.Helper()
	list, err := migrate.Load(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range list {
		if strings.TrimSuffix(m.Name[strings.IndexByte(m.Name, '_')+1:], ".sql") == name {
			return m.Version - 1
		}
	}
	t.Fatalf("no migration named %s", name)
	return 0
}

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
		insertOldDevice(exec, now)
		exec(`INSERT INTO recovery_codes (user_id, hash) VALUES ('user1', $1), ('user1', $2)`,
			storetest.OldRecoveryCodes[0], storetest.OldRecoveryCodes[1])
	})

	st := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	storetest.UpgradedToCeremonies(t, st, now)
}

// TestMigrate_UpgradesNotifyToWatchedChallenges: a schema made by the
// release before 0005_notify_watched (whose trigger notified every insert
// and update), holding two pending challenges, migrates; afterwards the
// old challenges count no waiters, the changes of the one a waiter
// watches notify and wake it, those of the other notify nobody, and both
// read as before.
func TestMigrate_UpgradesNotifyToWatchedChallenges(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	ctx := t.Context()
	created := time.Now().UTC().Truncate(time.Millisecond)
	schemaAt(t, pool, schema, versionBefore(t, "notify_watched"), func(exec func(string, ...any)) {
		for _, id := range []string{"ch_watched", "ch_other"} {
			exec(`INSERT INTO challenges (id, user_id, action, state, method, verification_code, idempotency_key,
				client_ip, user_agent, origin, created_at, expires_at, credential_id, deny_reason, attempts, claimed_by)
				VALUES ($1, 'alice', 'transfer', 'PENDING', 'push', '', '', '', '', '', $2, $3, '', '', 0, '')`,
				id, created, created.Add(5*time.Minute))
		}
	})
	watching := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	writing := openStore(t, pool, schema)
	log := listenTo(t, pool, schema)

	for _, id := range []string{"ch_watched", "ch_other"} {
		if n := waiters(t, pool, schema, id); n != 0 {
			t.Fatalf("%s after the upgrade counts %d waiters, want 0", id, n)
		}
	}
	woken, err := watching.Watch(ctx, "ch_watched")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	now := created.Add(time.Second)
	for _, id := range []string{"ch_other", "ch_watched"} {
		if _, err := writing.RecordAttempt(ctx, id, store.StatePending, now); err != nil {
			t.Fatalf("RecordAttempt %s: %v", id, err)
		}
	}
	if _, err := writing.TransitionChallenge(ctx, "ch_other", store.Transition{From: store.StatePending, To: store.StateDenied}, now); err != nil {
		t.Fatalf("TransitionChallenge ch_other: %v", err)
	}
	log.mark("end")
	if got, want := log.until("end"), []string{"ch_watched", "mark:end"}; !slices.Equal(got, want) {
		t.Fatalf("after the upgrade, the changes notified %q, want %q", got, want)
	}
	wantWakeUp(t, woken, 10*time.Second, "Watch of a challenge the previous release wrote")
	for id, want := range map[string]store.State{"ch_watched": store.StatePending, "ch_other": store.StateDenied} {
		c, err := writing.GetChallenge(ctx, id, now)
		if err != nil || c.State != want || c.Attempts != 1 || !c.CreatedAt.Equal(created) {
			t.Fatalf("%s after the upgrade: %+v, %v; want %s with one attempt", id, c, err, want)
		}
	}
}

// TestMigrate_UpgradesToActions: a schema made by the release before
// action records (0006_actions), holding a pending challenge approved
// later, migrates; the challenge is consumed as before, and action records
// work.
func TestMigrate_UpgradesToActions(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	schemaAt(t, pool, schema, versionBefore(t, "actions"), func(exec func(string, ...any)) {
		insertOldDevice(exec, now)
	})
	st := openStore(t, pool, schema) // Migrate
	wantVersions(t, pool, schema)
	storetest.UpgradedToActions(t, st, now)
}

// insertOldDevice writes, as the releases before ceremonies and before
// action records did, user1's device storetest.OldCredentialID and its
// pending challenge storetest.OldChallengeID, created at now.
func insertOldDevice(exec func(string, ...any), now time.Time) {
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
}
