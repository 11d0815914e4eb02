// Over 500 lines by design: every case of the CycleStore contract (and its
// fallback), one per promise, kept in one file beside the contract they
// prove.

package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/cyclestore"
	"github.com/deviceauth/deviceauth/store"
)

// cycler is a store with the steps of a challenge cycle, as the Service
// takes them: the store's own (store.CycleStore), or the fallback over its
// record methods when it has none. Either must keep the contract.
type cycler struct {
	store.Store
	store.CycleStore
}

// cycler returns a new store for t as a cycler.
func (s suite) cycler(t *testing.T) cycler {
	st := s.store(t)
	return cycler{st, cyclestore.For(st)}
}

func (s suite) cycle(t *testing.T) {
	t.Run("BeginCreatesForEnrolledUser", s.beginCreates)
	t.Run("BeginWithoutCredentialsCreatesNothing", s.beginNotEnrolled)
	t.Run("BeginAtCounterLimitCreatesNothing", s.beginCounterLimit)
	t.Run("BeginCreatesOnlyForTheKindsNamed", s.beginKinds)
	t.Run("BeginKeepsIdempotencyKey", s.beginIdempotency)
	t.Run("BeginDuplicateIDIsConflict", s.beginDuplicate)
	t.Run("RacingBeginsWithOneKeyStoreOne", s.beginRacingIdempotency)
	t.Run("GetChallengeCredentialReadsBoth", s.getChallengeCredential)
	t.Run("GetChallengeCredentialOfMissingIsNotFound", s.getChallengeCredentialMissing)
	t.Run("TransitionRecordsCredentialUse", s.transitionCredentialUsed)
	t.Run("ConsumeConsumesBoundApprovedChallenge", s.consume)
	t.Run("ConsumeOfUnboundOrUnapprovedIsConflict", s.consumeConflict)
	t.Run("ConsumeWithRevokedCredentialFails", s.consumeRevoked)
	t.Run("ConsumeOfAnAnswerNotAdmittedIsConflict", s.consumeNotAdmitted)
	t.Run("ConsumeOfMissingIsNotFound", s.consumeMissing)
	t.Run("RacingConsumesHaveOneWinner", s.consumeRacing)
	t.Run("ConsumeWakesWatcher", s.consumeWakes)
}

// wrongCodes is the counter key the Begin tests read.
const wrongCodes = "wrongcode:user1:transfer"

// begin calls BeginChallenge with c for the counter wrongCodes below limit
// and kinds, failing t on error.
func begin(t *testing.T, st cycler, c store.Challenge, limit int64, kinds []store.CredentialKind, now time.Time) store.Begun {
	t.Helper()
	got, err := st.BeginChallenge(t.Context(), store.Begin{Challenge: c, Counter: wrongCodes, CounterLimit: limit, Kinds: kinds}, now)
	must(t, err, "BeginChallenge "+c.ID)
	return got
}

// wantBegun fails t unless got reports counter and kinds, and the stored
// challenge want (the zero record: none).
func wantBegun(t *testing.T, got store.Begun, counter int64, kinds []store.CredentialKind, want store.Challenge, what string) {
	t.Helper()
	if got.Counter != counter {
		t.Fatalf("%s: Begun.Counter = %d, want %d", what, got.Counter, counter)
	}
	if !slices.Equal(got.Kinds, kinds) {
		t.Fatalf("%s: Begun.Kinds = %q, want %q", what, got.Kinds, kinds)
	}
	sameRecord(t, got.Challenge, want, what+": Begun.Challenge")
}

// wantNoChallenge fails t unless challenge id does not exist.
func wantNoChallenge(t *testing.T, st store.Store, id string, now time.Time, what string) {
	t.Helper()
	_, err := st.GetChallenge(t.Context(), id, now)
	mustFail(t, err, store.ErrNotFound, what+": GetChallenge "+id)
}

var (
	devices  = []store.CredentialKind{store.KindDevice}
	passkeys = []store.CredentialKind{store.KindPasskey}
	both     = []store.CredentialKind{store.KindDevice, store.KindPasskey}
	none     = []store.CredentialKind{}
)

