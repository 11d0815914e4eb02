package gorillasession_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/sessions"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/adapters/gorillasession"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/store/memstore"
)

var (
	hashKey  = bytes.Repeat([]byte{1}, 32)
	otherKey = bytes.Repeat([]byte{2}, 32)
)

// signedInCookie returns the session cookie of user, made by a store with key.
func signedInCookie(t *testing.T, key []byte, user string) *http.Cookie {
	t.Helper()
	r := gorillasession.New(sessions.NewCookieStore(key), "app")
	rec := httptest.NewRecorder()
	if err := r.SignIn(rec, httptest.NewRequest("GET", "/", nil), user); err != nil {
		t.Fatal(err)
	}
	cs := rec.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("SignIn set %d cookies, want 1", len(cs))
	}
	return cs[0]
}

func TestResolveUser(t *testing.T) {
	r := gorillasession.New(sessions.NewCookieStore(hashKey), "app")
	cases := []struct {
		name   string
		cookie *http.Cookie
		want   string
	}{
		{"signed in", signedInCookie(t, hashKey, "alice"), "alice"},
		{"no cookie", nil, ""},
		{"cookie signed with another key", signedInCookie(t, otherKey, "alice"), ""},
		{"stale garbage cookie", &http.Cookie{Name: "app", Value: "MTYzMDAwMDAwMHxnYXJiYWdlfGJhZG1hYw=="}, ""},
		{"not base64", &http.Cookie{Name: "app", Value: "%%%"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			if c.cookie != nil {
				req.AddCookie(c.cookie)
			}
			got, err := r.ResolveUser(req)
			if err != nil || got != c.want {
				t.Fatalf("ResolveUser = %q, %v; want %q, nil", got, err, c.want)
			}
		})
	}
}

func TestSignOut(t *testing.T) {
	r := gorillasession.New(sessions.NewCookieStore(hashKey), "app")
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(signedInCookie(t, hashKey, "alice"))
	rec := httptest.NewRecorder()
	if err := r.SignOut(rec, req); err != nil {
		t.Fatal(err)
	}
	c := rec.Result().Cookies()
	if len(c) != 1 || c[0].MaxAge >= 0 {
		t.Fatalf("SignOut cookies %+v, want one expiring cookie", c)
	}
}

// stepUpEnv is a Service whose /pay route is gated with step-up memory.
type stepUpEnv struct {
	svc   *deviceauth.Service
	srv   *httptest.Server
	now   time.Time
	phone *device.Client
	ran   int
}

func newStepUpEnv(t *testing.T) *stepUpEnv {
	e := &stepUpEnv{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	users := gorillasession.New(sessions.NewCookieStore(hashKey), "app")
	mux := http.NewServeMux()
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	svc, err := deviceauth.New(deviceauth.Config{Store: memstore.New(), Keys: [][]byte{hashKey}, PublicURL: e.srv.URL + "/da",
		Users: users, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	mux.Handle("/da/", http.StripPrefix("/da", svc.Handler()))
	amount := deviceauth.WithDetails(func(r *http.Request, _ []byte) (deviceauth.Details, error) {
		return deviceauth.Details{Message: "Pay " + r.URL.Query().Get("amount")}, nil
	})
	mux.Handle("/pay", svc.Require("pay", amount, deviceauth.WithStepUpMemory(users.StepUpMemory(5*time.Minute)))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.ran++
			v, _ := deviceauth.FromContext(r.Context())
			if v.Remembered {
				w.Header().Set("X-Remembered", "yes")
			}
		})))
	g, err := svc.MintRegistrationToken(context.Background(), "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := device.NewP256Key()
	e.phone, _ = device.New(e.srv.URL+"/da", key)
	e.phone.Now = func() time.Time { return e.now }
	if _, err := e.phone.Register(context.Background(), g.Token, "phone", "ios"); err != nil {
		t.Fatal(err)
	}
	return e
}

// pay sends /pay?amount=… with the cookie and token; it returns the
// response and any new session cookie.
func (e *stepUpEnv) pay(t *testing.T, amount string, cookie *http.Cookie, token string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", e.srv.URL+"/pay?amount="+amount, nil)
	req.AddCookie(cookie)
	if token != "" {
		req.Header.Set(deviceauth.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// approvePay passes /pay once with a token and returns the session cookie
// that now remembers it.
func (e *stepUpEnv) approvePay(t *testing.T, amount string, cookie *http.Cookie) *http.Cookie {
	t.Helper()
	ctx := context.Background()
	// With number matching, as the gated route asks for by default.
	res, err := e.svc.Track(ctx, deviceauth.TrackRequest{UserID: "alice", Action: "pay", Details: deviceauth.Details{Message: "Pay " + amount},
		VerificationCode: true})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := e.phone.Challenge(ctx, res.ChallengeID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.phone.Approve(ctx, ch, res.VerificationCode); err != nil {
		t.Fatal(err)
	}
	resp := e.pay(t, amount, cookie, res.Token)
	if resp.StatusCode != 200 {
		t.Fatalf("pay with a token: %d", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "app" {
			return c
		}
	}
	t.Fatal("the step-up was not remembered in the session")
	return nil
}

func TestStepUpMemory(t *testing.T) {
	t.Run("hit", func(t *testing.T) {
		e := newStepUpEnv(t)
		cookie := e.approvePay(t, "10", signedInCookie(t, hashKey, "alice"))
		resp := e.pay(t, "10", cookie, "")
		if resp.StatusCode != 200 || resp.Header.Get("X-Remembered") != "yes" || e.ran != 2 {
			t.Fatalf("remembered pay: %d remembered=%q ran=%d", resp.StatusCode, resp.Header.Get("X-Remembered"), e.ran)
		}
	})
	t.Run("other details miss", func(t *testing.T) {
		e := newStepUpEnv(t)
		cookie := e.approvePay(t, "10", signedInCookie(t, hashKey, "alice"))
		if resp := e.pay(t, "9999", cookie, ""); resp.StatusCode != 401 || e.ran != 1 {
			t.Fatalf("pay of another amount: %d, ran %d; want 401 challenge_required", resp.StatusCode, e.ran)
		}
	})
	t.Run("after the window miss", func(t *testing.T) {
		e := newStepUpEnv(t)
		cookie := e.approvePay(t, "10", signedInCookie(t, hashKey, "alice"))
		e.now = e.now.Add(5*time.Minute + time.Second)
		if resp := e.pay(t, "10", cookie, ""); resp.StatusCode != 401 {
			t.Fatalf("pay after the window: %d, want 401", resp.StatusCode)
		}
	})
	t.Run("credential removed miss", func(t *testing.T) {
		e := newStepUpEnv(t)
		cookie := e.approvePay(t, "10", signedInCookie(t, hashKey, "alice"))
		if err := e.phone.Remove(context.Background()); err != nil {
			t.Fatal(err)
		}
		if resp := e.pay(t, "10", cookie, ""); resp.StatusCode != 403 || e.ran != 1 {
			t.Fatalf("pay after removal: %d, ran %d; want 403 enrollment_required", resp.StatusCode, e.ran)
		}
	})
	t.Run("another user's session miss", func(t *testing.T) {
		e := newStepUpEnv(t)
		e.approvePay(t, "10", signedInCookie(t, hashKey, "alice"))
		if resp := e.pay(t, "10", signedInCookie(t, hashKey, "alice"), ""); resp.StatusCode != 401 {
			t.Fatalf("a fresh session of the same user: %d, want 401", resp.StatusCode)
		}
	})
}
