package pgxstore_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/store"
)

// notifyLog is a LISTEN connection of its own on a schema's channel, for a
// test to see every NOTIFY the store's trigger sends.
type notifyLog struct {
	t       *testing.T
	pool    *pgxpool.Pool
	conn    *pgxpool.Conn
	channel string
}

func listenTo(t *testing.T, pool *pgxpool.Pool, schema string) *notifyLog {
	t.Helper()
	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "UNLISTEN *")
		conn.Release()
	})
	if _, err := conn.Exec(t.Context(), "LISTEN "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return &notifyLog{t: t, pool: pool, conn: conn, channel: schema}
}

// mark sends a NOTIFY of its own with payload "mark:"+name, in a
// transaction of its own: PostgreSQL delivers the notifications of
// different transactions in the order they committed, so the marks cut the
// log into what was committed between them.
func (n *notifyLog) mark(name string) {
	n.t.Helper()
	if _, err := n.pool.Exec(n.t.Context(), "SELECT pg_notify($1, $2)", n.channel, "mark:"+name); err != nil {
		n.t.Fatalf("pg_notify: %v", err)
	}
}

// until returns the payloads received up to and including mark name.
func (n *notifyLog) until(name string) []string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(n.t.Context(), 10*time.Second) // a failure bound only
	defer cancel()
	var got []string
	for {
		msg, err := n.conn.Conn().WaitForNotification(ctx)
		if err != nil {
			n.t.Fatalf("waiting for the mark %q after %v: %v", name, got, err)
		}
		got = append(got, msg.Payload)
		if msg.Payload == "mark:"+name {
			return got
		}
	}
}

// waiters reads the count of waiters of challenge id in schema.
func waiters(t *testing.T, pool *pgxpool.Pool, schema, id string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT watchers FROM "+pgx.Identifier{schema}.Sanitize()+
		".challenges WHERE id = $1", id).Scan(&n); err != nil {
		t.Fatalf("reading the count of waiters of %s: %v", id, err)
	}
	return n
}

// wantWaiters waits until the count of waiters of challenge id is want:
// a waiter's leave is taken back by a goroutine of the store.
func wantWaiters(t *testing.T, pool *pgxpool.Pool, schema, id string, want int) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("the count of waiters of %s reaching %d", id, want), func() bool {
		return waiters(t, pool, schema, id) == want
	})
}

// TestNotify_OnlyWhatAWaiterNeeds counts the NOTIFYs of whole challenge
// cycles, step by step, through a LISTEN connection of the test's own:
// none for a cycle nobody watches (the in-app flow, a polling
// application); for a cycle whose challenge a waiter watches from Track to
// the end, exactly one at Respond (the answer) and one at Validate (the
// consumption), and none for Track's insert, the Fetch or the Watch; and
// when the waiter leaves once woken by the answer, as a page waiting for
// the phone does, only the one at Respond.
func TestNotify_OnlyWhatAWaiterNeeds(t *testing.T) {
	pool := newPool(t, 4)
	schema := newSchema(t, pool)
	st := openStore(t, pool, schema)
	e := cycletest.New(t, st)
	log := listenTo(t, pool, schema)

	e.Cycle(t, func(step int) { log.mark(cycletest.StepNames[step]) })
	want := []string{"mark:Track", "mark:FetchChallenge", "mark:Respond", "mark:Validate"}
	if got := log.until("Validate"); !slices.Equal(got, want) {
		t.Fatalf("a cycle nobody watches notified %q, want only the test's marks %q", got, want)
	}

	for _, leaves := range []bool{false, true} {
		var challenge string
		var woken <-chan struct{}
		ctx, leave := context.WithCancel(t.Context())
		e.CycleOf(t, func(step int, id string) {
			if step == cycletest.Track {
				challenge = id
				var err error
				if woken, err = st.Watch(ctx, id); err != nil {
					t.Fatalf("Watch: %v", err)
				}
				if n := waiters(t, pool, schema, id); n != 1 {
					t.Fatalf("after Watch the challenge counts %d waiters, want 1", n)
				}
				log.mark("Watch")
			}
			log.mark(cycletest.StepNames[step])
			if step == cycletest.Respond {
				wantWakeUp(t, woken, 10*time.Second, "Watch after Respond")
				if leaves {
					leave()
					wantWaiters(t, pool, schema, id, 0)
				}
			}
		})
		leave()
		want = []string{"mark:Watch", "mark:Track", "mark:FetchChallenge", challenge, "mark:Respond", challenge, "mark:Validate"}
		if leaves {
			want = slices.Delete(want, 5, 6)
		}
		if got := log.until("Validate"); !slices.Equal(got, want) {
			t.Fatalf("a watched cycle (the waiter leaves after the answer: %v) notified %q, want %q", leaves, got, want)
		}
	}
}

