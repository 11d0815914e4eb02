// Over 500 lines by design: every case of the ChallengeStore contract, one
// per promise of its doc comments, kept in one file so a reader checks
// the contract against its cases side by side.

package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) challenges(t *testing.T) {
	t.Run("CreateThenGetRoundTripsEveryField", s.challengeRoundTrip)
	t.Run("CreateThenGetKeepsZeroFields", s.challengeZeroFields)
	t.Run("StoreKeepsItsOwnCopy", s.challengeCopies)
	t.Run("GetMissingIsNotFound", s.challengeGetMissing)
	t.Run("CreateDuplicateIDIsConflict", s.challengeDuplicate)
	t.Run("IdempotencyKeyReturnsUsersUnexpiredChallenge", s.challengeIdempotency)
	t.Run("TransitionWritesItsFields", s.challengeTransition)
	t.Run("TransitionOfMissingIsNotFound", s.challengeTransitionMissing)
	t.Run("TransitionFromAnotherStateIsConflict", s.challengeTransitionWrongState)
	t.Run("TransitionForAnotherUserIsConflict", s.challengeTransitionOtherUser)
	t.Run("FinalStatesNeverChange", s.challengeFinalStates)
	t.Run("ExpiryFollowsInjectedClock", s.challengeExpiry)
	t.Run("RacingApproveAndDenyHaveOneWinner", s.challengeRacingAnswers)
	t.Run("RacingConsumesHaveOneWinner", s.challengeRacingConsumes)
	t.Run("RacingClaimsHaveOneWinner", s.challengeRacingClaims)
	t.Run("RacingSupersedesHaveOneWinner", s.challengeRacingSupersedes)
	t.Run("RacingFailuresHaveOneWinner", s.challengeRacingFailures)
	t.Run("RecordAttemptCountsInItsState", s.challengeRecordAttempt)
	t.Run("RacingRecordAttemptsAreAllCounted", s.challengeRacingAttempts)
	t.Run("ListPendingReturnsUsersUnexpiredPendingOldestFirst", s.challengeListPending)
	t.Run("ListPendingOfUserWithNoneIsEmptyNotNil", s.challengeListPendingNone)
}

// challengeTTL is how long the suite's challenges live (the default of
// the Service's Config.ChallengeTTL).
const challengeTTL = 5 * time.Minute

// allStates lists every challenge state.
var allStates = []store.State{
	store.StateUnclaimed, store.StatePending, store.StateApproved, store.StateConsumed,
	store.StateDenied, store.StateFailed, store.StateExpired, store.StateSuperseded,
}

// challenge returns userID's challenge id in state, created d after the
// clock's start and expiring challengeTTL later, with every field set but
// the idempotency key and those that answering, claiming and wrong codes
// write.
func (s suite) challenge(id, userID string, state store.State, d time.Duration) store.Challenge {
	created := s.at(d)
	return store.Challenge{
		ID:                  id,
		UserID:              userID,
		Action:              "transfer",
		State:               state,
		Method:              "PUSH",
		Methods:             []string{"DEVICE", "PUSH"},
		Nonce:               []byte("nonce-of-" + id),
		Details:             []byte(`{"message":"Pay 10 EUR","fields":[]}`),
		DetailsDigest:       []byte("digest-of-" + id),
		VerificationCode:    "42",
		ClientIP:            "192.0.2.1",
		UserAgent:           "Mozilla/5.0",
		Origin:              "https://app.example",
		CreatedAt:           created,
		ExpiresAt:           created.Add(challengeTTL),
		ClaimSecretHash:     []byte("claim-secret-hash-of-" + id),
		BrowserBindingHash:  []byte("browser-binding-hash-of-" + id),
		Passkey:             []byte("passkey-ceremony-of-" + id),
		AttestationRequired: "attested,hardware",
	}
}

// applied is the record a successful transition t of c must leave.
func applied(c store.Challenge, t store.Transition) store.Challenge {
	c.State = t.To
	if t.UserID != "" {
		c.UserID = t.UserID
	}
	if t.CredentialID != "" {
		c.CredentialID = t.CredentialID
	}
	if t.DenyReason != "" {
		c.DenyReason = t.DenyReason
	}
	if t.ClaimedBy != "" {
		c.ClaimedBy = t.ClaimedBy
	}
	if !t.AnsweredAt.IsZero() {
		c.AnsweredAt = t.AnsweredAt
	}
	return c
}

