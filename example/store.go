package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// defaultStore keeps users' devices across restarts in a local file.
const defaultStore = "sqlite:deviceauth-example.db"

// openStore opens the store that url names, migrating its schema where it
// has one, and returns it with the function that closes it:
//
//	sqlite:PATH            a SQLite file (adapters/sqlitestore): the default
//	memory                 in this process only: everything is lost on exit
//	redis://… rediss://…   Redis (adapters/redisstore)
//	postgres://…           PostgreSQL (adapters/pgxstore)
func openStore(ctx context.Context, url string) (store.Store, func(), error) {
	switch {
	case url == "memory":
		s := memstore.New()
		return s, func() { _ = s.Close() }, nil
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		s, err := sqlitestore.Open(path)
		if err != nil {
			return nil, nil, fmt.Errorf("-store %s: %w", url, err)
		}
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, nil, fmt.Errorf("-store %s: %w", url, err)
		}
		return s, func() { _ = s.Close() }, nil
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		return openRedis(ctx, url)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
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
	return nil, nil, fmt.Errorf("unknown -store %q: want sqlite:PATH, memory, redis://… or postgres://…", url)
}