// passkey returns userID's passkey credential id.
func (s suite) passkey(id, userID string, d time.Duration) store.Credential {
	c := s.credential(id, userID, d)
	c.Kind, c.Algorithm, c.PublicKey = store.KindPasskey, "", nil
	return c
}

func (s suite) beginCreates(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.passkey("cred2", "user2", 0), 0), "CreateCredential of another user")
	increment(t, st, wrongCodes, s.at(0), 1)
	increment(t, st, wrongCodes, s.at(0), 2)

	c := s.challenge("ch1", "user1", store.StatePending, time.Second)
	got := begin(t, st, c, 5, devices, s.at(time.Second))
	wantBegun(t, got, 2, devices, c, "BeginChallenge of an enrolled user below the limit")
	wantChallenge(t, st, c, s.at(2*time.Second), "GetChallenge after BeginChallenge")
	list, err := st.ListPendingChallenges(ctx, "user1", s.at(2*time.Second))
	must(t, err, "ListPendingChallenges")
	if len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("ListPendingChallenges after BeginChallenge: got %d challenges, want %s", len(list), c.ID)
	}

	// No limit, no kinds, no counter: only enrolment matters.
	c2 := s.challenge("ch2", "user1", store.StatePending, time.Second)
	got, err = st.BeginChallenge(ctx, store.Begin{Challenge: c2}, s.at(time.Second))
	must(t, err, "BeginChallenge without counter, limit or kinds")
	wantBegun(t, got, 0, devices, c2, "BeginChallenge without counter, limit or kinds")
}

func (s suite) beginNotEnrolled(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user2", 0), 0), "CreateCredential of another user")
	increment(t, st, wrongCodes, s.at(0), 1)
	for _, kinds := range [][]store.CredentialKind{nil, devices} {
		got := begin(t, st, s.challenge("ch1", "user1", store.StatePending, 0), 5, kinds, s.at(0))
		wantBegun(t, got, 1, none, store.Challenge{}, fmt.Sprintf("BeginChallenge for a user without credentials (kinds %q)", kinds))
		wantNoChallenge(t, st, "ch1", s.at(0), "after BeginChallenge for a user without credentials")
	}
}

func (s suite) beginCounterLimit(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	for i := range int64(3) {
		increment(t, st, wrongCodes, s.at(0), i+1)
	}
	got := begin(t, st, s.challenge("ch1", "user1", store.StatePending, 0), 3, devices, s.at(0))
	wantBegun(t, got, 3, devices, store.Challenge{}, "BeginChallenge with the counter at the limit")
	wantNoChallenge(t, st, "ch1", s.at(0), "after BeginChallenge at the limit")

	c := s.challenge("ch1", "user1", store.StatePending, 0)
	got = begin(t, st, c, 4, devices, s.at(0))
	wantBegun(t, got, 3, devices, c, "BeginChallenge with the counter below a higher limit")

	// When the window has ended the counter reads 0 again.
	end := s.at(counterWindow)
	c2 := s.challenge("ch2", "user1", store.StatePending, counterWindow)
	got = begin(t, st, c2, 3, devices, end)
	wantBegun(t, got, 0, devices, c2, "BeginChallenge when the counter's window has ended")
}

func (s suite) beginKinds(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.passkey("pk1", "user1", 0), 0), "CreateCredential")
	got := begin(t, st, s.challenge("ch1", "user1", store.StatePending, 0), 5, devices, s.at(0))
	wantBegun(t, got, 0, passkeys, store.Challenge{}, "BeginChallenge for device keys of a user with a passkey only")
	wantNoChallenge(t, st, "ch1", s.at(0), "after BeginChallenge with other kinds")

	c := s.challenge("ch1", "user1", store.StatePending, 0)
	got = begin(t, st, c, 5, passkeys, s.at(0))
	wantBegun(t, got, 0, passkeys, c, "BeginChallenge for the user's kinds")

	// A second kind: the kinds come back in order, and both are needed.
	must(t, st.CreateCredential(ctx, s.credential("cred2", "user1", time.Second), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.credential("cred3", "user1", 2*time.Second), 0), "CreateCredential")
	for _, kinds := range [][]store.CredentialKind{devices, passkeys} {
		got = begin(t, st, s.challenge("ch2", "user1", store.StatePending, time.Second), 5, kinds, s.at(time.Second))
		wantBegun(t, got, 0, both, store.Challenge{}, fmt.Sprintf("BeginChallenge for %q of a user with both kinds", kinds))
		wantNoChallenge(t, st, "ch2", s.at(time.Second), "after BeginChallenge with a subset of the kinds")
	}
	c2 := s.challenge("ch2", "user1", store.StatePending, time.Second)
	got = begin(t, st, c2, 5, []store.CredentialKind{store.KindPasskey, store.KindDevice}, s.at(time.Second))
	wantBegun(t, got, 0, both, c2, "BeginChallenge for both kinds, named in another order")
	c3 := s.challenge("ch3", "user1", store.StatePending, time.Second)
	got = begin(t, st, c3, 5, nil, s.at(time.Second))
	wantBegun(t, got, 0, both, c3, "BeginChallenge without kinds")
}

