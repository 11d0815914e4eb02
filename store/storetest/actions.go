package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/ids"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) actions(t *testing.T) {
	t.Run("PutThenGetRoundTripsEveryField", s.actionRoundTrip)
	t.Run("GetOfMissingOrAnotherUsersIsNotFound", s.actionGetMissing)
	t.Run("PutDuplicateIDIsConflict", s.actionDuplicate)
	t.Run("ActionsAreNewestFirstAndPage", s.actionPages)
	t.Run("ActionsSinceKeepsRecentOrRecentlyPassed", s.actionSince)
	t.Run("ExpiryFollowsInjectedClock", s.actionExpiry)
	t.Run("ChallengeCreationWritesItsRecord", s.actionWithChallenge)
	t.Run("ChallengeChangesReachItsRecord", s.actionFollowsChallenge)
	t.Run("ReviewIsDecidedOnceAndUsedOnce", s.actionReview)
	t.Run("RacingDecisionsHaveOneWinner", s.actionRacingDecisions)
	t.Run("RacingUsesHaveOneWinner", s.actionRacingUses)
	t.Run("RacingUsesOnTwoStoreValuesHaveOneWinner", s.actionRacingUsesTwins)
	t.Run("PendingReviewsAreEveryUsersOldestFirst", s.actionPendingReviews)
	t.Run("ForgetDeletesOnlyTheUsersRecordsAndCounters", s.actionForget)
	t.Run("ReadSignalsTalliesTheUsersRecords", s.readSignals)
}

// actionRetention is how long the suite's action records live.
const actionRetention = 24 * time.Hour

// actionStore returns st as an ActionStore; a store without that optional
// interface skips (the Service then keeps no history).
func actionStore(t *testing.T, st store.Store) store.ActionStore {
	t.Helper()
	as, ok := st.(store.ActionStore)
	if !ok {
		t.Skip("the store does not implement store.ActionStore")
	}
	return as
}

// aid is the ID of userID's action record name: of the form the Service
// mints (internal/ids), carrying the user's tag, as a store that places a
// user's records together (Redis Cluster) expects; name's order is kept
// among one user's IDs.
func aid(name, userID string) string { return taggedID("ac", name, userID) }

// cid is aid for a challenge (whose record has the challenge's ID).
func cid(name, userID string) string { return taggedID("ch", name, userID) }

func taggedID(prefix, name, userID string) string {
	return prefix + "_" + ids.UserTag(userID) + name + strings.Repeat("_", 22-len(name))
}

// nameOf is the name of an ID aid or cid made.
func nameOf(id string) string { return strings.TrimRight(id[3+ids.TagLen:], "_") }

// action returns userID's record name (ID aid(name, userID)), created d
// after the clock's start, with the fields Track sets.
func (s suite) action(name, userID string, d time.Duration) store.ActionRecord {
	return store.ActionRecord{
		ID:        aid(name, userID),
		UserID:    userID,
		Action:    "transfer",
		CreatedAt: s.at(d),
		ExpiresAt: s.at(d + actionRetention),
		Outcome:   "CHALLENGE_REQUIRED",
		Prefix:    "192.0.2.0/24",
		Browser:   "browser-of-" + userID,
		Data:      []byte(`{"ip":"192.0.2.1","userAgent":"Mozilla/5.0"}`),
	}
}

// review returns a record of userID whose review is pending.
func (s suite) review(id, userID string, d time.Duration) store.ActionRecord {
	a := s.action(id, userID, d)
	a.Outcome, a.Review, a.Binding = "REVIEW", store.ReviewPending, []byte("binding-of-"+id)
	return a
}

func putAction(t *testing.T, st store.ActionStore, a store.ActionRecord) store.ActionRecord {
	t.Helper()
	must(t, st.PutAction(t.Context(), a), "PutAction "+a.ID)
	return a
}

// wantAction fails t unless userID's record want.ID reads as want at now.
func wantAction(t *testing.T, st store.ActionStore, want store.ActionRecord, now time.Time, what string) {
	t.Helper()
	got, err := st.GetAction(t.Context(), want.UserID, want.ID, now)
	must(t, err, what+": GetAction")
	sameRecord(t, got, want, what)
}

