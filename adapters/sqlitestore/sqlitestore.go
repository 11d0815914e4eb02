package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/deviceauth/deviceauth/internal/closeflag"
	"github.com/deviceauth/deviceauth/internal/watchhub"
	"github.com/deviceauth/deviceauth/store"
)

// Defaults of the options.
const (
	// DefaultBusyTimeout is how long a statement waits for a lock another
	// connection holds (WithBusyTimeout).
	DefaultBusyTimeout = 5 * time.Second
	// DefaultPollInterval is how often a watched Store looks for changes
	// made by other connections (WithPollInterval).
	DefaultPollInterval = 50 * time.Millisecond
)

// maxConns bounds the pool: one writer at a time (the semaphore), the Watch
// poller's connection, and readers. Idle connections are kept, because
// opening one re-runs the pragmas and re-reads the schema.
const maxConns = 8

// Option configures Open.
type Option func(*options)

type options struct {
	busyTimeout  time.Duration
	pollInterval time.Duration
	fast         bool
}

// WithBusyTimeout sets how long a statement waits for a lock held by
// another connection (another process, or another Store over the same
// file) before it fails with an error wrapping SQLITE_BUSY. Default
// DefaultBusyTimeout; it is rounded down to whole milliseconds.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithPollInterval sets how often a Store with watchers looks for changes
// made by other connections. Default DefaultPollInterval.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.pollInterval = d }
}

// WithFastCommits sets PRAGMA synchronous=NORMAL instead of the default
// FULL: no fsync per commit, so writes are much faster, and commits still
// survive a crash of the process — but the last ones before a power cut
// may be lost, and with them the record that a challenge was consumed.
// Use it where that risk is acceptable (tests, demos).
func WithFastCommits() Option {
	return func(o *options) { o.fast = true }
}

// Store is a [store.Store] over one SQLite file. Create it with [Open],
// create or upgrade its schema with [Store.Migrate], and release it with
// [Store.Close]. It is safe for concurrent use.
type Store struct {
	db           *sql.DB
	busyTimeout  time.Duration
	pollInterval time.Duration

	// writes is a one-slot semaphore held around every write, so that the
	// writers of one process queue here instead of in SQLite's busy handler.
	writes chan struct{}
	closed closeflag.Flag
	// statements counts the SQL statements the methods ran (not the
	// poller's), for the round-trip test.
	statements atomic.Int64

	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt // by query text

	// consumeRefused, when not nil, runs after a ConsumeChallenge update
	// changed nothing and before the read that follows it (tests only).
	consumeRefused func()

	watchers watchhub.Hub // waiters by challenge ID
	mu       sync.Mutex
	// seen is, by watched challenge ID, the version its waiters were last
	// told of (woken at, or read by their Watch); a newer one wakes them.
	seen    map[string]int64
	poller  *poller // nil while nobody watches
	pollers sync.WaitGroup
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path and
// returns a Store that owns it. path is a file name, not a URI; ":memory:"
// is refused, because each connection of the pool would get its own
// database. Open applies the pragmas of the package documentation to every
// connection and checks that the file can be opened; it does not create
// the schema (see [Store.Migrate]).
func Open(path string, opts ...Option) (*Store, error) {
	o := options{busyTimeout: DefaultBusyTimeout, pollInterval: DefaultPollInterval}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlitestore: open %q: want the path of a database file", path)
	case o.busyTimeout < 0:
		return nil, fmt.Errorf("sqlitestore: busy timeout %v is negative", o.busyTimeout)
	case o.pollInterval <= 0:
		return nil, fmt.Errorf("sqlitestore: poll interval %v is not positive", o.pollInterval)
	}
	db, err := sql.Open("sqlite", dsn(path, o))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if err := db.PingContext(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	s := &Store{
		db:           db,
		busyTimeout:  o.busyTimeout.Truncate(time.Millisecond),
		pollInterval: o.pollInterval,
		writes:       make(chan struct{}, 1),
		stmts:        make(map[string]*sql.Stmt),
		seen:         make(map[string]int64),
	}
	s.watchers.Idle = s.idle
	return s, nil
}

// dsn is modernc.org/sqlite's DSN for path: a file: URI whose _pragma
// parameters run on every new connection (busy_timeout first), and
// _txlock=immediate, which makes BeginTx issue BEGIN IMMEDIATE.
func dsn(path string, o options) string {
	synchronous := "FULL"
	if o.fast {
		synchronous = "NORMAL"
	}
	// In a URI, %, ? and # in the path must be escaped; SQLite decodes them.
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped +
		"?_pragma=busy_timeout(" + strconv.FormatInt(o.busyTimeout.Milliseconds(), 10) + ")" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(" + synchronous + ")" +
		"&_txlock=immediate"
}

// Close closes the channels of every Watch, stops the poller and closes the
// database. Methods called afterwards return [store.ErrClosed]. Closing
// twice is a no-op.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed.Swap(true) {
		s.mu.Unlock()
		return nil
	}
	s.watchers.Close()
	s.stopPoller()
	s.mu.Unlock()
	s.pollers.Wait()
	s.stmtMu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.stmtMu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("sqlitestore: close: %w", err)
	}
	return nil
}

