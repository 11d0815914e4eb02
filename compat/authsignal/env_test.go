package authsignal_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/compat/authsignal"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/seam"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// The test harness: a Service over memstore with an injected clock, its
// own Handler at /deviceauth and the adapter at /as (SDK base URL
// <server>/as/v1), and a phone that speaks the mobile SDKs' protocol as
// their iOS or Android source does.

const (
	tenantID  = "tenant-123"
	secretKey = "sk_test_0123456789abcdef"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type env struct {
	t     testing.TB
	clock *clock
	svc   *deviceauth.Service
	srv   *httptest.Server
	mux   *http.ServeMux
}

// newEnv starts a Service and an adapter configured by cfg (its Service,
// TenantID and SecretKeys are filled in); opts change the Service's
// Config.
func newEnv(t testing.TB, cfg authsignal.Config, opts ...func(*deviceauth.Config)) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Unix(1767225600, 0)}, mux: http.NewServeMux()}
	e.srv = httptest.NewServer(e.mux)
	t.Cleanup(e.srv.Close)
	dc := deviceauth.Config{Store: memstore.New(), Keys: [][]byte{bytes.Repeat([]byte{7}, 32)},
		PublicURL: e.srv.URL + "/deviceauth", Now: e.clock.Now, SweepInterval: -1, PollInterval: -1,
		Logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&dc)
	}
	svc, err := deviceauth.New(dc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	e.svc = svc
	e.mux.Handle("/deviceauth/", http.StripPrefix("/deviceauth", svc.Handler()))
	e.mount("/as", cfg)
	return e
}

// mount serves another adapter over the same Service at prefix.
func (e *env) mount(prefix string, cfg authsignal.Config) {
	cfg.Service, cfg.TenantID, cfg.SecretKeys = e.svc, tenantID, []string{secretKey}
	h, err := authsignal.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
}

// reply is an answer: its status and JSON body.
type reply struct {
	Status int
	Body   map[string]any
	Raw    []byte
}

func (r reply) str(k string) string { s, _ := r.Body[k].(string); return s }
func (r reply) bool(k string) bool  { b, _ := r.Body[k].(bool); return b }

// do sends a request with the given Authorization header and headers.
func (e *env) do(method, path, auth string, body any, hdr ...string) reply {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := reply{Status: res.StatusCode, Raw: raw}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// server calls the server API with the secret key, as the Node SDK does.
func (e *env) server(method, path string, body any) reply {
	e.t.Helper()
	return e.do(method, "/as/v1"+path, "Basic "+base64.StdEncoding.EncodeToString([]byte(secretKey+":")), body)
}

// track tracks action for user through the server API and returns its
// answer.
func (e *env) track(user, action string, body map[string]any) reply {
	e.t.Helper()
	if body == nil {
		body = map[string]any{}
	}
	r := e.server("POST", "/users/"+user+"/actions/"+action, body)
	if r.Status != 200 {
		e.t.Fatalf("track %s %s: %d %s", user, action, r.Status, r.Raw)
	}
	return r
}

// browserBasic is the browser SDK's Basic header: base64 of the
// URI-encoded tenant ID, with no colon.
func browserBasic() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(tenantID))
}

// phone is a mobile SDK: one P-256 key, encoded as iOS or Android does.
type phone struct {
	e        *env
	platform string // "ios" or "android"
	key      *ecdsa.PrivateKey
	ns       string
}

func (e *env) phone(platform, ns string) *phone {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	return &phone{e: e, platform: platform, key: k, ns: ns}
}

// basic is the SDK's tenant header: iOS sends unpadded base64url of
// "<tenant>:", Android padded standard base64 (BaseAPIClient.swift,
// BaseAPI.kt).
func (p *phone) basic() string {
	if p.platform == "ios" {
		return "Basic " + base64.RawURLEncoding.EncodeToString([]byte(tenantID+":"))
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(tenantID+":"))
}

