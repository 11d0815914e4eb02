package redisstore_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/cycletest"
)

// A Redis Cluster of one master holds every slot, so a plain client (one
// address: redis.NewUniversalClient makes a *redis.Client) reaches all its
// keys — but the server still refuses a script whose keys span slots
// (CROSSSLOT). New finds out (INFO cluster) and the Store takes the
// Cluster's path: a cycle works, at the Cluster's round trips (see
// TestRoundTrips_ChallengeCycle).
func TestOneShardCluster_PlainClient(t *testing.T) {
	srv := startRedisServer(t, "--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(t.TempDir(), "nodes.conf"))
	client := newClient(t, srv.Addr)
	ctx := t.Context()
	if err := client.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("CLUSTER ADDSLOTSRANGE: %v", err)
	}
	// A new master turns its cluster ok only some time after it started
	// (2 s in Redis 7): a readiness wait, bounded, as for the server's start.
	deadline := time.Now().Add(15 * time.Second)
	for {
		info, err := client.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the one-node cluster is not ok after 15 s: %q, %v", info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	log := &commandLog{}
	client.AddHook(log)
	e := cycletest.New(t, newStore(t, client, "deviceauth"))
	e.Cycle(t, nil) // warm-up
	log.take()
	e.Cycle(t, nil)
	if trips, _, text := log.take(); trips != 10 {
		t.Errorf("a cycle took %d round trips, want the Cluster's 10:%s", trips, text)
	}
}
