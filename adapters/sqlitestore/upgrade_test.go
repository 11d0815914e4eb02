package sqlitestore_test

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store/storetest"
)

// TestMigrate_UpgradesToAttestation: a file made by the release before the
// attestation migration, holding a credential, migrates, and the Service
// reads that credential as not attested.
func TestMigrate_UpgradesToAttestation(t *testing.T) {
	path := tempPath(t)
	raw := rawDB(t, path)
	ctx := t.Context()
	if _, err := raw.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	applied := 0
	for _, name := range migrationFileNames() {
		if strings.Contains(name, "_attestation") {
			break
		}
		body, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		applied++
		if _, err := raw.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("applying %s: %v", name, err)
		}
		if _, err := raw.ExecContext(ctx, `INSERT INTO schema_version VALUES (?, 0)`, applied); err != nil {
			t.Fatal(err)
		}
	}
	if applied == 0 || applied == newestSchema {
		t.Fatalf("applied %d of %d migrations before the attestation one", applied, newestSchema)
	}
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
