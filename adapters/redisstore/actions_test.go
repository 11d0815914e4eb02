package redisstore_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth/adapters/redisstore"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/store"
)

// onActionBackends runs f on each of backends and on a one-shard Ring,
// which takes the Cluster's paths on miniredis, with a Store of its own.
func onActionBackends(t *testing.T, f func(t *testing.T, client redis.UniversalClient, st *redisstore.Store)) {
	ring := struct {
		name   string
		client func(t *testing.T) (redis.UniversalClient, string)
	}{"MiniredisInSteps", func(t *testing.T) (redis.UniversalClient, string) {
		return ringClient(t, miniredis.RunT(t).Addr()), "deviceauth"
	}}
	for _, b := range append(slices.Clone(backends), ring) {
		t.Run(b.name, func(t *testing.T) {
			client, prefix := b.client(t)
			f(t, client, newStore(t, client, prefix))
		})
	}
}

// actionsNow is the tests' now, a whole millisecond.
var actionsNow = time.UnixMilli(1_700_000_000_000)

// actionAt is a record of userID with ID id, created at created and kept
// until expires.
func actionAt(id, userID string, created, expires time.Time) store.ActionRecord {
	return store.ActionRecord{ID: id, UserID: userID, Action: "transfer", CreatedAt: created, ExpiresAt: expires,
		Outcome: "ALLOW", Data: []byte(`{"n":"` + id + `"}`)}
}

func idsOf(list []store.ActionRecord) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.ID
	}
	return out
}

// Actions is one round trip (one script in the user's slot) for the
// records the Service writes, whose IDs carry their user's tag, whatever
// the query: on a single node, through a Ring and on a Cluster.
func TestActions_OneRoundTrip(t *testing.T) {
	onActionBackends(t, func(t *testing.T, client redis.UniversalClient, st *redisstore.Store) {
		ctx, now := t.Context(), actionsNow
		var want []string
		for i := range 30 {
			a := actionAt(ids.NewUserID("ac", "alice"), "alice", now.Add(-time.Duration(i)*time.Minute), now.Add(time.Hour))
			if i == 25 {
				a.PassedAt = now.Add(-time.Second)
			}
			if err := st.PutAction(ctx, a); err != nil {
				t.Fatal(err)
			}
			want = append(want, a.ID)
		}
		log := &commandLog{}
		client.AddHook(log)
		for _, q := range []store.ActionQuery{
			{UserID: "alice"},
			{UserID: "alice", Limit: 5, Brief: true},
			{UserID: "alice", Before: now.Add(-3 * time.Minute), BeforeID: want[3], Limit: 4},
			{UserID: "alice", Since: now.Add(-10 * time.Minute), PassedSince: now.Add(-time.Minute)},
		} {
			list, err := st.Actions(ctx, q, now)
			if err != nil {
				t.Fatal(err)
			}
			if trips, _, text := log.take(); trips != 1 {
				t.Errorf("Actions(%+v) took %d round trips, want 1:%s", q, trips, text)
			}
			var exp []string
			switch {
			case q.Limit == 5:
				exp = want[:5]
			case q.Limit == 4:
				exp = want[4:8]
			case !q.Since.IsZero():
				exp = append(slices.Clone(want[:11]), want[25])
			default:
				exp = want
			}
			if got := idsOf(list); !slices.Equal(got, exp) {
				t.Errorf("Actions(%+v) = %q, want %q", q, got, exp)
			}
			for _, a := range list {
				if q.Brief != (a.Data == nil) {
					t.Errorf("Actions(%+v): record %s has data %q", q, a.ID, a.Data)
				}
			}
		}
	})
}