func (s suite) beginIdempotency(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	first := s.challenge("ch1", "user1", store.StatePending, 0)
	first.IdempotencyKey = "key1"
	wantBegun(t, begin(t, st, first, 5, devices, s.at(0)), 0, devices, first, "first BeginChallenge with a key")

	again := s.challenge("ch2", "user1", store.StatePending, time.Second)
	again.IdempotencyKey = "key1"
	wantBegun(t, begin(t, st, again, 5, devices, s.at(time.Second)), 0, devices, first, "BeginChallenge repeating a key")
	wantNoChallenge(t, st, "ch2", s.at(time.Second), "after BeginChallenge repeating a key")

	// A challenge made by CreateChallenge counts too.
	made := s.challenge("ch3", "user1", store.StatePending, time.Second)
	made.IdempotencyKey = "key2"
	createChallenge(t, st, made, s.at(time.Second))
	again = s.challenge("ch4", "user1", store.StatePending, 2*time.Second)
	again.IdempotencyKey = "key2"
	wantBegun(t, begin(t, st, again, 5, devices, s.at(2*time.Second)), 0, devices, made, "BeginChallenge repeating CreateChallenge's key")

	// Once the first challenge has expired, the key makes a new one.
	late := s.challenge("ch5", "user1", store.StatePending, challengeTTL)
	late.IdempotencyKey = "key1"
	wantBegun(t, begin(t, st, late, 5, devices, s.at(challengeTTL)), 0, devices, late, "BeginChallenge with the key of an expired challenge")
}

func (s suite) beginDuplicate(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	want := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	_, err := st.BeginChallenge(ctx, store.Begin{Challenge: s.challenge("ch1", "user1", store.StateApproved, time.Second)}, s.at(time.Second))
	mustFail(t, err, store.ErrConflict, "BeginChallenge with an existing ID")
	wantChallenge(t, st, want, s.at(time.Second), "GetChallenge after a refused duplicate")
}

func (s suite) beginRacingIdempotency(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	for round := range min(s.rounds, 20) {
		key := fmt.Sprintf("key%d", round)
		ids := make([]string, s.racers)
		r := race(s.racers, func(i int) error {
			c := s.challenge(fmt.Sprintf("ch%d-%d", round, i), "user1", store.StatePending, 0)
			c.IdempotencyKey = key
			got, err := st.BeginChallenge(ctx, store.Begin{Challenge: c, Counter: wrongCodes, CounterLimit: 5, Kinds: devices}, s.at(0))
			ids[i] = got.Challenge.ID
			return err
		})
		if !r.won(t, round, s.racers, nil) {
			return
		}
		stored := 0
		for i, id := range ids {
			if id != ids[0] {
				t.Fatalf("round %d: racer %d got challenge %q, racer 0 %q: want one challenge per key", round, i, id, ids[0])
			}
			if _, err := st.GetChallenge(ctx, fmt.Sprintf("ch%d-%d", round, i), s.at(0)); err == nil {
				stored++
			}
		}
		if stored != 1 {
			t.Fatalf("round %d: %d challenges stored for one idempotency key, want 1", round, stored)
		}
	}
}

