package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/deviceauth/deviceauth/internal/migrate"
)

// ErrSchemaTooNew is reported by Migrate when the file's schema_version is
// newer than the newest migration this package knows: the file was written
// by a newer release, which an older one must not touch.
var ErrSchemaTooNew = errors.New("sqlitestore: the database schema is newer than this version of sqlitestore")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are the embedded migrations in order, numbered 1, 2, 3 …
var migrations = migrate.MustLoad(migrationFiles, "migrations", "sqlitestore", 0)

// Migrate brings the schema to the newest version this package knows,
// applying the missing migrations in one immediate transaction: all or
// nothing, and two processes (or Store values) migrating at once are
// serialised, the second finding nothing left to do. Migrating an
// up-to-date file changes nothing. A file whose schema is newer than this
// package is refused with an error wrapping [ErrSchemaTooNew].
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.lockWrites(ctx); err != nil {
		return err
	}
	defer s.unlockWrites()
	tx, err := s.begin(ctx)
	if err != nil {
		return s.fail(ctx, "migrate", err)
	}
	defer tx.Rollback()
	// Not through the statement cache: each runs once, and the migrations
	// are scripts of several statements.
	if _, err := s.execOnce(ctx, tx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return s.fail(ctx, "migrate", err)
	}
	var current int
	s.statements.Add(1)
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return s.fail(ctx, "migrate", err)
	}
	pending, ok := migrations.After(current)
	if !ok {
		return fmt.Errorf("%w: the file is at schema version %d, this package knows up to %d; use a newer release",
			ErrSchemaTooNew, current, migrations.Newest())
	}
	if len(pending) == 0 {
		return nil
	}
	for _, m := range pending {
		if _, err := s.execOnce(ctx, tx, m.SQL); err != nil {
			return s.fail(ctx, "migrate: "+m.Name, err)
		}
		if _, err := s.execOnce(ctx, tx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
			m.Version, time.Now().UnixMilli()); err != nil {
			return s.fail(ctx, "migrate: "+m.Name, err)
		}
	}
	if err := s.commit(tx); err != nil {
		return s.fail(ctx, "migrate", err)
	}
	return nil
}

// execOnce runs query in tx without the statement cache, and counts it.
func (s *Store) execOnce(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	s.statements.Add(1)
	return tx.ExecContext(ctx, query, args...)
}