// wantActions fails t unless q selects the records of q.UserID named
// names, in order.
func wantActions(t *testing.T, st store.ActionStore, q store.ActionQuery, now time.Time, what string, names ...string) []store.ActionRecord {
	t.Helper()
	got, err := st.Actions(t.Context(), q, now)
	must(t, err, what)
	var gotNames []string
	for _, a := range got {
		gotNames = append(gotNames, nameOf(a.ID))
	}
	if !slices.Equal(gotNames, names) {
		t.Fatalf("%s: got records %q, want %q", what, gotNames, names)
	}
	return got
}

func (s suite) actionRoundTrip(t *testing.T) {
	st := actionStore(t, s.store(t))
	want := s.review("a1", "user1", 0)
	want.Result, want.PassedAt, want.Kind = store.StateConsumed, s.at(time.Second), store.KindPasskey
	want.Reviewer, want.ReviewNote, want.ReviewedAt = "op@example", "looks fine", s.at(2*time.Second)
	allFieldsSet(t, want)
	putAction(t, st, want)
	wantAction(t, st, want, s.at(3*time.Second), "GetAction after PutAction")

	// The store keeps its own copy.
	in := s.action("a2", "user1", 0)
	putAction(t, st, in)
	want2 := in.Clone()
	in.Data[0]++
	wantAction(t, st, want2, s.at(time.Second), "GetAction after the caller changed the Data it put")
}

func (s suite) actionGetMissing(t *testing.T) {
	st := actionStore(t, s.store(t))
	putAction(t, st, s.action("a1", "user1", 0))
	for what, k := range map[string][2]string{"an unknown ID": {"user1", aid("a2", "user1")}, "another user's record": {"user2", aid("a1", "user1")}} {
		got, err := st.GetAction(t.Context(), k[0], k[1], s.at(time.Second))
		mustFail(t, err, store.ErrNotFound, "GetAction of "+what)
		sameRecord(t, got, store.ActionRecord{}, "GetAction of "+what+": returned record")
	}
}

func (s suite) actionDuplicate(t *testing.T) {
	st := actionStore(t, s.store(t))
	want := putAction(t, st, s.action("a1", "user1", 0))
	other := s.action("a1", "user2", time.Second)
	other.ID = want.ID
	mustFail(t, st.PutAction(t.Context(), other), store.ErrConflict, "PutAction of an existing ID")
	wantAction(t, st, want, s.at(time.Second), "GetAction after a refused duplicate")
}

func (s suite) actionPages(t *testing.T) {
	st := actionStore(t, s.store(t))
	// a3 and a4 share their time: the ID breaks the tie.
	for i, d := range []time.Duration{0, time.Second, 2 * time.Second, 2 * time.Second, 3 * time.Second} {
		putAction(t, st, s.action(fmt.Sprintf("a%d", i+1), "user1", d))
	}
	putAction(t, st, s.action("b1", "user2", 4*time.Second))
	now := s.at(5 * time.Second)
	wantActions(t, st, store.ActionQuery{UserID: "user1"}, now, "Actions of user1", "a5", "a4", "a3", "a2", "a1")
	page := wantActions(t, st, store.ActionQuery{UserID: "user1", Limit: 2}, now, "first page", "a5", "a4")
	last := page[len(page)-1]
	page = wantActions(t, st, store.ActionQuery{UserID: "user1", Limit: 2, Before: last.CreatedAt, BeforeID: last.ID}, now, "second page", "a3", "a2")
	last = page[len(page)-1]
	wantActions(t, st, store.ActionQuery{UserID: "user1", Limit: 2, Before: last.CreatedAt, BeforeID: last.ID}, now, "third page", "a1")
	wantActions(t, st, store.ActionQuery{UserID: "user3"}, now, "Actions of a user with none")
}