// createChallenge stores c, failing t on error, and returns c as reads
// return it (without its Record).
func createChallenge(t *testing.T, st store.Store, c store.Challenge, now time.Time) store.Challenge {
	t.Helper()
	got, err := st.CreateChallenge(t.Context(), c, now)
	must(t, err, "CreateChallenge "+c.ID)
	c.Record = nil
	sameRecord(t, got, c, "CreateChallenge "+c.ID+": returned record")
	return c
}

// wantChallenge fails t unless challenge want.ID reads as want at now.
func wantChallenge(t *testing.T, st store.Store, want store.Challenge, now time.Time, what string) {
	t.Helper()
	got, err := st.GetChallenge(t.Context(), want.ID, now)
	must(t, err, what+": GetChallenge")
	sameRecord(t, got, want, what)
}

func (s suite) challengeRoundTrip(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.challenge("ch1", "user1", store.StateApproved, 0)
	want.IdempotencyKey = "idem1"
	want.CredentialID = "cred1"
	want.DenyReason = "reason"
	want.AnsweredAt = s.at(30 * time.Second)
	want.Attempts = 2
	want.ClaimedBy = "cred2"
	in := want
	in.Record = &store.ActionRecord{ID: "ch1", UserID: "user1", CreatedAt: s.at(0), ExpiresAt: s.at(time.Hour)}
	allFieldsSet(t, in)

	// Record is not part of the challenge: reads return it nil.
	got, err := st.CreateChallenge(ctx, in, s.at(0))
	must(t, err, "CreateChallenge")
	sameRecord(t, got, want, "CreateChallenge: returned record")
	wantChallenge(t, st, want, s.at(time.Second), "GetChallenge after CreateChallenge")
}

func (s suite) challengeZeroFields(t *testing.T) {
	st := s.store(t)
	// A QR challenge just shown: no user, nothing answered.
	want := store.Challenge{
		ID:        "ch1",
		Action:    "signIn",
		State:     store.StateUnclaimed,
		Method:    "QR_CODE",
		CreatedAt: s.at(0),
		ExpiresAt: s.at(challengeTTL),
	}
	createChallenge(t, st, want, s.at(0))
	wantChallenge(t, st, want, s.at(time.Second), "GetChallenge of a challenge with zero fields")
}

func (s suite) challengeCopies(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.challenge("ch1", "user1", store.StatePending, 0)
	in := s.challenge("ch1", "user1", store.StatePending, 0)
	got, err := st.CreateChallenge(ctx, in, s.at(0))
	must(t, err, "CreateChallenge")
	for _, c := range []store.Challenge{in, got} {
		c.Methods[0] = "changed"
		for _, b := range [][]byte{c.Nonce, c.Details, c.DetailsDigest, c.ClaimSecretHash, c.BrowserBindingHash, c.Passkey} {
			b[0]++
		}
	}
	wantChallenge(t, st, want, s.at(0), "GetChallenge after the caller changed the slices of CreateChallenge")

	got, err = st.GetChallenge(ctx, want.ID, s.at(0))
	must(t, err, "GetChallenge")
	got.Methods[0], got.Nonce[0] = "changed", got.Nonce[0]+1
	list, err := st.ListPendingChallenges(ctx, "user1", s.at(0))
	must(t, err, "ListPendingChallenges")
	if len(list) != 1 {
		t.Fatalf("ListPendingChallenges: got %d challenges, want 1", len(list))
	}
	sameRecord(t, list[0], want, "ListPendingChallenges after the caller changed the slices GetChallenge returned")
	list[0].Methods[0], list[0].Nonce[0] = "changed", list[0].Nonce[0]+1
	wantChallenge(t, st, want, s.at(0), "GetChallenge after the caller changed the slices ListPendingChallenges returned")
}

func (s suite) challengeGetMissing(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	got, err := st.GetChallenge(ctx, "ch2", s.at(0))
	mustFail(t, err, store.ErrNotFound, "GetChallenge of a missing ID")
	if got.ID != "" {
		t.Fatalf("GetChallenge of a missing ID returned a record with ID %q, want the zero record", got.ID)
	}
}

func (s suite) challengeDuplicate(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	_, err := st.CreateChallenge(ctx, s.challenge("ch1", "user2", store.StateUnclaimed, time.Second), s.at(time.Second))
	mustFail(t, err, store.ErrConflict, "CreateChallenge with an existing ID")
	wantChallenge(t, st, want, s.at(time.Second), "GetChallenge after a refused duplicate")
}

