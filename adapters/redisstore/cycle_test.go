package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/store"
)

// paths are the two ways the Store makes the cycle's steps, each over a
// miniredis of the test's own: one script each through a *redis.Client,
// single-slot operations in steps through any other client (a one-shard
// Ring here, standing in for a Cluster's).
var paths = []struct {
	name   string
	client func(t *testing.T, mr *miniredis.Miniredis) redis.UniversalClient
}{
	{"OneScript", func(t *testing.T, mr *miniredis.Miniredis) redis.UniversalClient { return newClient(t, mr.Addr()) }},
	{"InSteps", func(t *testing.T, mr *miniredis.Miniredis) redis.UniversalClient { return ringClient(t, mr.Addr()) }},
}

// An idempotency key whose challenge was lost (deleted by hand) does not
// block its user's BeginChallenge: the next begin with the key takes it
// over, and a repeat then finds the new holder.
func TestBeginChallenge_IdempotencyKeyOfLostChallengeIsTakenOver(t *testing.T) {
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			mr := miniredis.RunT(t)
			st := newStore(t, p.client(t, mr), "app")
			ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
			if err := st.CreateCredential(ctx, store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}, 0); err != nil {
				t.Fatal(err)
			}
			begin := func(id string) store.Begun {
				t.Helper()
				got, err := st.BeginChallenge(ctx, store.Begin{Challenge: store.Challenge{ID: id, UserID: "user1",
					State: store.StatePending, IdempotencyKey: "key1", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}}, now)
				if err != nil {
					t.Fatalf("BeginChallenge %s: %v", id, err)
				}
				return got
			}
			if got := begin("ch1"); got.Challenge.ID != "ch1" {
				t.Fatalf("first BeginChallenge stored %q, want ch1", got.Challenge.ID)
			}
			mr.Del("app:v1:{c:ch1}")
			if got := begin("ch2"); got.Challenge.ID != "ch2" {
				t.Fatalf("BeginChallenge after the key's challenge was lost: %q, want ch2 stored", got.Challenge.ID)
			}
			if got := begin("ch3"); got.Challenge.ID != "ch2" {
				t.Fatalf("BeginChallenge repeating the key: %q, want ch2", got.Challenge.ID)
			}
			if _, err := st.GetChallenge(ctx, "ch3", now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetChallenge of the repeat ch3: %v, want ErrNotFound (never stored)", err)
			}
		})
	}
}

// Where the cycle's steps are single-slot operations, a credential's index
// entry may outlive its record (a delete that failed half-way). The record
// is the truth there: BeginChallenge does not count the entry's kind, and
// ConsumeChallenge fails a challenge the credential approved.
func TestInSteps_RecordIsTheTruthNotTheIndex(t *testing.T) {
	mr := miniredis.RunT(t)
	st := newStore(t, ringClient(t, mr.Addr()), "app")
	ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
	if err := st.CreateCredential(ctx, store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}, 0); err != nil {
		t.Fatal(err)
	}
	c := store.Challenge{ID: "ch1", UserID: "user1", Action: "transfer", State: store.StatePending,
		DetailsDigest: []byte{1, 2}, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if _, err := st.CreateChallenge(ctx, c, now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved,
		UserID: "user1", CredentialID: "cred1", AnsweredAt: now, CredentialUsed: true}, now); err != nil {
		t.Fatal(err)
	}
	mr.Del("app:v1:{k:cred1}") // the record only: its index entry stays, as after a half-failed delete
	if !mr.Exists("app:v1:{u:CgQblGLKpKMbrDVn4Lbm_Q}:creds") {
		t.Fatal("the test expects user1's index under its tag")
	}

	begun, err := st.BeginChallenge(ctx, store.Begin{Challenge: store.Challenge{ID: "ch2", UserID: "user1",
		State: store.StatePending, CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}}, now)
	if err != nil || len(begun.Kinds) != 0 || begun.Challenge.ID != "" {
		t.Fatalf("BeginChallenge = kinds %q, challenge %q, %v; want no kinds and no challenge", begun.Kinds, begun.Challenge.ID, err)
	}
	got, _, err := st.ConsumeChallenge(ctx, c.ID, store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte{1, 2}}, now)
	if !errors.Is(err, store.ErrRevoked) || got.State != store.StateFailed {
		t.Fatalf("ConsumeChallenge = %s, %v; want FAILED and ErrRevoked", got.State, err)
	}
}

// On a single node the credential index changes with the records in one
// atomic step: a create over the limit stores nothing, a delete removes
// both, and a delete of an entry whose record is gone removes the entry.
func TestOneScript_IndexChangesWithTheRecord(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, "app")
	ctx, now := t.Context(), time.Now().Truncate(time.Millisecond)
	const index = "app:v1:{u:CgQblGLKpKMbrDVn4Lbm_Q}:creds" // user1's
	cred := func(id string) store.Credential {
		return store.Credential{ID: id, UserID: "user1", Kind: store.KindPasskey, CreatedAt: now}
	}
	if err := st.CreateCredential(ctx, cred("cred1"), 1); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCredential(ctx, cred("cred2"), 1); !errors.Is(err, store.ErrLimit) {
		t.Fatalf("CreateCredential over the limit: %v, want ErrLimit", err)
	}
	if mr.Exists("app:v1:{k:cred2}") {
		t.Fatal("a credential refused over the limit was stored")
	}
	if got := mr.HGet(index, "cred1"); got != string(store.KindPasskey) {
		t.Fatalf("index entry of cred1: %q, want %q", got, store.KindPasskey)
	}
	if err := st.DeleteCredential(ctx, "user1", "cred1"); err != nil {
		t.Fatal(err)
	}
	if mr.Exists("app:v1:{k:cred1}") || mr.Exists(index) {
		t.Fatal("DeleteCredential left the record or its index entry")
	}

	if err := st.CreateCredential(ctx, cred("cred3"), 0); err != nil {
		t.Fatal(err)
	}
	mr.Del("app:v1:{k:cred3}") // lost by hand: the entry stays
	if err := st.DeleteCredential(ctx, "user1", "cred3"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("DeleteCredential of a lost record: %v, want ErrNotFound", err)
	}
	if mr.Exists(index) {
		t.Fatal("DeleteCredential of a lost record left its index entry")
	}
}
