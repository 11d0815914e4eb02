package redisstore_test

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/store"
)

// A setup is one way the Store makes the cycle's steps: a server (a client
// and a key prefix of the test's own) and IDs with or without their user's
// tag. Through a *redis.Client of a single node every step is one script;
// elsewhere (a one-shard Ring over miniredis standing in for a Cluster, and
// the real Cluster) a step is one script when its keys share a tag — IDs
// that carry the user's tag — and otherwise made of single-slot steps.
type setup struct {
	name   string
	client func(t *testing.T) (redis.UniversalClient, string)
	tagged bool
}

var (
	oneNode = setup{"OneNode", func(t *testing.T) (redis.UniversalClient, string) {
		_, c := miniredisClient(t)
		return c, "app"
	}, false}
	ringSteps  = setup{"RingSteps", ringOverMiniredis, false}
	ringOneTag = setup{"RingOneTag", ringOverMiniredis, true}
	// The shared Cluster, each test under a prefix of its own.
	clusterSteps  = setup{"ClusterSteps", sharedCluster, false}
	clusterOneTag = setup{"ClusterOneTag", sharedCluster, true}
)

func ringOverMiniredis(t *testing.T) (redis.UniversalClient, string) {
	return ringClient(t, miniredis.RunT(t).Addr()), "app"
}

func sharedCluster(t *testing.T) (redis.UniversalClient, string) {
	c := clusterClient(t)
	return c, isolatedPrefix(t, c)
}

// id returns the ID of type typ (two letters) numbered n (a few base64url
// characters) of a record of userID: with the user's tag, as
// ids.NewUserID mints them, when the setup is tagged, else typ and n.
func (s setup) id(typ, userID, n string) string {
	if !s.tagged {
		return typ + n
	}
	return typ + "_" + ids.UserTag(userID) + strings.Repeat("A", 22-len(n)) + n
}

// The key names TestKeyLayout pins, for tests that change keys by hand.
func challengeKey(prefix, id string) string  { return recordKey(prefix, "c", id) }
func credentialKey(prefix, id string) string { return recordKey(prefix, "k", id) }

func recordKey(prefix, typ, id string) string {
	if tag, ok := ids.IDTag(id); ok {
		return prefix + ":v1:{t:" + tag + "}:" + typ + ":" + id
	}
	return prefix + ":v1:{" + typ + ":" + id + "}"
}

func credentialIndexKey(prefix, userID string) string {
	h := sha256.Sum256([]byte(userID))
	return prefix + ":v1:{t:" + ids.UserTag(userID) + "}:u:" + base64.RawURLEncoding.EncodeToString(h[:16]) + ":creds"
}

// An idempotency key whose challenge was lost (deleted by hand) does not
// block its user's BeginChallenge: the next begin with the key takes it
// over, and a repeat then finds the new holder.
func TestBeginChallenge_IdempotencyKeyOfLostChallengeIsTakenOver(t *testing.T) {
	for _, s := range []setup{oneNode, ringSteps, ringOneTag, clusterSteps, clusterOneTag} {
		t.Run(s.name, func(t *testing.T) {
			client, prefix := s.client(t)
			st := newStore(t, client, prefix)
			ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
			if err := st.CreateCredential(ctx, store.Credential{ID: s.id("cr", "user1", "1"), UserID: "user1",
				Kind: store.KindDevice, CreatedAt: now}, 0); err != nil {
				t.Fatal(err)
			}
			ch1, ch2, ch3 := s.id("ch", "user1", "1"), s.id("ch", "user1", "2"), s.id("ch", "user1", "3")
			begin := func(id string) store.Begun {
				t.Helper()
				got, err := st.BeginChallenge(ctx, store.Begin{Challenge: store.Challenge{ID: id, UserID: "user1",
					State: store.StatePending, IdempotencyKey: "key1", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}}, now)
				if err != nil {
					t.Fatalf("BeginChallenge %s: %v", id, err)
				}
				return got
			}
			if got := begin(ch1); got.Challenge.ID != ch1 {
				t.Fatalf("first BeginChallenge stored %q, want %s", got.Challenge.ID, ch1)
			}
			if n, err := client.Del(ctx, challengeKey(prefix, ch1)).Result(); err != nil || n != 1 {
				t.Fatalf("deleting %s by hand: %d, %v", ch1, n, err)
			}
			if got := begin(ch2); got.Challenge.ID != ch2 {
				t.Fatalf("BeginChallenge after the key's challenge was lost: %q, want %s stored", got.Challenge.ID, ch2)
			}
			if got := begin(ch3); got.Challenge.ID != ch2 {
				t.Fatalf("BeginChallenge repeating the key: %q, want %s", got.Challenge.ID, ch2)
			}
			if _, err := st.GetChallenge(ctx, ch3, now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetChallenge of the repeat %s: %v, want ErrNotFound (never stored)", ch3, err)
			}
		})
	}
}

