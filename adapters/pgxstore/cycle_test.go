package pgxstore_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/pgxtrace"
)

// newCycleEnv is a cycletest.Env over a Store on its own schema of pool's
// server.
func newCycleEnv(t testing.TB, pool *pgxpool.Pool) *cycletest.Env {
	t.Helper()
	return cycletest.New(t, openStore(t, pool, newSchema(t, pool)))
}

// wantCycleRoundTrips pins the store's round trips per step of a challenge
// cycle (docs/architecture.md#performance-model), with rate limits off: each is the number of store
// calls the step makes, as each call is one statement. The default rate
// limits add one IncrementCounter to Track and one to Respond.
var wantCycleRoundTrips = [cycletest.Steps]int64{
	cycletest.Track:    1, // BeginChallenge
	cycletest.Fetch:    1, // GetChallenge
	cycletest.Respond:  2, // GetChallengeCredential, TransitionChallenge with CredentialUsed
	cycletest.Validate: 1, // ConsumeChallenge
}

// wantCycleTotal is the sum of wantCycleRoundTrips; issue #4 caps it at 6.
const wantCycleTotal = 5

// wantInAppRoundTrips pins the one-signature in-app cycle's round trips,
// rate limits off, on the instance that tracked the challenge once it has
// read the answering credential: 3, the answer being its transition alone.
// Answered on another instance, the answer first reads the challenge and
// the credential (GetChallengeCredential): 4.
var wantInAppRoundTrips = [cycletest.Steps]int64{
	cycletest.Track:    1, // BeginChallenge
	cycletest.Respond:  1, // TransitionChallenge with CredentialUsed
	cycletest.Validate: 1, // ConsumeChallenge
}

func TestInAppCycle_RoundTrips(t *testing.T) {
	trips := &pgxtrace.RoundTrips{}
	pool := newPool(t, 1, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = trips })
	another := wantInAppRoundTrips
	another[cycletest.Respond] = 2 // GetChallengeCredential, then the transition
	cycletest.CheckInAppRoundTrips(t, openStore(t, pool, newSchema(t, pool)), trips.Total,
		[2][cycletest.Steps]int64{wantInAppRoundTrips, another})
}

func TestChallengeCycle_RoundTrips(t *testing.T) {
	trips := &pgxtrace.RoundTrips{}
	// One connection, so that after the warm-up every statement is in its
	// prepared-statement cache and no cycle pays a hidden Parse.
	pool := newPool(t, 1, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = trips })
	e := newCycleEnv(t, pool)
	e.Cycle(t, nil) // warm-up
	preparesBefore := trips.Prepares.Load()

	var total int64
	for round := range 3 {
		last := trips.Total()
		var got [cycletest.Steps]int64
		e.Cycle(t, func(step int) {
			now := trips.Total()
			got[step], last = now-last, now
		})
		if got != wantCycleRoundTrips {
			for i := range cycletest.Steps {
				if got[i] != wantCycleRoundTrips[i] {
					t.Errorf("cycle %d: %s made %d round trips, want %d", round, cycletest.StepNames[i], got[i], wantCycleRoundTrips[i])
				}
			}
		}
		total = 0
		for _, n := range got {
			total += n
		}
	}
	if total != wantCycleTotal {
		t.Errorf("a challenge cycle made %d round trips, want %d", total, wantCycleTotal)
	}
	if n := trips.Prepares.Load() - preparesBefore; n != 0 {
		t.Errorf("%d prepares after the warm-up, want none", n)
	}
}

// TestTrackWithRules_RoundTrips pins Track under a policy other than
// DefaultPolicy (rules), rate limits off: the signals are read in one
// pipelined batch (ReadSignals), then the challenge is created with its
// action record — one round trip more than Track without rules (1).
func TestTrackWithRules_RoundTrips(t *testing.T) {
	trips := &pgxtrace.RoundTrips{}
	pool := newPool(t, 1, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = trips })
	e := cycletest.New(t, openStore(t, pool, newSchema(t, pool)), cycletest.WithRules)
	e.Cycle(t, nil) // warm-up: statements prepared
	for round := range 3 {
		last := trips.Total()
		e.Cycle(t, func(step int) {
			if step != cycletest.Track {
				last = trips.Total()
				return
			}
			if n := trips.Total() - last; n != wantCycleRoundTrips[cycletest.Track]+1 {
				t.Errorf("cycle %d: Track with rules made %d round trips, want %d (one more than without)",
					round, n, wantCycleRoundTrips[cycletest.Track]+1)
			}
		})
	}
}