func (s suite) getChallengeCredential(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	cred := s.credential("cred1", "user1", 0)
	must(t, st.CreateCredential(ctx, cred, 0), "CreateCredential")
	c := createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	gotC, gotK, err := st.GetChallengeCredential(ctx, c.ID, cred.ID, s.at(time.Second))
	must(t, err, "GetChallengeCredential")
	sameRecord(t, gotC, c, "GetChallengeCredential: challenge")
	sameRecord(t, gotK, cred, "GetChallengeCredential: credential")

	// The challenge reads as GetChallenge reads it: expired after its time.
	gotC, _, err = st.GetChallengeCredential(ctx, c.ID, cred.ID, c.ExpiresAt)
	must(t, err, "GetChallengeCredential of an expired challenge")
	if gotC.State != store.StateExpired {
		t.Fatalf("GetChallengeCredential of an expired challenge: state %s, want %s", gotC.State, store.StateExpired)
	}
	// Another user's credential is returned as it is: checking the user
	// is the caller's.
	other := s.credential("cred2", "user2", 0)
	must(t, st.CreateCredential(ctx, other, 0), "CreateCredential")
	_, gotK, err = st.GetChallengeCredential(ctx, c.ID, other.ID, s.at(time.Second))
	must(t, err, "GetChallengeCredential with another user's credential")
	sameRecord(t, gotK, other, "GetChallengeCredential with another user's credential: credential")
}

func (s suite) getChallengeCredentialMissing(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	createChallenge(t, st, s.challenge("ch1", "user1", store.StatePending, 0), s.at(0))
	for _, ids := range [][2]string{{"ch2", "cred1"}, {"ch1", "cred2"}, {"ch2", "cred2"}} {
		c, k, err := st.GetChallengeCredential(ctx, ids[0], ids[1], s.at(0))
		mustFail(t, err, store.ErrNotFound, "GetChallengeCredential("+ids[0]+", "+ids[1]+")")
		if c.ID != "" || k.ID != "" {
			t.Fatalf("GetChallengeCredential(%s, %s) returned records %q and %q with ErrNotFound, want zero records", ids[0], ids[1], c.ID, k.ID)
		}
	}
}

func (s suite) transitionCredentialUsed(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	mine, other := s.credential("cred1", "user1", 0), s.credential("cred2", "user2", 0)
	must(t, st.CreateCredential(ctx, mine, 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, other, 0), "CreateCredential")
	answered := s.at(10 * time.Second)
	answer := store.Transition{From: store.StatePending, To: store.StateApproved, UserID: "user1",
		CredentialID: mine.ID, AnsweredAt: answered, CredentialUsed: true}

	// A transition that is not made records nothing.
	c := createChallenge(t, st, s.challenge("ch1", "user1", store.StateApproved, 0), s.at(0))
	_, err := st.TransitionChallenge(ctx, c.ID, answer, answered)
	mustFail(t, err, store.ErrConflict, "TransitionChallenge from another state")
	wantCredential(t, st, mine, "credential after a transition that was not made")

	// Without CredentialUsed, nothing either.
	c = createChallenge(t, st, s.challenge("ch2", "user1", store.StatePending, 0), s.at(0))
	plain := answer
	plain.CredentialUsed = false
	got, err := st.TransitionChallenge(ctx, c.ID, plain, answered)
	must(t, err, "TransitionChallenge without CredentialUsed")
	sameRecord(t, got, applied(c, plain), "TransitionChallenge without CredentialUsed")
	wantCredential(t, st, mine, "credential after a transition without CredentialUsed")

	// With it, the transition is made and the credential's last use set.
	c = createChallenge(t, st, s.challenge("ch3", "user1", store.StatePending, 0), s.at(0))
	got, err = st.TransitionChallenge(ctx, c.ID, answer, answered)
	must(t, err, "TransitionChallenge with CredentialUsed")
	sameRecord(t, got, applied(c, answer), "TransitionChallenge with CredentialUsed")
	wantChallenge(t, st, applied(c, answer), answered, "GetChallenge after TransitionChallenge with CredentialUsed")
	used := mine
	used.LastUsedAt = answered
	wantCredential(t, st, used, "credential after TransitionChallenge with CredentialUsed")

	// Another user's credential is not touched; a missing one fails nothing.
	for i, credID := range []string{other.ID, "cred9"} {
		c = createChallenge(t, st, s.challenge(fmt.Sprintf("ch%d", 4+i), "user1", store.StatePending, 0), s.at(0))
		tr := answer
		tr.CredentialID = credID
		got, err = st.TransitionChallenge(ctx, c.ID, tr, answered)
		must(t, err, "TransitionChallenge with CredentialUsed naming "+credID)
		sameRecord(t, got, applied(c, tr), "TransitionChallenge with CredentialUsed naming "+credID)
	}
	wantCredential(t, st, other, "another user's credential after TransitionChallenge with CredentialUsed")
	mustFail(t, getCredentialErr(t, st, "cred9"), store.ErrNotFound, "GetCredential of a credential a transition named")
}