func (s suite) actionSince(t *testing.T) {
	st := actionStore(t, s.store(t))
	old := s.action("a1", "user1", 0)
	old.Result, old.PassedAt = store.StateConsumed, s.at(10*time.Minute)
	putAction(t, st, old)
	putAction(t, st, s.action("a2", "user1", time.Minute))
	putAction(t, st, s.action("a3", "user1", time.Hour))
	now := s.at(2 * time.Hour)
	wantActions(t, st, store.ActionQuery{UserID: "user1", Since: s.at(time.Hour)}, now, "Actions since an hour", "a3")
	wantActions(t, st, store.ActionQuery{UserID: "user1", Since: s.at(time.Hour), PassedSince: s.at(5 * time.Minute)}, now,
		"Actions since an hour or passed since 5 minutes", "a3", "a1")
	wantActions(t, st, store.ActionQuery{UserID: "user1", Since: s.at(time.Hour), PassedSince: s.at(11 * time.Minute)}, now,
		"Actions since an hour or passed since 11 minutes", "a3")
}

func (s suite) actionExpiry(t *testing.T) {
	st := actionStore(t, s.store(t))
	a := putAction(t, st, s.action("a1", "user1", 0))
	putAction(t, st, s.action("a2", "user1", time.Hour))
	wantAction(t, st, a, s.at(actionRetention-time.Millisecond), "GetAction a millisecond before ExpiresAt")
	_, err := st.GetAction(t.Context(), "user1", aid("a1", "user1"), s.at(actionRetention))
	mustFail(t, err, store.ErrNotFound, "GetAction at ExpiresAt")
	wantActions(t, st, store.ActionQuery{UserID: "user1"}, s.at(actionRetention), "Actions at a1's ExpiresAt", "a2")
}

func (s suite) actionWithChallenge(t *testing.T) {
	st := s.cycler(t)
	as := actionStore(t, st.Store)
	ctx := t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	for i, create := range []func(c store.Challenge) (store.Challenge, error){
		func(c store.Challenge) (store.Challenge, error) { return st.CreateChallenge(ctx, c, s.at(0)) },
		func(c store.Challenge) (store.Challenge, error) {
			b, err := st.BeginChallenge(ctx, store.Begin{Challenge: c}, s.at(0))
			return b.Challenge, err
		},
	} {
		c := s.challenge(cid(fmt.Sprintf("ch%d", i), "user1"), "user1", store.StatePending, 0)
		rec := s.action(fmt.Sprintf("ch%d", i), "user1", 0)
		rec.ID = c.ID
		c.Record = &rec
		got, err := create(c)
		must(t, err, "creating a challenge with its record")
		want := c
		want.Record = nil
		sameRecord(t, got, want, "the created challenge")
		wantChallenge(t, st, want, s.at(time.Second), "GetChallenge of a challenge created with its record")
		wantAction(t, as, rec, s.at(time.Second), "GetAction of the record created with its challenge")
	}
}

func (s suite) actionFollowsChallenge(t *testing.T) {
	st := s.cycler(t)
	as := actionStore(t, st.Store)
	ctx := t.Context()
	// Of the form the Service mints, so that a store keeping a user's
	// records together finds the credential beside the challenge.
	pk := taggedID("cr", "pk1", "user1")
	must(t, st.CreateCredential(ctx, s.passkey(pk, "user1", 0), 0), "CreateCredential")
	newChallenge := func(name string) (store.Challenge, store.ActionRecord) {
		c := s.challenge(cid(name, "user1"), "user1", store.StatePending, 0)
		rec := s.action(name, "user1", 0)
		rec.ID = c.ID
		c.Record = &rec
		createChallenge(t, st, c, s.at(0))
		return c, rec
	}
	answer := func(id string, to store.State) {
		_, err := st.TransitionChallenge(ctx, id, store.Transition{From: store.StatePending, To: to, CredentialID: pk, AnsweredAt: s.at(time.Second)}, s.at(time.Second))
		must(t, err, "TransitionChallenge to "+string(to))
	}

	c, rec := newChallenge("ch1")
	answer(c.ID, store.StateApproved)
	rec.Result, rec.Kind = store.StateApproved, store.KindPasskey
	wantAction(t, as, rec, s.at(time.Second), "the record of an approved challenge")
	_, _, err := st.ConsumeChallenge(ctx, c.ID, bindingOf(c), s.at(2*time.Second))
	must(t, err, "ConsumeChallenge")
	rec.Result, rec.PassedAt = store.StateConsumed, s.at(2*time.Second)
	wantAction(t, as, rec, s.at(3*time.Second), "the record of a consumed challenge")

	c, rec = newChallenge("ch2")
	answer(c.ID, store.StateDenied)
	rec.Result, rec.Kind = store.StateDenied, store.KindPasskey
	wantAction(t, as, rec, s.at(time.Second), "the record of a denied challenge")

	// A challenge without a record changes alone.
	plain := createChallenge(t, st, s.challenge(cid("ch3", "user1"), "user1", store.StatePending, 0), s.at(0))
	answer(plain.ID, store.StateApproved)
	_, err = as.GetAction(ctx, "user1", plain.ID, s.at(time.Second))
	mustFail(t, err, store.ErrNotFound, "GetAction of a challenge created without a record")
}