func (s suite) challengeIdempotency(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	withKey := func(id, userID, key string, d time.Duration) store.Challenge {
		c := s.challenge(id, userID, store.StatePending, d)
		c.IdempotencyKey = key
		return c
	}
	first := createChallenge(t, st, withKey("ch1", "user1", "key1", 0), s.at(0))

	// Another user's key and another key are new challenges.
	createChallenge(t, st, withKey("ch2", "user2", "key1", time.Second), s.at(time.Second))
	createChallenge(t, st, withKey("ch3", "user1", "key2", time.Second), s.at(time.Second))

	// A repeat by the same user with the same key gets the first, until it
	// expires; then the key makes a new challenge.
	for _, d := range []time.Duration{2 * time.Second, challengeTTL - time.Second} {
		repeat := withKey(fmt.Sprintf("repeat%d", d/time.Second), "user1", "key1", d)
		got, err := st.CreateChallenge(ctx, repeat, s.at(d))
		must(t, err, "CreateChallenge repeating an idempotency key")
		sameRecord(t, got, first, fmt.Sprintf("CreateChallenge repeating an idempotency key %v later", d))
		_, err = st.GetChallenge(ctx, repeat.ID, s.at(d))
		mustFail(t, err, store.ErrNotFound, "GetChallenge of the repeat, which must not be stored")
	}
	createChallenge(t, st, withKey("ch4", "user1", "key1", challengeTTL+time.Second), s.at(challengeTTL+time.Second))

	// Without a key, nothing is deduplicated.
	createChallenge(t, st, s.challenge("ch5", "user1", store.StatePending, 2*challengeTTL), s.at(2*challengeTTL))
	createChallenge(t, st, s.challenge("ch6", "user1", store.StatePending, 2*challengeTTL), s.at(2*challengeTTL))
}

func (s suite) challengeTransition(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	now := s.at(10 * time.Second)
	steps := []struct {
		name  string
		from  store.Challenge
		trans store.Transition
	}{
		{"approve", s.challenge("ch1", "user1", store.StatePending, 0), store.Transition{
			From: store.StatePending, To: store.StateApproved, UserID: "user1",
			CredentialID: "cred1", AnsweredAt: s.at(5 * time.Second),
		}},
		{"deny", s.challenge("ch2", "user1", store.StatePending, 0), store.Transition{
			From: store.StatePending, To: store.StateDenied, UserID: "user1",
			CredentialID: "cred1", DenyReason: "notMe", AnsweredAt: s.at(6 * time.Second),
		}},
		{"claim", s.challenge("ch3", "", store.StateUnclaimed, 0), store.Transition{
			From: store.StateUnclaimed, To: store.StatePending, UserID: "user1", ClaimedBy: "cred1",
		}},
		{"consume", s.challenge("ch4", "user1", store.StateApproved, 0), store.Transition{
			From: store.StateApproved, To: store.StateConsumed, UserID: "user1",
		}},
		{"fail an approved challenge whose credential was revoked", s.challenge("ch5", "user1", store.StateApproved, 0), store.Transition{
			From: store.StateApproved, To: store.StateFailed,
		}},
		{"supersede", s.challenge("ch6", "user1", store.StatePending, 0), store.Transition{
			From: store.StatePending, To: store.StateSuperseded,
		}},
	}
	for _, step := range steps {
		createChallenge(t, st, step.from, now)
		got, err := st.TransitionChallenge(ctx, step.from.ID, step.trans, now)
		must(t, err, "TransitionChallenge to "+step.name)
		want := applied(step.from, step.trans)
		sameRecord(t, got, want, "TransitionChallenge to "+step.name+": returned record")
		wantChallenge(t, st, want, now, "TransitionChallenge to "+step.name+": stored record")
	}
}

func (s suite) challengeTransitionMissing(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	_, err := st.TransitionChallenge(ctx, "ch2", store.Transition{From: store.StatePending, To: store.StateApproved}, s.at(0))
	mustFail(t, err, store.ErrNotFound, "TransitionChallenge of a missing challenge")
}

func (s suite) challengeTransitionWrongState(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	for _, from := range []store.State{store.StateUnclaimed, store.StateApproved} {
		_, err := st.TransitionChallenge(ctx, want.ID, store.Transition{
			From: from, To: store.StateConsumed, UserID: "user1", CredentialID: "cred1",
		}, s.at(time.Second))
		mustFail(t, err, store.ErrConflict, fmt.Sprintf("TransitionChallenge from %s of a PENDING challenge", from))
	}
	wantChallenge(t, st, want, s.at(time.Second), "GetChallenge after refused transitions")
}