// A credential whose record lives in another slot than its user's index
// (its ID carries no tag, as a passkey's) is created and deleted in steps,
// so its index entry may outlive its record (a delete that failed
// half-way): the entry is a hint, and the record the truth. BeginChallenge
// counts the kind of a hint only from its record, and ConsumeChallenge
// fails a challenge whose credential's record is gone — also where the
// challenge's ID carries the user's tag and the step is one script, which
// then reads the record before it decides (three round trips).
func TestHints_RecordIsTheTruthNotTheIndex(t *testing.T) {
	for _, s := range []setup{ringSteps, ringOneTag, clusterSteps, clusterOneTag} {
		t.Run(s.name, func(t *testing.T) {
			client, prefix := s.client(t)
			log := &commandLog{}
			client.AddHook(log)
			st := newStore(t, client, prefix)
			ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(st.CreateCredential(ctx, store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}, 0))
			if entry := client.HGet(ctx, credentialIndexKey(prefix, "user1"), "cred1").Val(); entry != "?"+string(store.KindDevice) {
				t.Fatalf("index entry of cred1: %q, want a hint, %q", entry, "?"+store.KindDevice)
			}
			// Through the hint's record: read, then the script again.
			readThenScript := [][]string{{"evalsha"}, {"hmget"}, {"evalsha"}}
			wantTrips := func(what string) {
				t.Helper()
				trips := log.takeTrips()
				if s.tagged && !slices.EqualFunc(trips, readThenScript, slices.Equal) {
					t.Errorf("%s took round trips %q, want %q", what, trips, readThenScript)
				}
			}
			challenge := func(n string) store.Challenge {
				return store.Challenge{ID: s.id("ch", "user1", n), UserID: "user1", Action: "transfer", State: store.StatePending,
					DetailsDigest: []byte{1, 2}, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
			}
			approve := func(c store.Challenge) {
				t.Helper()
				begun, err := st.BeginChallenge(ctx, store.Begin{Challenge: c, Counter: "wrongcode:5:user1:transfer", CounterLimit: 3}, now)
				if err != nil || begun.Challenge.ID != c.ID || !slices.Equal(begun.Kinds, []store.CredentialKind{store.KindDevice}) {
					t.Fatalf("BeginChallenge %s = kinds %q, challenge %q, %v; want device and the challenge", c.ID, begun.Kinds, begun.Challenge.ID, err)
				}
				wantTrips("BeginChallenge")
				_, err = st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved,
					UserID: "user1", CredentialID: "cred1", AnsweredAt: now, CredentialUsed: true}, now)
				must(err)
				log.take()
			}
			binding := store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte{1, 2}}
			c1, c2 := challenge("1"), challenge("2")
			log.take()
			approve(c1)
			approve(c2)
			got, kind, err := st.ConsumeChallenge(ctx, c1.ID, binding, now)
			if err != nil || got.State != store.StateConsumed || kind != store.KindDevice {
				t.Fatalf("ConsumeChallenge = %s, %q, %v; want CONSUMED by a device", got.State, kind, err)
			}
			wantTrips("ConsumeChallenge")

			// The record only: its index entry stays, as after a half-failed
			// delete.
			must(client.Del(ctx, credentialKey(prefix, "cred1")).Err())
			log.take()
			begun, err := st.BeginChallenge(ctx, store.Begin{Challenge: challenge("3")}, now)
			if err != nil || len(begun.Kinds) != 0 || begun.Challenge.ID != "" {
				t.Fatalf("BeginChallenge = kinds %q, challenge %q, %v; want no kinds and no challenge", begun.Kinds, begun.Challenge.ID, err)
			}
			wantTrips("BeginChallenge after the record was lost")
			got, _, err = st.ConsumeChallenge(ctx, c2.ID, binding, now)
			if !errors.Is(err, store.ErrRevoked) || got.State != store.StateFailed {
				t.Fatalf("ConsumeChallenge = %s, %v; want FAILED and ErrRevoked", got.State, err)
			}
			wantTrips("ConsumeChallenge after the record was lost")
		})
	}
}

