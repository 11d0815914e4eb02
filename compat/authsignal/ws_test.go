package authsignal_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/compat/authsignal"
)

// socket is the browser SDK's QR WebSocket, spoken as its WebSocketClient
// does (docs/compat-authsignal.md#qr-over-websocket).
type socket struct {
	t   *testing.T
	c   *websocket.Conn
	ctx context.Context
}

// dialSocket opens the socket at the SDK's rewrite of the base URL
// <server>/as/v1, offering authsignal-ws and creds, with extra headers.
func (e *env) dialSocket(t *testing.T, creds string, hdr http.Header) (*socket, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	protos := []string{"authsignal-ws"}
	if creds != "" {
		protos = append(protos, creds)
	}
	c, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/as/ws-v1-challenge",
		&websocket.DialOptions{Subprotocols: protos, HTTPHeader: hdr})
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &socket{t: t, c: c, ctx: ctx}, res, nil
}

func (e *env) mustDial(t *testing.T) *socket {
	t.Helper()
	s, _, err := e.dialSocket(t, "x.authsignal.tenant."+tenantID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// send writes a text message.
func (s *socket) send(msg string) {
	s.t.Helper()
	if err := s.c.Write(s.ctx, websocket.MessageText, []byte(msg)); err != nil {
		s.t.Fatal(err)
	}
}

// next reads the next message: its type and data.
func (s *socket) next() (string, map[string]any) {
	s.t.Helper()
	_, b, err := s.c.Read(s.ctx)
	if err != nil {
		s.t.Fatalf("reading the socket: %v", err)
	}
	var m struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("message %s: %v", b, err)
	}
	return m.Type, m.Data
}

// create sends CREATE_CHALLENGE for action and returns CHALLENGE_CREATED's
// challenge ID.
func (s *socket) create(action string) string {
	s.t.Helper()
	s.send(`{"type":"CREATE_CHALLENGE","data":{"challengeType":"QR_CODE","actionCode":"` + action + `","custom":{"page":"login"}}}`)
	typ, d := s.next()
	id, _ := d["challengeId"].(string)
	if typ != "CHALLENGE_CREATED" || id == "" || d["challengeType"] != "QR_CODE" || d["state"] != "unclaimed" || d["expiresAt"] == nil {
		s.t.Fatalf("after CREATE_CHALLENGE: %s %v", typ, d)
	}
	return id
}

// change reads a STATE_CHANGE and checks its challenge and state; it
// returns the access token.
func (s *socket) change(id, state string) string {
	s.t.Helper()
	typ, d := s.next()
	tok, _ := d["accessToken"].(string)
	if typ != "STATE_CHANGE" || d["challengeId"] != id || d["state"] != state || (tok != "") != (state == "approved") {
		s.t.Fatalf("got %s %v; want STATE_CHANGE %s for %s", typ, d, state, id)
	}
	return tok
}

// closed reads until the socket closes and returns its close status and
// reason.
func (s *socket) closed() (websocket.StatusCode, string) {
	s.t.Helper()
	for {
		_, _, err := s.c.Read(s.ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			s.t.Fatalf("the socket ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// TestSocket_ClaimApproveValidatesOnce: CREATE_CHALLENGE gives a QR
// challenge a phone claims and approves; the socket hears claimed, then
// approved with the token, which the backend validates once for the
// phone's user. A refresh's second CREATE_CHALLENGE replaces the first:
// the first's changes are no longer sent.
func TestSocket_ClaimApproveValidatesOnce(t *testing.T) {
	e := newEnv(t, authsignal.Config{WeakActions: []string{"signIn"}})
	p := e.phone("android", "qr-code")
	p.enrol("alice")
	s := e.mustDial(t)
	if s.c.Subprotocol() != "authsignal-ws" {
		t.Fatalf("subprotocol %q", s.c.Subprotocol())
	}
	stale := s.create("signIn")
	id := s.create("signIn") // the SDK's refresh
	if c := p.claim(stale); c.Status != 200 {
		t.Fatalf("claim of the replaced challenge = %d %s", c.Status, c.Raw)
	}
	if c := p.claim(id); c.Status != 200 {
		t.Fatalf("claim = %d %s", c.Status, c.Raw)
	}
	s.change(id, "claimed") // not the stale one's
	if u := p.update("qr-code", id, true); u.Status != 200 {
		t.Fatalf("approve = %d %s", u.Status, u.Raw)
	}
	tok := s.change(id, "approved")
	if !strings.HasPrefix(tok, "dat_") {
		t.Fatalf("token %q", tok)
	}
	if r := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); !r.bool("isValid") || r.str("action") != "signIn" {
		t.Fatalf("validate = %s", r.Raw)
	}
	if r := e.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); r.bool("isValid") {
		t.Fatal("validated twice")
	}
	// The socket is the binding: the REST poll, without the device code
	// the socket never hands out, learns nothing.
	checkErrorShape(t, "a REST poll of the socket's challenge", e.do("POST", "/as/v1/client/verify/qr-code", browserBasic(),
		map[string]any{"challengeId": id, "deviceCode": strings.Repeat("A", 43)}), 404, "not_found")
	// The same socket serves the next sign-in.
	next := s.create("signIn")
	if next == id || next == stale {
		t.Fatal("the same challenge twice")
	}
}

// TestSocket_Rejected: a denial, and a claim the rules block, are
// "rejected" (the SDK's final state); no token is sent.
func TestSocket_Rejected(t *testing.T) {
	e := newEnv(t, authsignal.Config{WeakActions: []string{"signIn"}}, func(c *deviceauth.Config) {
		c.Rules = deviceauth.PolicyFunc(func(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
			if in.UserID == "mallory" && in.Action == "signIn" {
				return deviceauth.Decision{State: deviceauth.StateBlock}, nil
			}
			return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
		})
	})
	alice, mallory := e.phone("ios", "qr-code"), e.phone("ios", "qr-code")
	alice.enrol("alice")
	mallory.enrol("mallory")
	s := e.mustDial(t)

	id := s.create("signIn")
	alice.claim(id)
	s.change(id, "claimed")
	if u := alice.update("qr-code", id, false); u.Status != 200 {
		t.Fatalf("deny = %d %s", u.Status, u.Raw)
	}
	s.change(id, "rejected")

	id = s.create("signIn")
	checkErrorShape(t, "a blocked claim", mallory.claim(id), 409, "challenge_closed")
	s.change(id, "rejected")
}

// TestSocket_Refusals: the socket opens only with the tenant ID or a valid
// client token, from the server's own origin, with authsignal-ws; a
// message that is not a QR CREATE_CHALLENGE for an allowed action, or is
// too large, closes it with its reason; the Service closing closes it.
func TestSocket_Refusals(t *testing.T) {
	e := newEnv(t, authsignal.Config{MaxBodyBytes: 1 << 10}, func(c *deviceauth.Config) { c.QRActions = []string{"signIn"} })
	refused := func(what, creds string, hdr http.Header, status int, code string) {
		t.Helper()
		_, res, err := e.dialSocket(t, creds, hdr)
		if err == nil || res == nil || res.StatusCode != status {
			t.Fatalf("%s: %v %v; want %d", what, res, err, status)
		}
		if code != "" {
			b, _ := io.ReadAll(res.Body)
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if m["error"] != code || m["errorCode"] != code {
				t.Fatalf("%s: body %s; want error %s", what, b, code)
			}
		}
	}
	refused("no credentials", "", nil, 401, "unauthorized")
	refused("another tenant", "x.authsignal.tenant.tenant-456", nil, 401, "unauthorized")
	refused("a token that is not one", "x.authsignal.token.asct_AAAA", nil, 401, "unauthorized")
	tok := e.track("alice", "signIn", nil).str("token")
	e.clock.Add(11 * time.Minute)
	refused("an expired client token", "x.authsignal.token."+tok, nil, 401, "expired_token")
	refused("a page of another origin", "x.authsignal.tenant."+tenantID, http.Header{"Origin": {"https://evil.example"}}, 403, "")

	tok = e.track("alice", "signIn", nil).str("token")
	s, _, err := e.dialSocket(t, "x.authsignal.token."+tok, http.Header{"Origin": {e.srv.URL}})
	if err != nil {
		t.Fatalf("with a client token from the page's own origin: %v", err)
	}
	s.create("signIn")

	for _, tc := range []struct{ what, msg, reason string }{
		{"another type", `{"type":"SUBSCRIBE","data":{}}`, "invalid_request: type must be CREATE_CHALLENGE"},
		{"another challenge type", `{"type":"CREATE_CHALLENGE","data":{"challengeType":"PUSH","actionCode":"signIn"}}`, "invalid_request: challengeType must be QR_CODE"},
		{"an action off the list", `{"type":"CREATE_CHALLENGE","data":{"challengeType":"QR_CODE","actionCode":"transfer"}}`, "invalid_request: action must be one the application allows"},
		{"an unknown member", `{"type":"CREATE_CHALLENGE","data":{"challengeType":"QR_CODE","actionCode":"signIn","extra":1}}`, "invalid_request: "},
		{"not JSON", `CREATE_CHALLENGE`, "invalid_request: "},
	} {
		s := e.mustDial(t)
		s.send(tc.msg)
		if code, reason := s.closed(); code != websocket.StatusPolicyViolation || !strings.HasPrefix(reason, tc.reason) {
			t.Fatalf("%s: closed %v %q; want 1008 %q…", tc.what, code, reason, tc.reason)
		}
	}
	big := e.mustDial(t)
	big.send(`{"type":"CREATE_CHALLENGE","data":{"challengeType":"QR_CODE","actionCode":"signIn","custom":"` + strings.Repeat("x", 2<<10) + `"}}`)
	if code, _ := big.closed(); code != websocket.StatusMessageTooBig {
		t.Fatalf("a message over MaxBodyBytes: closed %v; want 1009", code)
	}
	noProto := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/as/ws-v1-challenge",
			&websocket.DialOptions{Subprotocols: []string{"x.authsignal.tenant." + tenantID}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		s := &socket{t: t, c: c, ctx: ctx}
		if code, reason := s.closed(); code != websocket.StatusPolicyViolation || !strings.Contains(reason, "authsignal-ws") {
			t.Fatalf("without authsignal-ws: closed %v %q", code, reason)
		}
	}
	noProto()

	open := e.mustDial(t)
	id := open.create("signIn")
	if err := e.svc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, _ := open.closed(); code != websocket.StatusGoingAway {
		t.Fatalf("after the Service closed: %v; want 1001 (challenge %s)", code, id)
	}
}

// TestNew_BaseURL: a base URL is refused when the browser SDK's rewrite
// of it for the QR socket would leave the adapter's mount.
func TestNew_BaseURL(t *testing.T) {
	e := newEnv(t, authsignal.Config{})
	for base, ok := range map[string]bool{
		"https://app.example.com/as/v1":   true,
		"http://127.0.0.1:8080/v1":        true,
		"https://shop.com/auth/v1":        true,
		"https://api.shop.com/as/v1":      false, // wss://api-ws.shop.com…
		"https://shop.com/apiv1/as/v1":    false,
		"https://sv1.example.com/as/v1":   false,
		"https://shop.com/api/as/v1":      false,
		"https://app.example.com/as":      false,
		"ftp://app.example.com/as/v1":     false,
		"https://app.example.com/v1?x=1":  false,
		"https://u@app.example.com/as/v1": false,
	} {
		_, err := authsignal.New(authsignal.Config{Service: e.svc, TenantID: tenantID, SecretKeys: []string{secretKey}, BaseURL: base})
		if (err == nil) != ok {
			t.Errorf("BaseURL %s: %v; want ok=%v", base, err, ok)
		} else if err != nil && !strings.HasPrefix(err.Error(), "authsignal: Config.BaseURL ") {
			t.Errorf("BaseURL %s: error %q does not name the field", base, err)
		}
	}
}
