package redisstore_test

import (
	"testing"

	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/store"
)

// BenchmarkBaselineSignVerify is the floor of a challenge cycle (docs/architecture.md#performance-model):
// one ES256 signature by the device and one verification by the server,
// here so that one go test -bench run reports the floor beside the cycles
// below.
func BenchmarkBaselineSignVerify(b *testing.B) { cycletest.BaselineSignVerify(b) }

// BenchmarkChallengeCycleRedis is one whole cycle through Service calls
// (track → fetch → the device signs → respond → validate, rate limits off,
// as BenchmarkChallengeCycle in the root package) over memstore and over
// this store: against the Redis of DEVICEAUTH_REDIS_URL (skipped without
// it), against the Cluster of DEVICEAUTH_REDIS_CLUSTER_ADDRS (skipped
// without it; its time is per cycle, the Memstore sub-benchmark's beside
// it the base) and against miniredis.
func BenchmarkChallengeCycleRedis(b *testing.B) {
	cycletest.Benchmark(b, "Redis", func(tb testing.TB) store.Store {
		client := realRedisClient(tb)
		return newStore(tb, client, isolatedPrefix(tb, client))
	})
	b.Run("Cluster", func(b *testing.B) {
		client := clusterClient(b)
		cycletest.BenchmarkStore(b, newStore(b, client, isolatedPrefix(b, client)))
	})
	b.Run("Miniredis", func(b *testing.B) {
		_, client := miniredisClient(b)
		cycletest.BenchmarkStore(b, newStore(b, client, "deviceauth"))
	})
}
