// Package cycletest drives challenge cycles through Service calls, as the
// application and the device would, for the round-trip tests and the
// benchmarks of the root package and the store adapters: track → fetch →
// the device signs → respond → validate (docs/architecture.md#performance-model).
package cycletest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"log/slog"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// Env is a Service over a Store, with one user and an enrolled ES256
// device whose key the test holds.
type Env struct {
	// Service is the Service under test.
	Service *deviceauth.Service
	// User is the user the device is enrolled for.
	User string
	// Device is the enrolled device.
	Device seam.Device
	// Key is the device's private key.
	Key *ecdsa.PrivateKey
}

// Details are the details of each cycle's challenge.
var Details = deviceauth.Details{Message: "Send 10.00 EUR to Bob",
	Fields: []deviceauth.Field{{Label: "Amount", Value: "10.00 EUR"}, {Label: "Payee", Value: "Bob"}}}

// WithRules is an option of New: a policy other than DefaultPolicy, which
// challenges every action as DefaultPolicy does but makes Track read the
// signals (PolicyInput.Signals) and record them, as a rule set does.
func WithRules(c *deviceauth.Config) {
	c.Rules = deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
		if in.Signals.Action != in.Action {
			return deviceauth.Decision{}, errors.New("cycletest: the policy was asked without signals")
		}
		return deviceauth.Decision{State: deviceauth.StateChallengeRequired, Rule: "always"}, nil
	})
}

// New starts a Service over st, with rate limits off and a discard logger
// (logs are not the store's cost), then each of opts applied to its Config,
// and registers an ES256 device for user "alice" through svc.Register. The
// Service is closed when tb ends.
func New(tb testing.TB, st store.Store, opts ...func(*deviceauth.Config)) *Env {
	tb.Helper()
	return (&Env{Service: NewService(tb, st, opts...)}).ForUser(tb, "alice")
}

// NewService is the Service of New, without its user: another instance
// over st, as a deployment runs several.
func NewService(tb testing.TB, st store.Store, opts ...func(*deviceauth.Config)) *deviceauth.Service {
	tb.Helper()
	off := deviceauth.Rate{Limit: -1}
	cfg := deviceauth.Config{
		Store: st, Keys: [][]byte{bytes.Repeat([]byte{7}, 32)}, PublicURL: "https://app.example/deviceauth",
		RateLimits: deviceauth.RateLimits{Register: off, Fetch: off, Respond: off, Challenges: off},
		Logger:     slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	svc, err := deviceauth.New(cfg)
	if err != nil {
		tb.Fatalf("deviceauth.New: %v", err)
	}
	tb.Cleanup(func() { svc.Close(context.Background()) })
	return svc
}

// ForUser registers an ES256 device for user through e's Service and
// returns the Env of that user and device over the same Service: cycles of
// several users at once, as a deployment runs them, touch no record in
// common.
func (e *Env) ForUser(tb testing.TB, user string) *Env {
	tb.Helper()
	u := &Env{Service: e.Service, User: user}
	ctx := context.Background()
	grant, err := u.Service.MintRegistrationToken(ctx, user, "")
	if err != nil {
		tb.Fatalf("MintRegistrationToken: %v", err)
	}
	u.Key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&u.Key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	pop := sha256.Sum256(protocol.RegistrationMessage(grant.Token, "ES256", spki, "phone", "ios"))
	sig, err := ecdsa.SignASN1(rand.Reader, u.Key, pop[:])
	if err != nil {
		tb.Fatal(err)
	}
	cred, err := u.Service.Register(ctx, deviceauth.Registration{Token: grant.Token, Algorithm: "ES256",
		PublicKey: spki, Signature: sig, Name: "phone", Platform: "ios"})
	if err != nil {
		tb.Fatalf("Register: %v", err)
	}
	u.Device = seam.Device{CredentialID: cred.ID, UserID: user}
	return u
}

// The steps of a cycle, in the order a cycle runs them.
const (
	Track    = iota // Service.Track
	Fetch           // Service.FetchChallenge
	Respond         // the device signs, then Service.Respond
	Validate        // Service.Validate
	Steps           // the number of steps
)

// StepNames names each step, indexed by step.
var StepNames = [Steps]string{"Track", "FetchChallenge", "Respond", "Validate"}

// Cycle runs one cycle: track → fetch → the device signs → respond →
// validate, failing tb on any error. after, when not nil, is called with
// each step when it has returned.
func (e *Env) Cycle(tb testing.TB, after func(step int)) {
	if after == nil {
		e.CycleOf(tb, nil)
		return
	}
	e.CycleOf(tb, func(step int, _ string) { after(step) })
}

// CycleOf is Cycle whose after is also given the ID of the cycle's
// challenge, e.g. to watch it as a waiting page would.
func (e *Env) CycleOf(tb testing.TB, after func(step int, challengeID string)) {
	ctx := context.Background()
	res, err := e.Service.Track(ctx, deviceauth.TrackRequest{UserID: e.User, Action: "transfer", Details: Details})
	if err != nil || res.ChallengeID == "" {
		tb.Fatalf("Track = %+v, %v", res, err)
	}
	if after == nil {
		after = func(int, string) {}
	}
	id := res.ChallengeID
	after(Track, id)
	v, err := FetchChallenge(e.Service, ctx, e.Device, res.ChallengeID)
	if err != nil {
		tb.Fatalf("FetchChallenge: %v", err)
	}
	after(Fetch, id)
	e.answer(tb, ctx, v)
	after(Respond, id)
	val, err := e.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: e.User, Action: "transfer", Details: Details})
	if err != nil || !val.Valid {
		tb.Fatalf("Validate = %+v, %v; want valid", val, err)
	}
	after(Validate, id)
}

