package roottest_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/internal/ids"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// The Service's share of a cycle's cost is how many store calls each step
// makes: a store can make each call one round trip (store.CycleStore), so
// these pins bound every adapter's round trips from above.
func TestChallengeCycle_StoreCalls(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []func(*deviceauth.Config)
		want [cycletest.Steps]int64
	}{
		{"RateLimitsOff", nil, [cycletest.Steps]int64{1, 1, 2, 1}},
		// The default limits add a counter to Track (challenges per user)
		// and to Respond (responses per IP).
		{"DefaultRateLimits", []func(*deviceauth.Config){func(c *deviceauth.Config) { c.RateLimits = deviceauth.RateLimits{} }},
			[cycletest.Steps]int64{2, 1, 3, 1}},
		// A policy of the application's own is asked between reading and
		// creating: Track reads the counter and the credentials, then
		// creates.
		{"DefaultPolicyPointer", []func(*deviceauth.Config){func(c *deviceauth.Config) { c.Rules = &deviceauth.DefaultPolicy{} }},
			[cycletest.Steps]int64{1, 1, 2, 1}},
		{"OwnPolicy", []func(*deviceauth.Config){func(c *deviceauth.Config) {
			c.Rules = deviceauth.PolicyFunc(deviceauth.DefaultPolicy{}.Decide)
		}}, [cycletest.Steps]int64{3, 1, 2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &instancetest.Faulty{Store: memstore.New()}
			e := cycletest.New(t, st, tc.opts...)
			e.Cycle(t, nil) // warm-up, as the adapters count
			var got [cycletest.Steps]int64
			last := st.Calls.Load()
			e.Cycle(t, func(step int) {
				n := st.Calls.Load()
				got[step], last = n-last, n
			})
			if got != tc.want {
				t.Errorf("store calls per step (%v) = %v, want %v", cycletest.StepNames, got, tc.want)
			}
		})
	}
}

// The in-app cycle (Track, the device's one signed answer, Validate) is
// three store calls once the instance that tracked the challenge has read
// the answering credential: the answer is then its transition alone
// (docs/architecture.md#the-store-contract). Answered on another instance,
// or by a credential this one has not read, it reads both first.
func TestInAppCycle_StoreCalls(t *testing.T) {
	limits := func(c *deviceauth.Config) { c.RateLimits = deviceauth.RateLimits{} }
	for _, tc := range []struct {
		name    string
		limits  bool
		another bool // the answer goes to a second Service over the store
		want    [cycletest.Steps]int64
	}{
		{"RateLimitsOff", false, false, [cycletest.Steps]int64{cycletest.Track: 1, cycletest.Respond: 1, cycletest.Validate: 1}},
		// The default limits add a counter to Track (challenges per user)
		// and to the answer (responses per IP).
		{"DefaultRateLimits", true, false, [cycletest.Steps]int64{cycletest.Track: 2, cycletest.Respond: 2, cycletest.Validate: 1}},
		{"AnsweredOnAnotherInstance", false, true, [cycletest.Steps]int64{cycletest.Track: 1, cycletest.Respond: 2, cycletest.Validate: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &instancetest.Faulty{Store: memstore.New()}
			var opts []func(*deviceauth.Config)
			if tc.limits {
				opts = append(opts, limits)
			}
			e := cycletest.New(t, st, opts...)
			answering := e.Service
			if tc.another {
				answering = cycletest.NewService(t, st, opts...)
			}
			e.InAppCycleAcross(t, answering, nil) // warm-up: the credential read once
			for round := range 3 {
				var got [cycletest.Steps]int64
				last := st.Calls.Load()
				e.InAppCycleAcross(t, answering, func(step int) {
					n := st.Calls.Load()
					got[step], last = n-last, n
				})
				if got != tc.want {
					t.Errorf("cycle %d: store calls per step (%v) = %v, want %v", round, cycletest.StepNames, got, tc.want)
				}
			}
		})
	}
}

