package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/admin"
	"github.com/deviceauth/deviceauth/event"
	"github.com/deviceauth/deviceauth/internal/cycletest"
	"github.com/deviceauth/deviceauth/risk"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
	"github.com/deviceauth/deviceauth/webhook"
)

// Attacker-chosen text: a user agent, details and custom data.
const (
	hostileUA      = `<script>alert("ua")</script>"><img src=x onerror=alert(1)>`
	hostileMessage = `Pay 10000 EUR to "Mallory"<script>alert('details')</script>`
	hostileField   = `'><svg onload=alert(2)>`
)

// reviewAll holds every action of 10 000 or more for review.
func reviewAll(_ context.Context, in deviceauth.PolicyInput) (deviceauth.Decision, error) {
	if in.Signals.Amount.Value >= 10000 {
		return deviceauth.Decision{State: deviceauth.StateReview, Rule: "large-transfer"}, nil
	}
	return deviceauth.Decision{State: deviceauth.StateChallengeRequired}, nil
}

// adminEnv is a Service over memstore with the admin handler mounted at
// /admin/ behind a header an operator sends, and what it emitted and sent
// to its webhook.
type adminEnv struct {
	*cycletest.Env
	srv *httptest.Server
	mux *http.ServeMux // the app's routes, /admin/ among them

	mu       sync.Mutex
	events   []event.Event
	webhooks []deviceauth.Notification
}

func newAdminEnv(t *testing.T, opts ...func(*deviceauth.Config)) *adminEnv {
	t.Helper()
	a := &adminEnv{}
	secret := bytes.Repeat([]byte{9}, 32)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := webhook.Receiver{Secrets: [][]byte{secret}, Seen: func(context.Context, string) (bool, error) { return false, nil }}
		n, err := rc.Receive(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		a.webhooks = append(a.webhooks, n)
		a.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	a.Env = cycletest.New(t, memstore.New(), func(c *deviceauth.Config) {
		c.Rules = deviceauth.PolicyFunc(reviewAll)
		c.Notifier = &webhook.Notifier{URL: hook.URL, Secrets: [][]byte{secret}}
		c.OnEvent = func(_ context.Context, e event.Event) {
			a.mu.Lock()
			a.events = append(a.events, e)
			a.mu.Unlock()
		}
		for _, opt := range opts {
			opt(c)
		}
	})
	mux := http.NewServeMux()
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(a.Service, admin.Options{
		Operator: func(r *http.Request) (string, error) {
			if op := r.Header.Get("X-Test-Operator"); op != "" {
				return op, nil
			}
			return "", errors.New("not an operator")
		},
	})))
	a.mux = mux
	a.srv = httptest.NewServer(mux)
	t.Cleanup(a.srv.Close)
	return a
}

// hold tracks a transfer of 10 000 EUR with hostile text, held for review.
func (a *adminEnv) hold(t *testing.T) deviceauth.TrackResult {
	t.Helper()
	res, err := a.Service.Track(t.Context(), deviceauth.TrackRequest{UserID: a.User, Action: "transfer", UserAgent: hostileUA,
		Details: deviceauth.Details{Message: hostileMessage, Fields: []deviceauth.Field{{Label: "Payee", Value: hostileField}}},
		Amount:  risk.Amount{Value: 10000, Currency: "EUR"}, Custom: map[string]any{"note": "</pre><script>alert(3)</script>"}})
	if err != nil || res.State != deviceauth.StateReview || res.ActionID == "" {
		t.Fatalf("Track = %+v, %v; want REVIEW", res, err)
	}
	return res
}

// do sends a request as operator (none when ""), from origin (same
// origin when "").
func (a *adminEnv) do(t *testing.T, method, path, body, operator, origin string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, a.srv.URL+"/admin"+path, strings.NewReader(body))
	if operator != "" {
		req.Header.Set("X-Test-Operator", operator)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func (a *adminEnv) decision(t *testing.T, res deviceauth.TrackResult, decision, note string) (int, map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"decision": decision, "note": note})
	resp, raw := a.do(t, "POST", "/api/reviews/"+url.PathEscape(a.User)+"/"+res.ActionID, string(body), "ops@bank.example", "")
	var out map[string]any
	_ = json.Unmarshal([]byte(raw), &out)
	return resp.StatusCode, out
}

