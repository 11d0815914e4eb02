// Package sqlitestore keeps deviceauth's state in one SQLite file, through
// modernc.org/sqlite (pure Go, no cgo).
//
// It implements [store.Store] for applications that run on one machine:
// one process, or several processes (or several [Store] values) sharing the
// file, all seeing one truth. Several machines need a server-backed adapter
// (pgxstore, redisstore).
//
//	st, err := sqlitestore.Open("/var/lib/app/deviceauth.db")
//	if err != nil {
//		return err
//	}
//	defer st.Close()
//	if err := st.Migrate(ctx); err != nil { // once at start-up; idempotent
//		return err
//	}
//	svc, err := deviceauth.New(deviceauth.Config{Store: st, …})
//
// # Connection
//
// [Open] builds its own DSN, so every connection of its pool gets the same
// pragmas:
//
//   - journal_mode(WAL): readers never block the writer nor the writer them,
//     and other processes may open the file at the same time.
//   - busy_timeout (5 s, [WithBusyTimeout]): a statement that finds the
//     file locked by another connection waits that long before it fails;
//     the error then wraps SQLITE_BUSY and says so.
//   - synchronous(FULL): every commit is synced to disk before it returns,
//     so a power cut cannot undo it — a consumed challenge cannot come back
//     as APPROVED and validate twice. It costs an fsync per write
//     (milliseconds on ordinary disks). [WithFastCommits] selects NORMAL:
//     in WAL mode a commit still survives a crash of the process, but the
//     last commits before a power cut or kernel crash may be lost.
//   - _txlock=immediate: every transaction is BEGIN IMMEDIATE, so it takes
//     the write lock up front and waits for it under the busy timeout,
//     instead of failing at its first write because another connection
//     wrote since it started reading.
//
// Within one Store, writes also take a one-slot semaphore, so the
// goroutines of one process queue in Go rather than spin in SQLite's busy
// handler (they wait for it at most the busy timeout too); reads run in
// parallel on the pool's other connections.
//
// # Schema
//
// The schema is created by [Store.Migrate] from the numbered SQL files
// embedded from migrations/, recorded in a schema_version table. Migrate
// runs in one immediate transaction, so two processes calling it at once
// are serialised and the second finds nothing to do; a file migrated by a
// newer release is refused with [ErrSchemaTooNew]. Open never changes the
// schema.
//
// # Statements
//
// Every transition is one conditional statement (UPDATE … WHERE id = ? AND
// state = ? AND expires_at > ? RETURNING …); only when it changes no row
// does a second, cheap read tell [store.ErrNotFound] from
// [store.ErrConflict]. The credential cap is an INSERT … SELECT … WHERE
// count < max, atomic under SQLite's write lock. Only CreateChallenge with
// an idempotency key, Migrate and Sweep use a transaction.
//
// # Time
//
// Times are stored as unix milliseconds (NULL for the zero time) and come
// back in UTC, truncated to the millisecond. Every read and transition
// compares expires_at with the now the caller passes, as a statement
// parameter; the store never reads a clock to decide a result. Expired rows
// are garbage only: [Store.Sweep] deletes expired tokens, counters and
// nonces, and challenges an hour after their expiry, so that waiters read
// EXPIRED rather than not-found meanwhile. Nothing sweeps on its own; call
// Sweep from a ticker if the file should not grow.
//
// # Wake-ups
//
// [Store.Watch] channels are woken at once by changes made through the same
// Store value. Changes made by other Store values or other processes are
// found by a poller goroutine that runs only while the Store has watchers:
// every 50 ms ([WithPollInterval]) it reads PRAGMA data_version on a
// connection of its own, which moves when another connection commits, and
// only then reads the version column of the watched challenges and wakes
// those that changed. The poller stops when the last watcher leaves and at
// [Store.Close], which also closes every Watch channel and the database.
package sqlitestore
