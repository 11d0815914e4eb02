package pgxstore_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// TestNotify_OnlyWhatAWaiterNeeds counts the NOTIFYs of whole challenge
// cycles, step by step, through a LISTEN connection of the test's own:
// none for a cycle nobody watches (the in-app flow, a polling
// application); for a cycle whose challenge a waiter watches from Track
// on, as a page waiting for the phone does, exactly one at Respond (the
// answer) and one at Validate (the consumption), and none for Track's
// insert, the Fetch or the Watch itself.
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

	var challenge string
	var woken <-chan struct{}
	e.CycleOf(t, func(step int, id string) {
		if step == cycletest.Track {
			challenge = id
			var err error
			if woken, err = st.Watch(t.Context(), id); err != nil {
				t.Fatalf("Watch: %v", err)
			}
			log.mark("Watch")
		}
		log.mark(cycletest.StepNames[step])
		if step == cycletest.Respond {
			wantWakeUp(t, woken, 10*time.Second, "Watch after Respond")
		}
	})
	want = []string{"mark:Watch", "mark:Track", "mark:FetchChallenge", challenge, "mark:Respond", challenge, "mark:Validate"}
	if got := log.until("Validate"); !slices.Equal(got, want) {
		t.Fatalf("a watched cycle notified %q, want %q", got, want)
	}
	wantWakeUp(t, woken, 10*time.Second, "Watch after Validate")
}

// TestWatch_MarkKeepsTheSessionsCommitsSynchronous: the statement that
// marks a challenge watched turns synchronous_commit off for its own
// transaction only; the pool's connection keeps the setting it had.
func TestWatch_MarkKeepsTheSessionsCommitsSynchronous(t *testing.T) {
	// One connection for the statements: the LISTEN connection is
	// hijacked out of the pool, which then opens another.
	pool := newPool(t, 1)
	st := openStore(t, pool, newSchema(t, pool))
	now := time.Now().UTC().Truncate(time.Millisecond)
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := st.CreateChallenge(t.Context(), c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	if _, err := st.Watch(t.Context(), c.ID); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	var watched bool
	var setting string
	if err := pool.QueryRow(t.Context(), "SELECT watched, current_setting('synchronous_commit') FROM "+
		pgx.Identifier{st.Schema()}.Sanitize()+".challenges WHERE id = $1", c.ID).Scan(&watched, &setting); err != nil {
		t.Fatal(err)
	}
	if !watched || setting != "on" {
		t.Fatalf("after Watch: watched %v, the session's synchronous_commit %q; want true, on", watched, setting)
	}
}

// TestWatch_RacingWriterIsNeverMissed races Watch on one Store against an
// answer written through another, as a waiting page and a phone do: after
// Watch returns, the waiter reads the challenge, and when that read still
// finds it pending, a wake-up must come. Watch's mark and the writer's
// update take the same row lock, so either the answer committed before
// Watch returned (the read sees it) or it updated a watched row (it
// notifies). 100 rounds (20 in -short).
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
