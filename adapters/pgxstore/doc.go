// Package pgxstore keeps deviceauth's state in PostgreSQL through pgx v5.
//
// It implements [store.Store] over the application's own *pgxpool.Pool,
// which it never closes, so every instance behind a load balancer sees one
// truth:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	if err != nil { … }
//	defer pool.Close()
//	st, err := pgxstore.New(pool, pgxstore.WithSchema("deviceauth"))
//	if err != nil { … }
//	defer st.Close()
//	if err := st.Migrate(ctx); err != nil { … } // at every start; idempotent
//	svc, err := deviceauth.New(deviceauth.Config{Store: st, … })
//
// # Schema and migrations
//
// The tables live in one schema, "deviceauth" unless [WithSchema] names
// another. [Store.Migrate] creates the schema and applies the migrations
// embedded in the package (migrations/NNNN_*.sql), recording each in the
// table schema_version. It runs in one transaction under
// pg_advisory_xact_lock, so instances started together migrate one after the
// other; it refuses a schema at a newer version than it knows
// ([ErrSchemaTooNew]).
//
// Action records ([store.ActionStore], [store.SignalStore];
// docs/stores.md#actions) are the table actions (migration 0006),
// indexed for a user's records newest first (user_id, created_at DESC, id
// DESC), for a user's passed records (user_id, passed_at) and for the
// pending reviews (created_at, where review = 'PENDING'). A challenge's
// Challenge.Record is inserted by a CTE of the statement that creates the
// challenge (CreateChallenge, BeginChallenge) when the challenge was
// inserted: no round trip more. A trigger on challenges (AFTER UPDATE OF
// state) keeps the record of the same ID in step in the transaction of the
// statement that changes the challenge: its result becomes the new state,
// its kind the answering credential's, and on CONSUMED its passed_at is the
// changed_at that TransitionChallenge and ConsumeChallenge write (the
// caller's now). DecideReview and UseReview are one compare-and-set UPDATE
// … RETURNING each; ReadSignals is one pipelined batch whose tallies
// PostgreSQL computes.
//
// # Atomicity
//
// Every transition is one statement: UPDATE … WHERE id AND state AND
// expires_at > now RETURNING for challenges; DELETE … RETURNING for
// registration tokens; INSERT … ON CONFLICT DO UPDATE for counters (the
// window resets inside the statement), for nonces (claimed only when absent
// or expired) and for idempotency keys (unique per user among unexpired
// challenges). ErrNotFound and ErrConflict are told apart by a second read
// only when a compare-and-set matched nothing. The credential cap is one
// pipelined round trip, an advisory lock on the user and a counting INSERT
// in one implicit transaction.
//
// The steps of a challenge cycle that touch several records
// ([store.CycleStore]) are one statement each, built of data-modifying
// CTEs: BeginChallenge reads the counter, the user's credential kinds and
// the idempotency key's holder and creates the challenge with
// CreateChallenge's own CTEs; TransitionChallenge with CredentialUsed
// updates the credential's last use only when its compare-and-set matched;
// ConsumeChallenge moves an approved, bound challenge whose credential's
// answer the binding admits to CONSUMED (or FAILED, its credential gone)
// and, when it matched nothing, returns the challenge as it is with its
// credential's kind, read FOR SHARE so that a racing writer's commit is
// seen rather than the statement's older snapshot. A second statement runs
// only in races the snapshot cannot see: BeginChallenge when a racing
// create committed the key's holder after the statement began, and
// ConsumeChallenge when the challenge was approved after it began.
//
// # Time
//
// The database clock is never read: every comparison is with the now the
// caller passes (a query parameter, never now()). Times are stored as
// timestamptz, to the microsecond. Expired rows are invisible to reads
// before any sweep; an expired challenge reads as EXPIRED. [Store.Sweep]
// deletes what has expired, keeping challenges [ExpiredChallengeRetention]
// longer; it is garbage collection only, and a Service over the store runs
// it every Config.SweepInterval (the store is a [store.Sweeper]).
//
// # Wake-ups
//
// A trigger on the challenges table sends pg_notify(schema, challengeID) in
// the transaction of an update of a challenge while a waiter watches it,
// whoever the writer. The challenge counts its waiters, across every Store
// over the schema: [Store.Watch] adds one before it returns and takes it
// back when its context ends, each in a statement whose commit does not
// wait for the disk. Inserts, changes of the count and the changes of
// challenges nobody waits for notify nobody. PostgreSQL serialises the
// commits of notifying transactions across the whole server, so a cycle
// nobody waits for (an in-app verification, an application that polls)
// commits without that queue, and one that a page waits for until the
// phone answers queues once, where every cycle queued three times before
// the notify_watched migration. Watch's update and a writer's update take
// the same row lock, so a change committed after Watch returns is one of a
// row that counts the waiter, and notifies. A challenge watched before it
// exists counts its waiter, by a retry every poll interval
// ([WithPollInterval]), once it does, which wakes the waiter. A count left
// too high (a process that stopped with waiters) costs notifications, never
// a wake-up. Instances of a release before the notify_watched migration,
// running beside this one during an upgrade, do not count their waiters:
// they get wake-ups only for challenges this one's waiters watch, and poll
// for the rest (Config.PollInterval).
//
// Each Store holds one LISTEN connection, taken from the pool and hijacked
// out of it (so the pool's settings and hooks apply and its capacity is not
// reduced), run by one goroutine started at the first Watch and stopped by
// [Store.Close]. Watch returns once the connection is listening; on
// connection loss the goroutine reconnects with a backoff capped at the poll
// interval, waking every watcher at each attempt and once more when it is
// back, since notifications sent meanwhile are lost. Waiters poll anyway, so
// a lost wake-up costs latency, not correctness.
//
// # Connections
//
// Each method is one round trip on one pooled connection; a failed
// compare-and-set of TransitionChallenge or RecordAttempt, a refused
// credential and a repeated idempotency key in CreateChallenge take a
// second. A challenge cycle (track → fetch → respond → validate, through
// the Service) is 5 round trips with rate limits off — BeginChallenge;
// GetChallenge; GetChallengeCredential and TransitionChallenge;
// ConsumeChallenge — of which 3 commit a write, and 7 with the default rate
// limits. The in-app cycle (no fetch) is 3 when the instance that tracked
// the challenge has read the answering credential before (the answer is
// the transition alone), 4 otherwise. A Watch is one more, and one when it ends (the count of waiters). Size the pool for the expected concurrency; the LISTEN connection
// is one more server connection per Store. Close the Store before the pool.
package pgxstore
