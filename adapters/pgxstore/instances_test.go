package pgxstore_test

import (
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/adapters/pgxstore"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store"
)

// TestManyInstances runs the many-instances proof over two Store values on
// two pools sharing one schema, 100 rounds of the validation race (20 in
// -short): a wake-up crosses them only through LISTEN/NOTIFY.
func TestManyInstances(t *testing.T) {
	first, second := newPool(t, 16, noCommitFlush), newPool(t, 16, noCommitFlush)
	schema := newSchema(t, first)
	a, b := openStore(t, first, schema), openStore(t, second, schema)
	instancetest.ManyInstances(t, a, b, rounds(100))
}

// TestWatch_WokenByAnotherStore watches on one Store and writes through
// another over the same schema, for every kind of write that wakes.
func TestWatch_WokenByAnotherStore(t *testing.T) {
	first, second := newPool(t, 4), newPool(t, 4)
	schema := newSchema(t, first)
	// A short poll interval: the creation of a challenge watched before it
	// existed is found by the retry of its count of waiters, every poll
	// interval.
	watching := openStore(t, first, schema, pgxstore.WithPollInterval(20*time.Millisecond))
	writing := openStore(t, second, schema)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)

	// Watching an ID that does not exist yet: its creation wakes, within a
	// poll interval.
	woken, err := watching.Watch(ctx, "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := writing.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	wantWakeUp(t, woken, 10*time.Second, "Watch after CreateChallenge on another store")

	if _, err := writing.RecordAttempt(ctx, "ch1", store.StatePending, now); err != nil {
		t.Fatalf("RecordAttempt: %v", err)
	}
	wantWakeUp(t, woken, 10*time.Second, "Watch after RecordAttempt on another store")

	if _, err := writing.TransitionChallenge(ctx, "ch1", store.Transition{From: store.StatePending, To: store.StateApproved}, now); err != nil {
		t.Fatalf("TransitionChallenge: %v", err)
	}
	wantWakeUp(t, woken, 10*time.Second, "Watch after TransitionChallenge on another store")
}
