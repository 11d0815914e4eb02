package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Rounds of the racing tests. The real servers run the suite's full 100
// rounds of 64 racers (20 rounds in -short, as storetest suggests).
// miniredis runs fewer: it executes every command under one lock, so it
// cannot show a race the real servers would hide, and its Lua interpreter
// costs milliseconds per script under -race on this machine; the real
// servers are where races are proved.
const miniredisRounds = 25

func serverRounds() int {
	if testing.Short() {
		return 20
	}
	return 100
}

// twins remembers how each store of a conformance run was made, so that
// Harness.Twin makes a second Store over the same server and prefix, on a
// client of its own: what a second instance holds.
type twins struct{ again sync.Map } // store.Store → func(testing.TB) store.Store

// made records that again makes another Store like st, and returns st.
func (tw *twins) made(st store.Store, again func(testing.TB) store.Store) store.Store {
	tw.again.Store(st, again)
	return st
}

func (tw *twins) twin(t testing.TB, st store.Store) store.Store {
	again, _ := tw.again.Load(st)
	return again.(func(testing.TB) store.Store)(t)
}

// Each test of the suite gets its own miniredis.
func TestConformance_Miniredis(t *testing.T) {
	t.Parallel()
	var tw twins
	storetest.Run(t, storetest.Harness{Rounds: miniredisRounds, Twin: tw.twin, New: func(t testing.TB) store.Store {
		mr, client := miniredisClient(t)
		return tw.made(newStore(t, client, redisstore.DefaultKeyPrefix), func(t testing.TB) store.Store {
			return newStore(t, newClient(t, mr.Addr()), redisstore.DefaultKeyPrefix)
		})
	}})
}

// As TestConformance_Miniredis, through a client that is not a
// *redis.Client: a Ring of one shard. The Store then makes the steps that
// span hash tags of single-slot operations, as on a Cluster, so that path
// is proved even where no Cluster is configured.
func TestConformance_MiniredisInSteps(t *testing.T) {
	t.Parallel()
	var tw twins
	storetest.Run(t, storetest.Harness{Rounds: miniredisRounds, Twin: tw.twin, New: func(t testing.TB) store.Store {
		mr := miniredis.RunT(t)
		return tw.made(newStore(t, ringClient(t, mr.Addr()), redisstore.DefaultKeyPrefix), func(t testing.TB) store.Store {
			return newStore(t, ringClient(t, mr.Addr()), redisstore.DefaultKeyPrefix)
		})
	}})
}

// Each test of the suite gets its own key prefix on the shared Redis,
// deleted afterwards.
func TestConformance_Redis(t *testing.T) {
	t.Parallel()
	client := realRedisClient(t)
	var tw twins
	storetest.Run(t, storetest.Harness{Rounds: serverRounds(), Twin: tw.twin, New: func(t testing.TB) store.Store {
		prefix := isolatedPrefix(t, client)
		return tw.made(newStore(t, client, prefix), func(t testing.TB) store.Store {
			return newStore(t, realRedisClient(t), prefix)
		})
	}})
}

// As TestConformance_Redis, on the shared Cluster: every script the Store
// runs there must touch one slot, or Redis refuses it with CROSSSLOT.
func TestConformance_Cluster(t *testing.T) {
	t.Parallel()
	client := clusterClient(t)
	var tw twins
	storetest.Run(t, storetest.Harness{Rounds: serverRounds(), Twin: tw.twin, New: func(t testing.TB) store.Store {
		prefix := isolatedPrefix(t, client)
		return tw.made(newStore(t, client, prefix), func(t testing.TB) store.Store {
			return newStore(t, clusterClient(t), prefix)
		})
	}})
}

// Two clients, two Store values, one miniredis: wake-ups cross the Store
// values through pub/sub.
func TestManyInstances_Miniredis(t *testing.T) {
	t.Parallel()
	mr, first := miniredisClient(t)
	second := newClient(t, mr.Addr())
	instancetest.ManyInstances(t, newStore(t, first, "deviceauth"), newStore(t, second, "deviceauth"), miniredisRounds)
}

func TestManyInstances_Redis(t *testing.T) {
	t.Parallel()
	first, second := realRedisClient(t), realRedisClient(t)
	prefix := isolatedPrefix(t, first)
	instancetest.ManyInstances(t, newStore(t, first, prefix), newStore(t, second, prefix), serverRounds())
}

func TestManyInstances_Cluster(t *testing.T) {
	t.Parallel()
	first, second := clusterClient(t), clusterClient(t)
	prefix := isolatedPrefix(t, first)
	instancetest.ManyInstances(t, newStore(t, first, prefix), newStore(t, second, prefix), serverRounds())
}

