//go:build postgres

package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/store"
)

// openPostgres opens a PostgreSQL store at url and migrates its schema.
func openPostgres(ctx context.Context, url string) (store.Store, func(), error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, nil, fmt.Errorf("-store postgres: %w", err)
	}
	s, err := pgxstore.New(pool)
	if err == nil {
		err = s.Migrate(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("-store postgres: %w", err)
	}
	return s, func() { _ = s.Close(); pool.Close() }, nil
}
