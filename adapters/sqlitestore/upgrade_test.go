package sqlitestore_test

import (
	"crypto/sha256"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/internal/migrate"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// firstRelease is the schema version of the first release: 0001 only,
// before 0002_attestation.
const firstRelease = 1

// fileAt makes the file of raw as the release whose newest migration was
// version made it: migrations 1 … version applied from migrations/ and
// recorded in schema_version, then then's statements (the data that
// release wrote).
func fileAt(t *testing.T, raw *sql.DB, version int, then func(exec func(sql string, args ...any))) {
	t.Helper()
	list, err := migrate.Load(os.DirFS("."), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if version < 1 || version >= len(list) {
		t.Fatalf("fileAt(%d): want a version from 1 to %d, the one before the newest", version, len(list)-1)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(t.Context(), sql, args...); err != nil {
			t.Fatalf("building a file at version %d: %s: %v", version, sql, err)
		}
	}
	exec(`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	for _, m := range list[:version] {
		exec(m.SQL)
		exec(`INSERT INTO schema_version (version, applied_at) VALUES (?, 0)`, m.Version)
	}
	if then != nil {
		then(exec)
	}
}

// TestMigrate_UpgradesToAttestation: a file made by the release before the
// attestation migration, holding a credential, migrates, and the Service
// reads that credential as not attested.
func TestMigrate_UpgradesToAttestation(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fileAt(t, raw, firstRelease, func(exec func(string, ...any)) {
		exec(`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform,
			push_token, created_at, last_used_at, sign_count, flags, passkey)
			VALUES ('cr_old', 'alice', 'device', 'ES256', x'01', 'Old phone', 'android', '', ?, NULL, 0, 0, NULL)`,
			created.UnixMilli())
	})
	st := openMigrated(t, path)
	wantSchema(t, raw)
	instancetest.UpgradedCredential(t, st, created)
}

// TestMigrate_UpgradesAFileOfTheFirstRelease: a file made by the first
// release (0001 applied, a registration token and a credential written by
// it) opens after Migrate, keeps its records, reads the old token as not
// first-device, and stores new tokens with the flag.
func TestMigrate_UpgradesAFileOfTheFirstRelease(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	now := time.Now().Truncate(time.Millisecond).UTC()
	oldHash := sha256.Sum256([]byte("a token of the first release"))
	fileAt(t, raw, firstRelease, func(exec func(string, ...any)) {
		exec(`INSERT INTO registration_tokens (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
			oldHash[:], "user1", now.UnixMilli(), now.Add(10*time.Minute).UnixMilli())
	})
	st := openMigrated(t, path)
	wantSchema(t, raw)
	storetest.Upgraded(t, st, oldHash[:], now.Add(time.Second))
}

// TestMigrate_UpgradesToCeremonies: a file made at schema version 3, the
// release before the ceremonies table, holding that release's records (a
// first-device registration token, a credential, a challenge, recovery
// codes), migrates; its records read as before, and ceremonies are put and
// taken.
func TestMigrate_UpgradesToCeremonies(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	fileAt(t, raw, 3, func(exec func(string, ...any)) {
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO registration_tokens (hash, user_id, created_at, expires_at, first_device) VALUES (?, 'user1', ?, ?, 1)`,
				[]any{storetest.OldTokenHash, now.UnixMilli(), now.Add(10 * time.Minute).UnixMilli()}},
			{`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform, push_token, created_at,
			last_used_at, sign_count, flags, passkey, attestation) VALUES (?, 'user1', 'device', 'ES256', x'01', 'phone',
			'ios', '', ?, NULL, 0, 0, NULL, NULL)`, []any{storetest.OldCredentialID, now.UnixMilli()}},
			{`INSERT INTO challenges (id, user_id, action, state, method, methods, nonce, details, details_digest,
			verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at, credential_id,
			deny_reason, answered_at, attempts, claimed_by, claim_secret_hash, browser_binding_hash, passkey, version,
			attestation_required) VALUES (?, 'user1', 'transfer', 'PENDING', 'DEVICE', '["DEVICE"]', x'00', NULL, NULL,
			'', '', '', '', '', ?, ?, '', '', NULL, 0, '', NULL, NULL, NULL, 1, '')`,
				[]any{storetest.OldChallengeID, now.UnixMilli(), now.Add(5 * time.Minute).UnixMilli()}},
			{`INSERT INTO recovery_codes (user_id, hash) VALUES ('user1', ?), ('user1', ?)`,
				[]any{storetest.OldRecoveryCodes[0], storetest.OldRecoveryCodes[1]}},
		} {
			exec(q.sql, q.args...)
		}
	})

	st := openMigrated(t, path)
	wantSchema(t, raw)
	storetest.UpgradedToCeremonies(t, st, now)
}

// TestMigrate_UpgradesToActions: a file made by the release before action
// records (schema 4), holding a pending challenge approved later, migrates;
// the challenge is consumed as before, and action records work.
func TestMigrate_UpgradesToActions(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	fileAt(t, raw, 4, func(exec func(string, ...any)) {
		exec(`INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform, push_token, created_at,
			last_used_at, sign_count, flags, passkey, attestation) VALUES (?, 'user1', 'device', 'ES256', x'01', 'phone',
			'ios', '', ?, NULL, 0, 0, NULL, NULL)`, storetest.OldCredentialID, now.UnixMilli())
		exec(`INSERT INTO challenges (id, user_id, action, state, method, methods, nonce, details, details_digest,
			verification_code, idempotency_key, client_ip, user_agent, origin, created_at, expires_at, credential_id,
			deny_reason, answered_at, attempts, claimed_by, claim_secret_hash, browser_binding_hash, passkey, version,
			attestation_required) VALUES (?, 'user1', 'transfer', 'PENDING', 'DEVICE', '["DEVICE"]', x'00', NULL, NULL,
			'', '', '', '', '', ?, ?, '', '', NULL, 0, '', NULL, NULL, NULL, 1, '')`,
			storetest.OldChallengeID, now.UnixMilli(), now.Add(5*time.Minute).UnixMilli())
	})
	st := openMigrated(t, path)
	wantSchema(t, raw)
	storetest.UpgradedToActions(t, st, now)
}
