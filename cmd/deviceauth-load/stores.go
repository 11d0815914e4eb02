package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/adapters/sqlitestore"
	"github.com/deviceauth/deviceauth/internal/pgxtrace"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// backend is the shared state both instances run over: one store value per
// instance (two processes of a deployment would each have their own
// client), or the same value for memstore, which cannot be shared any
// other way. close releases both values and removes everything the run
// created: the SQLite file, the Redis keys of its prefix, the PostgreSQL
// schema.
type backend struct {
	name   string // what the report calls it
	stores [2]store.Store
	// scratch is what the run created and close removes: the SQLite
	// file, the Redis key prefix or the PostgreSQL schema.
	scratch string
	// trips counts the store's round trips (Redis and PostgreSQL); nil
	// for the others.
	trips *roundTrips
	close func(context.Context) error
}

// storeSpec is a parsed -store value.
type storeSpec struct {
	kind string // memstore, sqlite, redis, cluster or postgres
	arg  string // the file, URL or addresses
}

// parseStore reads a -store value: memstore, sqlite or sqlite:PATH,
// redis://… or rediss://…, cluster:ADDR,ADDR,…, postgres://… or
// postgresql://….
func parseStore(v string) (storeSpec, error) {
	switch {
	case v == "memstore":
		return storeSpec{kind: "memstore"}, nil
	case v == "sqlite":
		return storeSpec{kind: "sqlite"}, nil
	case strings.HasPrefix(v, "sqlite:") && len(v) > len("sqlite:"):
		return storeSpec{kind: "sqlite", arg: strings.TrimPrefix(v, "sqlite:")}, nil
	case strings.HasPrefix(v, "redis://"), strings.HasPrefix(v, "rediss://"):
		return storeSpec{kind: "redis", arg: v}, nil
	case strings.HasPrefix(v, "cluster:") && len(v) > len("cluster:"):
		return storeSpec{kind: "cluster", arg: strings.TrimPrefix(v, "cluster:")}, nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		return storeSpec{kind: "postgres", arg: v}, nil
	}
	return storeSpec{}, fmt.Errorf("-store %q: want memstore, sqlite[:PATH], redis://…, cluster:HOST:PORT,… or postgres://…", v)
}

// runName is a fresh name for what a run creates on a shared server (a
// key prefix, a schema): lower case letters and digits after prefix.
func runName(prefix string) string {
	return prefix + strings.ToLower(rand.Text()[:12])
}

// open makes the backend of spec. fast selects SQLite's fast commits;
// conns is the concurrency, which sizes the network stores' pools unless
// the URL sets them: each instance has up to conns store calls in flight,
// about conns/2 on average.
func (spec storeSpec) open(ctx context.Context, fast bool, conns int) (*backend, error) {
	switch spec.kind {
	case "memstore":
		m := memstore.New()
		return &backend{name: "memstore", stores: [2]store.Store{m, m}, close: func(context.Context) error { return nil }}, nil
	case "sqlite":
		return openSQLite(ctx, spec.arg, fast)
	case "redis":
		opts, err := redis.ParseURL(spec.arg)
		if err != nil {
			return nil, fmt.Errorf("-store: %w", err)
		}
		if !strings.Contains(spec.arg, "pool_size=") {
			opts.PoolSize = max(10*runtime.GOMAXPROCS(0), conns) // go-redis's default, or more
		}
		return openRedis(ctx, fmt.Sprintf("redis (pool %d)", opts.PoolSize), func() redis.UniversalClient { return redis.NewClient(opts) })
	case "cluster":
		opts := &redis.ClusterOptions{Addrs: strings.Split(spec.arg, ","), PoolSize: max(10*runtime.GOMAXPROCS(0), conns)}
		return openRedis(ctx, fmt.Sprintf("redis cluster (pool %d per node)", opts.PoolSize), func() redis.UniversalClient {
			return redis.NewClusterClient(opts)
		})
	case "postgres":
		return openPostgres(ctx, spec.arg, conns)
	}
	return nil, fmt.Errorf("unknown store kind %q", spec.kind)
}

// openSQLite opens two handles of a new SQLite file: path, which must not
// exist, or a file in a new temporary directory. The file (with its WAL
// and shared-memory files) is removed at the end.
func openSQLite(ctx context.Context, path string, fast bool) (*backend, error) {
	var dir string
	if path == "" {
		var err error
		if dir, err = os.MkdirTemp("", "deviceauth-load-"); err != nil {
			return nil, err
		}
		path = filepath.Join(dir, "load.db")
	} else if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("-store sqlite:%s: the file exists (or cannot be checked); the load tool only makes a new file, which it removes at the end", path)
	}
	remove := func() error {
		if dir != "" {
			return os.RemoveAll(dir)
		}
		var errs []error
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	var opts []sqlitestore.Option
	name := "sqlite (synchronous=FULL)"
	if fast {
		opts = append(opts, sqlitestore.WithFastCommits())
		name = "sqlite (fast commits)"
	}
	var handles [2]*sqlitestore.Store
	closeAll := func(context.Context) error {
		var errs []error
		for _, h := range handles {
			if h != nil {
				errs = append(errs, h.Close())
			}
		}
		return errors.Join(append(errs, remove())...)
	}
	for i := range handles {
		h, err := sqlitestore.Open(path, opts...)
		if err != nil {
			return nil, errors.Join(err, closeAll(ctx))
		}
		handles[i] = h
	}
	if err := handles[0].Migrate(ctx); err != nil {
		return nil, errors.Join(err, closeAll(ctx))
	}
	return &backend{name: name, stores: [2]store.Store{handles[0], handles[1]}, scratch: path, close: closeAll}, nil
}