// Where one script may declare a credential's record and its user's index
// (a single node; elsewhere a credential ID that carries the user's tag),
// the index changes with the records in one atomic step and its entries
// are exact: a create over the limit stores nothing, a delete removes
// both, and a delete of an entry whose record is gone removes the entry.
func TestOneScript_IndexChangesWithTheRecord(t *testing.T) {
	for _, s := range []setup{oneNode, ringOneTag, clusterOneTag} {
		t.Run(s.name, func(t *testing.T) {
			client, prefix := s.client(t)
			st := newStore(t, client, prefix)
			ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
			index := credentialIndexKey(prefix, "user1")
			exists := func(key string) bool {
				t.Helper()
				n, err := client.Exists(ctx, key).Result()
				if err != nil {
					t.Fatal(err)
				}
				return n == 1
			}
			cred := func(n string) store.Credential {
				return store.Credential{ID: s.id("cr", "user1", n), UserID: "user1", Kind: store.KindPasskey, CreatedAt: now}
			}
			cred1, cred2, cred3 := cred("1"), cred("2"), cred("3")
			if err := st.CreateCredential(ctx, cred1, 1); err != nil {
				t.Fatal(err)
			}
			if err := st.CreateCredential(ctx, cred2, 1); !errors.Is(err, store.ErrLimit) {
				t.Fatalf("CreateCredential over the limit: %v, want ErrLimit", err)
			}
			if exists(credentialKey(prefix, cred2.ID)) {
				t.Fatal("a credential refused over the limit was stored")
			}
			if got := client.HGet(ctx, index, cred1.ID).Val(); got != string(store.KindPasskey) {
				t.Fatalf("index entry of cred1: %q, want %q (exact, not a hint)", got, store.KindPasskey)
			}
			if err := st.DeleteCredential(ctx, "user1", cred1.ID); err != nil {
				t.Fatal(err)
			}
			if exists(credentialKey(prefix, cred1.ID)) || exists(index) {
				t.Fatal("DeleteCredential left the record or its index entry")
			}

			if err := st.CreateCredential(ctx, cred3, 0); err != nil {
				t.Fatal(err)
			}
			if err := client.Del(ctx, credentialKey(prefix, cred3.ID)).Err(); err != nil { // lost by hand: the entry stays
				t.Fatal(err)
			}
			if err := st.DeleteCredential(ctx, "user1", cred3.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("DeleteCredential of a lost record: %v, want ErrNotFound", err)
			}
			if exists(index) {
				t.Fatal("DeleteCredential of a lost record left its index entry")
			}

			// DeleteUserCredentials deletes each entry with its record where
			// one script may, and the others' entries after their records.
			other := store.Credential{ID: "pk1", UserID: "user1", Kind: store.KindPasskey, CreatedAt: now}
			for _, c := range []store.Credential{cred("4"), other} {
				if err := st.CreateCredential(ctx, c, 0); err != nil {
					t.Fatal(err)
				}
			}
			if n, err := st.DeleteUserCredentials(ctx, "user1"); err != nil || n != 2 {
				t.Fatalf("DeleteUserCredentials = %d, %v; want 2", n, err)
			}
			if exists(credentialKey(prefix, cred("4").ID)) || exists(credentialKey(prefix, other.ID)) || exists(index) {
				t.Fatal("DeleteUserCredentials left a record or an index entry")
			}
		})
	}
}