// Stores with different prefixes over one server share nothing, wake-ups
// included.
func TestKeyPrefix_SeparatesStores(t *testing.T) {
	_, client := miniredisClient(t)
	a, b := newStore(t, client, "app1"), newStore(t, client, "app2")
	ctx, now := t.Context(), time.Now()
	c := store.Challenge{ID: "ch1", UserID: "user1", State: store.StatePending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if _, err := a.CreateChallenge(ctx, c, now); err != nil {
		t.Fatalf("CreateChallenge: %v", err)
	}
	if _, err := b.GetChallenge(ctx, c.ID, now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetChallenge through another prefix: %v, want ErrNotFound", err)
	}
	woken, err := b.Watch(ctx, c.ID)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := a.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateDenied}, now); err != nil {
		t.Fatalf("TransitionChallenge: %v", err)
	}
	// A wake-up would arrive within milliseconds; this bounds the check,
	// it is not a wait for time to pass.
	select {
	case <-woken:
		t.Fatal("a change under prefix app1 woke a waiter under prefix app2")
	case <-time.After(200 * time.Millisecond):
	}
}

func TestNew_RefusesPrefixesThatBreakHashTags(t *testing.T) {
	_, client := miniredisClient(t)
	for _, prefix := range []string{"", "{app}", "app}", "a{b"} {
		if st, err := redisstore.New(t.Context(), client, quiet, redisstore.WithKeyPrefix(prefix)); err == nil {
			st.Close()
			t.Errorf("New with prefix %q succeeded, want an error", prefix)
		}
	}
}

