package roottest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
)

// gatedEnv is an env whose "/transfer" route is gated by Require with the
// details {amount, payee} taken from the JSON body, and whose user is the
// X-User header.
type gatedEnv struct {
	*env
	ran     int
	lastV   deviceauth.Validation
	body    string
	handler http.Handler
	devices map[string]*device.Client
	mux     *http.ServeMux // the device handler, for in-process clients
}

type transferBody struct {
	Amount string `json:"amount"`
	Payee  string `json:"payee"`
}

var transferDetailsFunc = deviceauth.WithDetails(func(r *http.Request, body []byte) (deviceauth.Details, error) {
	var b transferBody
	if err := json.Unmarshal(body, &b); err != nil {
		return deviceauth.Details{}, errors.New("the body must be a transfer")
	}
	return deviceauth.Details{Message: "Transfer", Fields: []deviceauth.Field{{Label: "Amount", Value: b.Amount}, {Label: "Payee", Value: b.Payee}}}, nil
})

func newGatedEnv(t *testing.T, opts []deviceauth.RequireOption, envOpts ...envOption) *gatedEnv {
	g := &gatedEnv{}
	envOpts = append(envOpts, func(c *deviceauth.Config) {
		c.Users = deviceauth.UserResolverFunc(func(r *http.Request) (string, error) { return r.Header.Get("X-User"), nil })
	})
	g.env = newEnv(t, envOpts...)
	g.handler = g.svc.Require("transfer", append([]deviceauth.RequireOption{transferDetailsFunc}, opts...)...)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			g.ran++
			g.lastV, _ = deviceauth.FromContext(r.Context())
			b, _ := io.ReadAll(r.Body)
			g.body = string(b)
			w.WriteHeader(http.StatusOK)
		}))
	return g
}

// transfer sends the gated request and returns the recorder.
func (g *gatedEnv) transfer(user, token, amount string) *httptest.ResponseRecorder {
	req := transferRequest(`{"amount":"` + amount + `","payee":"Bob"}`)
	if user != "" {
		req.Header.Set("X-User", user)
	}
	if token != "" {
		req.Header.Set(deviceauth.TokenHeader, token)
	}
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	return rec
}

// transferRequest is the request httptest.NewRequest makes for POST
// /transfer with body, built as a server hands it over (no request text
// parsed first, as the device's requests through handlerTransport).
func transferRequest(body string) *http.Request {
	return &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/transfer"}, RequestURI: "/transfer",
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: make(http.Header, 2), Host: "example.com",
		RemoteAddr: "192.0.2.1:1234", Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
}

func denialOf(t *testing.T, rec *httptest.ResponseRecorder) deviceauth.DenialBody {
	t.Helper()
	var b deviceauth.DenialBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q", cc)
	}
	return b
}

func TestRequire_NoUser_401Unauthenticated(t *testing.T) {
	g := newGatedEnv(t, nil)
	rec := g.transfer("", "", "10")
	b := denialOf(t, rec)
	if rec.Code != 401 || b.Error != "unauthenticated" || rec.Header().Get("WWW-Authenticate") != "" || g.ran != 0 {
		t.Fatalf("got %d %+v WWW-Authenticate=%q ran=%d", rec.Code, b, rec.Header().Get("WWW-Authenticate"), g.ran)
	}
	if n := g.events.count(event.ChallengeCreated); n != 0 {
		t.Fatalf("%d challenges tracked for nobody", n)
	}
}

func TestRequire_NoToken_401ChallengeRequired(t *testing.T) {
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithVerificationCode(), deviceauth.WithMethods(deviceauth.MethodDevice, deviceauth.MethodPush)})
	g.enrol("alice", "ES256")
	rec := g.transfer("alice", "", "10")
	b := denialOf(t, rec)
	wantHeader := `Deviceauth challenge_id=` + strconv.Quote(b.ChallengeID) + `, action="transfer"`
	if rec.Code != 401 || b.Error != "challenge_required" || b.State != deviceauth.StateChallengeRequired ||
		b.ChallengeID == "" || !strings.HasPrefix(b.Token, "dat_") || !b.ExpiresAt.Equal(g.clock.Now().Add(5*time.Minute)) ||
		len(b.Methods) != 2 || b.Methods[1] != deviceauth.MethodPush || len(b.VerificationCode) != 2 || g.ran != 0 {
		t.Fatalf("got %d %+v ran=%d", rec.Code, b, g.ran)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != wantHeader {
		t.Fatalf("WWW-Authenticate %q, want %q", got, wantHeader)
	}
}