func (s suite) challengeTransitionOtherUser(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	pending := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	approved := createChallenge(t, st, s.challenge("ch2", "user1", store.StateApproved, 0), s.at(0))
	for _, c := range []store.Challenge{pending, approved} {
		next := store.StateApproved
		if c.State == store.StateApproved {
			next = store.StateConsumed
		}
		_, err := st.TransitionChallenge(ctx, c.ID, store.Transition{
			From: c.State, To: next, UserID: "user2", CredentialID: "cred2", AnsweredAt: s.at(time.Second),
		}, s.at(time.Second))
		mustFail(t, err, store.ErrConflict, "TransitionChallenge of another user's "+string(c.State)+" challenge")
		wantChallenge(t, st, c, s.at(time.Second), "GetChallenge after another user's transition")
	}
}

func (s suite) challengeFinalStates(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	now := s.at(time.Second)
	// Each final state reached the way the Service reaches it.
	paths := [][]store.State{
		{store.StatePending, store.StateApproved, store.StateConsumed},
		{store.StatePending, store.StateDenied},
		{store.StatePending, store.StateFailed},
		{store.StatePending, store.StateSuperseded},
	}
	for _, path := range paths {
		final := path[len(path)-1]
		c := createChallenge(t, st, s.challenge("ch-"+string(final), "user1", path[0], 0), now)
		for _, next := range path[1:] {
			got, err := st.TransitionChallenge(ctx, c.ID, store.Transition{From: c.State, To: next}, now)
			must(t, err, fmt.Sprintf("TransitionChallenge from %s to %s", c.State, next))
			c = got
		}
		for _, to := range allStates {
			_, err := st.TransitionChallenge(ctx, c.ID, store.Transition{From: final, To: to, CredentialID: "cred9"}, now)
			mustFail(t, err, store.ErrConflict, fmt.Sprintf("TransitionChallenge from final %s to %s", final, to))
		}
		wantChallenge(t, st, c, now, "GetChallenge of a "+string(final)+" challenge after refused transitions")
	}
}

func (s suite) challengeExpiry(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	// Created a millisecond apart, so that they list in a known order, and
	// expiring together.
	created := func(id string, d time.Duration) store.Challenge {
		c := s.challenge(id, "user1", store.StatePending, d)
		c.ExpiresAt = s.at(challengeTTL)
		return createChallenge(t, st, c, s.at(d))
	}
	approved := created("ch1", 0)
	pending := created("ch2", time.Millisecond)
	denied := created("ch3", 2*time.Millisecond)

	// A second before ExpiresAt, everything works.
	now := s.at(challengeTTL - time.Second)
	wantChallenge(t, st, pending, now, "GetChallenge a second before ExpiresAt")
	wantPending(t, st, "user1", now, approved, pending, denied)
	got, err := st.RecordAttempt(ctx, pending.ID, store.StatePending, now)
	must(t, err, "RecordAttempt a second before ExpiresAt")
	pending.Attempts = 1
	sameRecord(t, got, pending, "RecordAttempt a second before ExpiresAt")
	approveTransition := store.Transition{From: store.StatePending, To: store.StateApproved, CredentialID: "cred1", AnsweredAt: now}
	_, err = st.TransitionChallenge(ctx, approved.ID, approveTransition, now)
	must(t, err, "TransitionChallenge a second before ExpiresAt")
	approved = applied(approved, approveTransition)
	_, err = st.TransitionChallenge(ctx, denied.ID, store.Transition{From: store.StatePending, To: store.StateDenied}, now)
	must(t, err, "TransitionChallenge a second before ExpiresAt")
	denied.State = store.StateDenied

	// At ExpiresAt and after, a challenge that is not final reads as EXPIRED
	// and nothing moves it; a final one keeps its state.
	for _, d := range []time.Duration{challengeTTL, challengeTTL + time.Second} {
		now := s.at(d)
		what := fmt.Sprintf("at start+%v (ExpiresAt is start+%v)", d, challengeTTL)
		expired := func(c store.Challenge) store.Challenge { c.State = store.StateExpired; return c }
		wantChallenge(t, st, expired(pending), now, "GetChallenge of a PENDING challenge "+what)
		wantChallenge(t, st, expired(approved), now, "GetChallenge of an APPROVED challenge "+what)
		wantChallenge(t, st, denied, now, "GetChallenge of a DENIED challenge "+what)
		for _, tr := range []struct {
			id   string
			from store.State
		}{{pending.ID, store.StatePending}, {approved.ID, store.StateApproved}, {pending.ID, store.StateExpired}} {
			_, err := st.TransitionChallenge(ctx, tr.id, store.Transition{From: tr.from, To: store.StateConsumed}, now)
			mustFail(t, err, store.ErrConflict, fmt.Sprintf("TransitionChallenge from %s %s", tr.from, what))
		}
		_, err := st.RecordAttempt(ctx, pending.ID, store.StatePending, now)
		mustFail(t, err, store.ErrConflict, "RecordAttempt "+what)
		wantPending(t, st, "user1", now)
	}
}