// wantCredential fails t unless credential want.ID reads as want.
func wantCredential(t *testing.T, st store.Store, want store.Credential, what string) {
	t.Helper()
	got, err := st.GetCredential(t.Context(), want.ID)
	must(t, err, what+": GetCredential")
	sameRecord(t, got, want, what)
}

// approved stores userID's challenge id approved by credID, and returns it.
func (s suite) approved(t *testing.T, st store.Store, id, userID, credID string) store.Challenge {
	t.Helper()
	c := s.challenge(id, userID, store.StateApproved, 0)
	c.CredentialID = credID
	c.AnsweredAt = s.at(time.Second)
	return createChallenge(t, st, c, s.at(0))
}

// bindingOf is the binding c was tracked with.
func bindingOf(c store.Challenge) store.Binding {
	return store.Binding{UserID: c.UserID, Action: c.Action, DetailsDigest: c.DetailsDigest}
}

func (s suite) consume(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.passkey("pk1", "user1", 0), 0), "CreateCredential")
	for _, k := range []struct {
		cred string
		kind store.CredentialKind
	}{{"cred1", store.KindDevice}, {"pk1", store.KindPasskey}} {
		c := s.approved(t, st, "ch-"+k.cred, "user1", k.cred)
		got, kind, err := st.ConsumeChallenge(ctx, c.ID, bindingOf(c), s.at(2*time.Second))
		must(t, err, "ConsumeChallenge approved by "+k.cred)
		want := c
		want.State = store.StateConsumed
		sameRecord(t, got, want, "ConsumeChallenge approved by "+k.cred)
		if kind != k.kind {
			t.Fatalf("ConsumeChallenge approved by %s: kind %q, want %q", k.cred, kind, k.kind)
		}
		wantChallenge(t, st, want, s.at(2*time.Second), "GetChallenge after ConsumeChallenge")
		got, _, err = st.ConsumeChallenge(ctx, c.ID, bindingOf(c), s.at(2*time.Second))
		mustFail(t, err, store.ErrConflict, "second ConsumeChallenge")
		sameRecord(t, got, want, "second ConsumeChallenge: returned record")
	}
}

