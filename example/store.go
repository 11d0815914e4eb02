package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// openStore opens the store that url names and returns it with the
// function that closes it:
//
//	memory                 in this process only: everything is lost on exit
//	sqlite:PATH            a SQLite file (adapters/sqlitestore)
//	redis://… rediss://…   Redis (adapters/redisstore)
//	postgres://…           PostgreSQL (adapters/pgxstore)
func openStore(ctx context.Context, url string) (store.Store, func(), error) {
	switch {
	case url == "memory":
		s := memstore.New()
		return s, func() { _ = s.Close() }, nil
	case strings.HasPrefix(url, "sqlite:"):
		// TODO(lead): wire in adapters/sqlitestore: sqlitestore.Open(path),
		// then Migrate(ctx).
		return nil, nil, notBuiltYet(url, "adapters/sqlitestore")
	case strings.HasPrefix(url, "redis://"), strings.HasPrefix(url, "rediss://"):
		// TODO(lead): wire in adapters/redisstore: redis.ParseURL(url),
		// redis.NewUniversalClient, then redisstore.New(ctx, client).
		return nil, nil, notBuiltYet(url, "adapters/redisstore")
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		// TODO(lead): wire in adapters/pgxstore: pgxpool.New(ctx, url),
		// pgxstore.New(pool), then Migrate(ctx).
		return nil, nil, notBuiltYet(url, "adapters/pgxstore")
	}
	return nil, nil, fmt.Errorf("unknown -store %q: want memory, sqlite:PATH, redis://… or postgres://…", url)
}

func notBuiltYet(url, adapter string) error {
	scheme, _, _ := strings.Cut(url, ":")
	return fmt.Errorf("-store %s: the %s adapter is not built into the example yet; use -store memory", scheme, adapter)
}