// A user whose credentials are not device keys alone costs Track a second
// call: the first was built for device keys and created nothing; the
// second offers the methods the user's credentials can answer.
func TestTrack_OtherKindsCostOneMoreCall(t *testing.T) {
	st := &instancetest.Faulty{Store: memstore.New()}
	e := cycletest.New(t, st)
	ctx := t.Context()
	passkey := func(id, user string) store.Credential {
		return store.Credential{ID: id, UserID: user, Kind: store.KindPasskey, Name: "key", CreatedAt: time.Now()}
	}
	if err := st.CreateCredential(ctx, passkey("pk_1", e.User), 0); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateCredential(ctx, passkey("pk_2", "bob"), 0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user string
		want []deviceauth.Method
	}{
		{e.User, []deviceauth.Method{deviceauth.MethodDevice, deviceauth.MethodPasskey}},
		{"bob", []deviceauth.Method{deviceauth.MethodPasskey}},
	} {
		before := st.Calls.Load()
		res, err := e.Service.Track(ctx, deviceauth.TrackRequest{UserID: tc.user, Action: "transfer"})
		if err != nil {
			t.Fatal(err)
		}
		if calls := st.Calls.Load() - before; calls != 2 || res.ChallengeID == "" || !slices.Equal(res.Methods, tc.want) {
			t.Errorf("Track for %s: %d store calls, challenge %q, methods %v; want 2 calls, a challenge, methods %v",
				tc.user, calls, res.ChallengeID, res.Methods, tc.want)
		}
	}
}

// The records a cycle touches carry their user's tag in their IDs, so a
// store can keep them together (Redis Cluster: one hash slot, one script).
func TestIDs_CarryTheUsersTag(t *testing.T) {
	e := cycletest.New(t, memstore.New())
	res, err := e.Service.Track(t.Context(), deviceauth.TrackRequest{UserID: e.User, Action: "transfer"})
	if err != nil {
		t.Fatal(err)
	}
	want := ids.UserTag(e.User)
	for what, id := range map[string]string{"challenge": res.ChallengeID, "credential": e.Device.CredentialID} {
		if tag, ok := ids.IDTag(id); !ok || tag != want {
			t.Errorf("%s ID %q has tag %q, %v; want the user's, %q", what, id, tag, ok, want)
		}
	}
}

// refusingBegin is a store whose BeginChallenge reports device keys but
// never creates: a broken store.
type refusingBegin struct {
	*instancetest.Faulty
}

func (r refusingBegin) BeginChallenge(ctx context.Context, b store.Begin, now time.Time) (store.Begun, error) {
	r.Calls.Add(1)
	return store.Begun{Kinds: []store.CredentialKind{store.KindDevice}}, nil
}

// A store that keeps refusing the kinds it reports makes Track fail closed
// after three calls, rather than loop.
func TestTrack_StoreRefusingItsOwnKindsFailsClosed(t *testing.T) {
	st := refusingBegin{&instancetest.Faulty{Store: memstore.New()}}
	e := cycletest.New(t, st)
	before := st.Calls.Load()
	res, err := e.Service.Track(t.Context(), deviceauth.TrackRequest{UserID: e.User, Action: "transfer"})
	if !errors.Is(err, deviceauth.ErrUnavailable) || res.ChallengeID != "" {
		t.Fatalf("Track = %+v, %v; want ErrUnavailable", res, err)
	}
	if calls := st.Calls.Load() - before; calls != 3 {
		t.Fatalf("Track made %d BeginChallenge calls, want 3", calls)
	}
}

// A device's signed fetch reads the challenge with the signing key in one
// store call, then claims the request's nonce: two calls (rate limits off).
// An unknown challenge and an unknown key still answer as before.
func TestFetchHTTP_ReadsChallengeWithTheKey(t *testing.T) {
	off := deviceauth.Rate{Limit: -1}
	e := newEnv(t, func(c *deviceauth.Config) { c.RateLimits = deviceauth.RateLimits{Fetch: off, Challenges: off} })
	phone := e.enrol("alice", "ES256")
	res := e.track("alice", "transfer", deviceauth.Details{Message: "Pay 5 EUR"}, false)
	before := e.store.Calls.Load()
	ch, err := phone.Challenge(t.Context(), res.ChallengeID)
	if err != nil || ch.ID != res.ChallengeID || ch.Details.Message != "Pay 5 EUR" {
		t.Fatalf("Challenge = %+v, %v; want the tracked challenge", ch, err)
	}
	if calls := e.store.Calls.Load() - before; calls != 2 {
		t.Fatalf("a signed fetch made %d store calls, want 2 (challenge with key, nonce)", calls)
	}
	status := func(err error) int {
		var de *device.Error
		if !errors.As(err, &de) {
			t.Fatalf("got %v, want an answer from the server", err)
		}
		return de.Status
	}
	if _, err := phone.Challenge(t.Context(), "ch_unknown"); status(err) != http.StatusNotFound {
		t.Fatalf("Challenge of an unknown ID = %v, want 404", err)
	}
	stranger := e.device("ES256")
	stranger.CredentialID = phone.CredentialID + "x"
	if _, err := stranger.Challenge(t.Context(), res.ChallengeID); status(err) != http.StatusUnauthorized {
		t.Fatalf("Challenge signed with an unknown key = %v, want 401", err)
	}
}