func TestAdmin_PageEscapesWhatRequestsCarried(t *testing.T) {
	a := newAdminEnv(t)
	res := a.hold(t)
	resp, page := a.do(t, "GET", "/", "", "ops@bank.example", "")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d\n%s", resp.StatusCode, page)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": admin.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
		"X-Frame-Options":         "DENY",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if admin.ContentSecurityPolicy != "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'" {
		t.Errorf("the policy changed: %s", admin.ContentSecurityPolicy)
	}
	for _, raw := range []string{hostileUA, hostileMessage, hostileField, "<script>alert", "<img src=x", "<svg onload", "</pre><script>"} {
		if strings.Contains(page, raw) {
			t.Errorf("the page holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(&#34;ua&#34;)&lt;/script&gt;", "Pay 10000 EUR to &#34;Mallory&#34;&lt;script&gt;", "&#39;&gt;&lt;svg onload=alert(2)&gt;", res.ActionID, "large-transfer"} {
		if !strings.Contains(page, escaped) {
			t.Errorf("the page lacks %q", escaped)
		}
	}
	// No inline script, event handler or style: only the page's own files.
	for what, re := range map[string]*regexp.Regexp{
		"an inline script":   regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`),
		"a script elsewhere": regexp.MustCompile(`<script[^>]*src="(?:https?:)?//`),
		"an event handler":   regexp.MustCompile(`(?i)<[^>]+\son[a-z]+=`),
		"an inline style":    regexp.MustCompile(`(?i)<style|\sstyle=`),
	} {
		if m := re.FindString(page); m != "" {
			t.Errorf("the page has %s: %s", what, m)
		}
	}
	// The user's page names the user from the path, escaped too.
	hostileUser := `"><script>alert(4)</script>`
	if resp, page := a.do(t, "GET", "/users/"+url.PathEscape(hostileUser), "", "ops", ""); resp.StatusCode != 200 ||
		strings.Contains(page, hostileUser) || !strings.Contains(page, "&#34;&gt;&lt;script&gt;alert(4)&lt;/script&gt;") {
		t.Errorf("the page of user %s: %d\n%s", hostileUser, resp.StatusCode, page)
	}
	for _, static := range []string{"/static/admin.js", "/static/admin.css"} {
		if resp, body := a.do(t, "GET", static, "", "ops@bank.example", ""); resp.StatusCode != 200 || len(body) == 0 {
			t.Errorf("GET %s: %d", static, resp.StatusCode)
		}
	}
}

func TestAdmin_DecisionsRecordTheOperatorOnce(t *testing.T) {
	a := newAdminEnv(t)
	res := a.hold(t)
	resp, raw := a.do(t, "GET", "/api/reviews", "", "ops@bank.example", "")
	if resp.StatusCode != 200 || !strings.Contains(raw, res.ActionID) {
		t.Fatalf("GET /api/reviews: %d %s", resp.StatusCode, raw)
	}
	status, out := a.decision(t, res, "approve", "called the customer")
	action, _ := out["action"].(map[string]any)
	if status != 200 || action["review"] != "APPROVED" || action["reviewer"] != "ops@bank.example" || action["reviewNote"] != "called the customer" {
		t.Fatalf("approve: %d %v", status, out)
	}
	if status, out := a.decision(t, res, "reject", ""); status != http.StatusConflict || out["error"] != "challenge_closed" {
		t.Fatalf("a second decision: %d %v, want 409 challenge_closed", status, out)
	}
	a.mu.Lock()
	var approved []event.Event
	for _, e := range a.events {
		if e.Type == event.ReviewApproved {
			approved = append(approved, e)
		}
	}
	a.mu.Unlock()
	if len(approved) != 1 || approved[0].Operator != "ops@bank.example" || approved[0].ChallengeID != res.ActionID {
		t.Fatalf("review.approved events = %+v", approved)
	}
	list, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{Reviews: true})
	if len(list) != 0 {
		t.Fatalf("the queue after the decision holds %d", len(list))
	}
	// The webhook: signed, verified by webhook.Receiver, sent after the
	// decision on a goroutine of the Service's, which Close waits for.
	if err := a.Service.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var got []deviceauth.Notification
	for _, n := range a.webhooks {
		if n.Type == deviceauth.NotificationReviewDecided {
			got = append(got, n)
		}
	}
	if len(got) != 1 || got[0].ChallengeID != res.ActionID || got[0].Review != "APPROVED" || got[0].Operator != "ops@bank.example" {
		t.Fatalf("review.decided webhooks = %+v, want one approval by ops@bank.example", got)
	}
}

func TestAdmin_RejectionAndBadInput(t *testing.T) {
	a := newAdminEnv(t)
	res := a.hold(t)
	for _, body := range []string{`{"decision":"maybe"}`, `{"decision":"approve","extra":1}`, `{"decision":"approve"} {}`, `not json`,
		// Read one way here and another by a proxy in front: refused.
		`{"decision":"reject","decision":"approve"}`, `{"Decision":"approve"}`, `{"decision":"approve","note":"\u0007"}`} {
		resp, raw := a.do(t, "POST", "/api/reviews/"+a.User+"/"+res.ActionID, body, "ops", "")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(raw, `"error":"invalid_request"`) {
			t.Errorf("decision %.40s: %d %s, want 400 invalid_request", body, resp.StatusCode, raw)
		}
	}
	big := `{"decision":"approve","note":"` + strings.Repeat("n", 5000) + `"}`
	if resp, raw := a.do(t, "POST", "/api/reviews/"+a.User+"/"+res.ActionID, big, "ops", ""); resp.StatusCode != http.StatusRequestEntityTooLarge ||
		!strings.Contains(raw, `"error":"body_too_large"`) {
		t.Errorf("a 5 KB decision: %d %s, want 413 body_too_large", resp.StatusCode, raw)
	}
	for _, path := range []string{"/static/", "/static/sub/admin.js", "/static/nope.js"} {
		if resp, raw := a.do(t, "GET", path, "", "ops", ""); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %.80s, want 404", path, resp.StatusCode, raw)
		}
	}
	if resp, _ := a.do(t, "GET", "/api/users/"+a.User+"/actions?limit=x", "", "ops", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("limit=x: %d, want 400", resp.StatusCode)
	}
	if resp, _ := a.do(t, "POST", "/api/reviews/"+a.User+"/ac_unknown", `{"decision":"approve"}`, "ops", ""); resp.StatusCode != 404 {
		t.Errorf("an unknown action: %d, want 404", resp.StatusCode)
	}
	if status, out := a.decision(t, res, "reject", "not the customer"); status != 200 || out["action"].(map[string]any)["review"] != "REJECTED" {
		t.Fatalf("reject: %d %v", status, out)
	}
	// Rejected stays refused: the same action is held again.
	if got := a.hold(t); got.ActionID == res.ActionID {
		t.Fatal("the retry reused the rejected action")
	}
	resp, raw := a.do(t, "GET", "/api/users/"+a.User+"/actions?limit=1", "", "ops", "")
	var page struct {
		Actions []deviceauth.Action `json:"actions"`
		Next    string              `json:"next"`
	}
	if err := json.Unmarshal([]byte(raw), &page); err != nil || resp.StatusCode != 200 || len(page.Actions) != 1 || page.Next == "" {
		t.Fatalf("history page: %d %s", resp.StatusCode, raw)
	}
	resp, raw = a.do(t, "GET", "/api/users/"+a.User+"/actions?limit=1&cursor="+page.Next, "", "ops", "")
	if err := json.Unmarshal([]byte(raw), &page); err != nil || len(page.Actions) != 1 || page.Actions[0].ID != res.ActionID ||
		page.Actions[0].Review != store.ReviewRejected || page.Actions[0].Reviewer != "ops@bank.example" {
		t.Fatalf("second history page: %d %s", resp.StatusCode, raw)
	}
	if resp, page := a.do(t, "GET", "/users/"+a.User, "", "ops", ""); resp.StatusCode != 200 || !strings.Contains(page, "REJECTED by ops@bank.example") {
		t.Fatalf("the user's page: %d\n%s", resp.StatusCode, page)
	}
}

