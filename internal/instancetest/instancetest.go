// Package instancetest proves, for any store adapter, what docs/architecture.md#the-store-contract asks
// of a deployment: several Service instances over one store see one truth,
// and an outage of the store fails closed and heals without a restart.
// Adapter tests call ManyInstances and Outage with their own backend.
package instancetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/store"
)

// Instance is one application instance: a Service over a store value, its
// device handler behind an httptest server, and a route gated by
// Require("transfer") whose user is the X-Test-User header.
type Instance struct {
	Service *deviceauth.Service
	Store   store.Store
	Server  *httptest.Server
	// Ran counts how often the gated handler ran.
	Ran atomic.Int64
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
			Respond: deviceauth.Rate{Limit: -1}, Challenges: deviceauth.Rate{Limit: -1}},
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
	req, _ := http.NewRequest(http.MethodPost, in.Server.URL+"/transfer", nil)
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
		if _, err := onB.Approve(ctx, ch, ""); err != nil {
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
			res := track(t, A, user)
			ch, err := d.Challenge(ctx, res.ChallengeID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Approve(ctx, ch, ""); err != nil {
				t.Fatal(err)
			}
			var valid, invalid atomic.Int64
			var start, done sync.WaitGroup
			start.Add(1)
			for i := range 128 {
				in := A
				if i%2 == 1 {
					in = B
				}
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					v, err := in.Service.Validate(ctx, deviceauth.ValidateRequest{Token: res.Token, UserID: user, Action: "transfer"})
					switch {
					case err != nil:
						t.Errorf("Validate: %v", err)
					case v.Valid:
						valid.Add(1)
					default:
						invalid.Add(1)
					}
				}()
			}
			start.Done()
			done.Wait()
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
		if _, err := onB.Approve(ctx, ch, ""); err != nil {
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
		if _, err := d.Approve(ctx, ch, ""); err != nil {
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
}

func track(t testing.TB, in *Instance, user string) deviceauth.TrackResult {
	t.Helper()
	res, err := in.Service.Track(context.Background(), deviceauth.TrackRequest{UserID: user, Action: "transfer"})
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
	if _, err := d.Approve(ctx, ch, ""); err != nil {
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
