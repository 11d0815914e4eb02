package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaTooNew is reported by Migrate when the file's schema_version is
// newer than the newest migration this package knows: the file was written
// by a newer release, which an older one must not touch.
var ErrSchemaTooNew = errors.New("sqlitestore: the database schema is newer than this version of sqlitestore")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one file of migrations/, NNNN_name.sql, applied in order of
// its number.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations in order, numbered 1, 2, 3 …
var migrations = mustLoadMigrations()

func mustLoadMigrations() []migration {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		panic(err)
	}
	var list []migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil {
			panic("sqlitestore: migration " + e.Name() + " is not named NNNN_name.sql")
		}
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			panic(err)
		}
		list = append(list, migration{version: version, name: e.Name(), sql: string(body)})
	}
	slices.SortFunc(list, func(a, b migration) int { return a.version - b.version })
	for i, m := range list {
		if m.version != i+1 {
			panic(fmt.Sprintf("sqlitestore: migration %s: want number %d", m.name, i+1))
		}
	}
	return list
}

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
	newest := migrations[len(migrations)-1].version
	if current > newest {
		return fmt.Errorf("%w: the file is at schema version %d, this package knows up to %d; use a newer release",
			ErrSchemaTooNew, current, newest)
	}
	if current == newest {
		return nil
	}
	for _, m := range migrations[current:] {
		if _, err := s.execOnce(ctx, tx, m.sql); err != nil {
			return s.fail(ctx, "migrate: "+m.name, err)
		}
		if _, err := s.execOnce(ctx, tx, `INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`,
			m.version, time.Now().UnixMilli()); err != nil {
			return s.fail(ctx, "migrate: "+m.name, err)
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
