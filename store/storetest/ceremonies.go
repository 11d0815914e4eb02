package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) ceremonies(t *testing.T) {
	t.Run("PutThenTakeRoundTripsEveryField", s.ceremonyRoundTrip)
	t.Run("CeremonyWithoutUserRoundTrips", s.ceremonyAnonymous)
	t.Run("StoreKeepsItsOwnCopy", s.ceremonyCopies)
	t.Run("TakeTwiceIsNotFound", s.ceremonyTakeTwice)
	t.Run("TakeUnknownIsNotFound", s.ceremonyUnknown)
	t.Run("ExpiryFollowsInjectedClock", s.ceremonyExpiry)
	t.Run("PutDuplicateIDIsConflict", s.ceremonyDuplicate)
	t.Run("RacingTakesHaveOneWinner", s.ceremonyRacingTakes)
	t.Run("RacingTakesOnTwoStoreValuesHaveOneWinner", s.ceremonyRacingTwins)
}

// ceremonyTTL is how long the suite's ceremonies live (the default of
// Config.ChallengeTTL).
const ceremonyTTL = 5 * time.Minute

// ceremonyStore returns st as a CeremonyStore; a store without that
// optional interface skips (the Service then offers no passkey
// ceremonies).
func ceremonyStore(t *testing.T, st store.Store) store.CeremonyStore {
	t.Helper()
	cs, ok := st.(store.CeremonyStore)
	if !ok {
		t.Skip("the store does not implement store.CeremonyStore")
	}
	return cs
}

// ceremony returns userID's passkey registration id, begun d after the
// clock's start, with every field set.
func (s suite) ceremony(id, userID string, d time.Duration) store.Ceremony {
	return store.Ceremony{
		ID:          id,
		UserID:      userID,
		Kind:        "passkey.register",
		Data:        []byte(`{"challenge":"` + id + `"}`),
		FirstDevice: true,
		CreatedAt:   s.at(d),
		ExpiresAt:   s.at(d + ceremonyTTL),
	}
}

// take calls TakeCeremony, failing t unless it returns want.
func take(t *testing.T, st store.CeremonyStore, want store.Ceremony, now time.Time, what string) {
	t.Helper()
	got, err := st.TakeCeremony(t.Context(), want.ID, now)
	must(t, err, what)
	sameRecord(t, got, want, what)
}

// wantNoCeremony fails t unless TakeCeremony of id is ErrNotFound with the
// zero record.
func wantNoCeremony(t *testing.T, st store.CeremonyStore, id string, now time.Time, what string) {
	t.Helper()
	got, err := st.TakeCeremony(t.Context(), id, now)
	mustFail(t, err, store.ErrNotFound, what)
	sameRecord(t, got, store.Ceremony{}, what+": returned record")
}

func (s suite) ceremonyRoundTrip(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	want := s.ceremony("ce1", "user1", 0)
	allFieldsSet(t, want)
	must(t, st.PutCeremony(t.Context(), want), "PutCeremony")
	take(t, st, want, s.at(time.Second), "TakeCeremony")
}

func (s suite) ceremonyAnonymous(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	want := s.ceremony("ce1", "", 0)
	want.Kind, want.FirstDevice = "passkey.login", false
	must(t, st.PutCeremony(t.Context(), want), "PutCeremony without a user")
	take(t, st, want, s.at(time.Second), "TakeCeremony of a ceremony without a user")
}

func (s suite) ceremonyCopies(t *testing.T) {
	st, ctx := ceremonyStore(t, s.store(t)), t.Context()
	want := s.ceremony("ce1", "user1", 0)
	in := s.ceremony("ce1", "user1", 0)
	must(t, st.PutCeremony(ctx, in), "PutCeremony")
	in.Data[0]++
	got, err := st.TakeCeremony(ctx, want.ID, s.at(time.Second))
	must(t, err, "TakeCeremony after the caller changed the Data it put")
	sameRecord(t, got, want, "TakeCeremony after the caller changed the Data it put")
}