// publicKey is the key as the SDKs send it in bodies: standard base64 of
// its SPKI DER.
func (p *phone) publicKey() string {
	der, err := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
	if err != nil {
		p.e.t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// query is the publicKey query: iOS base64url (unpadded) of the body
// form's text, Android padded standard base64 of it, unescaped.
func (p *phone) query() string {
	if p.platform == "ios" {
		return "publicKey=" + base64.RawURLEncoding.EncodeToString([]byte(p.publicKey()))
	}
	return "publicKey=" + base64.StdEncoding.EncodeToString([]byte(p.publicKey()))
}

// sign is the SDKs' signature: ECDSA P-256 SHA-256 over the UTF-8 of s,
// DER, standard base64.
func (p *phone) sign(s string) string {
	h := sha256.Sum256([]byte(s))
	sig, err := ecdsa.SignASN1(rand.Reader, p.key, h[:])
	if err != nil {
		p.e.t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// window is the removal signature's text at t: floor(unix/600) printed as
// a Double is, "2945376.0".
func window(t time.Time) string { return strconv.FormatInt(t.Unix()/600, 10) + ".0" }

func (p *phone) path(rest string) string { return "/as/v1/client/user-authenticators/" + rest }

// add adds the phone's key with a track's client token.
func (p *phone) add(token string) reply {
	return p.e.do("POST", p.path(p.ns), "Bearer "+token, map[string]any{
		"publicKey": p.publicKey(), "deviceName": "Phone of test", "devicePlatform": p.platform})
}

// mustAdd adds the phone's key and returns its credential ID.
func (p *phone) mustAdd(token string) string {
	p.e.t.Helper()
	r := p.add(token)
	if r.Status != 200 || r.str("userAuthenticatorId") == "" {
		p.e.t.Fatalf("addCredential: %d %s", r.Status, r.Raw)
	}
	return r.str("userAuthenticatorId")
}

// enrol tracks an action for user and adds the phone as its first device.
func (p *phone) enrol(user string) string {
	p.e.t.Helper()
	return p.mustAdd(p.e.track(user, "enrol", nil).str("token"))
}

// fetch fetches the pending push challenge, signed as SDKs from iOS 2.9.0
// and Android 3.10.0 do.
func (p *phone) fetch() reply {
	p.e.t.Helper()
	m := p.e.do("POST", p.path("push/challenge/sign?"+p.query()), p.basic(), nil)
	if m.Status != 200 || m.str("message") == "" {
		p.e.t.Fatalf("push/challenge/sign: %d %s", m.Status, m.Raw)
	}
	return p.e.do("GET", p.path("push/challenge?"+p.query()), p.basic(), nil, "X-Authsignal-Signature", p.sign(m.str("message")))
}

// update approves or denies a challenge in namespace ns (push or qr-code).
func (p *phone) update(ns, challengeID string, approved bool) reply {
	return p.e.do("POST", p.path(ns+"/challenge"), p.basic(), map[string]any{
		"challengeId": challengeID, "publicKey": p.publicKey(), "approved": approved, "signature": p.sign(challengeID)})
}

// claim claims a QR challenge.
func (p *phone) claim(challengeID string) reply {
	return p.e.do("POST", p.path("qr-code/challenge/claim"), p.basic(), map[string]any{
		"challengeId": challengeID, "publicKey": p.publicKey(), "signature": p.sign(challengeID)})
}

// nativeDevice registers a native deviceauth device for user (its first
// credential) and returns its client.
func (e *env) nativeDevice(user string) *device.Client {
	e.t.Helper()
	g, err := e.svc.MintRegistrationToken(context.Background(), user, "")
	if err != nil {
		e.t.Fatal(err)
	}
	k, _ := device.NewP256Key()
	d, err := device.New(e.srv.URL+"/deviceauth", k)
	if err != nil {
		e.t.Fatal(err)
	}
	d.Now = e.clock.Now
	if _, err := d.Register(context.Background(), g.Token, "native phone", "test"); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// checkErrorShape fails unless r is an error in the SDKs' shape with
// status and code.
func checkErrorShape(t testing.TB, what string, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || r.str("error") != code || r.str("errorCode") != code || r.str("errorDescription") == "" {
		t.Fatalf("%s = %d %s; want %d with error and errorCode %q and a description", what, r.Status, r.Raw, status, code)
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func decodeStd(s string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

// seamToken is the challenge token of challenge id.
func seamToken(e *env, id string) string { return seam.Compat.Token(e.svc, id) }