// openRedis makes two clients (one per instance) and a Store over each
// with a fresh key prefix, whose keys are deleted at the end on every
// master.
func openRedis(ctx context.Context, name string, newClient func() redis.UniversalClient) (*backend, error) {
	prefix := runName("deviceauth-load-")
	var clients [2]redis.UniversalClient
	var stores [2]*redisstore.Store
	closeAll := func(ctx context.Context) error {
		var errs []error
		for _, s := range stores {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		if clients[0] != nil {
			errs = append(errs, dropPrefix(ctx, clients[0], prefix))
		}
		for _, c := range clients {
			if c != nil {
				errs = append(errs, c.Close())
			}
		}
		return errors.Join(errs...)
	}
	trips := new(roundTrips)
	for i := range clients {
		clients[i] = newClient()
		clients[i].AddHook(trips)
		s, err := redisstore.New(ctx, clients[i], redisstore.WithKeyPrefix(prefix), redisstore.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return nil, errors.Join(err, closeAll(ctx))
		}
		stores[i] = s
	}
	return &backend{name: name, stores: [2]store.Store{stores[0], stores[1]}, scratch: prefix, trips: trips, close: closeAll}, nil
}

// dropPrefix deletes every key of prefix with SCAN and UNLINK, a page at
// a time, on each master of a Cluster.
func dropPrefix(ctx context.Context, client redis.UniversalClient, prefix string) error {
	drop := func(ctx context.Context, c redis.UniversalClient) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+":*", 1000).Result()
			if err != nil {
				return err
			}
			if _, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, k := range keys {
					p.Unlink(ctx, k) // one key each: a Cluster node holds many slots
				}
				return nil
			}); err != nil {
				return err
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return drop(ctx, node) })
	}
	return drop(ctx, client)
}

// openPostgres makes two pools (one per instance) and a Store over each in
// a new schema of a fresh name, created here (so that it cannot be a
// schema that holds anybody's data) and dropped with everything in it at
// the end. The URL's pool_max_conns sizes each pool; without it, a pool
// has pgxpool's default or conns/2 connections, whichever is more: a
// PostgreSQL connection is a server process, and two pools of conns would
// pass the default max_connections (100) at a concurrency of 64.
func openPostgres(ctx context.Context, url string, conns int) (*backend, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("-store: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns=") {
		cfg.MaxConns = max(cfg.MaxConns, int32((conns+1)/2))
	}
	schema := runName("deviceauth_load_")
	var pools [2]*pgxpool.Pool
	var stores [2]*pgxstore.Store
	created := false
	closeAll := func(ctx context.Context) error {
		var errs []error
		for _, s := range stores {
			if s != nil {
				errs = append(errs, s.Close())
			}
		}
		if created {
			if _, err := pools[0].Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("dropping schema %s: %w", schema, err))
			}
		}
		for _, p := range pools {
			if p != nil {
				p.Close()
			}
		}
		return errors.Join(errs...)
	}
	trips := new(roundTrips)
	for i := range pools {
		c := cfg.Copy()
		c.ConnConfig.RuntimeParams["application_name"] = schema
		c.ConnConfig.Tracer = &trips.pg
		if pools[i], err = pgxpool.NewWithConfig(ctx, c); err != nil {
			return nil, errors.Join(err, closeAll(ctx))
		}
	}
	// CREATE SCHEMA without IF NOT EXISTS: an existing schema of that name
	// is an error, never reused.
	if _, err := pools[0].Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return nil, errors.Join(fmt.Errorf("creating schema %s: %w", schema, err), closeAll(ctx))
	}
	created = true
	for i, p := range pools {
		s, err := pgxstore.New(p, pgxstore.WithSchema(schema))
		if err != nil {
			return nil, errors.Join(err, closeAll(ctx))
		}
		stores[i] = s
	}
	if err := stores[0].Migrate(ctx); err != nil {
		return nil, errors.Join(err, closeAll(ctx))
	}
	return &backend{name: fmt.Sprintf("postgres (pool %d)", cfg.MaxConns), stores: [2]store.Store{stores[0], stores[1]}, scratch: schema, trips: trips, close: closeAll}, nil
}

// roundTrips counts a network store's requests, each a round trip: a Redis
// command or pipeline (a redis.Hook), a PostgreSQL statement, batch or
// prepare (a pgx tracer; the statements of a transaction, BEGIN and COMMIT
// included, count one each).
type roundTrips struct {
	n  atomic.Int64        // Redis commands and pipelines
	pg pgxtrace.RoundTrips // PostgreSQL statements, batches and prepares
}

// count is the round trips so far; 0 for a nil counter.
func (c *roundTrips) count() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load() + c.pg.Total()
}

// DialHook counts nothing.
func (c *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook counts a command.
func (c *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook counts a pipeline.
func (c *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// cleanupTimeout bounds the removal of what a run created, which runs
// even after the run was interrupted.
const cleanupTimeout = 30 * time.Second