// TestNotify_WhileAnyWaiterWaits: waiters of one challenge on two Stores
// (two instances) each count; the challenge's changes notify, and wake the
// one still waiting, until the last has left; a waiter that leaves before
// its challenge exists is never counted.
func TestNotify_WhileAnyWaiterWaits(t *testing.T) {
	first, second := newPool(t, 4), newPool(t, 4)
	schema := newSchema(t, first)
	a := openStore(t, first, schema, pgxstore.WithPollInterval(20*time.Millisecond))
	b := openStore(t, second, schema)
	log := listenTo(t, first, schema)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}

	early, leaveEarly := context.WithCancel(t.Context())
	if _, err := a.Watch(early, c.ID); err != nil {
		t.Fatalf("Watch before the challenge exists: %v", err)
	}
	leaveEarly()
	eventually(t, 10*time.Second, "the early waiter's leave", func() bool { return pgxstore.Uncounted(a) == 0 })
	if _, err := b.CreateChallenge(t.Context(), c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	ctxA, leaveA := context.WithCancel(t.Context())
	if _, err := a.Watch(ctxA, c.ID); err != nil {
		t.Fatalf("Watch on the first store: %v", err)
	}
	wokenB, err := b.Watch(t.Context(), c.ID)
	if err != nil {
		t.Fatalf("Watch on the second store: %v", err)
	}
	// The early waiter left before its challenge existed: only these two
	// count.
	wantWaiters(t, first, schema, c.ID, 2)
	leaveA()
	wantWaiters(t, first, schema, c.ID, 1)
	if _, err := a.RecordAttempt(t.Context(), c.ID, store.StatePending, now); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	wantWakeUp(t, wokenB, 10*time.Second, "the second store's waiter after the first left")
	log.mark("attempt")
	if got, want := log.until("attempt"), []string{c.ID, "mark:attempt"}; !slices.Equal(got, want) {
		t.Fatalf("a change with one waiter left notified %q, want %q", got, want)
	}
	b.Close() // its waiter leaves with it; the count stays, which costs notifications only
	if n := waiters(t, first, schema, c.ID); n != 1 {
		t.Fatalf("after the second store closed the challenge counts %d waiters, want its 1 left as it was", n)
	}
}

// TestWatch_RacingWriterIsNeverMissed races Watch on one Store against an
// answer written through another, as a waiting page and a phone do: after
// Watch returns, the waiter reads the challenge, and when that read still
// finds it pending, a wake-up must come. Watch's count and the writer's
// update take the same row lock, so either the answer committed before
// Watch returned (the read sees it) or it updated a row that counts the
// waiter (it notifies). 100 rounds (20 in -short).
func TestWatch_RacingWriterIsNeverMissed(t *testing.T) {
	first, second := newPool(t, 8, noCommitFlush), newPool(t, 8, noCommitFlush)
	schema := newSchema(t, first)
	watching, writing := openStore(t, first, schema), openStore(t, second, schema)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	sawPending := 0
	for round := range rounds(100) {
		c := store.Challenge{ID: "ch" + strconv.Itoa(round), UserID: "user1", Action: "transfer", State: store.StatePending,
			CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
		if _, err := writing.CreateChallenge(ctx, c, now); err != nil {
			t.Fatalf("CreateChallenge: %v", err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Go(func() {
			<-start
			if _, err := writing.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved}, now); err != nil {
				t.Errorf("round %d: TransitionChallenge: %v", round, err)
			}
		})
		close(start)
		woken, err := watching.Watch(ctx, c.ID)
		if err != nil {
			t.Fatalf("round %d: Watch: %v", round, err)
		}
		got, err := watching.GetChallenge(ctx, c.ID, now)
		if err != nil {
			t.Fatalf("round %d: GetChallenge: %v", round, err)
		}
		if got.State == store.StatePending {
			sawPending++
			wantWakeUp(t, woken, 10*time.Second, "round "+strconv.Itoa(round)+": Watch of a challenge read as pending after it")
		}
		wg.Wait()
	}
	t.Logf("%d of %d rounds read the challenge pending after Watch and were woken", sawPending, rounds(100))
}

// TestWatch_CountKeepsTheSessionsCommitsSynchronous: the statements that
// count a waiter in and out turn synchronous_commit off for their own
// transactions only; the pool's connection keeps the setting it had.
func TestWatch_CountKeepsTheSessionsCommitsSynchronous(t *testing.T) {
	// One connection for the statements: the LISTEN connection is
	// hijacked out of the pool, which then opens another.
	pool := newPool(t, 1)
	schema := newSchema(t, pool)
	st := openStore(t, pool, schema)
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := st.CreateChallenge(t.Context(), c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	ctx, leave := context.WithCancel(t.Context())
	if _, err := st.Watch(ctx, c.ID); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	leave()
	wantWaiters(t, pool, schema, c.ID, 0)
	var setting string
	if err := pool.QueryRow(t.Context(), "SELECT current_setting('synchronous_commit')").Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "on" {
		t.Fatalf("after a waiter came and left, the session's synchronous_commit is %q, want on", setting)
	}
}