func TestRequire_ValidToken_HandlerRunsWithValidation(t *testing.T) {
	g := newGatedEnv(t, nil)
	d := g.enrol("alice", "ES256")
	b := denialOf(t, g.transfer("alice", "", "10"))
	approve(t, d, b.ChallengeID, b.VerificationCode)
	rec := g.transfer("alice", b.Token, "10")
	if rec.Code != 200 || g.ran != 1 {
		t.Fatalf("retry with the token: %d, ran %d", rec.Code, g.ran)
	}
	v := g.lastV
	if !v.Valid || v.State != deviceauth.StateChallengeSucceeded || v.CredentialID != d.CredentialID || v.Method != deviceauth.MethodDevice ||
		len(v.Details.Fields) != 2 || v.Details.Fields[0].Value != "10" {
		t.Fatalf("FromContext = %+v", v)
	}
	// The details extractor saw the body, and the handler still read it whole.
	if g.body != `{"amount":"10","payee":"Bob"}` {
		t.Fatalf("the handler read %q", g.body)
	}
}

// TestRequire_HandlerContextKeepsTheRequests: the context Require hands the
// handler carries the validation and is still the request's: its values,
// and its cancellation reaching the handler.
func TestRequire_HandlerContextKeepsTheRequests(t *testing.T) {
	type appKey struct{}
	g := newGatedEnv(t, nil)
	d := g.enrol("alice", "ES256")
	b := denialOf(t, g.transfer("alice", "", "10"))
	approve(t, d, b.ChallengeID, b.VerificationCode)
	var appValue any
	var v deviceauth.Validation
	var ok, canceled bool
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), appKey{}, "app"))
	h := g.svc.Require("transfer", transferDetailsFunc)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appValue = r.Context().Value(appKey{})
		v, ok = deviceauth.FromContext(r.Context())
		cancel()
		<-r.Context().Done() // would block for ever if the cancellation did not reach it
		canceled = errors.Is(r.Context().Err(), context.Canceled)
		w.WriteHeader(http.StatusOK)
	}))
	req := transferRequest(`{"amount":"10","payee":"Bob"}`).WithContext(ctx)
	req.Header.Set("X-User", "alice")
	req.Header.Set(deviceauth.TokenHeader, b.Token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || appValue != "app" || !ok || !v.Valid || v.ChallengeID != b.ChallengeID || !canceled {
		t.Fatalf("status %d, app value %v, FromContext %+v %v, canceled %v", rec.Code, appValue, v, ok, canceled)
	}
	if _, ok := deviceauth.FromContext(ctx); ok {
		t.Fatal("FromContext found a validation in the request's own context")
	}
}

func TestRequire_BadToken_403ChallengeFailed_NoRetrack(t *testing.T) {
	cases := []struct {
		name string
		// setup returns the token to send, and the user and amount to send it with.
		setup func(t *testing.T, g *gatedEnv) (token, user, amount string)
	}{
		{"garbage", func(t *testing.T, g *gatedEnv) (string, string, string) { return "dat_garbage", "alice", "10" }},
		{"not approved", func(t *testing.T, g *gatedEnv) (string, string, string) {
			return denialOf(t, g.transfer("alice", "", "10")).Token, "alice", "10"
		}},
		{"used", func(t *testing.T, g *gatedEnv) (string, string, string) {
			b := denialOf(t, g.transfer("alice", "", "10"))
			approve(t, g.devices["alice"], b.ChallengeID, b.VerificationCode)
			if rec := g.transfer("alice", b.Token, "10"); rec.Code != 200 {
				t.Fatalf("first use: %d", rec.Code)
			}
			return b.Token, "alice", "10"
		}},
		{"denied", func(t *testing.T, g *gatedEnv) (string, string, string) {
			b := denialOf(t, g.transfer("alice", "", "10"))
			ch, _ := g.devices["alice"].Challenge(context.Background(), b.ChallengeID)
			g.devices["alice"].Deny(context.Background(), ch, "")
			return b.Token, "alice", "10"
		}},
		{"expired", func(t *testing.T, g *gatedEnv) (string, string, string) {
			b := denialOf(t, g.transfer("alice", "", "10"))
			approve(t, g.devices["alice"], b.ChallengeID, b.VerificationCode)
			g.clock.Advance(5*time.Minute + time.Second)
			return b.Token, "alice", "10"
		}},
		{"another user", func(t *testing.T, g *gatedEnv) (string, string, string) {
			b := denialOf(t, g.transfer("alice", "", "10"))
			approve(t, g.devices["alice"], b.ChallengeID, b.VerificationCode)
			return b.Token, "bob", "10"
		}},
		{"another action", func(t *testing.T, g *gatedEnv) (string, string, string) {
			res := g.track("alice", "signIn", deviceauth.Details{}, false)
			approve(t, g.devices["alice"], res.ChallengeID, res.VerificationCode)
			return res.Token, "alice", "10"
		}},
		{"changed amount", func(t *testing.T, g *gatedEnv) (string, string, string) {
			b := denialOf(t, g.transfer("alice", "", "10"))
			approve(t, g.devices["alice"], b.ChallengeID, b.VerificationCode)
			return b.Token, "alice", "9999"
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGatedEnv(t, nil)
			g.devices = map[string]*device.Client{"alice": g.enrol("alice", "ES256"), "bob": g.enrol("bob", "ES256")}
			token, user, amount := c.setup(t, g)
			ran, created := g.ran, g.events.count(event.ChallengeCreated)
			rec := g.transfer(user, token, amount)
			b := denialOf(t, rec)
			if rec.Code != 403 || b.Error != "challenge_failed" || rec.Header().Get("WWW-Authenticate") != "" || g.ran != ran {
				t.Fatalf("got %d %+v ran %d→%d", rec.Code, b, ran, g.ran)
			}
			if n := g.events.count(event.ChallengeCreated); n != created {
				t.Fatal("a bad token made a new challenge (push loop)")
			}
		})
	}
}