// lockWrites takes the write semaphore, or fails when ctx ends first or
// when the Store's other writers held it for the busy timeout — as they do
// while another connection locks the file, so that the writers queued
// behind them fail after one timeout rather than one each. The caller runs
// unlockWrites after its write.
func (s *Store) lockWrites(ctx context.Context) error {
	if err := s.closed.Check(ctx); err != nil {
		return err
	}
	select {
	case s.writes <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(s.busyTimeout)
	defer timer.Stop()
	select {
	case s.writes <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("sqlitestore: this store's other writes held its write lock for the busy timeout (%v)", s.busyTimeout)
	}
}

func (s *Store) unlockWrites() { <-s.writes }

// exec, query and queryRow run one counted statement, inside tx when it
// is not nil, through the statement cache.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (s *Store) query(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// queryRow is like QueryRowContext: its error, if any, comes from Scan.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) rowScanner {
	st, err := s.stmt(ctx, tx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// stmt counts a statement and returns query prepared, for tx when it is
// not nil. Parsing is most of the cost of a short statement in this
// driver, so each query is prepared once per connection and kept until
// Close. Statements are prepared on first use, because they refer to tables
// that Migrate creates.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	s.statements.Add(1)
	s.stmtMu.Lock()
	st := s.stmts[query]
	s.stmtMu.Unlock()
	if st == nil {
		prepared, err := s.db.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		s.stmtMu.Lock()
		switch st = s.stmts[query]; {
		case s.stmts == nil: // closed meanwhile
			s.stmtMu.Unlock()
			prepared.Close()
			return nil, store.ErrClosed
		case st == nil:
			st = prepared
			s.stmts[query] = st
		default:
			prepared.Close()
		}
		s.stmtMu.Unlock()
	}
	if tx != nil {
		return tx.StmtContext(ctx, st), nil
	}
	return st, nil
}

// errRow is a row whose Scan reports err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// begin starts an immediate transaction (see dsn); it counts as a
// statement, and so does its commit.
func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	s.statements.Add(1)
	return s.db.BeginTx(ctx, nil)
}

func (s *Store) commit(tx *sql.Tx) error {
	s.statements.Add(1)
	return tx.Commit()
}

// rollback ends tx, counted, where the code would otherwise leave it to the
// deferred tx.Rollback (which, after a commit or rollback, does nothing).
func (s *Store) rollback(tx *sql.Tx) {
	s.statements.Add(1)
	tx.Rollback()
}

// fail wraps err, a driver error of operation op, with %w. When ctx has
// ended or the store was closed meanwhile, that is said first (and matches
// errors.Is); SQLITE_BUSY after the busy timeout is named.
func (s *Store) fail(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("sqlitestore: %s: %w: %w", op, ctxErr, err)
	}
	if s.closed.Load() && !errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("sqlitestore: %s: %w: %w", op, store.ErrClosed, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY {
		return fmt.Errorf("sqlitestore: %s: the database stayed locked by another connection for the busy timeout (%v): %w",
			op, s.busyTimeout, err)
	}
	return fmt.Errorf("sqlitestore: %s: %w", op, err)
}

// millis is t as stored: unix milliseconds, NULL for the zero time.
func millis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMillis is the time a column stored by millis holds, in UTC.
func fromMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// stored is t as a read would return it.
func stored(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}
