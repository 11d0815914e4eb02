package redisstore_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/store"
)

// A challenge cycle costs a fixed number of round trips to Redis once the
// scripts are loaded (DESIGN §9). The counts are pinned, step by step: a
// change is a deliberate change of these numbers (and of the figures in the
// package doc). With rate limits off, as in the root package's
// BenchmarkChallengeCycle:
//
//	Track     Counter (HMGET) · ListCredentials (SMEMBERS, then HGETALL
//	          of each in a pipeline) · CreateChallenge (the record's and
//	          the index's scripts in one pipeline)      4 round trips, 5 commands
//	Fetch     GetChallenge (HGETALL)                    1
//	Respond   GetChallenge · GetCredential (HGETALL) ·
//	          TransitionChallenge · UpdateCredential    4 (EVALSHA for the writes)
//	Validate  GetChallenge · TransitionChallenge ·
//	          GetCredential                             3
//
// 12 round trips and 13 commands in all. The default rate limits add one
// IncrementCounter (EVALSHA) to Track and one to Respond: 14 and 15.
func TestRoundTrips_ChallengeCycle(t *testing.T) {
	type counts struct{ trips, commands int }
	tests := []struct {
		name   string
		limits bool
		want   [steps]counts
	}{
		{"RateLimitsOff", false, [steps]counts{{4, 5}, {1, 1}, {4, 4}, {3, 3}}},
		{"DefaultRateLimits", true, [steps]counts{{5, 6}, {1, 1}, {5, 5}, {3, 3}}},
	}
	servers := []struct {
		name   string
		client func(t *testing.T) (*redis.Client, string)
	}{
		{"Miniredis", func(t *testing.T) (*redis.Client, string) {
			_, c := miniredisClient(t)
			return c, "deviceauth"
		}},
		{"Redis", func(t *testing.T) (*redis.Client, string) {
			c := realRedisClient(t)
			return c, isolatedPrefix(t, c)
		}},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					client, prefix := srv.client(t)
					log := &commandLog{}
					client.AddHook(log)
					e := newCycleEnv(t, newStore(t, client, prefix), tt.limits)
					e.run(t, nil) // warm-up: connections made, scripts known
					log.take()
					for range 3 {
						e.run(t, func(step int) {
							trips, commands, text := log.take()
							if want := tt.want[step]; trips != want.trips || commands != want.commands {
								t.Errorf("%s took %d round trips with %d commands, want %d and %d:%s",
									stepNames[step], trips, commands, want.trips, want.commands, text)
							}
						})
					}
				})
			}
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
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, t := range l.trips {
		commands += len(t)
		fmt.Fprintf(&b, "\n\t%s", strings.Join(t, " + "))
	}
	trips = len(l.trips)
	l.trips = nil
	return trips, commands, b.String()
}

// cycleEnv is a Service over a Store, with one user and an enrolled ES256
// device, for driving challenge cycles through Service calls as the
// application and the device would.
type cycleEnv struct {
	svc  *deviceauth.Service
	user string
	dev  deviceauth.DeviceIdentity
	key  *ecdsa.PrivateKey
}

var cycleDetails = deviceauth.Details{Message: "Send 10.00 EUR to Bob",
	Fields: []deviceauth.Field{{Label: "Amount", Value: "10.00 EUR"}, {Label: "Payee", Value: "Bob"}}}

// newCycleEnv starts a Service over st, with the default rate limits or
// none, and registers a device.
func newCycleEnv(t testing.TB, st store.Store, limits bool) *cycleEnv {
	t.Helper()
	cfg := deviceauth.Config{
		Store: st, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)}, PublicURL: "https://app.example/deviceauth",
		Logger: slog.New(slog.DiscardHandler), // logs are not the store's cost
	}
	if !limits {
		off := deviceauth.Rate{Limit: -1}
		cfg.RateLimits = deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off}
	}
	svc, err := deviceauth.New(cfg)
	if err != nil {
		t.Fatalf("deviceauth.New: %v", err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	e := &cycleEnv{svc: svc, user: "alice"}
	ctx := context.Background()
	grant, err := svc.MintRegistrationToken(ctx, e.user, "")
	if err != nil {
		t.Fatalf("MintRegistrationToken: %v", err)
	}
	e.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(&e.key.PublicKey)
	pop := sha256.Sum256(protocol.RegistrationMessage(grant.Token, "ES256", spki, "phone", "ios"))
	sig, err := ecdsa.SignASN1(rand.Reader, e.key, pop[:])
	if err != nil {
		t.Fatal(err)
	}
	cred, err := svc.Register(ctx, deviceauth.Registration{Token: grant.Token, Algorithm: "ES256",
		PublicKey: spki, Signature: sig, Name: "phone", Platform: "ios"})
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	e.dev = deviceauth.DeviceIdentity{CredentialID: cred.ID, UserID: e.user}
	return e
}

// Cycle steps, in the order a cycle runs them.
const (
	stepTrack = iota
	stepFetch
	stepRespond
	stepValidate
	steps
)

var stepNames = [steps]string{"Track", "FetchChallenge", "Respond", "Validate"}

// run is one cycle: track → fetch → the device signs → respond → validate;
// after, when not nil, is called after each step.
func (e *cycleEnv) run(t testing.TB, after func(step int)) {
	if after == nil {
		after = func(int) {}
	}
	ctx := context.Background()
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: e.user, Action: "transfer", Details: cycleDetails})
	if err != nil || res.ChallengeID == "" {
		t.Fatalf("Track = %+v, %v", res, err)
	}
	after(stepTrack)
	v, err := e.svc.FetchChallenge(ctx, e.dev, res.ChallengeID)
	if err != nil {
		t.Fatalf("FetchChallenge: %v", err)
	}
	after(stepFetch)
	digest := protocol.DetailsDigest(v.Details)
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: v.ChallengeID, Nonce: v.Nonce, Action: v.Action,
		CredentialID: e.dev.CredentialID, Decision: "approve", DetailsDigest: digest[:]})
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, e.key, h[:])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Respond(ctx, deviceauth.Response{ChallengeID: v.ChallengeID, CredentialID: e.dev.CredentialID,
		Decision: "approve", Signature: sig}); err != nil {
		t.Fatalf("Respond: %v", err)
	}
	after(stepRespond)
	val, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: e.user, Action: "transfer", Details: cycleDetails})
	if err != nil || !val.Valid {
		t.Fatalf("Validate = %+v, %v; want valid", val, err)
	}
	after(stepValidate)
}
