package redisstore_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/store"
)

// A Redis Cluster of one master holds every slot, so a plain client (one
// address: redis.NewUniversalClient makes a *redis.Client) reaches all its
// keys — but the server still refuses a script whose keys span slots
// (CROSSSLOT). New finds out (INFO cluster) and the Store takes the
// Cluster's paths: a cycle works, in the Cluster's round trips (see
// TestRoundTrips_ChallengeCycle), and so do steps whose keys span slots
// (IDs without a tag), made of single-slot steps.
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
	st := newStore(t, client, "deviceauth")
	e := cycletest.New(t, st)
	e.Cycle(t, nil) // warm-up
	log.take()
	e.Cycle(t, nil)
	if trips, _, text := log.take(); trips != 5 {
		t.Errorf("a cycle took %d round trips, want the Cluster's 5:%s", trips, text)
	}

	now := time.Now()
	if err := st.CreateCredential(ctx, store.Credential{ID: "cred1", UserID: "user1", Kind: store.KindDevice, CreatedAt: now}, 0); err != nil {
		t.Fatalf("CreateCredential of an ID without a tag: %v", err)
	}
	begun, err := st.BeginChallenge(ctx, store.Begin{Challenge: store.Challenge{ID: "ch1", UserID: "user1", State: store.StatePending,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}, Counter: "wrongcode:5:user1:transfer", CounterLimit: 3}, now)
	if err != nil || begun.Challenge.ID != "ch1" {
		t.Fatalf("BeginChallenge of an ID without a tag = %q, %v; want ch1 created", begun.Challenge.ID, err)
	}
	if err := st.DeleteCredential(ctx, "user1", "cred1"); err != nil {
		t.Fatalf("DeleteCredential of an ID without a tag: %v", err)
	}
}
