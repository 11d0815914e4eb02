package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

func (s suite) counters(t *testing.T) {
	t.Run("IncrementCountsFromOne", s.counterIncrement)
	t.Run("CounterOfAbsentKeyIsZero", s.counterAbsent)
	t.Run("WindowFollowsInjectedClock", s.counterWindow)
	t.Run("KeysAreIndependent", s.counterKeys)
	t.Run("RacingIncrementsAreAllCounted", s.counterRacing)
}

func (s suite) nonces(t *testing.T) {
	t.Run("ClaimOnceThenConflict", s.nonceClaim)
	t.Run("ExpiredNonceCanBeClaimedAgain", s.nonceExpiry)
	t.Run("RacingClaimsHaveOneWinner", s.nonceRacing)
}

// counterWindow is the window of the suite's counters (that of wrong
// verification codes, Config.WrongCodeWindow).
const counterWindow = 10 * time.Minute

// nonceTTL is how long the suite's nonces are kept (2 × the default skew of
// Config.ClockSkew).
const nonceTTL = 240 * time.Second

// increment adds one to counter key at now and fails t unless the new value
// is want.
func increment(t *testing.T, st store.Store, key string, now time.Time, want int64) {
	t.Helper()
	got, err := st.IncrementCounter(t.Context(), key, counterWindow, now)
	must(t, err, "IncrementCounter "+key)
	if got != want {
		t.Fatalf("IncrementCounter %s: got %d, want %d", key, got, want)
	}
}

// wantCounter fails t unless counter key reads want at now.
func wantCounter(t *testing.T, st store.Store, key string, now time.Time, want int64) {
	t.Helper()
	got, err := st.Counter(t.Context(), key, now)
	must(t, err, "Counter "+key)
	if got != want {
		t.Fatalf("Counter %s: got %d, want %d", key, got, want)
	}
}

func (s suite) counterIncrement(t *testing.T) {
	st := s.store(t)
	for n := int64(1); n <= 3; n++ {
		increment(t, st, "wrongCode:user1:transfer", s.at(time.Duration(n)*time.Second), n)
	}
	wantCounter(t, st, "wrongCode:user1:transfer", s.at(4*time.Second), 3)
}

func (s suite) counterAbsent(t *testing.T) {
	st := s.store(t)
	increment(t, st, "key1", s.at(0), 1)
	wantCounter(t, st, "key2", s.at(0), 0)
}

func (s suite) counterWindow(t *testing.T) {
	st := s.store(t)
	increment(t, st, "key1", s.at(0), 1)
	// Late in the window the count goes on, and the window does not move.
	increment(t, st, "key1", s.at(counterWindow-time.Second), 2)
	wantCounter(t, st, "key1", s.at(counterWindow-time.Second), 2)
	// After it, the counter reads 0 and starts again at 1 in a new window.
	wantCounter(t, st, "key1", s.at(counterWindow+time.Second), 0)
	increment(t, st, "key1", s.at(counterWindow+time.Second), 1)
	increment(t, st, "key1", s.at(2*counterWindow), 2)
	wantCounter(t, st, "key1", s.at(2*counterWindow), 2)
	wantCounter(t, st, "key1", s.at(2*counterWindow+2*time.Second), 0)
}

func (s suite) counterKeys(t *testing.T) {
	st := s.store(t)
	increment(t, st, "key1", s.at(0), 1)
	increment(t, st, "key1", s.at(0), 2)
	increment(t, st, "key2", s.at(0), 1)
	increment(t, st, "key1", s.at(0), 3)
	wantCounter(t, st, "key1", s.at(0), 3)
	wantCounter(t, st, "key2", s.at(0), 1)
}

func (s suite) counterRacing(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	now := s.at(0)
	counts := make([]int64, s.racers)
	for round := range s.rounds {
		key := fmt.Sprintf("race%d", round)
		r := race(s.racers, func(i int) error {
			var err error
			counts[i], err = st.IncrementCounter(ctx, key, counterWindow, now)
			return err
		})
		if !r.won(t, round, s.racers, nil) {
			return
		}
		// Every racer saw its own value: 1 … racers, each once.
		slices.Sort(counts)
		for i, n := range counts {
			if n != int64(i+1) {
				t.Fatalf("round %d: racing IncrementCounter returned %v, want each of 1…%d once", round, counts, s.racers)
			}
		}
		wantCounter(t, st, key, now, int64(s.racers))
	}
}

func (s suite) nonceClaim(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	must(t, st.ClaimNonce(ctx, "nonce1", s.at(nonceTTL), s.at(0)), "ClaimNonce")
	mustFail(t, st.ClaimNonce(ctx, "nonce1", s.at(time.Second+nonceTTL), s.at(time.Second)),
		store.ErrConflict, "second ClaimNonce")
	must(t, st.ClaimNonce(ctx, "nonce2", s.at(time.Second+nonceTTL), s.at(time.Second)), "ClaimNonce of another nonce")
}

func (s suite) nonceExpiry(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	must(t, st.ClaimNonce(ctx, "nonce1", s.at(nonceTTL), s.at(0)), "ClaimNonce")
	now := s.at(nonceTTL - time.Second)
	mustFail(t, st.ClaimNonce(ctx, "nonce1", now.Add(nonceTTL), now),
		store.ErrConflict, "ClaimNonce a second before the first claim expires")
	now = s.at(nonceTTL + time.Second)
	must(t, st.ClaimNonce(ctx, "nonce1", now.Add(nonceTTL), now), "ClaimNonce a second after the first claim expired")
	mustFail(t, st.ClaimNonce(ctx, "nonce1", now.Add(nonceTTL+time.Second), now.Add(time.Second)),
		store.ErrConflict, "ClaimNonce after the second claim")
}

func (s suite) nonceRacing(t *testing.T) {
	st, ctx := s.store(t), t.Context()
	now := s.at(0)
	for round := range s.rounds {
		nonce := fmt.Sprintf("race%d", round)
		r := race(s.racers, func(int) error {
			return st.ClaimNonce(ctx, nonce, now.Add(nonceTTL), now)
		})
		if !r.won(t, round, 1, store.ErrConflict) {
			return
		}
	}
}