// wantPending fails t unless userID's pending challenges at now are want.
func wantPending(t *testing.T, st store.Store, userID string, now time.Time, want ...store.Challenge) {
	t.Helper()
	list, err := st.ListPendingChallenges(t.Context(), userID, now)
	must(t, err, "ListPendingChallenges")
	if list == nil {
		t.Fatal("ListPendingChallenges returned nil, want a non-nil slice")
	}
	if got, wantIDs := challengeIDs(list), challengeIDs(want); !slices.Equal(got, wantIDs) {
		t.Fatalf("ListPendingChallenges of %s: got IDs %v, want %v (oldest first)", userID, got, wantIDs)
	}
	for i := range want {
		sameRecord(t, list[i], want[i], "ListPendingChallenges")
	}
}

func challengeIDs(list []store.Challenge) []string {
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids
}

func (s suite) challengeRacingAnswers(t *testing.T) {
	s.raceTransition(t, store.StatePending, "user1", func(i int) store.Transition {
		if i%2 == 0 {
			return store.Transition{From: store.StatePending, To: store.StateApproved, UserID: "user1",
				CredentialID: fmt.Sprintf("cred%d", i), AnsweredAt: s.at(time.Duration(i) * time.Millisecond)}
		}
		return store.Transition{From: store.StatePending, To: store.StateDenied, UserID: "user1",
			CredentialID: fmt.Sprintf("cred%d", i), DenyReason: fmt.Sprintf("reason%d", i)}
	})
}

func (s suite) challengeRacingConsumes(t *testing.T) {
	s.raceTransition(t, store.StateApproved, "user1", func(int) store.Transition {
		return store.Transition{From: store.StateApproved, To: store.StateConsumed, UserID: "user1"}
	})
}

func (s suite) challengeRacingClaims(t *testing.T) {
	s.raceTransition(t, store.StateUnclaimed, "", func(i int) store.Transition {
		return store.Transition{From: store.StateUnclaimed, To: store.StatePending,
			UserID: fmt.Sprintf("user%d", i), ClaimedBy: fmt.Sprintf("cred%d", i)}
	})
}

func (s suite) challengeRacingSupersedes(t *testing.T) {
	s.raceTransition(t, store.StatePending, "user1", func(int) store.Transition {
		return store.Transition{From: store.StatePending, To: store.StateSuperseded}
	})
}

func (s suite) challengeRacingFailures(t *testing.T) {
	s.raceTransition(t, store.StatePending, "user1", func(int) store.Transition {
		return store.Transition{From: store.StatePending, To: store.StateFailed, UserID: "user1"}
	})
}

// raceTransition runs s.rounds rounds, in each of which s.racers goroutines
// try transition(i) on a new challenge of userID in state from: exactly one
// must win, the others get ErrConflict, and the record must be the winner's.
func (s suite) raceTransition(t *testing.T, from store.State, userID string, transition func(i int) store.Transition) {
	st, ctx := s.store(t), t.Context()
	now := s.at(time.Second)
	results := make([]store.Challenge, s.racers)
	for round := range s.rounds {
		c := createChallenge(t, st, s.challenge(fmt.Sprintf("race%d", round), userID, from, 0), now)
		r := race(s.racers, func(i int) error {
			var err error
			results[i], err = st.TransitionChallenge(ctx, c.ID, transition(i), now)
			return err
		})
		if !r.won(t, round, 1, store.ErrConflict) {
			return
		}
		want := applied(c, transition(r.winner))
		sameRecord(t, results[r.winner], want, fmt.Sprintf("round %d: the winner's record", round))
		wantChallenge(t, st, want, now, fmt.Sprintf("round %d: GetChallenge after the race", round))
	}
}