func TestAdmin_CrossOriginAndOperatorlessRequestsDecideNothing(t *testing.T) {
	a := newAdminEnv(t)
	res := a.hold(t)
	resp, raw := a.do(t, "POST", "/api/reviews/"+a.User+"/"+res.ActionID, `{"decision":"approve"}`, "ops", "https://evil.example")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(raw, "cross_origin") {
		t.Fatalf("a cross-origin decision: %d %s, want 403 cross_origin", resp.StatusCode, raw)
	}
	form := url.Values{"decision": {"approve"}}.Encode()
	req, _ := http.NewRequest("POST", a.srv.URL+"/admin/reviews/"+a.User+"/"+res.ActionID, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Operator", "ops")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-site form post: %v %v, want 403", resp, err)
	}
	for _, path := range []string{"/", "/api/reviews"} {
		if resp, _ := a.do(t, "GET", path, "", "", ""); resp.StatusCode != http.StatusForbidden {
			t.Errorf("GET %s without an operator: %d, want 403", path, resp.StatusCode)
		}
	}
	if resp, _ := a.do(t, "POST", "/api/reviews/"+a.User+"/"+res.ActionID, `{"decision":"approve"}`, "", ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a decision without an operator: %d, want 403", resp.StatusCode)
	}
	list, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{Reviews: true})
	if len(list) != 1 || list[0].Review != store.ReviewPending {
		t.Fatalf("the review after refused decisions = %+v, want still pending", list)
	}
	// The form of the page, same origin, decides and goes back to the queue.
	req, _ = http.NewRequest("POST", a.srv.URL+"/admin/reviews/"+a.User+"/"+res.ActionID, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Operator", "ops")
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "../../" {
		t.Fatalf("the page's form: %v %v", resp, err)
	}
}

