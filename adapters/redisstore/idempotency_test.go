package redisstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// backends lists the servers a test can run on: miniredis always, the
// shared Redis and Cluster when their variables are set. Each gives a
// client and a key prefix of the test's own.
var backends = []struct {
	name   string
	client func(t *testing.T) (redis.UniversalClient, string)
}{
	{"Miniredis", func(t *testing.T) (redis.UniversalClient, string) {
		_, c := miniredisClient(t)
		return c, "deviceauth"
	}},
	{"Redis", func(t *testing.T) (redis.UniversalClient, string) {
		c := realRedisClient(t)
		return c, isolatedPrefix(t, c)
	}},
	{"Cluster", func(t *testing.T) (redis.UniversalClient, string) {
		c := clusterClient(t)
		return c, isolatedPrefix(t, c)
	}},
}

// CreateChallenge with an idempotency key spans the challenge's hash tag and
// the user's: racing creates with one key, each with its own ID, must all
// return one challenge, the only one stored and listed.
func TestCreateChallenge_RacingIdempotencyKeyHasOneWinner(t *testing.T) {
	const racers, rounds = 32, 10
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			client, prefix := b.client(t)
			st := newStore(t, client, prefix)
			ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
			for round := range rounds {
				key := fmt.Sprintf("key%d", round)
				got := make([]store.Challenge, racers)
				errs := make([]error, racers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range racers {
					wg.Go(func() {
						<-start
						c := store.Challenge{ID: fmt.Sprintf("ch%d-%d", round, i), UserID: "user1", Action: "transfer",
							State: store.StatePending, IdempotencyKey: key, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
						got[i], errs[i] = st.CreateChallenge(ctx, c, now)
					})
				}
				close(start)
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Fatalf("round %d: racer %d: %v", round, i, err)
					}
					if got[i].ID != got[0].ID {
						t.Fatalf("round %d: racers got challenges %s and %s for one idempotency key", round, got[0].ID, got[i].ID)
					}
				}
				stored := 0
				for i := range racers {
					if _, err := st.GetChallenge(ctx, fmt.Sprintf("ch%d-%d", round, i), now); err == nil {
						stored++
					}
				}
				if stored != 1 {
					t.Fatalf("round %d: %d challenges stored, want 1", round, stored)
				}
			}
			list, err := st.ListPendingChallenges(ctx, "user1", now)
			if err != nil || len(list) != rounds {
				t.Fatalf("ListPendingChallenges: %d challenges, %v; want %d, one per key", len(list), err, rounds)
			}
		})
	}
}

// An idempotency key whose challenge was lost (evicted, deleted by hand)
// does not block its user: the next create with the key takes it over.
func TestCreateChallenge_IdempotencyKeyOfLostChallengeIsTakenOver(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, "app")
	ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
	challenge := func(id string) store.Challenge {
		return store.Challenge{ID: id, UserID: "user1", State: store.StatePending, IdempotencyKey: "key1",
			CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	}
	if _, err := st.CreateChallenge(ctx, challenge("ch1"), now); err != nil {
		t.Fatal(err)
	}
	mr.Del("app:v1:{c:ch1}")
	got, err := st.CreateChallenge(ctx, challenge("ch2"), now)
	if err != nil || got.ID != "ch2" {
		t.Fatalf("CreateChallenge after the key's challenge was lost: %s, %v; want ch2 stored", got.ID, err)
	}
	again, err := st.CreateChallenge(ctx, challenge("ch3"), now)
	if err != nil || again.ID != "ch2" {
		t.Fatalf("CreateChallenge repeating the key: %s, %v; want ch2", again.ID, err)
	}
	if _, err := st.GetChallenge(ctx, "ch3", now); err == nil {
		t.Fatal("the repeat ch3 was stored, want it removed")
	}
}
