// Package storetest is the conformance suite every deviceauth store must
// pass: store/memstore and each adapter under adapters/ run it from a test.
//
// An adapter's test hands [Run] a [Harness] whose New makes a fresh, empty
// store for one test:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			New: func(t testing.TB) store.Store { return memstore.New() },
//		})
//	}
//
// A store over a shared server isolates each test in New itself, along these
// lines (the helpers are the adapter's own):
//
//	New: func(t testing.TB) store.Store {
//		schema := createSchema(t, pool) // one schema, or key prefix, per test
//		t.Cleanup(func() { dropSchema(pool, schema) })
//		return openStore(pool, schema)
//	},
//	Rounds: 20, // in -short, when every round trip crosses a network
//
// Run closes every store it makes (t.Cleanup registered right after New,
// so it runs before New's own cleanup), and may close one twice: a second
// Close must not panic.
//
// # What it proves
//
// Run has one subtest per behaviour of the contract in package store, grouped
// by record: Credentials, Challenges, Cycle (the methods of
// store.CycleStore: the store's own, or for a store without them the
// fallback the Service makes of its record methods), RegistrationTokens, RecoveryCodes, Ceremonies and Actions (the
// optional store.RecoveryCodeStore, store.CeremonyStore and store.ActionStore: skipped for a
// store without them), Counters, Nonces, Watch, Context and Closed.
// One-time transitions are raced by Harness.Racers goroutines released
// together, Harness.Rounds times, and every round must have exactly one
// winner; with Harness.Twin, taking a ceremony is also raced across two
// store values over one backend. Times are built at millisecond precision in UTC,
// so stores may truncate to milliseconds; byte slices and string lists
// compare by content, so stores need not tell nil from empty.
//
// # Time
//
// The suite never sleeps to let time pass: it passes every call a now taken
// from an injected clock that starts at Harness.Now and moves only forward,
// so server-side TTLs (which must be garbage collection only) never decide a
// result. The only waiting is for Watch wake-ups, bounded by a failure
// timeout.
//
// # What adapters add
//
// The stores New returns must not share data, so Run cannot see a wake-up
// travel between two Service instances. Adapters over a shared backend should
// add their own test: two store values over the same server, Watch on one,
// TransitionChallenge on the other, a wake-up within a bound. Fault tests
// (a server that goes away) belong to adapters too.
package storetest

import (
	"cmp"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/store"
)

// Harness tells Run how to make the store under test.
type Harness struct {
	// New returns a new, empty store for one test. Stores that share a server
	// isolate themselves (key prefix, schema) and register their cleanup with
	// t.Cleanup.
	New func(t testing.TB) store.Store
	// Now is the start of the suite's injected clock; zero means time.Now().
	// The suite moves only this clock (passing now to every call); it never
	// sleeps to let time pass.
	Now time.Time
	// Rounds for the racing tests; 0 means 100 (real-server adapters may pass
	// fewer in -short).
	Rounds int
	// Racers is the number of goroutines racing; 0 means 64.
	Racers int
	// Twin, when not nil, returns a second store value over the backend of
	// st, a store New made for t (another connection, another client), as
	// a second Service instance would hold. The suite closes it. The tests
	// that race two store values skip without it.
	Twin func(t testing.TB, st store.Store) store.Store
}

// wakeTimeout bounds every wait for a Watch wake-up. It only decides when a
// wait has failed; nothing waits for it to pass.
const wakeTimeout = 10 * time.Second

// Run runs the conformance suite on the stores h.New makes.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	s := suite{
		newStore: h.New,
		twin:     h.Twin,
		// Whole milliseconds in UTC, so that every time the suite builds
		// survives a store that truncates.
		start:  cmp.Or(h.Now, time.Now()).UTC().Truncate(time.Millisecond),
		rounds: cmp.Or(h.Rounds, 100),
		racers: cmp.Or(h.Racers, 64),
	}
	t.Run("Credentials", s.credentials)
	t.Run("Challenges", s.challenges)
	t.Run("Cycle", s.cycle)
	t.Run("RegistrationTokens", s.registrationTokens)
	t.Run("RecoveryCodes", s.recoveryCodes)
	t.Run("Ceremonies", s.ceremonies)
	t.Run("Actions", s.actions)
	t.Run("Counters", s.counters)
	t.Run("Nonces", s.nonces)
	t.Run("Watch", s.watch)
	t.Run("Context", s.context)
	t.Run("Closed", s.closed)
}

// suite holds a Harness with its defaults filled in.
type suite struct {
	newStore func(t testing.TB) store.Store
	twin     func(t testing.TB, st store.Store) store.Store // nil when the harness has none
	start    time.Time                                      // the injected clock's start
	rounds   int
	racers   int
}

// store returns a new store for t, closed when t ends.
func (s suite) store(t *testing.T) store.Store {
	t.Helper()
	st := s.newStore(t)
	if st == nil {
		t.Fatal("Harness.New returned nil")
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v, want nil", err)
		}
	})
	return st
}

// at returns the injected clock d after its start.
func (s suite) at(d time.Duration) time.Time { return s.start.Add(d) }

// raceResult is what the racers of one round did.
type raceResult struct {
	wins   int
	winner int     // the index of a racer that won, -1 when none did
	errs   []error // by racer index; nil for the winners
}

// race calls f(0) … f(n-1) on n goroutines released together and waits for
// them all.
func race(n int, f func(i int) error) raceResult {
	var (
		start  = make(chan struct{})
		wg     sync.WaitGroup
		wins   atomic.Int32
		winner atomic.Int32
		errs   = make([]error, n)
	)
	winner.Store(-1)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
			if errs[i] == nil {
				wins.Add(1)
				winner.Store(int32(i))
			}
		})
	}
	close(start)
	wg.Wait()
	return raceResult{wins: int(wins.Load()), winner: int(winner.Load()), errs: errs}
}

// won reports whether exactly want racers won and every other one failed
// with loserErr, and says otherwise on t.
func (r raceResult) won(t testing.TB, round, want int, loserErr error) bool {
	t.Helper()
	ok := true
	if r.wins != want {
		t.Errorf("round %d: %d of %d racers won, want %d", round, r.wins, len(r.errs), want)
		ok = false
	}
	for i, err := range r.errs {
		if err != nil && !errors.Is(err, loserErr) {
			t.Errorf("round %d: racer %d failed with %v, want %v", round, i, err, loserErr)
			ok = false
		}
	}
	return ok
}

// must fails t when err is not nil.
func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error %v", what, err)
	}
}

// mustFail fails t unless err is want (by errors.Is).
func mustFail(t testing.TB, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}
