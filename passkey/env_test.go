package passkey_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/passkey"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// testOrigin is the origin the tests' passkeys are made at. The test
// server listens elsewhere: requests from a Go client carry no Origin, so
// cross-origin protection lets them through, and WebAuthn only sees what
// clientDataJSON says.
const testOrigin = "http://localhost:8080"

// sessionCookie is the tests' stand-in for an application session: its
// value is the signed-in user.
const sessionCookie = "test-session"

// env is a Service with Passkeys, served over HTTP as an application
// would mount them.
type env struct {
	t      testing.TB
	svc    *deviceauth.Service
	pk     *passkey.Passkeys
	srv    *httptest.Server
	clock  *clock
	events *events
	auth   *softAuthenticator
	// signIns counts Config.SignIn calls.
	signIns atomic.Int64
	// store is the Service's, to remove a credential as the web would
	// after a step-up.
	store *memstore.Store
}

func newEnv(t testing.TB, edit ...func(*passkey.Config)) *env {
	t.Helper()
	cfg := passkey.Config{RPID: "localhost", Origins: []string{testOrigin}, DisplayName: "deviceauth tests",
		Key: bytes.Repeat([]byte{7}, 32)}
	for _, f := range edit {
		f(&cfg)
	}
	pk, err := passkey.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, pk: pk, clock: &clock{now: time.Now()}, events: &events{}, auth: &softAuthenticator{Origin: testOrigin}}
	st := memstore.New()
	e.store = st
	users := deviceauth.UserResolverFunc(func(r *http.Request) (string, error) {
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			return "", nil
		}
		return c.Value, nil
	})
	signIn := func(w http.ResponseWriter, r *http.Request, userID string) error {
		e.signIns.Add(1)
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: userID, Path: "/", HttpOnly: true})
		return nil
	}
	e.svc, err = deviceauth.New(deviceauth.Config{
		// The Service's cookies are Secure when its public URL is https.
		Store: st, Keys: [][]byte{bytes.Repeat([]byte{9}, 32)}, PublicURL: cfg.Origins[0] + "/deviceauth",
		Users: users, Passkeys: pk, SignIn: signIn, Logger: slog.New(slog.DiscardHandler),
		OnEvent: e.events.record, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", e.svc.Handler()))
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.srv.Close()
		e.svc.Close(context.Background())
		st.Close()
	})
	return e
}

// clock is the Service's clock; tests move it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// events records the Service's events.
type events struct {
	mu   sync.Mutex
	list []event.Event
}

func (ev *events) record(_ context.Context, e event.Event) {
	ev.mu.Lock()
	ev.list = append(ev.list, e)
	ev.mu.Unlock()
}

func (ev *events) count(typ event.Type) int {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	n := 0
	for _, e := range ev.list {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// browser is a cookie-keeping HTTP client, like a browser's fetch.
type browser struct {
	t      testing.TB
	e      *env
	client *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{t: e.t, e: e, client: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// signInAs sets the session cookie, as the application's own sign-in
// would.
func (b *browser) signInAs(user string) *browser {
	req, _ := http.NewRequest("GET", b.e.srv.URL+"/", nil)
	b.client.Jar.SetCookies(req.URL, []*http.Cookie{{Name: sessionCookie, Value: user, Path: "/"}})
	return b
}

// user is the signed-in user by the session cookie, "" when none.
func (b *browser) user() string {
	req, _ := http.NewRequest("GET", b.e.srv.URL+"/", nil)
	for _, c := range b.client.Jar.Cookies(req.URL) {
		if c.Name == sessionCookie {
			return c.Value
		}
	}
	return ""
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// code is the "error" member of an error answer.
func (a answer) code() string {
	var b struct {
		Error string `json:"error"`
	}
	json.Unmarshal(a.body, &b)
	return b.Error
}

func (a answer) String() string { return http.StatusText(a.status) + " " + string(a.body) }

// post sends body (bytes as they are; anything else as JSON) to path
// under the server, with header pairs.
func (b *browser) post(path string, body any, header ...string) answer {
	b.t.Helper()
	raw, ok := body.([]byte)
	if !ok && body != nil {
		raw = mustJSON(b.t, body)
	}
	req, err := http.NewRequest("POST", b.e.srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) answer {
	b.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: body}
}

// Paths of the endpoints, as the application mounts them.
const (
	registrationOptionsPath = "/deviceauth/v1/passkey/registration/options"
	registrationPath        = "/deviceauth/v1/passkey/registration"
	loginOptionsPath        = "/deviceauth/v1/passkey/login/options"
	loginPath               = "/deviceauth/v1/passkey/login"
)

func stepUpOptionsPath(id string) string {
	return "/deviceauth/v1/web/challenges/" + id + "/passkey/options"
}
func stepUpPath(id string) string { return "/deviceauth/v1/web/challenges/" + id + "/passkey" }

// register adds a passkey made by a for the browser's signed-in user.
func (b *browser) register(a *softAuthenticator, name string, header ...string) (*softCredential, deviceauth.Credential) {
	b.t.Helper()
	opts := b.post(registrationOptionsPath, map[string]string{"name": name}, header...)
	if opts.status != http.StatusOK {
		b.t.Fatalf("registration options: %v", opts)
	}
	resp, cred := a.Create(b.t, opts.body)
	fin := b.post(registrationPath, resp)
	if fin.status != http.StatusCreated {
		b.t.Fatalf("registration: %v", fin)
	}
	var c deviceauth.Credential
	if err := json.Unmarshal(fin.body, &c); err != nil {
		b.t.Fatal(err)
	}
	return cred, c
}

// loginOptions begins a sign-in (username "" for a discoverable one).
func (b *browser) loginOptions(username string) answer {
	b.t.Helper()
	body := map[string]string{}
	if username != "" {
		body["username"] = username
	}
	opts := b.post(loginOptionsPath, body)
	if opts.status != http.StatusOK {
		b.t.Fatalf("login options: %v", opts)
	}
	return opts
}

// login signs in with c and returns the answer of the finish.
func (b *browser) login(a *softAuthenticator, c *softCredential, change ...func(*signing)) answer {
	b.t.Helper()
	opts := b.loginOptions("")
	return b.post(loginPath, a.Get(b.t, c, opts.body, change...))
}

// ceremonyCookie returns the "name=value" of the ceremony cookie an
// answer set.
func ceremonyCookie(t *testing.T, a answer, name string) string {
	t.Helper()
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == name && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no %s cookie in %v", name, a.header)
	return ""
}