// Where IDs carry their user's tag and the wrong-code counter names the
// user, every method of a cycle is one script (or one read), also on a
// Cluster: the keys of a user's records, indexes and counter share a slot.
func TestOneTag_EachStepIsOneRoundTrip(t *testing.T) {
	for _, s := range []setup{ringOneTag, clusterOneTag} {
		t.Run(s.name, func(t *testing.T) {
			client, prefix := s.client(t)
			log := &commandLog{}
			client.AddHook(log)
			st := newStore(t, client, prefix)
			ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			trips := func(what string, want int) {
				t.Helper()
				if got, _, text := log.take(); got != want {
					t.Errorf("%s took %d round trips, want %d:%s", what, got, want, text)
				}
			}
			const counter = "wrongcode:5:user1:transfer"
			cred := store.Credential{ID: s.id("cr", "user1", "1"), UserID: "user1", Kind: store.KindDevice, CreatedAt: now}
			devices := []store.CredentialKind{store.KindDevice}
			log.take()
			must(st.CreateCredential(ctx, cred, 5))
			trips("CreateCredential", 1)
			for range 2 {
				_, err := st.IncrementCounter(ctx, counter, time.Minute, now)
				must(err)
			}
			log.take()

			c := store.Challenge{ID: s.id("ch", "user1", "1"), UserID: "user1", Action: "transfer", State: store.StatePending,
				DetailsDigest: []byte{1, 2}, IdempotencyKey: "key1", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
			begun, err := st.BeginChallenge(ctx, store.Begin{Challenge: c, Counter: counter, CounterLimit: 2, Kinds: devices}, now)
			if err != nil || begun.Counter != 2 || !slices.Equal(begun.Kinds, devices) || begun.Challenge.ID != "" {
				t.Fatalf("BeginChallenge at the limit = %+v, %v; want counter 2, device, no challenge", begun, err)
			}
			trips("BeginChallenge at the limit", 1)
			begun, err = st.BeginChallenge(ctx, store.Begin{Challenge: c, Counter: counter, CounterLimit: 3, Kinds: devices}, now)
			if err != nil || begun.Counter != 2 || begun.Challenge.ID != c.ID {
				t.Fatalf("BeginChallenge below the limit = %+v, %v; want counter 2 and %s", begun, err, c.ID)
			}
			trips("BeginChallenge", 1)
			repeat := c
			repeat.ID = s.id("ch", "user1", "2")
			begun, err = st.BeginChallenge(ctx, store.Begin{Challenge: repeat, Counter: counter, CounterLimit: 3}, now)
			if err != nil || begun.Challenge.ID != c.ID {
				t.Fatalf("BeginChallenge repeating the idempotency key = %q, %v; want %s", begun.Challenge.ID, err, c.ID)
			}
			trips("BeginChallenge repeating the idempotency key (the script, then the earlier challenge)", 2)

			answered := now.Add(time.Second)
			_, err = st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved,
				UserID: "user1", CredentialID: cred.ID, AnsweredAt: answered, CredentialUsed: true}, now)
			must(err)
			trips("TransitionChallenge with CredentialUsed", 1)
			if got, err := st.GetCredential(ctx, cred.ID); err != nil || !got.LastUsedAt.Equal(answered) {
				t.Fatalf("the credential's last use: %v, %v; want %v", got.LastUsedAt, err, answered)
			}
			log.take()
			got, kind, err := st.ConsumeChallenge(ctx, c.ID, store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte{1, 2}}, now)
			if err != nil || got.State != store.StateConsumed || kind != store.KindDevice {
				t.Fatalf("ConsumeChallenge = %s, %q, %v; want CONSUMED by a device", got.State, kind, err)
			}
			trips("ConsumeChallenge", 1)
			must(st.DeleteCredential(ctx, "user1", cred.ID))
			trips("DeleteCredential", 1)
		})
	}
}