// The keys are those the package doc lists: namespaced, versioned, a
// record whose ID carries a user's tag in that tag, with the user's keys
// and the counters that name the user; other records each in a tag of
// their own.
func TestKeyLayout(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, "app")
	ctx, now := t.Context(), time.Now()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// alice's tag, ids.UserTag("alice"), is hCJ.
	const chTagged, crTagged = "ch_hCJAAAAAAAAAAAAAAAAAAAAAA", "cr_hCJBBBBBBBBBBBBBBBBBBBBBB"
	if tag, ok := ids.IDTag(chTagged); !ok || tag != ids.UserTag("alice") {
		t.Fatalf("the test's tagged IDs carry %q, %v; want alice's tag %q", tag, ok, ids.UserTag("alice"))
	}
	must(st.CreateCredential(ctx, store.Credential{ID: "cred1", UserID: "alice", Kind: store.KindDevice, CreatedAt: now}, 10))
	must(st.CreateCredential(ctx, store.Credential{ID: crTagged, UserID: "alice", Kind: store.KindDevice, CreatedAt: now}, 10))
	_, err := st.CreateChallenge(ctx, store.Challenge{ID: "ch1", UserID: "alice", State: store.StatePending,
		IdempotencyKey: "k1", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, now)
	must(err)
	_, err = st.CreateChallenge(ctx, store.Challenge{ID: chTagged, UserID: "alice", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, now)
	must(err)
	must(st.PutRegistrationToken(ctx, store.RegistrationToken{Hash: []byte{0xfb, 0xff}, UserID: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	for _, key := range []string{"rate:x", "wrongcode:5:alice:transfer", "wrongcode:6:alice:transfer", "wrongcode:05:alice:x"} {
		_, err = st.IncrementCounter(ctx, key, time.Minute, now)
		must(err)
	}
	must(st.ClaimNonce(ctx, "n1", now.Add(time.Minute), now))
	const acTagged = "ac_hCJCCCCCCCCCCCCCCCCCCCCCC"
	must(st.PutAction(ctx, store.ActionRecord{ID: acTagged, UserID: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour),
		PassedAt: now, Review: store.ReviewPending}))
	must(st.PutAction(ctx, store.ActionRecord{ID: "act1", UserID: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))

	// alice's keys: her tag, then base64url of the first 16 bytes of
	// SHA-256("alice").
	const alice = "app:v1:{t:hCJ}:u:K9gGyX8OAK8aH8Myj6djqQ"
	want := []string{
		"app:v1:ctr:rate:x",
		"app:v1:ctr:wrongcode:6:alice:transfer", // names no user of 6 bytes
		"app:v1:ctr:wrongcode:05:alice:x",       // a length is written without leading zeros
		"app:v1:nonce:n1",
		"app:v1:rt:-_8",
		"app:v1:reviews", // action records whose review is pending
		"app:v1:{a:act1}",
		"app:v1:{c:ch1}",
		"app:v1:{k:cred1}",
		"app:v1:{t:hCJ}:a:" + acTagged,
		"app:v1:{t:hCJ}:c:" + chTagged,
		"app:v1:{t:hCJ}:k:" + crTagged,
		"app:v1:{t:hCJ}:ctr:wrongcode:5:alice:transfer", // a counter that names alice
		alice + ":creds",
		alice + ":idem:arnx6499M4j0-dWG9m6Z_VQIDfLERvDlhmiwnAihbdA", // SHA-256 of "k1"
		alice + ":pending",
		alice + ":actions", // action record IDs by creation time
		alice + ":passed",  // and by pass time
	}
	got := mr.Keys()
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("keys:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	// The user's credential index maps each ID to its kind, which
	// BeginChallenge reads and ConsumeChallenge checks; on a single node
	// every entry is written with its record, so none is a hint.
	for _, id := range []string{"cred1", crTagged} {
		if kind := mr.HGet(alice+":creds", id); kind != string(store.KindDevice) {
			t.Errorf("the user's credential index maps %s to %q, want %q", id, kind, store.KindDevice)
		}
	}
	// Server-side TTLs are garbage collection: a challenge is kept an hour
	// past its ExpiresAt, credentials for ever.
	if ttl := mr.TTL("app:v1:{c:ch1}"); ttl != time.Minute+time.Hour {
		t.Errorf("TTL of the challenge: %v, want ExpiresAt − now + 1h", ttl)
	}
	// An action record is kept until its ExpiresAt, and its user's index
	// as long as it.
	for _, key := range []string{"app:v1:{a:act1}", alice + ":actions"} {
		if ttl := mr.TTL(key); ttl != time.Hour+time.Millisecond {
			t.Errorf("TTL of %s: %v, want ExpiresAt − CreatedAt + 1 ms", key, ttl)
		}
	}
	if ttl := mr.TTL("app:v1:{k:cred1}"); ttl != 0 {
		t.Errorf("TTL of the credential: %v, want none", ttl)
	}
}

// Server-side TTLs are garbage collection only: the server keeps an expired
// challenge for the grace hour, in which it reads EXPIRED, and a nonce the
// server still holds past its expiry is claimed again.
func TestServerTTL_IsGarbageCollectionOnly(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, "deviceauth")
	ctx, now := t.Context(), time.Now()
	c := store.Challenge{ID: "ch1", UserID: "u", State: store.StatePending, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := st.CreateChallenge(ctx, c, now); err != nil {
		t.Fatal(err)
	}
	if err := st.ClaimNonce(ctx, "n1", now.Add(4*time.Minute), now); err != nil {
		t.Fatal(err)
	}

	mr.FastForward(5*time.Minute + 59*time.Minute) // the server's TTLs run down
	later := now.Add(5*time.Minute + 59*time.Minute)
	if got, err := st.GetChallenge(ctx, "ch1", later); err != nil || got.State != store.StateExpired {
		t.Fatalf("GetChallenge 59 minutes after ExpiresAt: %s, %v; want EXPIRED", got.State, err)
	}
	if err := st.ClaimNonce(ctx, "n1", later.Add(4*time.Minute), later); err != nil {
		t.Fatalf("ClaimNonce of an expired nonce: %v, want it claimed again", err)
	}

	mr.FastForward(2 * time.Minute)
	if _, err := st.GetChallenge(ctx, "ch1", later.Add(2*time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetChallenge past ExpiresAt + 1h: %v, want ErrNotFound (collected)", err)
	}
}

// Watch channels close at Close, and a second Close is a no-op.
func TestClose_ClosesWatchChannelsAndStopsTheSubscription(t *testing.T) {
	_, client := miniredisClient(t)
	st, err := redisstore.New(t.Context(), client, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.Watch(context.Background(), "ch1")
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("the Watch channel delivered a value after Close, want it closed")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := st.Watch(context.Background(), "ch1"); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Watch after Close: %v, want ErrClosed", err)
	}
	// goleak in TestMain checks that the subscription's goroutines ended.
}

// Reads from replicas would show a revoked credential or an answered
// challenge as they were; New refuses a cluster client that makes them
// (before it talks to any server).
func TestNew_RefusesReplicaReads(t *testing.T) {
	for name, opts := range map[string]*redis.ClusterOptions{
		"ReadOnly":       {ReadOnly: true},
		"RouteByLatency": {RouteByLatency: true},
		"RouteRandomly":  {RouteRandomly: true},
	} {
		t.Run(name, func(t *testing.T) {
			opts.Addrs = []string{"127.0.0.1:1"}
			client := redis.NewClusterClient(opts)
			defer client.Close()
			if st, err := redisstore.New(t.Context(), client, quiet); err == nil || !strings.Contains(err.Error(), "replicas") {
				if st != nil {
					st.Close()
				}
				t.Fatalf("New over a cluster client with %s: %v, want an error about reads from replicas", name, err)
			}
		})
	}
}