func (s suite) ceremonyTakeTwice(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	want := s.ceremony("ce1", "user1", 0)
	must(t, st.PutCeremony(t.Context(), want), "PutCeremony")
	take(t, st, want, s.at(time.Second), "TakeCeremony")
	wantNoCeremony(t, st, want.ID, s.at(2*time.Second), "second TakeCeremony")
}

func (s suite) ceremonyUnknown(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	must(t, st.PutCeremony(t.Context(), s.ceremony("ce1", "user1", 0)), "PutCeremony")
	wantNoCeremony(t, st, "ce2", s.at(time.Second), "TakeCeremony of an unknown ID")
	take(t, st, s.ceremony("ce1", "user1", 0), s.at(time.Second), "TakeCeremony after one of an unknown ID")
}

func (s suite) ceremonyExpiry(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	early, late := s.ceremony("ce1", "user1", 0), s.ceremony("ce2", "", 0)
	must(t, st.PutCeremony(t.Context(), early), "PutCeremony")
	must(t, st.PutCeremony(t.Context(), late), "PutCeremony")
	take(t, st, early, s.at(ceremonyTTL-time.Millisecond), "TakeCeremony a millisecond before ExpiresAt")
	wantNoCeremony(t, st, late.ID, s.at(ceremonyTTL), "TakeCeremony at ExpiresAt")
	wantNoCeremony(t, st, late.ID, s.at(ceremonyTTL+time.Second), "TakeCeremony after ExpiresAt")
}

func (s suite) ceremonyDuplicate(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	want := s.ceremony("ce1", "user1", 0)
	must(t, st.PutCeremony(t.Context(), want), "PutCeremony")
	other := s.ceremony("ce1", "user2", time.Second)
	other.Kind, other.Data, other.FirstDevice = "passkey.login", []byte("other"), false
	mustFail(t, st.PutCeremony(t.Context(), other), store.ErrConflict, "PutCeremony of an existing ID")
	take(t, st, want, s.at(2*time.Second), "TakeCeremony after a refused duplicate")
	// Once taken, the ID is free.
	must(t, st.PutCeremony(t.Context(), other), "PutCeremony of a taken ID")
	take(t, st, other, s.at(2*time.Second), "TakeCeremony of the second ceremony")
}

func (s suite) ceremonyRacingTakes(t *testing.T) {
	st := ceremonyStore(t, s.store(t))
	s.raceTakes(t, []store.CeremonyStore{st})
}

// ceremonyRacingTwins races takes on two store values over one backend, as
// two Service instances would; it needs Harness.Twin.
func (s suite) ceremonyRacingTwins(t *testing.T) {
	st := s.store(t)
	if s.twin == nil {
		t.Skip("Harness.Twin is nil: the store has no second value over its backend")
	}
	twin := s.twin(t, st)
	t.Cleanup(func() { twin.Close() })
	s.raceTakes(t, []store.CeremonyStore{ceremonyStore(t, st), ceremonyStore(t, twin)})
}

// raceTakes races s.racers takes of one ceremony a round, racer i through
// stores[i%len(stores)]: exactly one must get it, whole.
func (s suite) raceTakes(t *testing.T, stores []store.CeremonyStore) {
	ctx, now := t.Context(), s.at(time.Second)
	results := make([]store.Ceremony, s.racers)
	for round := range s.rounds {
		user := ""
		if round%2 == 0 {
			user = "user1"
		}
		want := s.ceremony(fmt.Sprintf("ce%d", round), user, 0)
		must(t, stores[round%len(stores)].PutCeremony(ctx, want), "PutCeremony")
		r := race(s.racers, func(i int) error {
			var err error
			results[i], err = stores[i%len(stores)].TakeCeremony(ctx, want.ID, now)
			return err
		})
		if !r.won(t, round, 1, store.ErrNotFound) {
			return
		}
		sameRecord(t, results[r.winner], want, fmt.Sprintf("round %d: the winner's ceremony", round))
	}
}
