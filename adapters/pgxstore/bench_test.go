package pgxstore_test

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/store"
)

// BenchmarkBaselineSignVerify is the floor of a challenge cycle: one ES256
// signature by the device and one verification by the server, here so that
// the ratio of BenchmarkChallengeCyclePostgres to it comes from one run.
func BenchmarkBaselineSignVerify(b *testing.B) { cycletest.BaselineSignVerify(b) }

// BenchmarkChallengeCyclePostgres is one whole cycle through Service calls
// (rate limits off) over memstore and over pgxstore on the real server:
// track → fetch → the device signs → respond → validate, 5 round trips of
// which 3 commit a write, each waiting for the server's WAL flush.
func BenchmarkChallengeCyclePostgres(b *testing.B) {
	cycletest.Benchmark(b, "Postgres", func(tb testing.TB) store.Store {
		pool := newPool(tb, 4)
		return openStore(tb, pool, newSchema(tb, pool))
	})
}

// BenchmarkChallengeCyclePostgresAsyncCommit is the same cycle with
// synchronous_commit off for the benchmark's sessions, so commits do not
// wait for the disk: what is left is round trips and work.
func BenchmarkChallengeCyclePostgresAsyncCommit(b *testing.B) {
	cycletest.Benchmark(b, "Postgres", func(tb testing.TB) store.Store {
		pool := newPool(tb, 4, noCommitFlush)
		return openStore(tb, pool, newSchema(tb, pool))
	})
}

// BenchmarkChallengeCyclePostgresConcurrent runs whole cycles (rate limits
// off, synchronous_commit on) from C goroutines at once, each for a user
// of its own, over one Service and pgxstore, and reports cycles per second: where commits contend
// server-wide, this is where it shows. PostgreSQL serialises the commits
// of transactions that sent a NOTIFY, so the runs compare the trigger of
// schema version 4, "notify=all" (every insert and update of a challenge
// notifies; recreated on the benchmark's schema), with this version's,
// "notify=watched" (only updates of a challenge while a waiter watches it).
// "waiter" has a
// waiter watch each challenge from Track until the answer, as a page
// waiting for the phone does; "no-waiter" has none, as an in-app
// verification or a polling application. On a shared machine, alternate
// the variants (one -bench run each, in turns) and compare medians.
func BenchmarkChallengeCyclePostgresConcurrent(b *testing.B) {
	for _, c := range []int{16, 64} {
		for _, notifyAll := range []bool{true, false} {
			for _, waiter := range []bool{false, true} {
				name := fmt.Sprintf("C=%d/notify=watched", c)
				if notifyAll {
					name = fmt.Sprintf("C=%d/notify=all", c)
				}
				if waiter {
					name += "/waiter"
				} else {
					name += "/no-waiter"
				}
				b.Run(name, func(b *testing.B) { benchmarkConcurrentCycles(b, c, notifyAll, waiter) })
			}
		}
	}
}

func benchmarkConcurrentCycles(b *testing.B, c int, notifyAll, waiter bool) {
	pool := newPool(b, int32(c)+4)
	schema := newSchema(b, pool)
	st := openStore(b, pool, schema)
	if notifyAll {
		s := pgx.Identifier{schema}.Sanitize()
		if _, err := pool.Exec(b.Context(), `DROP TRIGGER challenges_notify ON `+s+`.challenges;
			CREATE TRIGGER challenges_notify AFTER INSERT OR UPDATE ON `+s+`.challenges
				FOR EACH ROW EXECUTE FUNCTION `+s+`.notify_challenge_change()`); err != nil {
			b.Fatalf("the trigger of schema version 4: %v", err)
		}
	}
	// One user and device per goroutine, as in a deployment: cycles of one
	// user would queue on the row lock of its credential's last use.
	users := make([]*cycletest.Env, c)
	users[0] = cycletest.New(b, st)
	for i := 1; i < c; i++ {
		users[i] = users[0].ForUser(b, "user"+strconv.Itoa(i))
	}
	for _, e := range users {
		e.Cycle(b, nil) // warm-up
	}
	var next atomic.Int64
	b.SetParallelism((c + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		e := users[int(next.Add(1)-1)%c]
		var stop context.CancelFunc
		after := func(step int, id string) {
			switch {
			case !waiter:
			case step == cycletest.Track:
				var ctx context.Context
				ctx, stop = context.WithCancel(context.Background())
				if _, err := st.Watch(ctx, id); err != nil {
					b.Errorf("Watch: %v", err)
				}
			case step == cycletest.Respond:
				stop()
			}
		}
		for pb.Next() {
			e.CycleOf(b, after)
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cycles/s")
}
