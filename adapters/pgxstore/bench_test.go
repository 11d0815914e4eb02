package pgxstore_test

import (
	"testing"

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
