package roottest_test

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/instancetest"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// clock is the injected clock of the tests: it moves only when told, and
// its timers fire when Advance passes their deadline.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	timers []clockTimer
}

type clockTimer struct {
	at time.Time
	c  chan time.Time
}

// After implements Config.After on the injected clock.
func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.t
		return ch
	}
	c.timers = append(c.timers, clockTimer{at: c.t.Add(d), c: ch})
	return ch
}

// Timers reports how many timers are waiting.
func (c *clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.t) {
			kept = append(kept, t)
			continue
		}
		t.c <- c.t
	}
	c.timers = kept
}

// env is one Service over a memstore behind an httptest server, with every
// log line and event captured.
type env struct {
	t      testing.TB
	svc    *deviceauth.Service
	store  *instancetest.Faulty
	clock  *clock
	srv    *httptest.Server
	logs   *syncBuffer
	events *eventLog
}

type envOption func(*deviceauth.Config)

func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: newClock(), logs: &syncBuffer{}, events: &eventLog{}}
	e.store = &instancetest.Faulty{Store: memstore.New()}
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	cfg := deviceauth.Config{
		Store:     e.store,
		Keys:      [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: e.srv.URL + "/deviceauth",
		Logger:    slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnEvent:   e.events.add,
		Now:       e.clock.Now,
		Timer:     e.clock.After,
	}
	for _, o := range opts {
		o(&cfg)
	}
	svc, err := deviceauth.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.svc = svc
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	t.Cleanup(func() { svc.Close(context.Background()) })
	return e
}

// device returns a device client with a new key of the given algorithm
// ("ES256" or "EdDSA"), whose clock is the env's.
func (e *env) device(alg string) *device.Client {
	e.t.Helper()
	var signer crypto.Signer
	var err error
	if alg == "EdDSA" {
		signer, err = device.NewEd25519Key()
	} else {
		signer, err = device.NewP256Key()
	}
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := device.New(e.srv.URL+"/deviceauth", signer)
	if err != nil {
		e.t.Fatal(err)
	}
	c.Now = e.clock.Now
	return c
}

// enrol mints a registration token for user (no step-up: first device) and
// registers a new device for it.
func (e *env) enrol(user, alg string) *device.Client {
	e.t.Helper()
	g, err := e.svc.MintRegistrationToken(context.Background(), user, "")
	if err != nil {
		e.t.Fatalf("MintRegistrationToken(%s): %v", user, err)
	}
	d := e.device(alg)
	if _, err := d.Register(context.Background(), g.Token, "phone of "+user, "test"); err != nil {
		e.t.Fatalf("Register(%s): %v", user, err)
	}
	return d
}

// stepUp returns the token of a challenge for action and details that d,
// a device of user, approved with number matching.
func (e *env) stepUp(d *device.Client, user, action string, details deviceauth.Details) string {
	e.t.Helper()
	res := e.track(user, action, details, true)
	approve(e.t, d, res.ChallengeID, res.VerificationCode)
	return res.Token
}

// addToken mints a registration token for another device of user, with a
// step-up d approved.
func (e *env) addToken(d *device.Client, user string) string {
	e.t.Helper()
	g, err := e.svc.MintRegistrationToken(context.Background(), user, e.stepUp(d, user, deviceauth.ActionAddAuthenticator, deviceauth.Details{}))
	if err != nil {
		e.t.Fatalf("MintRegistrationToken(%s) with a step-up: %v", user, err)
	}
	return g.Token
}

// track tracks action for user and fails the test unless a challenge was made.
func (e *env) track(user, action string, details deviceauth.Details, code bool) deviceauth.TrackResult {
	e.t.Helper()
	res, err := e.svc.Track(context.Background(), deviceauth.TrackRequest{UserID: user, Action: action, Details: details, VerificationCode: code})
	if err != nil {
		e.t.Fatalf("Track: %v", err)
	}
	if res.State != deviceauth.StateChallengeRequired || res.ChallengeID == "" || res.Token == "" {
		e.t.Fatalf("Track = %+v, want a challenge", res)
	}
	return res
}

func (e *env) validate(token, user, action string, details deviceauth.Details) deviceauth.Validation {
	e.t.Helper()
	v, err := e.svc.Validate(context.Background(), deviceauth.ValidateRequest{Token: token, UserID: user, Action: action, Details: details})
	if err != nil {
		e.t.Fatalf("Validate: %v", err)
	}
	return v
}

// apiCode returns the error code of a device client error ("" for nil).
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var e *device.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "not an API error: " + err.Error()
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type eventLog struct {
	mu     sync.Mutex
	events []event.Event
}

func (l *eventLog) add(_ context.Context, e event.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(t event.Type) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Type == t {
			n++
		}
	}
	return n
}

func (l *eventLog) all() []event.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]event.Event(nil), l.events...)
}