func TestRequire_PolicyBlockAndReview_403(t *testing.T) {
	for _, c := range []struct {
		state deviceauth.ActionState
		code  string
	}{{deviceauth.StateBlock, "blocked"}, {deviceauth.StateReview, "review"}} {
		t.Run(c.code, func(t *testing.T) {
			g := newGatedEnv(t, nil, func(cfg *deviceauth.Config) {
				cfg.Rules = deviceauth.PolicyFunc(func(context.Context, deviceauth.PolicyInput) (deviceauth.Decision, error) {
					return deviceauth.Decision{State: c.state}, nil
				})
			})
			g.enrol("alice", "ES256")
			rec := g.transfer("alice", "", "10")
			if b := denialOf(t, rec); rec.Code != 403 || b.Error != c.code || g.ran != 0 {
				t.Fatalf("got %d %+v ran %d", rec.Code, b, g.ran)
			}
		})
	}
}

func TestRequire_NotEnrolled_403EnrollmentRequired(t *testing.T) {
	g := newGatedEnv(t, nil)
	rec := g.transfer("alice", "", "10")
	// No state: there is no challenge whose state it could be.
	if b := denialOf(t, rec); rec.Code != 403 || b.Error != "enrollment_required" || b.State != "" || g.ran != 0 {
		t.Fatalf("got %d %+v ran %d; want 403 enrollment_required without a state", rec.Code, b, g.ran)
	}
	if strings.Contains(rec.Body.String(), `"state"`) {
		t.Fatalf("the enrollment_required body carries a state: %s", rec.Body)
	}
}

func TestRequire_PolicyAllow_HandlerRuns(t *testing.T) {
	g := newGatedEnv(t, nil, func(cfg *deviceauth.Config) {
		cfg.Rules = deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			if !in.Enrolled { // a policy may let users without a device through
				return deviceauth.Decision{State: deviceauth.StateAllow}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		})
	})
	rec := g.transfer("alice", "", "10")
	if rec.Code != 200 || g.ran != 1 || g.lastV.State != deviceauth.StateAllow || g.lastV.Valid {
		t.Fatalf("got %d ran %d validation %+v", rec.Code, g.ran, g.lastV)
	}
}

func TestRequire_StoreError_503(t *testing.T) {
	g := newGatedEnv(t, nil)
	d := g.enrol("alice", "ES256")
	b := denialOf(t, g.transfer("alice", "", "10"))
	approve(t, d, b.ChallengeID, b.VerificationCode)
	g.store.Fail.Store(true)
	for _, token := range []string{"", b.Token} {
		rec := g.transfer("alice", token, "10")
		if b := denialOf(t, rec); rec.Code != 503 || b.Error != "unavailable" || g.ran != 0 {
			t.Fatalf("token %q: got %d %+v ran %d", token, rec.Code, b, g.ran)
		}
	}
	g.store.Fail.Store(false)
	if rec := g.transfer("alice", b.Token, "10"); rec.Code != 200 {
		t.Fatalf("after the store is back: %d", rec.Code)
	}
}