func TestAdmin_HandlerNeedsAnOperatorFunc(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Handler without Options.Operator did not panic")
		}
	}()
	admin.Handler(nil, admin.Options{})
}

// TestAdmin_QueueSaysWhenItIsFull: the queue shows the oldest 200 reviews
// (the Service's largest page, with no cursor) and says that more may wait.
func TestAdmin_QueueSaysWhenItIsFull(t *testing.T) {
	a := newAdminEnv(t)
	first := a.hold(t)
	_, page := a.do(t, "GET", "/", "", "ops", "")
	if strings.Contains(page, `id="full"`) {
		t.Fatal("a queue of one says it is full")
	}
	for range 200 {
		a.hold(t)
	}
	_, page = a.do(t, "GET", "/", "", "ops", "")
	if n := strings.Count(page, `<article class="action"`); n != 200 || !strings.Contains(page, `id="full"`) ||
		!strings.Contains(page, `id="action-`+first.ActionID+`"`) {
		t.Fatalf("a queue of 201 shows %d, full note %v, oldest %v", n, strings.Contains(page, `id="full"`), strings.Contains(page, first.ActionID))
	}
}

// TestAdmin_OperatorMissingIs403: an Operator that fails, names nobody or
// names more than 128 bytes shows nothing and decides nothing.
func TestAdmin_OperatorMissingIs403(t *testing.T) {
	a := newAdminEnv(t)
	res := a.hold(t)
	for name, op := range map[string]func(*http.Request) (string, error){
		"an error":  func(*http.Request) (string, error) { return "ops", errors.New("session expired") },
		"no name":   func(*http.Request) (string, error) { return "", nil },
		"129 bytes": func(*http.Request) (string, error) { return strings.Repeat("o", 129), nil },
	} {
		h := admin.Handler(a.Service, admin.Options{Operator: op})
		for _, req := range []*http.Request{
			httptest.NewRequest("GET", "/", nil),
			httptest.NewRequest("GET", "/api/reviews", nil),
			httptest.NewRequest("POST", "/api/reviews/"+a.User+"/"+res.ActionID, strings.NewReader(`{"decision":"approve"}`)),
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), `"error":"forbidden"`) ||
				rec.Header().Get("Content-Security-Policy") != admin.ContentSecurityPolicy {
				t.Errorf("%s: %s %s: %d %s", name, req.Method, req.URL.Path, rec.Code, rec.Body)
			}
		}
	}
	list, _, _ := a.Service.Actions(t.Context(), deviceauth.ActionQuery{Reviews: true})
	if len(list) != 1 || list[0].Review != store.ReviewPending {
		t.Fatalf("the review = %+v, want still pending", list)
	}
}