// InAppCycle runs one one-signature in-app cycle: Track for in-app
// verification, the device's answer from the payload (no fetch), Validate.
// after, when not nil, is called after each step (never with Fetch).
func (e *Env) InAppCycle(tb testing.TB, after func(step int)) {
	e.InAppCycleAcross(tb, e.Service, after)
}

// InAppCycleAcross is InAppCycle with the device's answer sent to
// answering, another Service over the same store (as a deployment's other
// instance), or e's own.
func (e *Env) InAppCycleAcross(tb testing.TB, answering *deviceauth.Service, after func(step int)) {
	ctx := context.Background()
	res, err := e.Service.Track(ctx, deviceauth.TrackRequest{UserID: e.User, Action: "transfer", Details: Details, InApp: true})
	if err != nil || res.InApp == nil {
		tb.Fatalf("Track = %+v, %v", res, err)
	}
	if after == nil {
		after = func(int) {}
	}
	after(Track)
	p, on := res.InApp, *e
	on.Service = answering
	on.answer(tb, ctx, deviceauth.ChallengeView{ChallengeID: p.ChallengeID, Nonce: p.Nonce, Action: p.Action, Details: p.Details})
	after(Respond)
	val, err := e.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: e.User, Action: "transfer", Details: Details})
	if err != nil || !val.Valid || val.Method != deviceauth.MethodInApp {
		tb.Fatalf("Validate = %+v, %v; want valid by IN_APP", val, err)
	}
	after(Validate)
}

// CheckInAppRoundTrips runs in-app cycles over st, first answered on the
// instance that tracked them (want[0]), then on another instance over st
// (want[1]), each after a warm-up, and reports to tb every cycle whose
// round trips per step differ: total is the store's count of round trips
// so far.
func CheckInAppRoundTrips(tb testing.TB, st store.Store, total func() int64, want [2][Steps]int64) {
	tb.Helper()
	e := New(tb, st)
	for i, answering := range []*deviceauth.Service{e.Service, NewService(tb, st)} {
		e.InAppCycleAcross(tb, answering, nil) // warm-up: connections, scripts, the credential read
		for round := range 3 {
			var got [Steps]int64
			last := total()
			e.InAppCycleAcross(tb, answering, func(step int) {
				now := total()
				got[step], last = now-last, now
			})
			if got != want[i] {
				tb.Errorf("in-app cycle %d answered on %s instance: round trips per step %v, want %v (%v)",
					round, [2]string{"the same", "another"}[i], got, want[i], StepNames)
			}
		}
	}
}

// Approve fetches challenge id as the device (no HTTP) and approves it,
// with ctx.
func (e *Env) Approve(tb testing.TB, ctx context.Context, id string) {
	tb.Helper()
	v, err := FetchChallenge(e.Service, ctx, e.Device, id)
	if err != nil {
		tb.Fatalf("FetchChallenge: %v", err)
	}
	e.answer(tb, ctx, v)
}

