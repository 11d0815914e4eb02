package roottest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/qrcode"
)

// qrEnv records the users that the QR completion signed in.
type qrEnv struct {
	*env
	mu       sync.Mutex
	signedIn []string
}

func newQREnv(t *testing.T, opts ...envOption) *qrEnv {
	q := &qrEnv{}
	q.env = newEnv(t, append([]envOption{func(c *deviceauth.Config) {
		c.SignIn = func(w http.ResponseWriter, r *http.Request, user string) error {
			q.mu.Lock()
			q.signedIn = append(q.signedIn, user)
			q.mu.Unlock()
			http.SetCookie(w, &http.Cookie{Name: "app", Value: "session-of-" + user})
			return nil
		}
	}}, opts...)...)
	return q
}

func (q *qrEnv) signIns() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.signedIn...)
}

// browser is an HTTP client with its own cookie jar, as one browser tab.
func (q *qrEnv) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func (q *qrEnv) call(t *testing.T, c *http.Client, method, path, body string, out any) (int, deviceauth.DenialBody) {
	t.Helper()
	req, _ := http.NewRequest(method, q.srv.URL+"/deviceauth"+path, strings.NewReader(body))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb deviceauth.DenialBody
	if resp.StatusCode >= 300 {
		json.NewDecoder(resp.Body).Decode(&eb)
	} else if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, eb
}

func (q *qrEnv) createQR(t *testing.T, c *http.Client, body string) deviceauth.QRChallenge {
	t.Helper()
	var qc deviceauth.QRChallenge
	if st, eb := q.call(t, c, "POST", "/v1/qr", body, &qc); st != 201 {
		t.Fatalf("create QR: %d %+v", st, eb)
	}
	return qc
}

func TestQR_SignInFlow(t *testing.T) {
	q := newQREnv(t)
	ctx := context.Background()
	phone := q.enrol("alice", "ES256")
	browser := q.browser()

	req, _ := http.NewRequest("POST", q.srv.URL+"/deviceauth/v1/qr", strings.NewReader(`{}`))
	req.Header.Set("User-Agent", "Firefox/140")
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var qc deviceauth.QRChallenge
	json.NewDecoder(resp.Body).Decode(&qc)
	resp.Body.Close()
	if cs := resp.Cookies(); resp.StatusCode != 201 || len(cs) != 1 || cs[0].Name != "deviceauth_qr_"+qc.ChallengeID || !validBinding(cs[0].Value) {
		t.Fatalf("create: %d, cookies %+v", resp.StatusCode, cs)
	}
	if qc.State != "UNCLAIMED" || len(qc.VerificationCode) != 2 || !strings.HasPrefix(qc.Payload, q.srv.URL+"/deviceauth/v1/qr/claim#") {
		t.Fatalf("QR challenge %+v", qc)
	}

	code, err := device.ParseQRPayload(qc.Payload)
	if err != nil || code.ChallengeID != qc.ChallengeID || code.BaseURL != q.srv.URL+"/deviceauth" {
		t.Fatalf("ParseQRPayload = %+v, %v", code, err)
	}
	ch, err := phone.Claim(ctx, code)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if ch.State != "PENDING" || ch.Action != "signIn" || ch.UserAgent != "Firefox/140" || ch.ClientIP != "127.0.0.1" || !ch.VerificationCodeRequired {
		t.Fatalf("claimed challenge %+v", ch)
	}
	// Completing before approval fails and signs nobody in.
	if st, eb := q.call(t, browser, "POST", "/v1/qr/"+qc.ChallengeID+"/complete", "", nil); st != 403 || eb.Error != "challenge_failed" {
		t.Fatalf("complete before approval: %d %+v", st, eb)
	}
	if _, err := phone.Approve(ctx, ch, qc.VerificationCode); err != nil {
		t.Fatal(err)
	}
	// Reading the state never signs in.
	var st deviceauth.QRStatus
	if code, _ := q.call(t, browser, "GET", "/v1/qr/"+qc.ChallengeID, "", &st); code != 200 || st.State != "APPROVED" {
		t.Fatalf("status: %d %+v", code, st)
	}
	if got := q.signIns(); len(got) != 0 {
		t.Fatalf("signed in by a GET: %v", got)
	}
	// Another browser, without the binding cookie, cannot complete.
	if st, eb := q.call(t, q.browser(), "POST", "/v1/qr/"+qc.ChallengeID+"/complete", "", nil); st != 403 || eb.Error != "challenge_failed" {
		t.Fatalf("complete without the binding cookie: %d %+v", st, eb)
	}
	if st, _ := q.call(t, browser, "POST", "/v1/qr/"+qc.ChallengeID+"/complete", "", nil); st != 200 {
		t.Fatalf("complete: %d", st)
	}
	if got := q.signIns(); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("signed in %v, want [alice]", got)
	}
	// The completion cleared the challenge's binding cookie.
	if cs := browser.Jar.Cookies(mustParseURL(t, q.srv.URL+"/deviceauth")); len(cs) != 0 {
		t.Fatalf("cookies after the completion: %+v", cs)
	}
	if st, _ := q.call(t, browser, "POST", "/v1/qr/"+qc.ChallengeID+"/complete", "", nil); st != 403 {
		t.Fatalf("second completion: %d", st)
	}
}

