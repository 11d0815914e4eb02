package pgxstore

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/internal/closeflag"
	"github.com/deviceauth/deviceauth/store"
)

// DefaultSchema is the schema a Store uses unless WithSchema names another.
const DefaultSchema = "deviceauth"

// DefaultPollInterval is the poll interval a Store uses unless
// WithPollInterval sets another.
const DefaultPollInterval = 2 * time.Second

// ExpiredChallengeRetention is how long Sweep keeps a challenge past its
// ExpiresAt, so that a waiting browser or device reads EXPIRED rather than
// not-found meanwhile.
const ExpiredChallengeRetention = time.Hour

// Store is a [store.Store] over a pgx connection pool. Create it with New,
// create or upgrade its tables with Migrate, stop it with Close. It is safe
// for concurrent use; any number of Store values, in any number of
// processes, may share one schema.
type Store struct {
	pool     *pgxpool.Pool
	schema   string
	q        queries
	closed   closeflag.Flag
	listener *listener
}

var _ store.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*config) error

type config struct {
	schema       string
	pollInterval time.Duration
}

// WithSchema sets the PostgreSQL schema that holds the store's tables.
// Default DefaultSchema. Migrate creates it when it does not exist. The
// schema also names the LISTEN/NOTIFY channel of challenge changes, so every
// Store over one schema hears the others; it must be 1 to 63 bytes (a
// PostgreSQL identifier) without NUL.
func WithSchema(name string) Option {
	return func(c *config) error {
		if name == "" || len(name) > 63 || strings.ContainsRune(name, 0) {
			return fmt.Errorf("pgxstore: schema name %q must be 1 to 63 bytes without NUL", name)
		}
		c.schema = name
		return nil
	}
}

// WithPollInterval bounds how long a lost wake-up can go unnoticed when the
// LISTEN connection is down: the store retries it with a backoff capped at
// d, wakes every watcher at each failed attempt (so that waiters re-read,
// which is polling) and once more when it is back. A LISTEN connection
// silent for d is pinged, and a challenge watched before it existed is
// looked for every d. Default DefaultPollInterval; at least 10 ms.
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d < 10*time.Millisecond {
			return fmt.Errorf("pgxstore: poll interval %v is below 10ms", d)
		}
		c.pollInterval = d
		return nil
	}
}

// New returns a Store over pool, the application's own pool, which the Store
// never closes. New does not touch the database: call Migrate (once per
// deployment or at every start; it is idempotent) before using the Store.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("pgxstore: pool is nil")
	}
	cfg := config{schema: DefaultSchema, pollInterval: DefaultPollInterval}
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	s := &Store{
		pool:   pool,
		schema: cfg.schema,
		q:      newQueries(pgx.Identifier{cfg.schema}.Sanitize()),
	}
	s.listener = newListener(pool, cfg.schema, cfg.pollInterval, &s.q)
	return s, nil
}

// Schema returns the name of the schema the Store uses.
func (s *Store) Schema() string { return s.schema }

// Close stops the LISTEN goroutine, closes its connection and the channels
// of every Watch. It does not close the pool. Methods called afterwards
// return store.ErrClosed; later calls of Close return nil.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	s.listener.close()
	return nil
}

// advisoryKey maps a name within this schema to a 64-bit advisory lock key;
// the schema keeps keys apart from other schemas' in the same database. A
// collision only makes two unrelated callers wait for each other.
func (s *Store) advisoryKey(kind, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte(s.schema))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	h.Write([]byte{0})
	h.Write([]byte(name))
	return int64(h.Sum64())
}

// wrap adds what failed to a driver error, keeping it for errors.Is/As.
func wrap(what string, err error) error {
	return fmt.Errorf("pgxstore: %s: %w", what, err)
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// Times are kept as timestamptz, to the microsecond (pgx truncates).
// Optional times are NULL when zero, so the zero time survives a round trip
// as the zero time.

// nullTime returns nil for the zero time and t otherwise, for a nullable
// timestamptz parameter.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromNullTime is the inverse of nullTime for a scanned value.
func fromNullTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// storedTime is t as the database gives it back.
func storedTime(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond)
}
