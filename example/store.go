package main

import (
	"context"
	"fmt"
	"strings"

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
//	redis://… rediss://…   Redis (adapters/redisstore), built with -tags redis
//	postgres://…           PostgreSQL (adapters/pgxstore), built with -tags postgres
//
// The demo compiles only the stores it is built for: SQLite and memory
// always, Redis and PostgreSQL with their build tags (store_redis.go,
// store_postgres.go), so that "go run ./example" builds neither client.
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
		return openPostgres(ctx, url)
	}
	return nil, nil, fmt.Errorf("unknown -store %q: want sqlite:PATH, memory, redis://… or postgres://…", url)
}