func (s suite) challengeRecordAttempt(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	now := s.at(time.Second)
	for n := 1; n <= 3; n++ {
		got, err := st.RecordAttempt(ctx, want.ID, store.StatePending, now)
		must(t, err, "RecordAttempt")
		want.Attempts = n
		sameRecord(t, got, want, fmt.Sprintf("RecordAttempt number %d", n))
	}
	_, err := st.RecordAttempt(ctx, want.ID, store.StateApproved, now)
	mustFail(t, err, store.ErrConflict, "RecordAttempt from APPROVED of a PENDING challenge")
	_, err = st.RecordAttempt(ctx, "ch2", store.StatePending, now)
	mustFail(t, err, store.ErrNotFound, "RecordAttempt of a missing challenge")
	wantChallenge(t, st, want, now, "GetChallenge after RecordAttempt")

	_, err = st.TransitionChallenge(ctx, want.ID, store.Transition{From: store.StatePending, To: store.StateFailed}, now)
	must(t, err, "TransitionChallenge to FAILED")
	want.State = store.StateFailed
	_, err = st.RecordAttempt(ctx, want.ID, store.StatePending, now)
	mustFail(t, err, store.ErrConflict, "RecordAttempt from PENDING of a FAILED challenge")
	_, err = st.RecordAttempt(ctx, want.ID, store.StateFailed, now)
	mustFail(t, err, store.ErrConflict, "RecordAttempt from FAILED (final states never change)")
	wantChallenge(t, st, want, now, "GetChallenge of a FAILED challenge after RecordAttempt")
}

func (s suite) challengeRacingAttempts(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	now := s.at(time.Second)
	counts := make([]int, s.racers)
	for round := range s.rounds {
		c := createChallenge(t, st, s.challenge(fmt.Sprintf("race%d", round), "user1", store.StatePending, 0), now)
		r := race(s.racers, func(i int) error {
			got, err := st.RecordAttempt(ctx, c.ID, store.StatePending, now)
			counts[i] = got.Attempts
			return err
		})
		if !r.won(t, round, s.racers, nil) {
			return
		}
		// Every racer saw its own count: 1 … racers, each once.
		slices.Sort(counts)
		for i, n := range counts {
			if n != i+1 {
				t.Fatalf("round %d: racing RecordAttempt returned counts %v, want each of 1…%d once", round, counts, s.racers)
			}
		}
		c.Attempts = s.racers
		wantChallenge(t, st, c, now, fmt.Sprintf("round %d: GetChallenge after racing RecordAttempt", round))
	}
}

func (s suite) challengeListPending(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	later := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 2*time.Second), s.at(2*time.Second))
	earlier := createChallenge(t, st, s.challenge("ch2", "user1", store.StatePending, time.Second), s.at(2*time.Second))
	short := s.challenge("ch3", "user1", store.StatePending, 0)
	short.ExpiresAt = s.at(4 * time.Second)
	createChallenge(t, st, short, s.at(2*time.Second))
	createChallenge(t, st, s.challenge("ch4", "user1", store.StateApproved, 0), s.at(2*time.Second))
	createChallenge(t, st, s.challenge("ch5", "user2", store.StatePending, 0), s.at(2*time.Second))
	createChallenge(t, st, s.challenge("ch6", "", store.StatePending, 0), s.at(2*time.Second))
	qr := createChallenge(t, st, s.challenge("ch7", "", store.StateUnclaimed, 3*time.Second), s.at(3*time.Second))
	createChallenge(t, st, s.challenge("ch8", "", store.StateUnclaimed, 3*time.Second), s.at(3*time.Second))

	// A claimed QR challenge becomes the claimer's.
	claim := store.Transition{From: store.StateUnclaimed, To: store.StatePending, UserID: "user1", ClaimedBy: "cred1"}
	_, err := st.TransitionChallenge(ctx, qr.ID, claim, s.at(3*time.Second))
	must(t, err, "TransitionChallenge claiming a QR challenge")
	qr = applied(qr, claim)

	wantPending(t, st, "user1", s.at(3*time.Second), short, earlier, later, qr)
	wantPending(t, st, "user1", s.at(5*time.Second), earlier, later, qr)
}

func (s suite) challengeListPendingNone(t *testing.T) {
	st := s.store(t)
	createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	createChallenge(t, st, s.challenge("ch2", "user2", store.StateApproved, 0), s.at(0))
	wantPending(t, st, "user2", s.at(time.Second))
	wantPending(t, st, "user3", s.at(time.Second))
}