func (s suite) consumeConflict(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	c := s.approved(t, st, "ch1", "user1", "cred1")
	now := s.at(2 * time.Second)
	for what, b := range map[string]store.Binding{
		"another user":    {UserID: "user2", Action: c.Action, DetailsDigest: c.DetailsDigest},
		"no user":         {Action: c.Action, DetailsDigest: c.DetailsDigest},
		"another action":  {UserID: "user1", Action: "signIn", DetailsDigest: c.DetailsDigest},
		"other details":   {UserID: "user1", Action: c.Action, DetailsDigest: []byte("digest-of-other")},
		"no details":      {UserID: "user1", Action: c.Action},
		"a longer digest": {UserID: "user1", Action: c.Action, DetailsDigest: append(slices.Clone(c.DetailsDigest), 0)},
	} {
		got, _, err := st.ConsumeChallenge(ctx, c.ID, b, now)
		mustFail(t, err, store.ErrConflict, "ConsumeChallenge for "+what)
		sameRecord(t, got, c, "ConsumeChallenge for "+what+": returned record")
		wantChallenge(t, st, c, now, "GetChallenge after ConsumeChallenge for "+what)
	}

	// A QR challenge never claimed has no user: nothing binds to it.
	qr := s.challenge("ch2", "", store.StateApproved, 0)
	qr.CredentialID = "cred1"
	createChallenge(t, st, qr, s.at(0))
	got, _, err := st.ConsumeChallenge(ctx, qr.ID, bindingOf(qr), now)
	mustFail(t, err, store.ErrConflict, "ConsumeChallenge of a challenge without a user")
	sameRecord(t, got, qr, "ConsumeChallenge of a challenge without a user: returned record")

	// Every state but approved is a conflict, and nothing changes.
	for i, state := range allStates {
		if state == store.StateApproved {
			continue
		}
		c := s.challenge(fmt.Sprintf("ch-%d", i), "user1", state, 0)
		c.CredentialID = "cred1"
		createChallenge(t, st, c, s.at(0))
		got, _, err := st.ConsumeChallenge(ctx, c.ID, bindingOf(c), now)
		mustFail(t, err, store.ErrConflict, "ConsumeChallenge of a challenge in "+string(state))
		sameRecord(t, got, c, "ConsumeChallenge of a challenge in "+string(state)+": returned record")
		wantChallenge(t, st, c, now, "GetChallenge after ConsumeChallenge of a challenge in "+string(state))
	}

	// An approved challenge whose time is up is expired.
	got, _, err = st.ConsumeChallenge(ctx, c.ID, bindingOf(c), c.ExpiresAt)
	mustFail(t, err, store.ErrConflict, "ConsumeChallenge of an expired challenge")
	expired := c
	expired.State = store.StateExpired
	sameRecord(t, got, expired, "ConsumeChallenge of an expired challenge: returned record")
}

func (s suite) consumeRevoked(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.credential("cred2", "user2", 0), 0), "CreateCredential")
	now := s.at(2 * time.Second)
	gone := s.approved(t, st, "ch1", "user1", "cred1")
	must(t, st.DeleteCredential(ctx, "user1", "cred1"), "DeleteCredential")
	// The challenge names another user's credential: as good as gone.
	foreign := s.approved(t, st, "ch2", "user1", "cred2")
	for _, c := range []store.Challenge{gone, foreign} {
		got, _, err := st.ConsumeChallenge(ctx, c.ID, bindingOf(c), now)
		mustFail(t, err, store.ErrRevoked, "ConsumeChallenge approved by "+c.CredentialID+", not user1's")
		failed := c
		failed.State = store.StateFailed
		sameRecord(t, got, failed, "ConsumeChallenge with a revoked credential: returned record")
		wantChallenge(t, st, failed, now, "GetChallenge after ConsumeChallenge with a revoked credential")
		_, _, err = st.ConsumeChallenge(ctx, c.ID, bindingOf(c), now)
		mustFail(t, err, store.ErrConflict, "ConsumeChallenge of a challenge failed by revocation")
	}
}

