package sqlitestore_test

import (
	"crypto/sha256"
	"os"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store/storetest"
)

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