func TestQR_ClaimRules(t *testing.T) {
	q := newQREnv(t, noRateLimits)
	ctx := context.Background()
	browser := q.browser()
	var phones []*device.Client
	for _, u := range []string{"alice", "bob"} {
		phones = append(phones, q.enrol(u, "ES256"))
	}
	qc := q.createQR(t, browser, "")
	code, _ := device.ParseQRPayload(qc.Payload)

	wrong := code
	wrong.ClaimSecret = strings.Repeat("A", 43)
	if _, err := phones[0].Claim(ctx, wrong); apiCode(err) != "not_found" {
		t.Fatalf("claim with a wrong secret: %v", err)
	}
	// A claim secret without the shape of one is refused from the request
	// alone: the same answer whether the challenge exists or not.
	for _, id := range []string{code.ChallengeID, "ch_unknown"} {
		for _, secret := range []string{"x", "", strings.Repeat("A", 42), strings.Repeat("A", 43) + "=", strings.Repeat("+", 43)} {
			bad := code
			bad.ChallengeID, bad.ClaimSecret = id, secret
			if _, err := phones[0].Claim(ctx, bad); apiCode(err) != "invalid_request" {
				t.Fatalf("claim of %s with the secret %q: %v, want invalid_request", id, secret, err)
			}
		}
	}
	if _, err := phones[0].Claim(ctx, code); err != nil {
		t.Fatalf("the claim after the refused ones: %v", err)
	}
	// A second claim is closed, with the state the first one left.
	var de *device.Error
	if _, err := phones[1].Claim(ctx, code); !errors.As(err, &de) || de.Status != 409 || de.Code != "challenge_closed" || de.State != "PENDING" {
		t.Fatalf("second claim: %#v, want 409 challenge_closed with state PENDING", err)
	}
	// 64 racing claims by two users' devices: exactly one wins.
	for round := range 20 {
		qc := q.createQR(t, browser, "")
		code, _ := device.ParseQRPayload(qc.Payload)
		var won, closed atomic.Int64
		race(64, func(i int) {
			_, err := phones[i%2].Claim(ctx, code)
			switch apiCode(err) {
			case "":
				won.Add(1)
			case "challenge_closed":
				if de := (*device.Error)(nil); !errors.As(err, &de) || de.State != "PENDING" {
					t.Errorf("a lost claim: %#v, want state PENDING", err)
				}
				closed.Add(1)
			default:
				t.Errorf("claim: %v", err)
			}
		})
		if won.Load() != 1 || closed.Load() != 63 {
			t.Fatalf("round %d: %d claims won, %d closed", round, won.Load(), closed.Load())
		}
	}
}

func TestQR_RefreshReplacesTheChallenge(t *testing.T) {
	q := newQREnv(t)
	phone := q.enrol("alice", "ES256")
	browser := q.browser()
	old := q.createQR(t, browser, "")
	fresh := q.createQR(t, browser, `{"replaces":"`+old.ChallengeID+`"}`)
	var st deviceauth.QRStatus
	q.call(t, browser, "GET", "/v1/qr/"+old.ChallengeID, "", &st)
	if st.State != "SUPERSEDED" || fresh.ChallengeID == old.ChallengeID {
		t.Fatalf("old state %s", st.State)
	}
	code, _ := device.ParseQRPayload(old.Payload)
	if _, err := phone.Claim(context.Background(), code); apiCode(err) != "challenge_closed" {
		t.Fatalf("claiming a replaced code: %v", err)
	}
	// Another browser cannot retire this one's challenge.
	if st, eb := q.call(t, q.browser(), "POST", "/v1/qr", `{"replaces":"`+fresh.ChallengeID+`"}`, nil); st != 404 || eb.Error != "not_found" {
		t.Fatalf("another browser's refresh: %d %+v", st, eb)
	}
	q.call(t, browser, "GET", "/v1/qr/"+fresh.ChallengeID, "", &st)
	if st.State != "UNCLAIMED" {
		t.Fatalf("fresh state %s after another browser's refresh", st.State)
	}
}