// Deny fetches challenge id as the device (no HTTP) and denies it, with
// ctx.
func (e *Env) Deny(tb testing.TB, ctx context.Context, id string) {
	tb.Helper()
	v, err := FetchChallenge(e.Service, ctx, e.Device, id)
	if err != nil {
		tb.Fatalf("FetchChallenge: %v", err)
	}
	e.decide(tb, ctx, v, protocol.DecisionDeny)
}

// answer signs and sends the device's approval of v.
func (e *Env) answer(tb testing.TB, ctx context.Context, v deviceauth.ChallengeView) {
	tb.Helper()
	e.decide(tb, ctx, v, protocol.DecisionApprove)
}

// decide signs and sends the device's decision on v.
func (e *Env) decide(tb testing.TB, ctx context.Context, v deviceauth.ChallengeView, decision string) {
	tb.Helper()
	digest := protocol.DetailsDigest(v.Details)
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: v.ChallengeID, Nonce: v.Nonce, Action: v.Action,
		CredentialID: e.Device.CredentialID, Decision: decision, DetailsDigest: digest[:]})
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, e.Key, h[:])
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := e.Service.Respond(ctx, deviceauth.DeviceAnswer{ChallengeID: v.ChallengeID, CredentialID: e.Device.CredentialID,
		Decision: decision, Signature: sig}); err != nil {
		tb.Fatalf("Respond: %v", err)
	}
}

// BaselineSignVerify is the body of BenchmarkBaselineSignVerify, the floor
// of a challenge cycle: one ES256 signature by the device and one
// verification by the server. Each package with cycle benchmarks runs it,
// so that one go test -bench run reports the floor beside its cycles.
func BaselineSignVerify(b *testing.B) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := protocol.ResponseMessage(protocol.Response{ChallengeID: protocol.NewID(), Nonce: make([]byte, 32),
		Action: "transfer", CredentialID: protocol.NewID(), Decision: "approve", DetailsDigest: make([]byte, 32)})
	for b.Loop() {
		h := sha256.Sum256(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			b.Fatal(err)
		}
		h2 := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&key.PublicKey, h2[:], sig) {
			b.Fatal("did not verify")
		}
	}
}

// RatioUnit is the unit of the metric Benchmark reports on the store's
// sub-benchmark: its time per cycle over the Memstore sub-benchmark's.
const RatioUnit = "x-memstore"

// Benchmark runs cycles (rate limits off) as two sub-benchmarks in the same
// run: "Memstore", over a fresh memstore, then name, over the store
// newStore makes with the sub-benchmark's testing.TB (so it may skip).
// The second also reports its time per cycle as a ratio to the first's, in
// RatioUnit, when both ran.
func Benchmark(b *testing.B, name string, newStore func(testing.TB) store.Store) {
	var memNs float64
	b.Run("Memstore", func(b *testing.B) {
		memNs = BenchmarkStore(b, memstore.New())
	})
	b.Run(name, func(b *testing.B) {
		ns := BenchmarkStore(b, newStore(b))
		if memNs > 0 && ns > 0 {
			b.ReportMetric(ns/memNs, RatioUnit)
		}
	})
}

// BenchmarkStore runs cycles over st (rate limits off) after one warm-up
// cycle (connections made, caches and scripts loaded), and returns the
// nanoseconds per cycle.
func BenchmarkStore(b *testing.B, st store.Store) float64 {
	e := New(b, st)
	e.Cycle(b, nil)
	for b.Loop() {
		e.Cycle(b, nil)
	}
	if b.N == 0 {
		return 0
	}
	return float64(b.Elapsed().Nanoseconds()) / float64(b.N)
}

// FetchChallenge is the device's signed fetch of challenge id by dev,
// without HTTP (the signature check stands in).
func FetchChallenge(svc *deviceauth.Service, ctx context.Context, dev seam.Device, id string) (deviceauth.ChallengeView, error) {
	v, err := seam.Steps.FetchChallenge(svc, ctx, dev, id)
	return v.(deviceauth.ChallengeView), err
}

// ClaimQR is the device's signed claim of QR challenge id by dev, without
// HTTP.
func ClaimQR(svc *deviceauth.Service, ctx context.Context, dev seam.Device, id, secret string) (deviceauth.ChallengeView, error) {
	v, err := seam.Steps.ClaimQR(svc, ctx, dev, id, secret)
	return v.(deviceauth.ChallengeView), err
}
