// Package instancetest proves, for any store adapter, what docs/architecture.md#the-store-contract asks
// of a deployment: several Service instances over one store see one truth,
// and an outage of the store fails closed and heals without a restart.
// Adapter tests call ManyInstances and Outage with their own backend, and
// UpgradedCredential after migrating data an earlier release wrote.
//
// It is over 500 lines by design: each scenario races two instances end
// to end, and the scenarios share their setup.
package instancetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store"
)

// Instance is one application instance: a Service over a store value, its
// device handler behind an httptest server, and two routes whose user is
// the X-Test-User header: /transfer gated by Require("transfer") and
// /transfer-passkey by Require("transfer", WithMethods(MethodPasskey)).
type Instance struct {
	Service *deviceauth.Service
	Store   store.Store
	Server  *httptest.Server
	// Ran and PasskeyRan count how often each gated handler ran.
	Ran, PasskeyRan atomic.Int64
}

var testKey = bytes.Repeat([]byte{0x5a}, 32)

// NewInstance starts an instance over st; everything stops at the end of t.
func NewInstance(t testing.TB, st store.Store) *Instance {
	t.Helper()
	in := &Instance{Store: st}
	mux := http.NewServeMux()
	in.Server = httptest.NewServer(mux)
	t.Cleanup(in.Server.Close)
	svc, err := deviceauth.New(deviceauth.Config{
		Store: st, Keys: [][]byte{testKey}, PublicURL: in.Server.URL + "/deviceauth",
		Users: deviceauth.UserResolverFunc(func(r *http.Request) (string, error) { return r.Header.Get("X-Test-User"), nil }),
		RateLimits: deviceauth.RateLimits{Register: deviceauth.Rate{Limit: -1}, Fetch: deviceauth.Rate{Limit: -1},
			Respond: deviceauth.Rate{Limit: -1}, Challenges: deviceauth.Rate{Limit: -1}, Recovery: deviceauth.Rate{Limit: -1}},
		RecoveryCodes: 4,
	})
	if err != nil {
		t.Fatal(err)
	}
	in.Service = svc
	t.Cleanup(func() { svc.Close(context.Background()) })
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	mux.Handle("/transfer", svc.Require("transfer")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.Ran.Add(1)
		w.WriteHeader(http.StatusOK)
	})))
	mux.Handle("/transfer-passkey", svc.Require("transfer", deviceauth.WithMethods(deviceauth.MethodPasskey))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			in.PasskeyRan.Add(1)
			w.WriteHeader(http.StatusOK)
		})))
	return in
}

// Device returns a client of this instance's handler for key, registered
// as credentialID ("" before registration).
func (in *Instance) Device(t testing.TB, key *ecdsa.PrivateKey, credentialID string) *device.Client {
	t.Helper()
	d, err := device.New(in.Server.URL+"/deviceauth", key)
	if err != nil {
		t.Fatal(err)
	}
	d.CredentialID = credentialID
	return d
}

