package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/internal/closeflag"
	"github.com/deviceauth/deviceauth/internal/watchhub"
	"github.com/deviceauth/deviceauth/store"
)

// DefaultKeyPrefix is the key prefix of a Store made without WithKeyPrefix.
const DefaultKeyPrefix = "deviceauth"

// Grace periods added to server-side TTLs, which are garbage collection only
// (see the package doc): results always follow the caller's now.
const (
	// challengeGrace keeps a challenge (and its index entries) an hour past
	// its ExpiresAt, so that waiters read EXPIRED rather than not-found.
	challengeGrace = time.Hour
	// shortGrace covers clock differences between instances for
	// registration tokens, counters and nonces.
	shortGrace = 5 * time.Minute
)

// Store is a [store.Store] over Redis. Create it with [New]; it is safe for
// concurrent use.
type Store struct {
	client redis.UniversalClient
	keys   keyspace
	log    *slog.Logger
	// crossSlot is set when every key lives on one server that checks no
	// hash slots (the client is a *redis.Client — a single node, or a
	// Sentinel master — and the server is not in cluster mode), so that a
	// script may declare keys of any hash tags. Otherwise (a Cluster, a
	// Ring, any other client) a script may declare keys of one tag only:
	// see oneScript.
	crossSlot bool

	closed closeflag.Flag
	wg     sync.WaitGroup // the subscription goroutines

	mu       sync.Mutex // guards sub; closed is set under it
	watchers watchhub.Hub
	sub      *subscription
}

var _ store.Store = (*Store)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	prefix        string
	allowEviction bool
	logger        *slog.Logger
}

// WithKeyPrefix sets the prefix of every key and of the wake-up channel.
// Default DefaultKeyPrefix. Stores that must share state use one prefix;
// applications that share a Redis use one each. The prefix must not be empty
// or contain '{' or '}', which would change the keys' hash tags.
func WithKeyPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}

// AllowEviction makes New accept a server whose maxmemory-policy may evict
// keys, with a warning in the log instead of an error. Evicted nonces,
// counters and challenges weaken replay protection, rate limits and
// approvals: use it only where that is understood.
func AllowEviction() Option {
	return func(o *options) { o.allowEviction = true }
}

// WithLogger sets the logger of the store's warnings (an eviction policy
// that is allowed or unknown, a claimed QR challenge that could not be
// indexed). Default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// ErrEvictionPolicy is reported by New when the server may evict keys and
// AllowEviction was not given.
var ErrEvictionPolicy = errors.New("redisstore: the Redis server may evict keys")

// New returns a Store over client. It checks the server's eviction policy
// (see the package doc) and loads the scripts, so it needs the server up;
// its errors say what failed. The Store never closes client.
func New(ctx context.Context, client redis.UniversalClient, opts ...Option) (*Store, error) {
	if client == nil {
		return nil, errors.New("redisstore: client is nil")
	}
	o := options{prefix: DefaultKeyPrefix, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.prefix == "" || strings.ContainsAny(o.prefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q must not be empty or contain '{' or '}'", o.prefix)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	s := &Store{
		client: client,
		keys:   newKeyspace(o.prefix),
		log:    o.logger,
	}
	if cc, ok := client.(*redis.ClusterClient); ok {
		if o := cc.Options(); o.ReadOnly || o.RouteByLatency || o.RouteRandomly {
			return nil, errors.New("redisstore: the cluster client reads from replicas (ReadOnly, RouteByLatency or RouteRandomly); " +
				"a replica behind its master would show a revoked credential or an answered challenge as they were: use a client that reads from masters")
		}
	}
	if err := s.checkEviction(ctx, o.allowEviction); err != nil {
		return nil, err
	}
	if _, ok := client.(*redis.Client); ok {
		cluster, err := clusterEnabled(ctx, client)
		if err != nil {
			return nil, err
		}
		s.crossSlot = !cluster
	}
	if err := s.loadScripts(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// clusterEnabled reports whether the server behind a plain client runs in
// cluster mode: a Cluster of one master holds every slot, so a plain client
// reaches all its keys, but the server still refuses a script whose keys
// span slots. A server that answers INFO cluster with an error (miniredis;
// a server where INFO is not allowed) is taken for a single node, which it
// almost always is (were it a Cluster, the cycle's scripts would fail with
// CROSSSLOT: closed). An error that is not an answer (the network) is
// returned.
func clusterEnabled(ctx context.Context, client redis.UniversalClient) (bool, error) {
	info, err := client.Info(ctx, "cluster").Result()
	var reply redis.Error
	switch {
	case err == nil:
		return strings.Contains(info, "cluster_enabled:1"), nil
	case errors.As(err, &reply):
		return false, nil
	default:
		return false, wrap("INFO cluster", err)
	}
}

// oneScript reports whether one script may declare keys: on a server that
// checks no slots always, elsewhere when they share a hash tag. An
// operation whose keys pass is one script; otherwise it is made of
// single-slot steps.
func (s *Store) oneScript(keys ...string) bool { return s.crossSlot || oneTag(keys...) }

// eachMaster calls f with each master: every master of a Cluster, or the
// client itself.
func (s *Store) eachMaster(ctx context.Context, f func(context.Context, redis.UniversalClient) error) error {
	if c, ok := s.client.(*redis.ClusterClient); ok {
		return c.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return f(ctx, node) })
	}
	return f(ctx, s.client)
}

// Close stops the wake-up subscription and closes the channels of every
// Watch. It does not close the client. Methods called afterwards return
// [store.ErrClosed]; closing twice is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return nil
	}
	s.closed.Store(true)
	s.watchers.Close()
	sub := s.sub
	s.sub = nil
	s.mu.Unlock()
	if sub != nil {
		sub.stop()
	}
	s.wg.Wait()
	return nil
}

// wrap names the method in a driver error, keeping it for errors.Is.
func wrap(method string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("redisstore: %s: %w", method, err)
}

// unixMilli is t as the store writes it: unix milliseconds in decimal.
func unixMilli(t time.Time) string {
	return fmt.Sprint(t.UnixMilli())
}

// maxTTL caps server-side TTLs, so that a far or zero time cannot overflow
// one.
const maxTTL = 10 * 365 * 24 * time.Hour

// ttl is how long the server keeps a record that expires at expiresAt, in
// milliseconds: relative to the caller's now, never less than grace.
func ttl(expiresAt, now time.Time, grace time.Duration) int64 {
	return (min(max(expiresAt.Sub(now), 0), maxTTL) + grace).Milliseconds()
}
