package pgxstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/internal/migrate"
)

// ErrSchemaTooNew is what Migrate reports when the schema was migrated by a
// newer release of pgxstore than this one: this code may not understand
// the tables, so it refuses to run over them. Upgrade the application.
var ErrSchemaTooNew = errors.New("pgxstore: the schema is newer than this release of pgxstore")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// SchemaVersion is the schema version this release of pgxstore migrates to:
// the number of its last migration.
const SchemaVersion = 6

// migrations are the embedded migrations in order; versions run 1, 2, …
// SchemaVersion without gaps, or the package does not initialise.
var migrations = migrate.MustLoad(migrationFiles, "migrations", "pgxstore", SchemaVersion)

// Migrate creates the schema when it does not exist and applies every
// embedded migration it has not had yet, recording each in the table
// schema_version, all in one transaction under a transaction-level
// advisory lock on the schema's name: concurrent Migrate calls of many
// instances run one after the other, and all but the first find nothing to
// do. It fails with ErrSchemaTooNew when the schema is at a version above
// SchemaVersion.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.migrate(ctx, tx) }); err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return err
		}
		return wrap("migrate", err)
	}
	return nil
}

func (s *Store) migrate(ctx context.Context, tx pgx.Tx) error {
	schema := pgx.Identifier{s.schema}.Sanitize()
	if _, err := tx.Exec(ctx, s.q.lock, s.advisoryKey("migrate", "")); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+schema+`.schema_version (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return err
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(max(version), 0) FROM "+schema+".schema_version").Scan(&current); err != nil {
		return err
	}
	pending, ok := migrations.After(current)
	if !ok {
		return fmt.Errorf("%w: schema %q is at version %d; this release knows versions up to %d",
			ErrSchemaTooNew, s.schema, current, SchemaVersion)
	}
	if len(pending) == 0 {
		return nil
	}
	// The migrations name their tables without a schema.
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+schema); err != nil {
		return err
	}
	for _, m := range pending {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+schema+".schema_version (version, applied_at) VALUES ($1, $2)",
			m.Version, time.Now()); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
	}
	return nil
}