func TestQR_LongPoll(t *testing.T) {
	t.Run("returns on approval before its deadline", func(t *testing.T) {
		q := newQREnv(t)
		phone := q.enrol("alice", "ES256")
		browser := q.browser()
		qc := q.createQR(t, browser, "")
		code, _ := device.ParseQRPayload(qc.Payload)
		ch, _ := phone.Claim(context.Background(), code)
		done := make(chan deviceauth.QRStatus, 1)
		go func() {
			var st deviceauth.QRStatus
			q.call(t, browser, "GET", "/v1/qr/"+qc.ChallengeID+"?since=PENDING&wait=25s", "", &st)
			done <- st
		}()
		waitForTimers(t, q.clock, 2) // the long-poll's deadline and its poll
		if _, err := phone.Approve(context.Background(), ch, qc.VerificationCode); err != nil {
			t.Fatal(err)
		}
		select {
		case st := <-done:
			if st.State != "APPROVED" {
				t.Fatalf("long-poll returned %+v", st)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the long-poll did not return on approval")
		}
	})
	t.Run("times out by the injected clock", func(t *testing.T) {
		q := newQREnv(t, func(c *deviceauth.Config) { c.PollInterval = -1 })
		browser := q.browser()
		qc := q.createQR(t, browser, "")
		done := make(chan deviceauth.QRStatus, 1)
		go func() {
			var st deviceauth.QRStatus
			q.call(t, browser, "GET", "/v1/qr/"+qc.ChallengeID+"?since=UNCLAIMED&wait=25s", "", &st)
			done <- st
		}()
		waitForTimers(t, q.clock, 1)
		q.clock.Advance(25*time.Second - time.Millisecond)
		select {
		case st := <-done:
			t.Fatalf("returned before the deadline: %+v", st)
		default:
		}
		q.clock.Advance(time.Millisecond)
		select {
		case st := <-done:
			if st.State != "UNCLAIMED" {
				t.Fatalf("timed-out long-poll %+v", st)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the long-poll did not time out")
		}
	})
}

// waitForTimers waits until n timers are set on the injected clock: the
// waiter is then blocked. The real-time bound only limits a failure.
func waitForTimers(t *testing.T, c *clock, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.Timers() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d timers set, want %d", c.Timers(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestQR_ServerSentEventsDeliverApproval(t *testing.T) {
	q := newQREnv(t)
	phone := q.enrol("alice", "ES256")
	browser := q.browser()
	qc := q.createQR(t, browser, "")
	req, _ := http.NewRequest("GET", q.srv.URL+"/deviceauth/v1/qr/"+qc.ChallengeID+"/events", nil)
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var st deviceauth.QRStatus
				json.Unmarshal([]byte(data), &st)
				events <- st.State
			}
		}
		close(events)
	}()
	next := func() string {
		select {
		case s := <-events:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
			return ""
		}
	}
	if s := next(); s != "UNCLAIMED" {
		t.Fatalf("first event %s", s)
	}
	code, _ := device.ParseQRPayload(qc.Payload)
	ch, err := phone.Claim(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if s := next(); s != "PENDING" {
		t.Fatalf("after the claim %s", s)
	}
	if _, err := phone.Approve(context.Background(), ch, qc.VerificationCode); err != nil {
		t.Fatal(err)
	}
	if s := next(); s != "APPROVED" {
		t.Fatalf("after approval %s", s)
	}
	if got := q.signIns(); len(got) != 0 {
		t.Fatalf("SSE signed someone in: %v", got)
	}
	// Without the binding cookie there is nothing to watch.
	if st, eb := q.call(t, q.browser(), "GET", "/v1/qr/"+qc.ChallengeID+"/events", "", nil); st != 404 || eb.Error != "not_found" {
		t.Fatalf("events for another browser: %d %+v", st, eb)
	}
}

func TestQR_CreateIsRateLimitedPerIP(t *testing.T) {
	q := newQREnv(t, func(c *deviceauth.Config) { c.RateLimits.QR = deviceauth.Rate{Limit: 2, Window: time.Minute} })
	b := q.browser()
	q.createQR(t, b, "")
	q.createQR(t, b, "")
	if st, eb := q.call(t, b, "POST", "/v1/qr", "", nil); st != 429 || eb.Error != "rate_limited" {
		t.Fatalf("third QR: %d %+v", st, eb)
	}
}

