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
// Action records ([store.ActionStore], [store.SignalStore];
// docs/stores.md#actions) are the table actions (migration 0005),
// indexed for a user's records newest first (user_id, created_at DESC, id
// DESC), for a user's passed records (user_id, passed_at) and for the
// pending reviews (created_at, where review = 'PENDING'). CreateChallenge
// and BeginChallenge insert a challenge's Challenge.Record in the
// transaction that inserts the challenge; a challenge without one is
// written as before. A trigger on challenges (AFTER UPDATE OF state) keeps
// the record of the same ID in step, inside the statement that changes the
// challenge: its result becomes the new state, its kind the answering
// credential's, and on CONSUMED its passed_at is the changed_at that
// TransitionChallenge and ConsumeChallenge write (the caller's now).
// DecideReview and UseReview are one compare-and-set UPDATE … RETURNING
// each; ForgetActions deletes the user's records and counters in one
// transaction.
//
// # Statements
//
// Every transition is one conditional statement (UPDATE … WHERE id = ? AND
// state = ? AND expires_at > ? RETURNING …); only when it changes no row
// does a second, cheap read tell [store.ErrNotFound] from
// [store.ErrConflict]. The credential cap is an INSERT … SELECT … WHERE
// count < max, atomic under SQLite's write lock.
//
// The steps of a challenge cycle ([store.CycleStore]) are shaped the same
// way; on their success paths a cycle (track → fetch → respond → validate,
// rate limits off) runs 8 statements, pinned by the round-trip test:
//
//   - Track, [Store.BeginChallenge]: 1, an INSERT … SELECT whose WHERE
//     reads the wrong-code counter, the user's credential kinds and the
//     idempotency key, and whose RETURNING reports the counter and the
//     kinds. When it inserts nothing, one read of the counter and the kinds
//     tells why, and a challenge they allow (an idempotent replay, an
//     existing ID) is left to [Store.CreateChallenge].
//   - FetchChallenge, [Store.GetChallenge]: 1.
//   - Respond: [Store.GetChallengeCredential], 1 (a join), then
//     [Store.TransitionChallenge] with CredentialUsed, 4: SQLite changes one
//     table per statement, so the challenge's UPDATE and the credential's
//     last_used_at share an immediate transaction (BEGIN, two UPDATEs,
//     COMMIT), one commit.
//   - Validate, [Store.ConsumeChallenge]: 1, an UPDATE that moves an
//     approved, bound, unexpired challenge to CONSUMED when its credential
//     is still the user's and to FAILED when it is not, and returns the
//     credential's kind; only when it changes nothing does a read return
//     the record as it is.
//
// Only CreateChallenge with an idempotency key, CreateChallenge and
// BeginChallenge with an action record (BEGIN, the two INSERTs, COMMIT: the
// one commit they make anyway), TransitionChallenge with CredentialUsed,
// ForgetActions, Migrate and Sweep use a transaction. A cycle commits three
// times (Track, Respond, Validate): with synchronous(FULL), three fsyncs.
// Each rate limit the Service enforces adds one statement, an upsert (10
// statements per cycle with the default limits).
//
// # Time
//
// Times are stored as unix milliseconds (NULL for the zero time) and come
// back in UTC, truncated to the millisecond. Every read and transition
// compares expires_at with the now the caller passes, as a statement
// parameter; the store never reads a clock to decide a result. Expired rows
// are garbage only: [Store.Sweep] deletes expired tokens, counters, nonces,
// ceremonies and action records, and challenges an hour after their
// expiry, so that waiters read
// EXPIRED rather than not-found meanwhile. A Service over the store runs
// Sweep every Config.SweepInterval (the store is a [store.Sweeper]), so the
// file does not grow.
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