func (s suite) actionReview(t *testing.T) {
	st, ctx := actionStore(t, s.store(t)), t.Context()
	a := putAction(t, st, s.review("a1", "user1", 0))
	now := s.at(time.Minute)

	_, err := st.UseReview(ctx, "user1", a.ID, now)
	mustFail(t, err, store.ErrConflict, "UseReview of a pending review")
	_, err = st.DecideReview(ctx, "user2", a.ID, store.ReviewDecision{To: store.ReviewApproved}, now)
	mustFail(t, err, store.ErrNotFound, "DecideReview of another user's record")

	d := store.ReviewDecision{To: store.ReviewApproved, Reviewer: "op@example", Note: "called the user", ReviewedAt: now}
	got, err := st.DecideReview(ctx, "user1", a.ID, d, now)
	must(t, err, "DecideReview")
	want := a
	want.Review, want.Reviewer, want.ReviewNote, want.ReviewedAt = store.ReviewApproved, d.Reviewer, d.Note, d.ReviewedAt
	sameRecord(t, got, want, "DecideReview: returned record")
	got, err = st.DecideReview(ctx, "user1", a.ID, store.ReviewDecision{To: store.ReviewRejected, Reviewer: "other", ReviewedAt: now}, now)
	mustFail(t, err, store.ErrConflict, "second DecideReview")
	sameRecord(t, got, want, "second DecideReview: returned record")

	got, err = st.UseReview(ctx, "user1", a.ID, now)
	must(t, err, "UseReview of an approval")
	want.Review = store.ReviewUsed
	sameRecord(t, got, want, "UseReview: returned record")
	_, err = st.UseReview(ctx, "user1", a.ID, now)
	mustFail(t, err, store.ErrConflict, "second UseReview")
	wantAction(t, st, want, now, "GetAction after UseReview")

	r := putAction(t, st, s.review("a2", "user1", 0))
	_, err = st.DecideReview(ctx, "user1", r.ID, store.ReviewDecision{To: store.ReviewRejected, Reviewer: "op", ReviewedAt: now}, now)
	must(t, err, "DecideReview to rejected")
	_, err = st.UseReview(ctx, "user1", r.ID, now)
	mustFail(t, err, store.ErrConflict, "UseReview of a rejection")
	_, err = st.UseReview(ctx, "user1", aid("a3", "user1"), now)
	mustFail(t, err, store.ErrNotFound, "UseReview of an unknown record")
}

func (s suite) actionRacingDecisions(t *testing.T) {
	st, ctx, now := actionStore(t, s.store(t)), t.Context(), s.at(time.Minute)
	for round := range s.rounds {
		a := putAction(t, st, s.review(fmt.Sprintf("a%d", round), "user1", 0))
		r := race(s.racers, func(i int) error {
			to := store.ReviewApproved
			if i%2 == 1 {
				to = store.ReviewRejected
			}
			_, err := st.DecideReview(ctx, "user1", a.ID, store.ReviewDecision{To: to, Reviewer: fmt.Sprint(i), ReviewedAt: now}, now)
			return err
		})
		if !r.won(t, round, 1, store.ErrConflict) {
			return
		}
		got, err := st.GetAction(ctx, "user1", a.ID, now)
		must(t, err, "GetAction after racing decisions")
		if got.Reviewer != fmt.Sprint(r.winner) {
			t.Fatalf("round %d: the record names reviewer %q, but racer %d won", round, got.Reviewer, r.winner)
		}
	}
}

