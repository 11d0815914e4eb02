package storetest

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) registrationTokens(t *testing.T) {
	t.Run("PutThenConsumeRoundTripsEveryField", s.tokenRoundTrip)
	t.Run("StoreKeepsItsOwnCopy", s.tokenCopies)
	t.Run("ConsumeTwiceIsNotFound", s.tokenConsumeTwice)
	t.Run("ConsumeUnknownIsNotFound", s.tokenUnknown)
	t.Run("ExpiryFollowsInjectedClock", s.tokenExpiry)
	t.Run("PutDuplicateHashIsConflict", s.tokenDuplicate)
	t.Run("RacingConsumesHaveOneWinner", s.tokenRacingConsumes)
}

// registrationTokenTTL is how long the suite's registration tokens live (the
// default of Config.RegistrationTokenTTL).
const registrationTokenTTL = 10 * time.Minute

// registrationToken returns userID's token named name, minted d after the
// clock's start; its Hash is a SHA-256, as the Service stores.
func (s suite) registrationToken(name, userID string, d time.Duration) store.RegistrationToken {
	hash := sha256.Sum256([]byte("registration-token-" + name))
	return store.RegistrationToken{
		Hash:        hash[:],
		UserID:      userID,
		CreatedAt:   s.at(d),
		ExpiresAt:   s.at(d + registrationTokenTTL),
		FirstDevice: true,
	}
}

func (s suite) tokenRoundTrip(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.registrationToken("tok1", "user1", 0)
	allFieldsSet(t, want)
	must(t, st.PutRegistrationToken(ctx, want), "PutRegistrationToken")
	got, err := st.ConsumeRegistrationToken(ctx, want.Hash, s.at(time.Second))
	must(t, err, "ConsumeRegistrationToken")
	sameRecord(t, got, want, "ConsumeRegistrationToken")
}

func (s suite) tokenCopies(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.registrationToken("tok1", "user1", 0)
	in := s.registrationToken("tok1", "user1", 0)
	must(t, st.PutRegistrationToken(ctx, in), "PutRegistrationToken")
	in.Hash[0]++
	got, err := st.ConsumeRegistrationToken(ctx, want.Hash, s.at(time.Second))
	must(t, err, "ConsumeRegistrationToken after the caller changed the Hash it put")
	sameRecord(t, got, want, "ConsumeRegistrationToken after the caller changed the Hash it put")
}

func (s suite) tokenConsumeTwice(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.registrationToken("tok1", "user1", 0)
	must(t, st.PutRegistrationToken(ctx, want), "PutRegistrationToken")
	_, err := st.ConsumeRegistrationToken(ctx, want.Hash, s.at(time.Second))
	must(t, err, "ConsumeRegistrationToken")
	got, err := st.ConsumeRegistrationToken(ctx, want.Hash, s.at(2*time.Second))
	mustFail(t, err, store.ErrNotFound, "second ConsumeRegistrationToken")
	if got.UserID != "" {
		t.Fatalf("second ConsumeRegistrationToken returned a token of %q, want the zero token", got.UserID)
	}
}

func (s suite) tokenUnknown(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	must(t, st.PutRegistrationToken(ctx, s.registrationToken("tok1", "user1", 0)), "PutRegistrationToken")
	_, err := st.ConsumeRegistrationToken(ctx, s.registrationToken("tok2", "user1", 0).Hash, s.at(time.Second))
	mustFail(t, err, store.ErrNotFound, "ConsumeRegistrationToken of an unknown hash")
	_, err = st.ConsumeRegistrationToken(ctx, nil, s.at(time.Second))
	mustFail(t, err, store.ErrNotFound, "ConsumeRegistrationToken of an empty hash")
}

func (s suite) tokenExpiry(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	early := s.registrationToken("tok1", "user1", 0)
	late := s.registrationToken("tok2", "user1", 0)
	must(t, st.PutRegistrationToken(ctx, early), "PutRegistrationToken")
	must(t, st.PutRegistrationToken(ctx, late), "PutRegistrationToken")

	got, err := st.ConsumeRegistrationToken(ctx, early.Hash, s.at(registrationTokenTTL-time.Second))
	must(t, err, "ConsumeRegistrationToken a second before ExpiresAt")
	sameRecord(t, got, early, "ConsumeRegistrationToken a second before ExpiresAt")
	_, err = st.ConsumeRegistrationToken(ctx, late.Hash, s.at(registrationTokenTTL+time.Second))
	mustFail(t, err, store.ErrNotFound, "ConsumeRegistrationToken a second after ExpiresAt")
}

func (s suite) tokenDuplicate(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	want := s.registrationToken("tok1", "user1", 0)
	must(t, st.PutRegistrationToken(ctx, want), "PutRegistrationToken")
	mustFail(t, st.PutRegistrationToken(ctx, s.registrationToken("tok1", "user2", time.Second)),
		store.ErrConflict, "PutRegistrationToken of an existing hash")
	got, err := st.ConsumeRegistrationToken(ctx, want.Hash, s.at(2*time.Second))
	must(t, err, "ConsumeRegistrationToken after a refused duplicate")
	sameRecord(t, got, want, "ConsumeRegistrationToken after a refused duplicate")
}

func (s suite) tokenRacingConsumes(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	now := s.at(time.Second)
	results := make([]store.RegistrationToken, s.racers)
	for round := range s.rounds {
		want := s.registrationToken(fmt.Sprintf("race%d", round), "user1", 0)
		must(t, st.PutRegistrationToken(ctx, want), "PutRegistrationToken")
		r := race(s.racers, func(i int) error {
			var err error
			results[i], err = st.ConsumeRegistrationToken(ctx, want.Hash, now)
			return err
		})
		if !r.won(t, round, 1, store.ErrNotFound) {
			return
		}
		sameRecord(t, results[r.winner], want, fmt.Sprintf("round %d: the winner's token", round))
	}
}