func (s suite) consumeNotAdmitted(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	must(t, st.CreateCredential(ctx, s.passkey("pk1", "user1", 0), 0), "CreateCredential")
	now := s.at(2 * time.Second)
	for _, tc := range []struct {
		name  string
		cred  string
		code  string // the challenge's verification code
		kinds []store.CredentialKind
		needs bool // the binding asks for a verification code
		admit bool
	}{
		{name: "device for a passkey route", cred: "cred1", code: "42", kinds: passkeys},
		{name: "passkey for a device route", cred: "pk1", kinds: devices},
		{name: "device without a code where one is asked", cred: "cred1", needs: true},
		{name: "device with a code where one is asked", cred: "cred1", code: "42", kinds: both, needs: true, admit: true},
		{name: "passkey without a code where one is asked", cred: "pk1", kinds: passkeys, needs: true, admit: true},
		{name: "device for a device route", cred: "cred1", kinds: devices, admit: true},
	} {
		c := s.challenge("ch-"+strings.ReplaceAll(tc.name, " ", "-"), "user1", store.StateApproved, 0)
		c.CredentialID, c.AnsweredAt, c.VerificationCode = tc.cred, s.at(time.Second), tc.code
		createChallenge(t, st, c, s.at(0))
		b := bindingOf(c)
		b.Kinds, b.VerificationCode = tc.kinds, tc.needs
		got, kind, err := st.ConsumeChallenge(ctx, c.ID, b, now)
		if !tc.admit {
			mustFail(t, err, store.ErrConflict, "ConsumeChallenge of a "+tc.name)
			sameRecord(t, got, c, "ConsumeChallenge of a "+tc.name+": returned record")
			if kind != "" {
				t.Fatalf("ConsumeChallenge of a %s: kind %q, want none", tc.name, kind)
			}
			// Refused, not consumed: a binding that admits it still consumes.
			wantChallenge(t, st, c, now, "GetChallenge after ConsumeChallenge of a "+tc.name)
			got, kind, err = st.ConsumeChallenge(ctx, c.ID, bindingOf(c), now)
		}
		must(t, err, "ConsumeChallenge admitting a "+tc.name)
		want := c
		want.State = store.StateConsumed
		sameRecord(t, got, want, "ConsumeChallenge admitting a "+tc.name)
		if wantKind := map[string]store.CredentialKind{"cred1": store.KindDevice, "pk1": store.KindPasskey}[tc.cred]; kind != wantKind {
			t.Fatalf("ConsumeChallenge admitting a %s: kind %q, want %q", tc.name, kind, wantKind)
		}
	}

	// A revoked credential fails the challenge whatever the binding admits.
	c := s.approved(t, st, "ch-revoked", "user1", "cred1")
	must(t, st.DeleteCredential(ctx, "user1", "cred1"), "DeleteCredential")
	b := bindingOf(c)
	b.Kinds = passkeys
	got, _, err := st.ConsumeChallenge(ctx, c.ID, b, now)
	mustFail(t, err, store.ErrRevoked, "ConsumeChallenge for passkeys of a challenge whose device is gone")
	c.State = store.StateFailed
	sameRecord(t, got, c, "ConsumeChallenge for passkeys of a challenge whose device is gone: returned record")
}

func (s suite) consumeMissing(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	s.approved(t, st, "ch1", "user1", "cred1")
	got, kind, err := st.ConsumeChallenge(ctx, "ch2", store.Binding{UserID: "user1", Action: "transfer", DetailsDigest: []byte("digest-of-ch2")}, s.at(time.Second))
	mustFail(t, err, store.ErrNotFound, "ConsumeChallenge of a missing ID")
	if got.ID != "" || kind != "" {
		t.Fatalf("ConsumeChallenge of a missing ID returned %q, %q; want the zero record and kind", got.ID, kind)
	}
}

func (s suite) consumeRacing(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	for round := range s.rounds {
		c := s.approved(t, st, fmt.Sprintf("ch%d", round), "user1", "cred1")
		r := race(s.racers, func(int) error {
			_, _, err := st.ConsumeChallenge(ctx, c.ID, bindingOf(c), s.at(time.Second))
			return err
		})
		if !r.won(t, round, 1, store.ErrConflict) {
			return
		}
	}
}

func (s suite) consumeWakes(t *testing.T) {
	st, ctx := s.cycler(t), t.Context()
	must(t, st.CreateCredential(ctx, s.credential("cred1", "user1", 0), 0), "CreateCredential")
	c := s.approved(t, st, "ch1", "user1", "cred1")
	ch, err := st.Watch(ctx, c.ID)
	must(t, err, "Watch")
	_, _, err = st.ConsumeChallenge(ctx, c.ID, bindingOf(c), s.at(time.Second))
	must(t, err, "ConsumeChallenge")
	wantWakeUp(t, ch, "Watch after ConsumeChallenge")

	c = s.approved(t, st, "ch2", "user1", "cred1")
	must(t, st.DeleteCredential(ctx, "user1", "cred1"), "DeleteCredential")
	ch, err = st.Watch(ctx, c.ID)
	must(t, err, "Watch")
	_, _, err = st.ConsumeChallenge(ctx, c.ID, bindingOf(c), s.at(time.Second))
	mustFail(t, err, store.ErrRevoked, "ConsumeChallenge with a revoked credential")
	wantWakeUp(t, ch, "Watch after ConsumeChallenge with a revoked credential")
}