func (s suite) actionRacingUses(t *testing.T) {
	st := actionStore(t, s.store(t))
	s.raceUses(t, []store.ActionStore{st})
}

func (s suite) actionRacingUsesTwins(t *testing.T) {
	st := s.store(t)
	if s.twin == nil {
		t.Skip("Harness.Twin is nil: the store has no second value over its backend")
	}
	twin := s.twin(t, st)
	t.Cleanup(func() { twin.Close() })
	s.raceUses(t, []store.ActionStore{actionStore(t, st), actionStore(t, twin)})
}

// raceUses races s.racers uses of one approval a round, racer i through
// stores[i%len(stores)]: exactly one must get it.
func (s suite) raceUses(t *testing.T, stores []store.ActionStore) {
	ctx, now := t.Context(), s.at(time.Minute)
	for round := range s.rounds {
		a := putAction(t, stores[0], s.review(fmt.Sprintf("a%d", round), "user1", 0))
		_, err := stores[round%len(stores)].DecideReview(ctx, "user1", a.ID, store.ReviewDecision{To: store.ReviewApproved, Reviewer: "op", ReviewedAt: now}, now)
		must(t, err, "DecideReview")
		r := race(s.racers, func(i int) error {
			_, err := stores[i%len(stores)].UseReview(ctx, "user1", a.ID, now)
			return err
		})
		if !r.won(t, round, 1, store.ErrConflict) {
			return
		}
	}
}

func (s suite) actionPendingReviews(t *testing.T) {
	st, ctx := actionStore(t, s.store(t)), t.Context()
	putAction(t, st, s.review("r3", "user1", 3*time.Second))
	putAction(t, st, s.review("r1", "user2", time.Second))
	putAction(t, st, s.review("r2", "user1", 2*time.Second))
	putAction(t, st, s.action("a1", "user1", 0)) // not a review
	decided := putAction(t, st, s.review("r0", "user3", 0))
	now := s.at(time.Minute)
	_, err := st.DecideReview(ctx, "user3", decided.ID, store.ReviewDecision{To: store.ReviewRejected, Reviewer: "op", ReviewedAt: now}, now)
	must(t, err, "DecideReview")
	ids := func(list []store.ActionRecord) []string {
		var out []string
		for _, a := range list {
			out = append(out, nameOf(a.ID))
		}
		return out
	}
	got, err := st.PendingReviews(ctx, 10, now)
	must(t, err, "PendingReviews")
	if want := []string{"r1", "r2", "r3"}; !slices.Equal(ids(got), want) {
		t.Fatalf("PendingReviews: got %q, want %q", ids(got), want)
	}
	got, err = st.PendingReviews(ctx, 2, now)
	must(t, err, "PendingReviews with a limit")
	if want := []string{"r1", "r2"}; !slices.Equal(ids(got), want) {
		t.Fatalf("PendingReviews with limit 2: got %q, want %q", ids(got), want)
	}
	got, err = st.PendingReviews(ctx, 10, s.at(actionRetention+2*time.Second))
	must(t, err, "PendingReviews after r1 and r2 expired")
	if want := []string{"r3"}; !slices.Equal(ids(got), want) {
		t.Fatalf("PendingReviews after r1 and r2 expired: got %q, want %q", ids(got), want)
	}
}

