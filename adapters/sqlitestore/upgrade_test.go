package sqlitestore_test

import (
	"crypto/sha256"
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/migrationtest"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// TestMigrate_UpgradesToAttestation: a file made by the release before the
// attestation migration, holding a credential, migrates, and the Service
// reads that credential as not attested.
func TestMigrate_UpgradesToAttestation(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	ctx := t.Context()
	applied := schemaBefore(t, raw, "_attestation")
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := raw.ExecContext(ctx, `INSERT INTO credentials (id, user_id, kind, algorithm, public_key, name, platform,
		push_token, created_at, last_used_at, sign_count, flags, passkey)
		VALUES ('cr_old', 'alice', 'device', 'ES256', x'01', 'Old phone', 'android', '', ?, NULL, 0, 0, NULL)`,
		created.UnixMilli()); err != nil {
		t.Fatalf("a credential of schema %d: %v", applied, err)
	}

	st := openMigrated(t, path)
	wantSchema(t, raw)
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

// TestMigrate_UpgradesAFileOfTheFirstRelease: a file made by the first
// release (0001 applied, a registration token and a credential written by
// it) opens after Migrate, keeps its records, reads the old token as not
// first-device, and stores new tokens with the flag.
func TestMigrate_UpgradesAFileOfTheFirstRelease(t *testing.T) {
	ctx := t.Context()
	path := tempPath(t)
	raw := rawDB(t, path)
	first, err := os.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond).UTC()
	oldHash := sha256.Sum256([]byte("a token of the first release"))
	for _, q := range []string{
		string(first),
		`CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_version (version, applied_at) VALUES (1, 0)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("building a first-release file: %v", err)
		}
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO registration_tokens (hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		oldHash[:], "user1", now.UnixMilli(), now.Add(10*time.Minute).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	st := openMigrated(t, path)
	wantSchema(t, raw)
	storetest.Upgraded(t, st, oldHash[:], now.Add(time.Second))
}

// schemaBefore builds in raw the schema of the release before the migration
// whose file name contains name: every migration before it applied and
// recorded. It returns how many it applied.
func schemaBefore(t *testing.T, raw *sql.DB, name string) int {
	t.Helper()
	ctx := t.Context()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	migrations := migrationtest.Before(t, "migrations", name)
	for i, body := range migrations {
		if _, err := raw.ExecContext(ctx, body); err != nil {
			t.Fatalf("applying migration %d: %v", i+1, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_version VALUES (?, 0)`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	return len(migrations)
}

// TestMigrate_UpgradesToCeremonies: a file made at schema version 3, the
// release before the ceremonies table, holding that release's records (a
// first-device registration token, a credential, a challenge, recovery
// codes), migrates; its records read as before, and ceremonies are put and
// taken.
func TestMigrate_UpgradesToCeremonies(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	ctx := t.Context()
	if applied := schemaBefore(t, raw, "_ceremonies"); applied != 3 {
		t.Fatalf("the release before the ceremonies table is at version %d, want 3", applied)
	}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
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
		if _, err := raw.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("a record of schema 3: %v", err)
		}
	}

	st := openMigrated(t, path)
	wantSchema(t, raw)
	storetest.UpgradedToCeremonies(t, st, now)
}