func TestQR_ImageRenderedByConfig(t *testing.T) {
	q := newQREnv(t, func(c *deviceauth.Config) { c.QRCode = qrcode.PNG })
	qc := q.createQR(t, q.browser(), "")
	data, ok := strings.CutPrefix(qc.Image, "data:image/png;base64,")
	if !ok {
		t.Fatalf("image %.40q", qc.Image)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := qrcode.PNG(qc.Payload)
	if !bytes.Equal(raw, want) {
		t.Fatal("the image is not the QR code of the payload")
	}
}

// validBinding reports whether v has the shape of a binding secret: 256
// bits as base64url without padding.
func validBinding(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

func mustParseURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// approveQR claims and approves QR challenge qc with phone.
func approveQR(t *testing.T, phone *device.Client, qc deviceauth.QRChallenge) {
	t.Helper()
	ctx := context.Background()
	code, err := device.ParseQRPayload(qc.Payload)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := phone.Claim(ctx, code)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	if _, err := phone.Approve(ctx, ch, qc.VerificationCode); err != nil {
		t.Fatalf("Approve: %v", err)
	}
}

// TestQR_TwoFreshTabsBothComplete: two tabs of a browser that has no QR
// cookie yet create challenges at the same moment — both requests leave
// without a cookie, and the answers' cookies land in the one cookie jar
// one after the other. Each challenge has its own cookie, so neither
// answer overwrites the other's binding, and both tabs can sign in.
func TestQR_TwoFreshTabsBothComplete(t *testing.T) {
	q := newQREnv(t)
	phone := q.enrol("alice", "ES256")
	base := mustParseURL(t, q.srv.URL+"/deviceauth")
	var qcs [2]deviceauth.QRChallenge
	var answers [2][]*http.Cookie
	for i := range 2 { // both sent before either answer is kept
		resp, err := http.Post(base.String()+"/v1/qr", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&qcs[i])
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("create %d: %d", i, resp.StatusCode)
		}
		answers[i] = resp.Cookies()
	}
	browser := q.browser()
	for _, cs := range answers {
		browser.Jar.SetCookies(base, cs)
	}
	if got := browser.Jar.Cookies(base); len(got) != 2 {
		t.Fatalf("the browser keeps %d cookies (%v), want one per challenge", len(got), got)
	}
	for i := range 2 {
		approveQR(t, phone, qcs[i])
	}
	for i := range 2 {
		var st deviceauth.QRStatus
		if code, eb := q.call(t, browser, "POST", "/v1/qr/"+qcs[i].ChallengeID+"/complete", "", &st); code != 200 || st.State != "CONSUMED" {
			t.Fatalf("tab %d completes: %d %+v %+v", i, code, eb, st)
		}
	}
	if got := q.signIns(); !slices.Equal(got, []string{"alice", "alice"}) {
		t.Fatalf("signed in %v, want alice twice", got)
	}
}

// TestQR_BindingCookieBindsOnlyItsChallenge: a browser holds the cookies
// of challenges A and B. A request about B that carries only A's cookie,
// or A's secret under B's name, is refused as another browser's: it
// neither reads, refreshes nor completes B. B's own cookie does.
func TestQR_BindingCookieBindsOnlyItsChallenge(t *testing.T) {
	q := newQREnv(t)
	phone := q.enrol("alice", "ES256")
	browser := q.browser()
	base := mustParseURL(t, q.srv.URL+"/deviceauth")
	a, b := q.createQR(t, browser, ""), q.createQR(t, browser, "")
	secret := map[string]string{}
	for _, c := range browser.Jar.Cookies(base) {
		secret[c.Name] = c.Value
	}
	secretA := secret[qrBindingCookie(a.ChallengeID)]
	if len(secret) != 2 || !validBinding(secretA) || !validBinding(secret[qrBindingCookie(b.ChallengeID)]) || secretA == secret[qrBindingCookie(b.ChallengeID)] {
		t.Fatalf("cookies %v: want a distinct secret for each challenge", secret)
	}
	wrong := map[string]string{
		"A's cookie only":    qrBindingCookie(a.ChallengeID) + "=" + secretA,
		"A's secret as B's":  qrBindingCookie(b.ChallengeID) + "=" + secretA,
		"the browser cookie": "deviceauth_qr=" + secretA,
		"a malformed secret": qrBindingCookie(b.ChallengeID) + "=x",
		"an all-zero secret": qrBindingCookie(b.ChallengeID) + "=" + strings.Repeat("A", 43),
	}
	send := func(method, path, body, cookie string) (int, deviceauth.DenialBody) {
		t.Helper()
		req, _ := http.NewRequest(method, base.String()+path, strings.NewReader(body))
		req.Header.Set("Cookie", cookie)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eb deviceauth.DenialBody
		json.NewDecoder(resp.Body).Decode(&eb)
		return resp.StatusCode, eb
	}
	approveQR(t, phone, b)
	for what, cookie := range wrong {
		if st, eb := send("GET", "/v1/qr/"+b.ChallengeID, "", cookie); st != 404 || eb.Error != "not_found" {
			t.Errorf("state of B with %s: %d %+v, want 404 not_found", what, st, eb)
		}
		if st, eb := send("GET", "/v1/qr/"+b.ChallengeID+"/events", "", cookie); st != 404 || eb.Error != "not_found" {
			t.Errorf("events of B with %s: %d %+v, want 404 not_found", what, st, eb)
		}
		if st, eb := send("POST", "/v1/qr", `{"replaces":"`+b.ChallengeID+`"}`, cookie); st != 404 || eb.Error != "not_found" {
			t.Errorf("replacing B with %s: %d %+v, want 404 not_found", what, st, eb)
		}
		if st, eb := send("POST", "/v1/qr/"+b.ChallengeID+"/complete", "", cookie); st != 403 || eb.Error != "challenge_failed" || eb.State != "CHALLENGE_FAILED" {
			t.Errorf("completing B with %s: %d %+v, want 403 challenge_failed", what, st, eb)
		}
	}
	if got := q.signIns(); len(got) != 0 {
		t.Fatalf("signed in %v with another challenge's cookie", got)
	}
	// B is still approved, and completes with its own cookie.
	var st deviceauth.QRStatus
	if code, _ := q.call(t, browser, "GET", "/v1/qr/"+b.ChallengeID, "", &st); code != 200 || st.State != "APPROVED" {
		t.Fatalf("B after the refused requests: %d %+v", code, st)
	}
	if code, eb := q.call(t, browser, "POST", "/v1/qr/"+b.ChallengeID+"/complete", "", nil); code != 200 {
		t.Fatalf("completing B with its cookie: %d %+v", code, eb)
	}
	// The completion cleared B's cookie and only B's.
	left := browser.Jar.Cookies(base)
	if len(left) != 1 || left[0].Name != qrBindingCookie(a.ChallengeID) || left[0].Value != secretA {
		t.Fatalf("cookies after B's completion: %v, want A's only", left)
	}
}

// TestQR_BindingCookieAttributes: the cookie of each challenge is named
// after it, HttpOnly, SameSite=Strict, scoped to the mount, Secure when
// the public URL is https, and lives as long as the challenge and one
// long-poll more.
func TestQR_BindingCookieAttributes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		publicURL string // "" for the test server's http URL
		ttl       time.Duration
		path      string
		secure    bool
		maxAge    int
	}{
		{"http, default lifetime", "", 0, "/deviceauth", false, 5*60 + 60},
		{"https, two minutes", "https://app.example.com/auth/dev", 2 * time.Minute, "/auth/dev", true, 2*60 + 60},
		{"https at the root, 90.5 seconds", "https://app.example.com", 90*time.Second + 500*time.Millisecond, "/", true, 91 + 60},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := newQREnv(t, func(c *deviceauth.Config) {
				if tt.publicURL != "" {
					c.PublicURL = tt.publicURL
				}
				if tt.ttl != 0 {
					c.ChallengeTTL = tt.ttl
				}
			})
			resp, err := http.Post(q.srv.URL+"/deviceauth/v1/qr", "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var qc deviceauth.QRChallenge
			json.NewDecoder(resp.Body).Decode(&qc)
			cs := resp.Cookies()
			if resp.StatusCode != 201 || len(cs) != 1 {
				t.Fatalf("create: %d, cookies %v", resp.StatusCode, cs)
			}
			c := cs[0]
			name := "deviceauth_qr_" + qc.ChallengeID
			if tt.secure {
				name = "__Secure-" + name // only a secure page can set it
			}
			if c.Name != name || !validBinding(c.Value) || c.Path != tt.path || c.MaxAge != tt.maxAge ||
				!c.HttpOnly || c.Secure != tt.secure || c.SameSite != http.SameSiteStrictMode || c.Domain != "" {
				t.Fatalf("cookie %+v: want %s, Path=%s, Max-Age=%d, HttpOnly, Secure=%v, SameSite=Strict",
					c, name, tt.path, tt.maxAge, tt.secure)
			}
		})
	}
}