func TestRequire_ResolverError_503(t *testing.T) {
	e := newEnv(t)
	h := e.svc.Require("transfer", deviceauth.WithUserResolver(deviceauth.UserResolverFunc(func(*http.Request) (string, error) {
		return "", errors.New("session backend down")
	})))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Fatal("the handler ran") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/transfer", nil))
	if b := denialOf(t, rec); rec.Code != 503 || b.Error != "unavailable" {
		t.Fatalf("got %d %+v", rec.Code, b)
	}
}

func TestRequire_DetailsExtractorError_400(t *testing.T) {
	g := newGatedEnv(t, nil)
	g.enrol("alice", "ES256")
	req := httptest.NewRequest(http.MethodPost, "/transfer", strings.NewReader("not json"))
	req.Header.Set("X-User", "alice")
	rec := httptest.NewRecorder()
	g.handler.ServeHTTP(rec, req)
	if b := denialOf(t, rec); rec.Code != 400 || b.Error != "invalid_request" || b.Message != "the body must be a transfer" || g.ran != 0 {
		t.Fatalf("got %d %+v", rec.Code, b)
	}
}

func TestRequire_ErrorHandlerOption(t *testing.T) {
	var got *deviceauth.Denial
	g := newGatedEnv(t, []deviceauth.RequireOption{deviceauth.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, d *deviceauth.Denial) {
		got = d
		w.WriteHeader(http.StatusTeapot)
	})})
	rec := g.transfer("", "", "10")
	if rec.Code != http.StatusTeapot || got == nil || got.Status != 401 || got.Body.Error != "unauthenticated" {
		t.Fatalf("got %d, denial %+v", rec.Code, got)
	}
}

func TestRequire_PanicsWithoutResolver(t *testing.T) {
	e := newEnv(t)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "Config.Users") {
			t.Fatalf("recover() = %v", r)
		}
	}()
	e.svc.Require("transfer")
}

func TestRequire_TokenFromAndIdempotencyKeyOptions(t *testing.T) {
	g := newGatedEnv(t, []deviceauth.RequireOption{
		deviceauth.WithTokenFrom(func(r *http.Request) string { return r.Header.Get("X-Form-Token") }),
		deviceauth.WithIdempotencyKey(func(r *http.Request) string { return r.Header.Get("Idempotency-Key") }),
	})
	d := g.enrol("alice", "ES256")
	send := func(token, idem string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/transfer", strings.NewReader(`{"amount":"10","payee":"Bob"}`))
		req.Header.Set("X-User", "alice")
		req.Header.Set("X-Form-Token", token)
		req.Header.Set("Idempotency-Key", idem)
		rec := httptest.NewRecorder()
		g.handler.ServeHTTP(rec, req)
		return rec
	}
	first := denialOf(t, send("", "form-1"))
	again := denialOf(t, send("", "form-1"))
	other := denialOf(t, send("", "form-2"))
	if first.ChallengeID != again.ChallengeID || first.Token != again.Token || other.ChallengeID == first.ChallengeID {
		t.Fatalf("idempotency: %s %s %s", first.ChallengeID, again.ChallengeID, other.ChallengeID)
	}
	approve(t, d, first.ChallengeID, first.VerificationCode)
	if rec := send(first.Token, "form-1"); rec.Code != 200 || g.ran != 1 {
		t.Fatalf("token from the form field: %d", rec.Code)
	}
}

func TestStatus_ReadsWithoutConsuming(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	d := e.enrol("alice", "ES256")
	res := e.track("alice", "transfer", deviceauth.Details{}, false)
	for _, want := range []string{"PENDING", "APPROVED", "APPROVED"} {
		if got, err := e.svc.ChallengeState(ctx, res.Token, "alice"); err != nil || string(got) != want {
			t.Fatalf("Status = %q, %v; want %q", got, err, want)
		}
		if want == "PENDING" {
			approve(t, d, res.ChallengeID, res.VerificationCode)
		}
	}
	if _, err := e.svc.ChallengeState(ctx, res.Token, "bob"); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("another user's status: %v", err)
	}
	if _, err := e.svc.ChallengeState(ctx, "dat_nonsense", "alice"); !errors.Is(err, deviceauth.ErrNotFound) {
		t.Fatalf("a garbage token's status: %v", err)
	}
	if v := e.validate(res.Token, "alice", "transfer", deviceauth.Details{}); !v.Valid {
		t.Fatal("Status consumed the challenge")
	}
	if got, _ := e.svc.ChallengeState(ctx, res.Token, "alice"); got != "CONSUMED" {
		t.Fatalf("after validation %q", got)
	}
}