func (s suite) actionForget(t *testing.T) {
	raw := s.store(t)
	st, ctx := actionStore(t, raw), t.Context()
	putAction(t, st, s.action("a1", "user1", 0))
	putAction(t, st, s.review("a2", "user1", time.Second))
	keep := putAction(t, st, s.action("b1", "user2", 0))
	// Counters of the user (keys of the form the Service makes) and
	// another's.
	mine, theirs := ids.UserCounterKey("wrongcode", "user1", "transfer"), ids.UserCounterKey("wrongcode", "user2", "transfer")
	increment(t, raw, mine, s.at(0), 1)
	increment(t, raw, theirs, s.at(0), 1)
	n, err := st.ForgetActions(ctx, "user1", []string{mine, "rate:challenges:user1"})
	must(t, err, "ForgetActions")
	if n != 2 {
		t.Fatalf("ForgetActions deleted %d records, want 2", n)
	}
	for key, want := range map[string]int64{mine: 0, theirs: 1} {
		got, err := raw.Counter(ctx, key, s.at(time.Second))
		must(t, err, "Counter after ForgetActions")
		if got != want {
			t.Fatalf("counter %s after ForgetActions = %d, want %d", key, got, want)
		}
	}
	now := s.at(time.Minute)
	wantActions(t, st, store.ActionQuery{UserID: "user1"}, now, "Actions after ForgetActions")
	got, err := st.PendingReviews(ctx, 10, now)
	must(t, err, "PendingReviews after ForgetActions")
	if len(got) != 0 {
		t.Fatalf("PendingReviews after ForgetActions: got %d, want none", len(got))
	}
	wantAction(t, st, keep, now, "another user's record after ForgetActions")
	n, err = st.ForgetActions(ctx, "user1", nil)
	must(t, err, "second ForgetActions")
	if n != 0 {
		t.Fatalf("second ForgetActions deleted %d records, want 0", n)
	}
}

func (s suite) readSignals(t *testing.T) {
	st := s.store(t)
	as := actionStore(t, st)
	ss, ok := st.(store.SignalStore)
	if !ok {
		t.Skip("the store does not implement store.SignalStore")
	}
	ctx := t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.passkey("pk1", "user1", time.Second), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.credential("cred2", "user2", 0), 0), "CreateCredential of another user")
	now := s.at(48 * time.Hour)
	increment(t, st, wrongCodes, now.Add(-time.Second), 1)
	increment(t, st, wrongCodes, now.Add(-time.Second), 2)

	// user1's records, by age at now.
	rec := func(id, action string, age time.Duration, f func(a *store.ActionRecord)) {
		a := s.action(id, "user1", 48*time.Hour-age)
		a.Action = action
		if f != nil {
			f(&a)
		}
		putAction(t, as, a)
	}
	passed := func(at time.Duration, prefix, browser string) func(a *store.ActionRecord) {
		return func(a *store.ActionRecord) {
			a.Result, a.PassedAt, a.Prefix, a.Browser = store.StateConsumed, now.Add(-at), prefix, browser
		}
	}
	rec("m1", "transfer", 30*time.Second, nil)
	rec("m2", "transfer", 59*time.Second, func(a *store.ActionRecord) { a.Result = store.StateDenied })
	rec("h1", "transfer", 30*time.Minute, func(a *store.ActionRecord) { a.Result = store.StateFailed })
	rec("h2", "settings", 10*time.Minute, func(a *store.ActionRecord) { a.Result = store.StateDenied })
	rec("d1", "transfer", 5*time.Hour, passed(4*time.Hour, "192.0.2.0/24", "b1"))
	rec("d2", "settings", 20*time.Hour, passed(3*time.Hour, "198.51.100.0/24", "b1"))
	rec("old", "transfer", 30*time.Hour, passed(29*time.Hour, "203.0.113.0/24", "b2"))
	rec("r1", "transfer", 2*time.Hour, func(a *store.ActionRecord) { a.Review, a.Outcome = store.ReviewApproved, "REVIEW" })
	rec("r2", "transfer", 3*time.Hour, func(a *store.ActionRecord) { a.Review, a.Outcome = store.ReviewApproved, "REVIEW" })
	rec("r3", "settings", time.Hour, func(a *store.ActionRecord) { a.Review, a.Outcome = store.ReviewApproved, "REVIEW" })
	putAction(t, as, s.action("x1", "user2", 48*time.Hour-time.Second))

	q := store.SignalQuery{UserID: "user1", Action: "transfer", Prefix: "192.0.2.0/24", Browser: "b1", Counter: wrongCodes,
		Now: now, KnownSince: now.Add(-30 * time.Hour), ReviewSince: now.Add(-150 * time.Minute)}
	got, err := ss.ReadSignals(ctx, q)
	must(t, err, "ReadSignals")
	wantCreds, err := st.ListCredentials(ctx, "user1")
	must(t, err, "ListCredentials")
	r1, err := as.GetAction(ctx, "user1", aid("r1", "user1"), now)
	must(t, err, "GetAction r1")
	r1.Data = nil // an approval's Data may be left out
	for i := range got.Approvals {
		got.Approvals[i].Data = nil
	}
	want := store.SignalRead{Credentials: wantCreds, Counter: 2,
		Minute: 2, Hour: 3, Day: 6, // transfers: m1, m2; and h1; and d1, r1, r2
		Denies: 2, Failures: 1, KnownPrefix: true, KnownBrowser: true, // m2, h2; h1; d1; d1 and d2
		PassedAction: now.Add(-4 * time.Hour), PassedAny: now.Add(-3 * time.Hour), Approvals: []store.ActionRecord{r1}}
	sameRecord(t, got, want, "ReadSignals")

	// Without a counter, from elsewhere (b2 passed 29 hours ago: no longer
	// known), for settings: h2; d2 and r3 (an hour old).
	q = store.SignalQuery{UserID: "user1", Action: "settings", Prefix: "203.0.113.0/24", Browser: "b2",
		Now: now, KnownSince: now.Add(-24 * time.Hour), ReviewSince: now.Add(-24 * time.Hour)}
	got, err = ss.ReadSignals(ctx, q)
	must(t, err, "ReadSignals from elsewhere")
	if got.Counter != 0 || got.KnownPrefix || got.KnownBrowser || !got.PassedAny.IsZero() || got.Day != 3 || got.Hour != 1 || len(got.Approvals) != 1 || got.Approvals[0].ID != aid("r3", "user1") {
		t.Fatalf("ReadSignals from elsewhere = %+v", got)
	}
	none, err := ss.ReadSignals(ctx, store.SignalQuery{UserID: "user3", Action: "transfer", Counter: wrongCodes + ":none", Now: now})
	must(t, err, "ReadSignals of a user with nothing")
	if len(none.Credentials) != 0 || none.Counter != 0 || none.Day != 0 || len(none.Approvals) != 0 {
		t.Fatalf("ReadSignals of a user with nothing = %+v", none)
	}
}