// Pages follow the cursor exactly: 150 records of one millisecond, read
// ten at a time, come back all, each once, newest first (by ID within the
// millisecond) — and newer records that have expired (a shorter retention)
// leave no page short.
func TestActions_PagesThroughOneMillisecondAndPastExpiredRecords(t *testing.T) {
	onActionBackends(t, func(t *testing.T, client redis.UniversalClient, st *redisstore.Store) {
		ctx, now := t.Context(), actionsNow
		created := now.Add(-time.Hour)
		var want []string
		for range 150 {
			a := actionAt(ids.NewUserID("ac", "bob"), "bob", created, now.Add(time.Hour))
			if err := st.PutAction(ctx, a); err != nil {
				t.Fatal(err)
			}
			want = append(want, a.ID)
		}
		for i := range 120 { // newer, expired at now
			a := actionAt(ids.NewUserID("ac", "bob"), "bob", created.Add(time.Duration(i+1)*time.Second), now)
			if err := st.PutAction(ctx, a); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(want)
		slices.Reverse(want)
		var got []string
		q := store.ActionQuery{UserID: "bob", Limit: 10}
		for page := 0; ; page++ {
			list, err := st.Actions(ctx, q, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) == 0 {
				break
			}
			if len(list) != 10 {
				t.Fatalf("page %d has %d records, want 10", page, len(list))
			}
			got = append(got, idsOf(list)...)
			last := list[len(list)-1]
			q.Before, q.BeforeID = last.CreatedAt, last.ID
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages listed %d records:\n%q\nwant %d:\n%q", len(got), got, len(want), want)
		}
	})
}

// The script reads in the user's slot only the records whose IDs carry
// the user's tag, by ids.IDTag's rule; records of other IDs (a caller of
// the store's own may write them) are read in steps, and listed too, in
// order. IDs that nearly have the tagged form must not be taken for it.
func TestActions_RecordsOfEveryIDForm(t *testing.T) {
	tagged := ids.NewUserID("ac", "carol")
	tag := ids.UserTag("carol")
	body := tagged[3+len(tag):]
	other := ids.NewUserID("ac", "dave") // another user's tag
	// Newest first, as the script walks them: the near misses come before
	// the IDs it sends to the steps at once, so that it judges each.
	forms := []string{
		tagged,
		"AC_" + tag + body,                     // upper-case type
		"a1_" + tag + body,                     // a digit in the type
		"ac-" + tag + body,                     // no "_"
		"ac_" + tag + body[:len(body)-1] + ".", // a character out of base64url
		"ac_" + tag + body + "x",               // too long
		"ac_" + tag + body[1:],                 // too short
		other,
		"plain-id",
	}
	for _, id := range forms[1:] {
		if got, ok := ids.IDTag(id); ok && got == tag {
			t.Fatalf("%q carries carol's tag; the test wants IDs of other forms", id)
		}
	}
	onActionBackends(t, func(t *testing.T, client redis.UniversalClient, st *redisstore.Store) {
		ctx, now := t.Context(), actionsNow
		var want []string
		for i, id := range forms {
			a := actionAt(id, "carol", now.Add(-time.Duration(i)*time.Minute), now.Add(time.Hour))
			a.PassedAt = now.Add(-time.Second)
			if err := st.PutAction(ctx, a); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		for _, q := range []store.ActionQuery{
			{UserID: "carol"},
			{UserID: "carol", Since: now.Add(-time.Minute), PassedSince: now.Add(-time.Minute)},
		} {
			list, err := st.Actions(ctx, q, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := idsOf(list); !slices.Equal(got, want) {
				t.Errorf("Actions(%+v) = %q, want %q", q, got, want)
			}
		}
		// Later pages, with the tagged record alone left, read it.
		list, err := st.Actions(ctx, store.ActionQuery{UserID: "carol", Before: now.Add(-time.Second)}, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := idsOf(list); !slices.Equal(got, want[1:]) {
			t.Errorf("Actions before the first = %q, want %q", got, want[1:])
		}
	})
}

// An index entry whose record is gone (its server TTL ran out; a forget
// that failed half-way) is removed by the read that meets it, and the
// page is full.
func TestActions_DropsEntriesOfGoneRecords(t *testing.T) {
	mr, client := miniredisClient(t)
	st := newStore(t, client, "app")
	ctx, now := t.Context(), actionsNow
	var want []string
	for i := range 40 {
		a := actionAt(ids.NewUserID("ac", "erin"), "erin", now.Add(-time.Duration(i)*time.Minute), now.Add(time.Hour))
		a.PassedAt = now
		if err := st.PutAction(ctx, a); err != nil {
			t.Fatal(err)
		}
		if i < 25 {
			mr.Del(fmt.Sprintf("app:v1:{t:%s}:a:%s", ids.UserTag("erin"), a.ID))
		} else {
			want = append(want, a.ID)
		}
	}
	list, err := st.Actions(ctx, store.ActionQuery{UserID: "erin", Limit: 10}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got := idsOf(list); !slices.Equal(got, want[:10]) {
		t.Fatalf("Actions = %q, want %q", got, want[:10])
	}
	for _, index := range []string{"actions", "passed"} {
		var key string
		for _, k := range mr.Keys() {
			if strings.HasSuffix(k, ":"+index) {
				key = k
			}
		}
		members, err := mr.ZMembers(key)
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != 15 {
			t.Errorf("the %s index holds %d entries after the read, want the 15 live ones", index, len(members))
		}
	}
}

// A passkey's ID carries no tag: on a Cluster (and a Ring) its index entry
// is a hint and ConsumeChallenge reads its record apart, and the record of
// the challenge it answered still gets its kind, result and pass time,
// and is listed as passed.
func TestActions_ConsumeByUntaggedCredentialKeepsTheRecordInStep(t *testing.T) {
	onActionBackends(t, func(t *testing.T, client redis.UniversalClient, st *redisstore.Store) {
		ctx, now := t.Context(), actionsNow
		must := func(err error, what string) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		must(st.CreateCredential(ctx, store.Credential{ID: "passkey-from-an-authenticator", UserID: "frank",
			Kind: store.KindPasskey, CreatedAt: now}, 0), "CreateCredential")
		rec := actionAt(ids.NewUserID("ch", "frank"), "frank", now, now.Add(time.Hour))
		c := store.Challenge{ID: rec.ID, UserID: "frank", Action: "transfer", State: store.StatePending,
			DetailsDigest: []byte("digest"), CreatedAt: now, ExpiresAt: now.Add(time.Minute), Record: &rec}
		_, err := st.CreateChallenge(ctx, c, now)
		must(err, "CreateChallenge")
		_, err = st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved,
			CredentialID: "passkey-from-an-authenticator", AnsweredAt: now.Add(time.Second)}, now.Add(time.Second))
		must(err, "TransitionChallenge")
		_, kind, err := st.ConsumeChallenge(ctx, c.ID, store.Binding{UserID: "frank", Action: "transfer",
			DetailsDigest: []byte("digest")}, now.Add(2*time.Second))
		must(err, "ConsumeChallenge")
		if kind != store.KindPasskey {
			t.Fatalf("ConsumeChallenge reported kind %q, want passkey", kind)
		}
		got, err := st.GetAction(ctx, "frank", c.ID, now.Add(3*time.Second))
		must(err, "GetAction")
		if got.Result != store.StateConsumed || got.Kind != store.KindPasskey || !got.PassedAt.Equal(now.Add(2*time.Second)) {
			t.Errorf("the record has result %q, kind %q, passed at %v; want CONSUMED, passkey, %v",
				got.Result, got.Kind, got.PassedAt, now.Add(2*time.Second))
		}
		list, err := st.Actions(ctx, store.ActionQuery{UserID: "frank", Since: now.Add(time.Minute), PassedSince: now.Add(time.Second)}, now.Add(3*time.Second))
		must(err, "Actions")
		if ids := idsOf(list); !slices.Equal(ids, []string{c.ID}) {
			t.Errorf("Actions passed since the answer = %q, want the consumed one", ids)
		}
	})
}

// A record held for review that comes with its challenge (CreateChallenge
// or BeginChallenge) is in the review queue, as one PutAction stores:
// the review index is a key of its own slot, updated after the script.
func TestActions_ReviewWithItsChallengeIsPending(t *testing.T) {
	onActionBackends(t, func(t *testing.T, client redis.UniversalClient, st *redisstore.Store) {
		ctx, now := t.Context(), actionsNow
		if err := st.CreateCredential(ctx, store.Credential{ID: ids.NewUserID("cr", "gina"), UserID: "gina",
			Kind: store.KindDevice, CreatedAt: now}, 0); err != nil {
			t.Fatal(err)
		}
		var want []string
		for i, id := range []string{ids.NewUserID("ch", "gina"), ids.NewUserID("ch", "gina"), "qr-challenge"} {
			rec := actionAt(id, "gina", now.Add(time.Duration(i)*time.Millisecond), now.Add(time.Hour))
			rec.Review = store.ReviewPending
			c := store.Challenge{ID: id, UserID: "gina", Action: "transfer", State: store.StatePending,
				CreatedAt: now, ExpiresAt: now.Add(time.Minute), Record: &rec}
			var err error
			if i == 1 {
				_, err = st.BeginChallenge(ctx, store.Begin{Challenge: c}, now)
			} else {
				_, err = st.CreateChallenge(ctx, c, now)
			}
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		list, err := st.PendingReviews(ctx, 10, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := idsOf(list); !slices.Equal(got, want) {
			t.Errorf("PendingReviews = %q, want %q", got, want)
		}
	})
}