// Enrol registers a new device of user through this instance and returns
// its client and key.
func (in *Instance) Enrol(t testing.TB, user string) (*device.Client, *ecdsa.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	g, err := in.Service.MintRegistrationToken(ctx, user, "")
	if err != nil {
		t.Fatalf("MintRegistrationToken: %v", err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	d := in.Device(t, key, "")
	if _, err := d.Register(ctx, g.Token, "phone", "test"); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return d, key
}

// Gated sends a request to the gated route as user, with token when not
// empty, and returns the status.
func (in *Instance) Gated(t testing.TB, user, token string) int {
	t.Helper()
	return in.gatedAt(t, "/transfer", user, token)
}

// gatedAt sends a request to the gated route at path.
func (in *Instance) gatedAt(t testing.TB, path, user, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.Server.URL+path, nil)
	req.Header.Set("X-Test-User", user)
	if token != "" {
		req.Header.Set(deviceauth.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// ManyInstances runs the many-instances proof over two store values that
// share one backend (two clients of one server, or two handles of one
// file). rounds is how many times the validation race is repeated (100 in
// CI).
func ManyInstances(t *testing.T, a, b store.Store, rounds int) {
	ctx := context.Background()
	A, B := NewInstance(t, a), NewInstance(t, b)
	user := "user-" + rand.Text()[:8]
	d, key := A.Enrol(t, user)
	// The same device speaking to B's handler: registered on A, known on B.
	onB := B.Device(t, key, d.CredentialID)

	t.Run("TrackedOnAApprovedOnBValidatedOnA", func(t *testing.T) {
		res := track(t, A, user)
		ch, err := onB.Challenge(ctx, res.ChallengeID)
		if err != nil {
			t.Fatalf("fetch through B: %v", err)
		}
		if _, err := onB.Approve(ctx, ch, res.VerificationCode); err != nil {
			t.Fatalf("approve through B: %v", err)
		}
		if st := A.Gated(t, user, res.Token); st != http.StatusOK {
			t.Fatalf("gated request on A with the token: %d", st)
		}
		if st := B.Gated(t, user, res.Token); st != http.StatusForbidden {
			t.Fatalf("the same token on B: %d, want 403", st)
		}
	})

	t.Run("RacingValidationsAcrossInstancesHaveOneWinner", func(t *testing.T) {
		for round := range rounds {
			res := approved(t, A, d, user)
			var valid, invalid atomic.Int64
			Race(128, func(i int) {
				in := A
				if i%2 == 1 {
					in = B
				}
				v, err := in.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: user, Action: "transfer"})
				switch {
				case err != nil:
					t.Errorf("Validate: %v", err)
				case v.Valid:
					valid.Add(1)
				default:
					invalid.Add(1)
				}
			})
			if valid.Load() != 1 || invalid.Load() != 127 {
				t.Fatalf("round %d: %d valid, %d invalid; want 1 and 127", round, valid.Load(), invalid.Load())
			}
		}
	})

	t.Run("WaiterOnAWakesWhenBApproves", func(t *testing.T) {
		res := track(t, A, user)
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		woken, err := a.Watch(wctx, res.ChallengeID)
		if err != nil {
			t.Fatalf("Watch: %v", err)
		}
		ch, err := onB.Challenge(ctx, res.ChallengeID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := onB.Approve(ctx, ch, res.VerificationCode); err != nil {
			t.Fatal(err)
		}
		select {
		case <-woken:
		case <-time.After(10 * time.Second): // a failure bound, not a wait for time to pass
			t.Fatal("the waiter on A was not woken by B's approval")
		}
		got, err := a.GetChallenge(ctx, res.ChallengeID, time.Now())
		if err != nil || got.State != store.StateApproved {
			t.Fatalf("A reads %s, %v; want APPROVED", got.State, err)
		}
	})

	t.Run("CredentialRemovedOnBFailsNextValidateOnA", func(t *testing.T) {
		res := track(t, A, user)
		ch, _ := d.Challenge(ctx, res.ChallengeID)
		if _, err := d.Approve(ctx, ch, res.VerificationCode); err != nil {
			t.Fatal(err)
		}
		if err := onB.Remove(ctx); err != nil {
			t.Fatalf("remove through B: %v", err)
		}
		if st := A.Gated(t, user, res.Token); st != http.StatusForbidden {
			t.Fatalf("gated request on A after removal on B: %d, want 403", st)
		}
		if A.Ran.Load()+B.Ran.Load() != 1 {
			t.Fatalf("the gated handler ran %d times, want once (the first subtest)", A.Ran.Load()+B.Ran.Load())
		}
	})

	t.Run("WrongCodesAcrossInstancesBlockQRClaimAndCreation", func(t *testing.T) { wrongCodesBlockQR(t, A, B) })

	t.Run("FirstDeviceTokensAcrossInstancesEnrolOneDevice", func(t *testing.T) { firstDeviceRace(t, A, B) })
	t.Run("RecoveryCodeAcrossInstancesStandsInOnce", func(t *testing.T) { recoveryCodeRace(t, A, B) })
	t.Run("ResetGrantAcrossInstancesMintsOnce", func(t *testing.T) { resetGrantRace(t, A, B) })
	t.Run("CompatKeyAcrossInstancesValidatesOnceAndOnlyWhereWeakIsAdmitted", func(t *testing.T) { compatAcross(t, A, B, rounds) })

	// A phone's approval presented at a passkey-only route, on both
	// instances, while the same token is presented at the route it was made
	// for: the passkey route never passes, and the refusals consume
	// nothing, so the device route passes exactly once.
	t.Run("RefusedMethodAcrossInstancesConsumesNothing", func(t *testing.T) {
		user := "user-" + rand.Text()[:8]
		d, _ := A.Enrol(t, user)
		ran := A.Ran.Load() + B.Ran.Load()
		for round := range max(rounds/5, 2) {
			res := approved(t, A, d, user)
			var passed, passkeyPassed atomic.Int64
			Race(64, func(i int) {
				in, path := A, "/transfer-passkey"
				if i%2 == 1 {
					in = B
				}
				if i%8 == 7 { // a few presentations at the route it was made for
					path = "/transfer"
				}
				switch {
				case in.gatedAt(t, path, user, res.Token) != http.StatusOK:
				case path == "/transfer":
					passed.Add(1)
				default:
					passkeyPassed.Add(1)
				}
			})
			if passkeyPassed.Load() != 0 || passed.Load() != 1 {
				t.Fatalf("round %d: the passkey route passed %d times, the device route %d; want 0 and 1", round, passkeyPassed.Load(), passed.Load())
			}
			// Refused at the passkey route only, the token still passes.
			res = approved(t, B, d, user)
			if st := A.gatedAt(t, "/transfer-passkey", user, res.Token); st != http.StatusForbidden {
				t.Fatalf("round %d: a phone's approval at the passkey route on A: %d, want 403", round, st)
			}
			if st := B.Gated(t, user, res.Token); st != http.StatusOK {
				t.Fatalf("round %d: the token refused at the passkey route, at its own route on B: %d, want 200", round, st)
			}
		}
		if n := A.PasskeyRan.Load() + B.PasskeyRan.Load(); n != 0 {
			t.Fatalf("the passkey-only handler ran %d times", n)
		}
		if n := A.Ran.Load() + B.Ran.Load() - ran; n != 2*int64(max(rounds/5, 2)) {
			t.Fatalf("the device route's handler ran %d times, want %d", n, 2*max(rounds/5, 2))
		}
	})
}

// wrongCodesBlockQR races wrong codes for a QR challenge through A and B,
// then checks that the block holds on both: the phone's user claims no QR
// challenge and the browser's IP creates none.
func wrongCodesBlockQR(t *testing.T, A, B *Instance) {
	ctx := context.Background()
	user := "user-" + rand.Text()[:8]
	d, key := A.Enrol(t, user)
	onB := B.Device(t, key, d.CredentialID)
	browserIP := netip.MustParseAddr("203.0.113.9")
	qc, err := A.Service.CreateQR(ctx, deviceauth.QRRequest{ClientIP: browserIP})
	if err != nil {
		t.Fatal(err)
	}
	code, err := device.ParseQRPayload(qc.Payload)
	if err != nil {
		t.Fatal(err)
	}
	// The instances stand for one deployment behind one URL; here each has
	// its own test server, so the phone reaches B by B's.
	code.BaseURL = B.Server.URL + "/deviceauth"
	ch, err := onB.Claim(ctx, code)
	if err != nil {
		t.Fatalf("claim through B: %v", err)
	}
	wrong := "00"
	if qc.VerificationCode == wrong {
		wrong = "11"
	}
	// Twice the limit of validly signed wrong codes, half through each
	// instance: each is refused as wrong, or finds the challenge failed
	// by the limit; every one is counted in the store.
	Race(10, func(i int) {
		dev := d
		if i%2 == 1 {
			dev = onB
		}
		_, err := dev.Approve(ctx, ch, wrong)
		if e := (*device.Error)(nil); !errors.As(err, &e) || (e.Code != "wrong_code" && e.Code != "challenge_closed") {
			t.Errorf("a wrong code: %v, want wrong_code or challenge_closed", err)
		}
	})
	for _, in := range []*Instance{A, B} {
		qc, err := in.Service.CreateQR(ctx, deviceauth.QRRequest{ClientIP: netip.MustParseAddr("198.51.100.7")})
		if err != nil {
			t.Fatal(err)
		}
		code, _ := device.ParseQRPayload(qc.Payload)
		dev := seam.Device{CredentialID: d.CredentialID, UserID: user}
		if _, err := cycletest.ClaimQR(in.Service, ctx, dev, code.ChallengeID, code.ClaimSecret); !errors.Is(err, deviceauth.ErrRateLimited) {
			t.Fatalf("a blocked user's QR claim: %v, want rate_limited", err)
		}
		if _, err := in.Service.CreateQR(ctx, deviceauth.QRRequest{ClientIP: browserIP}); !errors.Is(err, deviceauth.ErrRateLimited) {
			t.Fatalf("a QR challenge from the IP whose codes were wrong: %v, want rate_limited", err)
		}
	}
}

// firstDeviceRace mints registration tokens for a user without a
// credential (no step-up needed: each enrols a first device only) on A and
// B, then registers a different phone with each, racing through both
// instances: exactly one phone is enrolled, the others are refused as
// registration_failed, and a token of that kind presented after the
// enrolment is refused too. It is the stolen session's race: a token it
// minted while the user had no device cannot add its phone next to the
// user's.
func firstDeviceRace(t *testing.T, A, B *Instance) {
	ctx := context.Background()
	user := "user-" + rand.Text()[:8]
	const n = 8
	tokens := make([]string, n+1)
	for i := range tokens {
		in := A
		if i%2 == 1 {
			in = B
		}
		g, err := in.Service.MintRegistrationToken(ctx, user, "")
		if err != nil {
			t.Fatalf("MintRegistrationToken %d: %v", i, err)
		}
		tokens[i] = g.Token
	}
	var enrolled, refused atomic.Int64
	Race(n, func(i int) {
		in := A
		if i%2 == 1 {
			in = B
		}
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		_, err := in.Device(t, key, "").Register(ctx, tokens[i], "phone", "test")
		var e *device.Error
		switch {
		case err == nil:
			enrolled.Add(1)
		case errors.As(err, &e) && e.Code == "registration_failed":
			refused.Add(1)
		default:
			t.Errorf("Register %d: %v, want success or registration_failed", i, err)
		}
	})
	if enrolled.Load() != 1 || refused.Load() != n-1 {
		t.Fatalf("%d phones enrolled, %d refused; want 1 and %d", enrolled.Load(), refused.Load(), n-1)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := B.Device(t, key, "").Register(ctx, tokens[n], "phone", "test"); err == nil {
		t.Fatal("a first-device token minted before the enrolment enrolled a second phone")
	}
	if cs, err := A.Service.Credentials(ctx, user); err != nil || len(cs) != 1 {
		t.Fatalf("the user has %d credentials (%v), want 1", len(cs), err)
	}
}

// recoveryCodeRace issues recovery codes through A and spends one code as
// the step-up of racing MintRegistrationToken calls on A and B: exactly one
// mints a token, the others get step_up_required.
func recoveryCodeRace(t *testing.T, A, B *Instance) {
	ctx := context.Background()
	user := "user-" + rand.Text()[:8]
	d, _ := A.Enrol(t, user)
	res, err := A.Service.Track(ctx, deviceauth.TrackRequest{UserID: user, Action: deviceauth.ActionRecoveryCodes, VerificationCode: true})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := d.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Approve(ctx, ch, res.VerificationCode); err != nil {
		t.Fatal(err)
	}
	codes, err := A.Service.RecoveryCodes(ctx, user, res.Token)
	if err != nil || len(codes) != 4 {
		t.Fatalf("RecoveryCodes = %d codes, %v", len(codes), err)
	}
	if minted, refused := raceMints(t, A, B, user, codes[0]); minted != 1 || refused != 15 {
		t.Fatalf("one recovery code minted %d tokens (%d refused), want 1 and 15", minted, refused)
	}
}

// raceMints races 16 MintRegistrationToken calls with stepUp through A
// and B, and counts those that minted and those refused a step-up.
func raceMints(t *testing.T, A, B *Instance, user, stepUp string) (minted, refused int64) {
	var m, r atomic.Int64
	Race(16, func(i int) {
		in := A
		if i%2 == 1 {
			in = B
		}
		_, err := in.Service.MintRegistrationToken(context.Background(), user, stepUp)
		switch {
		case err == nil:
			m.Add(1)
		case errors.Is(err, deviceauth.ErrStepUpRequired):
			r.Add(1)
		default:
			t.Errorf("MintRegistrationToken: %v", err)
		}
	})
	return m.Load(), r.Load()
}

// resetGrantRace resets a user on A, then races uses of the enrolment
// grant through A and B: exactly one mints a token, and afterwards neither
// instance mints one for the session alone.
func resetGrantRace(t *testing.T, A, B *Instance) {
	ctx := context.Background()
	user := "user-" + rand.Text()[:8]
	A.Enrol(t, user)
	g, err := A.Service.ResetCredentials(ctx, deviceauth.ResetRequest{UserID: user, Operator: "desk", Reason: "lost phone"})
	if err != nil {
		t.Fatal(err)
	}
	if minted, refused := raceMints(t, A, B, user, g.Token); minted != 1 || refused != 15 {
		t.Fatalf("one grant minted %d tokens (%d refused), want 1 and 15", minted, refused)
	}
	for _, in := range []*Instance{A, B} {
		if _, err := in.Service.MintRegistrationToken(ctx, user, ""); !errors.Is(err, deviceauth.ErrStepUpRequired) {
			t.Fatalf("the session alone after the grant: %v, want step_up_required", err)
		}
	}
}

// approved tracks a challenge for user on in and approves it with d.
func approved(t testing.TB, in *Instance, d *device.Client, user string) deviceauth.TrackResult {
	t.Helper()
	res := track(t, in, user)
	ch, err := d.Challenge(context.Background(), res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Approve(context.Background(), ch, res.VerificationCode); err != nil {
		t.Fatal(err)
	}
	return res
}

// Race runs f(0) … f(n-1) in n goroutines released at once, and waits:
// the racing callers of every exactly-once test.
func Race(n int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}

func track(t testing.TB, in *Instance, user string) deviceauth.TrackResult {
	t.Helper()
	// With number matching, as the gated route asks for by default.
	res, err := in.Service.Track(context.Background(), deviceauth.TrackRequest{UserID: user, Action: "transfer", VerificationCode: true})
	if err != nil || res.ChallengeID == "" {
		t.Fatalf("Track = %+v, %v", res, err)
	}
	return res
}

// Outage proves fail-closed behaviour over st: down makes the backend
// unavailable (stop the server, kill the connections, inject errors) and
// up brings it back. During the outage every gated request is 503 and the
// handler never runs; afterwards requests succeed again without a new
// Service, credentials survive, and a challenge approved before the outage
// validates exactly once.
func Outage(t *testing.T, st store.Store, down, up func()) {
	ctx := context.Background()
	in := NewInstance(t, st)
	user := "user-" + rand.Text()[:8]
	d, _ := in.Enrol(t, user)
	before := track(t, in, user)
	ch, err := d.Challenge(ctx, before.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Approve(ctx, ch, before.VerificationCode); err != nil {
		t.Fatal(err)
	}

	down()
	for i := range 20 {
		token := ""
		if i%2 == 0 {
			token = before.Token
		}
		if s := in.Gated(t, user, token); s != http.StatusServiceUnavailable {
			t.Fatalf("gated request %d during the outage: %d, want 503", i, s)
		}
	}
	if _, err := in.Service.Track(ctx, deviceauth.TrackRequest{UserID: user, Action: "transfer"}); err == nil {
		t.Fatal("Track succeeded during the outage")
	}
	if n := in.Ran.Load(); n != 0 {
		t.Fatalf("the gated handler ran %d times during the outage", n)
	}
	up()

	// The store may take a moment to reconnect: poll the outcome with a
	// bound, never assume a duration.
	deadline := time.Now().Add(30 * time.Second)
	for {
		creds, err := in.Service.Credentials(ctx, user)
		if err == nil {
			if len(creds) != 1 || creds[0].ID != d.CredentialID {
				t.Fatalf("credentials after the outage: %+v", creds)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not come back within 30 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := in.Gated(t, user, before.Token); s != http.StatusOK {
		t.Fatalf("the token approved before the outage: %d, want 200", s)
	}
	if s := in.Gated(t, user, before.Token); s != http.StatusForbidden {
		t.Fatalf("the same token again: %d, want 403", s)
	}
	if s := in.Gated(t, user, ""); s != http.StatusUnauthorized {
		t.Fatalf("a new gated request after the outage: %d, want 401 challenge_required", s)
	}
	if n := in.Ran.Load(); n != 1 {
		t.Fatalf("the gated handler ran %d times, want 1", n)
	}
}
