package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/cycletest"
)

// A challenge cycle costs a fixed number of round trips to Redis once the
// scripts are loaded (docs/architecture.md#performance-model). The counts are pinned, step by step: a
// change is a deliberate change of these numbers (and of the figures in the
// package doc). With rate limits off, as in the root package's
// BenchmarkChallengeCycle:
//
//	Track     BeginChallenge (challengeBegin)           1 round trip (EVALSHA)
//	Fetch     GetChallenge (HGETALL)                    1
//	Respond   GetChallengeCredential (two HGETALLs in
//	          a pipeline) · TransitionChallenge with
//	          CredentialUsed (challengeTransition)      2 round trips, 3 commands
//	Validate  ConsumeChallenge (challengeConsume)       1
//
// 5 round trips and 6 commands in all. The default rate limits add one
// IncrementCounter (EVALSHA) to Track and one to Respond: 7 and 8.
//
// The same on a Cluster (and through a Ring): the Service's challenge and
// credential IDs carry the user's tag, and its wrong-code counter names
// the user, so every key a step touches is in the user's slot and each
// step is one script there too.
func TestRoundTrips_ChallengeCycle(t *testing.T) {
	type counts struct{ trips, commands int }
	type pins struct{ off, limits [cycletest.Steps]counts }
	oneNode := pins{
		off:    [cycletest.Steps]counts{{1, 1}, {1, 1}, {2, 3}, {1, 1}},
		limits: [cycletest.Steps]counts{{2, 2}, {1, 1}, {3, 4}, {1, 1}},
	}
	cluster := oneNode // pinned apart, in case they part again
	servers := []struct {
		name   string
		want   pins
		client func(t *testing.T) (redis.UniversalClient, string)
	}{
		{"Miniredis", oneNode, func(t *testing.T) (redis.UniversalClient, string) {
			_, c := miniredisClient(t)
			return c, "deviceauth"
		}},
		{"Redis", oneNode, func(t *testing.T) (redis.UniversalClient, string) {
			c := realRedisClient(t)
			return c, isolatedPrefix(t, c)
		}},
		// A one-shard Ring takes the Cluster's paths (see
		// TestConformance_MiniredisInSteps), on a server always at hand.
		{"MiniredisInSteps", cluster, func(t *testing.T) (redis.UniversalClient, string) {
			mr := miniredis.RunT(t)
			return ringClient(t, mr.Addr()), "deviceauth"
		}},
		{"Cluster", cluster, func(t *testing.T) (redis.UniversalClient, string) {
			c := clusterClient(t)
			return c, isolatedPrefix(t, c)
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			tests := []struct {
				name   string
				limits bool
				want   [cycletest.Steps]counts
			}{
				{"RateLimitsOff", false, srv.want.off},
				{"DefaultRateLimits", true, srv.want.limits},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					client, prefix := srv.client(t)
					log := &commandLog{}
					client.AddHook(log)
					var opts []func(*deviceauth.Config)
					if tt.limits {
						opts = append(opts, defaultRateLimits)
					}
					e := cycletest.New(t, newStore(t, client, prefix), opts...)
					e.Cycle(t, nil) // warm-up: connections made, scripts known
					log.take()
					for range 3 {
						e.Cycle(t, func(step int) {
							trips, commands, text := log.take()
							if want := tt.want[step]; trips != want.trips || commands != want.commands {
								t.Errorf("%s took %d round trips with %d commands, want %d and %d:%s",
									cycletest.StepNames[step], trips, commands, want.trips, want.commands, text)
							}
						})
					}
				})
			}
		})
	}
}

// TestRoundTrips_InAppCycle pins the one-signature in-app cycle, rate
// limits off: Track 1, the answer 1 (its transition: the instance that
// tracked the challenge has read the answering credential in the
// warm-up), Validate 1 — 3 round trips, no fetch. Answered on another
// instance, the answer first reads the challenge and the credential: 4.
func TestRoundTrips_InAppCycle(t *testing.T) {
	same := [cycletest.Steps]int64{cycletest.Track: 1, cycletest.Respond: 1, cycletest.Validate: 1}
	another := [cycletest.Steps]int64{cycletest.Track: 1, cycletest.Respond: 2, cycletest.Validate: 1}
	for _, srv := range backends {
		t.Run(srv.name, func(t *testing.T) {
			client, prefix := srv.client(t)
			log := &commandLog{}
			client.AddHook(log)
			var trips int64
			total := func() int64 {
				n, _, _ := log.take()
				trips += int64(n)
				return trips
			}
			cycletest.CheckInAppRoundTrips(t, newStore(t, client, prefix), total, [2][cycletest.Steps]int64{same, another})
		})
	}
}

// commandLog is a go-redis hook that records each round trip: a command,
// or a pipeline of commands.
type commandLog struct {
	mu    sync.Mutex
	trips [][]string
}

func (l *commandLog) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *commandLog) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		l.add(cmd)
		return next(ctx, cmd)
	}
}

func (l *commandLog) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		l.add(cmds...)
		return next(ctx, cmds)
	}
}

func (l *commandLog) add(cmds ...redis.Cmder) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name()
	}
	l.mu.Lock()
	l.trips = append(l.trips, names)
	l.mu.Unlock()
}

// take returns the round trips and commands logged since the last take,
// and the log as text, one round trip a line.
func (l *commandLog) take() (trips, commands int, text string) {
	var b strings.Builder
	all := l.takeTrips()
	for _, t := range all {
		commands += len(t)
		fmt.Fprintf(&b, "\n\t%s", strings.Join(t, " + "))
	}
	return len(all), commands, b.String()
}

// takeTrips returns the round trips logged since the last take, each as
// the names of its commands.
func (l *commandLog) takeTrips() [][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	trips := l.trips
	l.trips = nil
	return trips
}

// defaultRateLimits puts back the default rate limits, which cycletest.New
// turns off.
func defaultRateLimits(c *deviceauth.Config) { c.RateLimits = deviceauth.RateLimits{} }

// TestRoundTrips_TrackWithRules pins Track under a policy other than
// DefaultPolicy (rules), rate limits off: ReadSignals takes two round trips
// (the user's indexes and counter, then the credentials' and records'
// hashes), then CreateChallenge one — two more than Track without rules.
// (Issue #13 allows one more: the credentials and records to read are
// known only once the indexes are; one script in the user's slot, as
// Actions runs, could read them all.)
func TestRoundTrips_TrackWithRules(t *testing.T) {
	for _, srv := range backends {
		t.Run(srv.name, func(t *testing.T) {
			client, prefix := srv.client(t)
			log := &commandLog{}
			client.AddHook(log)
			e := cycletest.New(t, newStore(t, client, prefix), cycletest.WithRules)
			e.Cycle(t, nil) // warm-up
			log.take()
			e.Cycle(t, func(step int) {
				trips, _, text := log.take()
				if step == cycletest.Track && trips != 3 {
					t.Fatalf("Track with rules took %d round trips, want 3:%s", trips, text)
				}
			})
		})
	}
}