// ConsumedByTransition checks that a TransitionChallenge to CONSUMED (the
// way the record methods consume, when a Service makes the cycle steps of
// them) keeps the challenge's action record in step as ConsumeChallenge
// does: its Result is CONSUMED, its PassedAt the transition's now and its
// Kind the answering credential's. Run does not include it (a store whose
// Service consumes only through its own ConsumeChallenge need not pass
// it); stores that keep records by a trigger on every state change call it
// from a test of their own.
func ConsumedByTransition(t *testing.T, st store.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	as := actionStore(t, st)
	now = now.UTC().Truncate(time.Millisecond)
	s := suite{start: now}
	pk := taggedID("cr", "pk1", "user1")
	must(t, st.CreateCredential(ctx, s.passkey(pk, "user1", 0), 0), "CreateCredential")
	c := s.challenge(cid("ch1", "user1"), "user1", store.StatePending, 0)
	rec := s.action("ch1", "user1", 0)
	rec.ID = c.ID
	c.Record = &rec
	createChallenge(t, st, c, now)
	_, err := st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StatePending, To: store.StateApproved,
		CredentialID: pk, AnsweredAt: s.at(time.Second)}, s.at(time.Second))
	must(t, err, "TransitionChallenge to APPROVED")
	rec.Result, rec.Kind = store.StateApproved, store.KindPasskey
	wantAction(t, as, rec, s.at(time.Second), "the record of an approved challenge")
	_, err = st.TransitionChallenge(ctx, c.ID, store.Transition{From: store.StateApproved, To: store.StateConsumed,
		UserID: "user1"}, s.at(2*time.Second))
	must(t, err, "TransitionChallenge to CONSUMED")
	rec.Result, rec.PassedAt = store.StateConsumed, s.at(2*time.Second)
	wantAction(t, as, rec, s.at(3*time.Second), "the record of a challenge consumed by TransitionChallenge")
}
