package pgxstore_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
)

// cycleEnv is a Service over a Store over the real server, with one user
// and an enrolled ES256 device, for driving challenge cycles through
// Service calls as the application and the device would.
type cycleEnv struct {
	svc  *deviceauth.Service
	user string
	dev  deviceauth.DeviceIdentity
	key  *ecdsa.PrivateKey
}

var cycleDetails = deviceauth.Details{Message: "Pay 10 EUR", Fields: []deviceauth.Field{{Label: "Payee", Value: "Bob"}}}

func newCycleEnv(t testing.TB, pool *pgxpool.Pool) *cycleEnv {
	t.Helper()
	st := openStore(t, pool, newSchema(t, pool))
	off := deviceauth.Rate{Limit: -1}
	svc, err := deviceauth.New(deviceauth.Config{
		Store: st, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)}, PublicURL: "https://app.example/deviceauth",
		RateLimits: deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off},
		Logger:     slog.New(slog.DiscardHandler), // logs are not the store's cost
	})
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

// cycle steps, in the order a cycle runs them.
const (
	stepTrack = iota
	stepFetch
	stepRespond
	stepValidate
	steps
)

var stepNames = [steps]string{"Track", "FetchChallenge", "Respond", "Validate"}

// cycle runs track → fetch → the device signs → respond → validate, calling
// after(step) when each step has returned.
func (e *cycleEnv) cycle(tb testing.TB, after func(step int)) {
	ctx := context.Background()
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: e.user, Action: "transfer", Details: cycleDetails})
	if err != nil || res.ChallengeID == "" {
		tb.Fatalf("Track = %+v, %v", res, err)
	}
	after(stepTrack)
	v, err := e.svc.FetchChallenge(ctx, e.dev, res.ChallengeID)
	if err != nil {
		tb.Fatalf("FetchChallenge: %v", err)
	}
	after(stepFetch)
	digest := protocol.DetailsDigest(v.Details)
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: v.ChallengeID, Nonce: v.Nonce, Action: v.Action,
		CredentialID: e.dev.CredentialID, Decision: protocol.DecisionApprove, DetailsDigest: digest[:]})
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, e.key, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.svc.Respond(ctx, deviceauth.Response{ChallengeID: v.ChallengeID, CredentialID: e.dev.CredentialID,
		Decision: protocol.DecisionApprove, Signature: sig}); err != nil {
		tb.Fatalf("Respond: %v", err)
	}
	after(stepRespond)
	val, err := e.svc.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: e.user, Action: "transfer", Details: cycleDetails})
	if err != nil || !val.Valid {
		tb.Fatalf("Validate = %+v, %v; want valid", val, err)
	}
	after(stepValidate)
}

// roundTrips counts what a pool's connections send to the server: each
// query (Query, QueryRow, Exec), each batch (one pipelined round trip) and
// each explicit prepare.
type roundTrips struct {
	queries, batches, prepares atomic.Int64
}

func (r *roundTrips) total() int64 { return r.queries.Load() + r.batches.Load() + r.prepares.Load() }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.queries.Add(1)
	return ctx
}

func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.batches.Add(1)
	return ctx
}

func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func (r *roundTrips) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	r.prepares.Add(1)
	return ctx
}

func (r *roundTrips) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// wantCycleRoundTrips pins the store's round trips per step of a challenge
// cycle (DESIGN §9), with rate limits off: each is the number of store
// calls the step makes, as each call is one statement. The default rate
// limits add one IncrementCounter to Track and one to Respond.
var wantCycleRoundTrips = [steps]int64{
	stepTrack:    3, // Counter (wrong codes), ListCredentials, CreateChallenge
	stepFetch:    1, // GetChallenge
	stepRespond:  4, // GetChallenge, GetCredential, TransitionChallenge, UpdateCredential
	stepValidate: 3, // GetChallenge, TransitionChallenge, GetCredential
}

func TestChallengeCycle_RoundTrips(t *testing.T) {
	trips := &roundTrips{}
	// One connection, so that after the warm-up every statement is in its
	// prepared-statement cache and no cycle pays a hidden Parse.
	pool := newPool(t, 1, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = trips })
	e := newCycleEnv(t, pool)
	e.cycle(t, func(int) {}) // warm-up
	preparesBefore := trips.prepares.Load()

	var total int64
	for round := range 3 {
		last := trips.total()
		var got [steps]int64
		e.cycle(t, func(step int) {
			now := trips.total()
			got[step], last = now-last, now
		})
		if got != wantCycleRoundTrips {
			for i := range steps {
				if got[i] != wantCycleRoundTrips[i] {
					t.Errorf("cycle %d: %s made %d round trips, want %d", round, stepNames[i], got[i], wantCycleRoundTrips[i])
				}
			}
		}
		total = 0
		for _, n := range got {
			total += n
		}
	}
	if total != 11 {
		t.Errorf("a challenge cycle made %d round trips, want 11", total)
	}
	if n := trips.prepares.Load() - preparesBefore; n != 0 {
		t.Errorf("%d prepares after the warm-up, want none", n)
	}
}
