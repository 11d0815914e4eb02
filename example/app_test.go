package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/example/internal/phone"
	"github.com/deviceauth/deviceauth/store"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// startApp serves a new App over HTTP, as main does: listen first, so the
// app knows its real URL.
func startApp(t *testing.T, mods ...func(*AppConfig)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	st := memstore.New()
	cfg := AppConfig{BaseURL: base, Store: st, Key: randomKey(), Logger: slog.New(slog.DiscardHandler)}
	for _, mod := range mods {
		mod(&cfg)
	}
	app, err := NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(app.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		if err := app.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		st.Close()
	})
	return base
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see them.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, client: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer: status, Location and body.
type page struct {
	status   int
	location string
	body     string
}

func (b *browser) do(req *http.Request) page {
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
	return page{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(path string, form url.Values, header ...string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// want fails unless p has status and contains every string of texts.
func (p page) want(t *testing.T, what string, status int, texts ...string) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d; body:\n%s", what, p.status, status, p.body)
	}
	for _, s := range texts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s: the page does not contain %q; body:\n%s", what, s, p.body)
		}
	}
}

// find returns the first submatch of re in s, failing when there is none.
func find(t *testing.T, re *regexp.Regexp, s string) string {
	t.Helper()
	m := re.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s in:\n%s", re, s)
	}
	return m[1]
}

var (
	tokenInPage   = regexp.MustCompile(`name="deviceauth_token" value="(dat_[A-Za-z0-9_-]+)"`)
	codeInPage    = regexp.MustCompile(`id="verification-code">([0-9]+)<`)
	approveInPage = regexp.MustCompile(`go run ./example/device approve ([A-Za-z0-9_-]+)`)
	enrolInPage   = regexp.MustCompile(`<pre id="command">(go run ./example/device enrol [^<]*)</pre>`)
	challengeLine = regexp.MustCompile(`(?m)^challenge (\S+)$`)
)

// wantApproval fails unless p is the challenge page with status, saying
// the approval state key in words (headline), with the Continue form
// exactly when continues is true — and without any API code in its text.
func (p page) wantApproval(t *testing.T, what string, status int, key, headline string, continues bool) {
	t.Helper()
	p.want(t, what, status, `data-state="`+key+`"`, `<h2 id="approval-state"`, ">"+headline+"</h2>")
	if got := strings.Contains(p.body, `id="continue"`); got != continues {
		t.Fatalf("%s: Continue shown %v, want %v; body:\n%s", what, got, continues, p.body)
	}
	if got := strings.Contains(p.body, `id="start-over"`); got == continues {
		t.Fatalf("%s: Start over shown %v, want %v", what, got, !continues)
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(p.body, "")
	for _, code := range []string{"challenge_required", "challenge_failed"} {
		if strings.Contains(text, code) {
			t.Fatalf("%s: the page shows the API code %s to the user:\n%s", what, code, text)
		}
	}
}

// runPhone runs the terminal phone in process and fails unless it exits 0.
func runPhone(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := tryPhone(stdin, args...)
	if code != 0 {
		t.Fatalf("phone %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out, errOut)
	}
	return out
}

func tryPhone(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = phone.Run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// signIn signs the browser in as user.
func signIn(t *testing.T, b *browser, user string) {
	t.Helper()
	p := b.post("/signin", url.Values{"username": {user}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("sign-in: %d to %q, want 303 to /; body:\n%s", p.status, p.location, p.body)
	}
	b.get("/").want(t, "home after sign-in", http.StatusOK, "Hello, "+user)
}

// enrolFrom runs the enrol command an "add a device" page shows, exactly as
// shown, with the phone's state in stateFile; it returns the credential ID.
func enrolFrom(t *testing.T, base string, p page, stateFile string, extra ...string) string {
	t.Helper()
	command := find(t, enrolInPage, p.body)
	token := find(t, regexp.MustCompile(`-token (drt_[A-Za-z0-9_-]+)$`), command)
	if want := "go run ./example/device enrol -server " + base + "/deviceauth -token " + token; command != want {
		t.Fatalf("the page shows\n  %s\nwant\n  %s", command, want)
	}
	args := append(strings.Fields(strings.TrimPrefix(command, "go run ./example/device ")), "-key", stateFile)
	runPhone(t, "", append(args, extra...)...)
	var st struct{ Server, CredentialID, Key string }
	b, err := os.ReadFile(stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil || st.Server != base+"/deviceauth" || st.CredentialID == "" ||
		!strings.Contains(st.Key, "BEGIN PRIVATE KEY") {
		t.Fatalf("state file after enrol: %s (%v)", b, err)
	}
	return st.CredentialID
}

// approveOnPhone finds the one pending challenge with the phone, checks it
// is pageID, and approves it with code.
func approveOnPhone(t *testing.T, stateFile, pageID, code string) string {
	t.Helper()
	out := runPhone(t, "", "pending", "-key", stateFile)
	ids := challengeLine.FindAllStringSubmatch(out, -1)
	if len(ids) != 1 || ids[0][1] != pageID {
		t.Fatalf("pending lists %v, want only the page's challenge %s:\n%s", ids, pageID, out)
	}
	runPhone(t, "", "approve", pageID, "-code", code, "-yes", "-key", stateFile)
	return out
}

func TestDemo_TransferGoesThroughOnceWithThePhonesApproval(t *testing.T) {
	base := startApp(t)
	b := newBrowser(t, base)
	b.get("/").want(t, "home signed out", http.StatusOK, `<form method="post" action="/signin">`, `name="username"`)
	signIn(t, b, "ada")

	add := b.post("/devices/add", nil)
	add.want(t, "add the first device", http.StatusOK, "drt_")
	phoneFile := filepath.Join(t.TempDir(), "phone.json")
	credID := enrolFrom(t, base, add, phoneFile)
	if fi, err := os.Stat(phoneFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi, err)
	}
	// The terminal phone's key is a file: nothing attests it.
	b.get("/devices").want(t, "devices", http.StatusOK, "Terminal phone", credID, "not attested")
	if p := b.get("/devices"); !regexp.MustCompile(`<td>never</td>\s*<td><form method="post" action="/devices/` + credID + `/remove">`).MatchString(p.body) {
		t.Fatalf("a device never used does not say so:\n%s", p.body)
	}

	transfer := url.Values{"amount": {"25.00"}, "payee": {"Bob"}}
	p := b.post("/transfer", transfer)
	p.want(t, "transfer without a token", http.StatusUnauthorized, "go run ./example/device pending", "Send 25.00 EUR to Bob")
	p.wantApproval(t, "transfer without a token", http.StatusUnauthorized, "waiting", "Waiting for your phone", true)
	token, code, id := find(t, tokenInPage, p.body), find(t, codeInPage, p.body), find(t, approveInPage, p.body)

	shown := approveOnPhone(t, phoneFile, id, code)
	for _, line := range []string{"  action:   transfer\n", "    Send 25.00 EUR to Bob\n    Amount: 25.00 EUR\n    Payee: Bob\n",
		"  code:     required"} {
		if !strings.Contains(shown, line) {
			t.Fatalf("the phone does not show %q:\n%s", line, shown)
		}
	}

	withToken := url.Values{"amount": {"25.00"}, "payee": {"Bob"}, tokenField: {token}}
	b.post("/transfer", withToken).want(t, "transfer with the approved token", http.StatusOK, "Sent 25.00 EUR to Bob.", credID)
	// The approval is the device's last use, in the demo's one date format.
	lastUsed := regexp.MustCompile(`<td>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</td>\s*<td><form method="post" action="/devices/` + credID + `/remove">`)
	if m := lastUsed.FindStringSubmatch(b.get("/devices").body); m == nil {
		t.Fatal("the devices page does not show when the device was last used")
	} else if used, err := time.ParseInLocation(time.DateTime, m[1], time.Local); err != nil || time.Since(used) > time.Minute || time.Since(used) < -time.Second {
		t.Fatalf("last used %q (%v), want about now", m[1], err)
	}
	b.post("/transfer", withToken).wantApproval(t, "the same token again", http.StatusForbidden, "used", "Already used", false)

	p = b.post("/transfer", transfer)
	p.wantApproval(t, "second transfer", http.StatusUnauthorized, "waiting", "Waiting for your phone", true)
	token = find(t, tokenInPage, p.body)
	approveOnPhone(t, phoneFile, find(t, approveInPage, p.body), find(t, codeInPage, p.body))
	changed := url.Values{"amount": {"2500.00"}, "payee": {"Bob"}, tokenField: {token}}
	p = b.post("/transfer", changed)
	p.want(t, "a changed amount with a valid token", http.StatusForbidden, "Send 2500.00 EUR to Bob")
	p.wantApproval(t, "a changed amount with a valid token", http.StatusForbidden, "other_details", "Approved for something else", false)
	if strings.Contains(p.body, "Sent") {
		t.Fatalf("a changed amount went through:\n%s", p.body)
	}
}

func TestDemo_DevicesCanBeRenamed(t *testing.T) {
	base := startApp(t)
	b := newBrowser(t, base)
	signIn(t, b, "ada")
	id := enrolFrom(t, base, b.post("/devices/add", nil), filepath.Join(t.TempDir(), "phone.json"))

	p := b.post("/devices/"+id+"/rename", url.Values{"name": {"  Ada’s work phone "}})
	if p.status != http.StatusSeeOther || p.location != "/devices" {
		t.Fatalf("rename: %d to %q, want 303 to /devices; body:\n%s", p.status, p.location, p.body)
	}
	b.get("/devices").want(t, "renamed", http.StatusOK, `name="name" value="Ada’s work phone"`)
	b.post("/devices/"+id+"/rename", url.Values{"name": {" "}}).want(t, "empty name", http.StatusBadRequest, "A name is 1 to 64 bytes")
	b.post("/devices/"+id+"/rename", url.Values{"name": {strings.Repeat("x", 65)}}).want(t, "long name", http.StatusBadRequest, "A name is 1 to 64 bytes")
	b.post("/devices/cr_nope/rename", url.Values{"name": {"x"}}).want(t, "unknown device", http.StatusNotFound, "There is no such device")
	other := newBrowser(t, base)
	signIn(t, other, "eve")
	other.post("/devices/"+id+"/rename", url.Values{"name": {"eve's now"}}).want(t, "another user's device", http.StatusNotFound, "There is no such device")
	b.get("/devices").want(t, "still Ada's name", http.StatusOK, `value="Ada’s work phone"`)
}

func TestDemo_DeniedTransferDoesNotGoThrough(t *testing.T) {
	base := startApp(t)
	b := newBrowser(t, base)
	signIn(t, b, "ada")
	phoneFile := filepath.Join(t.TempDir(), "phone.json")
	enrolFrom(t, base, b.post("/devices/add", nil), phoneFile)

	p := b.post("/transfer", url.Values{"amount": {"10"}, "payee": {"Mallory"}})
	p.want(t, "transfer", http.StatusUnauthorized, "Send 10.00 EUR to Mallory")
	runPhone(t, "", "deny", find(t, approveInPage, p.body), "-reason", "not_me", "-key", phoneFile)
	b.post("/transfer", url.Values{"amount": {"10"}, "payee": {"Mallory"}, tokenField: {find(t, tokenInPage, p.body)}}).
		wantApproval(t, "continue after a denial", http.StatusForbidden, "denied", "Denied on your phone", false)
}

// testClock is a settable clock for the App's deviceauth.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestDemo_ExpiredAndUnknownApprovalsSaySo(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	base := startApp(t, func(c *AppConfig) { c.Now = clock.Now })
	b := newBrowser(t, base)
	signIn(t, b, "ada")
	enrolFrom(t, base, b.post("/devices/add", nil), filepath.Join(t.TempDir(), "phone.json"))

	transfer := url.Values{"amount": {"5"}, "payee": {"Bob"}}
	p := b.post("/transfer", transfer)
	p.wantApproval(t, "transfer", http.StatusUnauthorized, "waiting", "Waiting for your phone", true)
	clock.Advance(deviceauth.MaxChallengeTTL + time.Second)
	b.post("/transfer", url.Values{"amount": {"5"}, "payee": {"Bob"}, tokenField: {find(t, tokenInPage, p.body)}}).
		wantApproval(t, "continue after the challenge expired", http.StatusForbidden, "expired", "Expired", false)

	b.post("/transfer", url.Values{"amount": {"5"}, "payee": {"Bob"}, tokenField: {"dat_not-a-token"}}).
		wantApproval(t, "continue with a made-up token", http.StatusForbidden, "unknown", "This approval is no longer valid", false)
}

// The walkthrough's "deny -reason not_me" mutes pushes to the user, and
// says so in the log, for the demo's two minutes only.
func TestDemo_NotMeMutesPushesForTwoMinutes(t *testing.T) {
	clock := &testClock{now: time.Now()} // the terminal phone signs with real times
	logs := &logBuffer{}
	base := startApp(t, func(c *AppConfig) {
		c.Now = clock.Now
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	b := newBrowser(t, base)
	signIn(t, b, "ada")
	phoneFile := filepath.Join(t.TempDir(), "phone.json")
	enrolFrom(t, base, b.post("/devices/add", nil), phoneFile)

	p := b.post("/transfer", url.Values{"amount": {"10"}, "payee": {"Mallory"}})
	runPhone(t, "", "deny", find(t, approveInPage, p.body), "-reason", "not_me", "-key", phoneFile)
	muted := func(id string) bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `msg="deviceauth: push.muted"`) && strings.Contains(l, "challengeId="+id+" ") {
				return true
			}
		}
		return false
	}
	// Track mutes (or not) before it answers: the log is already written.
	p = b.post("/transfer", url.Values{"amount": {"11"}, "payee": {"Bob"}})
	if id := find(t, approveInPage, p.body); !muted(id) {
		t.Fatalf("the push after a not_me denial was not muted (or not logged as such):\n%s", logs.String())
	}
	clock.Advance(2*time.Minute + time.Second)
	p = b.post("/transfer", url.Values{"amount": {"12"}, "payee": {"Bob"}})
	if id := find(t, approveInPage, p.body); muted(id) {
		t.Fatalf("pushes are still muted after two minutes:\n%s", logs.String())
	}
}

func TestDemo_AddingAndRemovingDevicesNeedsAStepUp(t *testing.T) {
	base := startApp(t)
	b := newBrowser(t, base)
	signIn(t, b, "ada")
	dir := t.TempDir()
	phone1, phone2 := filepath.Join(dir, "phone1.json"), filepath.Join(dir, "phone2.json")
	id1 := enrolFrom(t, base, b.post("/devices/add", nil), phone1)

	// A second device needs the first one's approval.
	p := b.post("/devices/add", nil)
	p.want(t, "add a second device", http.StatusUnauthorized, "Add a new device to your account")
	p.wantApproval(t, "add a second device", http.StatusUnauthorized, "waiting", "Waiting for your phone", true)
	if strings.Contains(p.body, "drt_") {
		t.Fatalf("a registration token was shown before the step-up:\n%s", p.body)
	}
	token := find(t, tokenInPage, p.body)
	approveOnPhone(t, phone1, find(t, approveInPage, p.body), find(t, codeInPage, p.body))
	p = b.post("/devices/add", url.Values{tokenField: {token}})
	p.want(t, "add after approval", http.StatusOK, "drt_")
	id2 := enrolFrom(t, base, p, phone2, "-name", "Second phone")
	b.get("/devices").want(t, "two devices", http.StatusOK, id1, id2, "Second phone")

	// Removing one while another remains needs an approval too; pressing
	// Continue too early fails without using the approval up.
	p = b.post("/devices/"+id2+"/remove", nil)
	p.want(t, "remove the second device", http.StatusUnauthorized, "Remove “Second phone”")
	token = find(t, tokenInPage, p.body)
	early := b.post("/devices/"+id2+"/remove", url.Values{tokenField: {token},
		challengeField: {find(t, approveInPage, p.body)}, codeField: {find(t, codeInPage, p.body)}})
	early.want(t, "continue before approving", http.StatusForbidden, token)
	early.wantApproval(t, "continue before approving", http.StatusForbidden, "not_yet", "Not approved yet", true)
	// The page still says what to approve, and with which code.
	if find(t, approveInPage, early.body) != find(t, approveInPage, p.body) || find(t, codeInPage, early.body) != find(t, codeInPage, p.body) {
		t.Fatalf("the not-yet page lost the challenge or its code:\n%s", early.body)
	}
	approveOnPhone(t, phone1, find(t, approveInPage, p.body), find(t, codeInPage, p.body))
	p = b.post("/devices/"+id2+"/remove", url.Values{tokenField: {token}})
	if p.status != http.StatusSeeOther || p.location != "/devices" {
		t.Fatalf("remove after approval: %d to %q, want 303 to /devices; body:\n%s", p.status, p.location, p.body)
	}
	p = b.get("/devices")
	p.want(t, "one device left", http.StatusOK, id1)
	if strings.Contains(p.body, id2) {
		t.Fatalf("the removed device is still listed:\n%s", p.body)
	}
	if code, _, errOut := tryPhone("", "pending", "-key", phone2); code != 1 || !strings.Contains(errOut, "unauthorized") {
		t.Fatalf("the removed phone: exit %d, stderr %q; want 1 and unauthorized", code, errOut)
	}

	// The last device needs an approval too: a session alone removes
	// nothing.
	p = b.post("/devices/"+id1+"/remove", nil)
	p.want(t, "remove the last device", http.StatusUnauthorized, "Remove")
	token = find(t, tokenInPage, p.body)
	approveOnPhone(t, phone1, find(t, approveInPage, p.body), find(t, codeInPage, p.body))
	if p = b.post("/devices/"+id1+"/remove", url.Values{tokenField: {token}}); p.status != http.StatusSeeOther {
		t.Fatalf("remove the last device after approval: %d, want 303; body:\n%s", p.status, p.body)
	}
	b.get("/devices").want(t, "no device left", http.StatusOK, "No device yet.")
}

func TestDemo_Refusals(t *testing.T) {
	base := startApp(t)
	signedOut := newBrowser(t, base)
	noDevice := newBrowser(t, base)
	signIn(t, noDevice, "bob")

	cases := []struct {
		name   string
		b      *browser
		method string
		path   string
		form   url.Values
		header []string
		status int
		text   string
	}{
		{"devices signed out", signedOut, "GET", "/devices", nil, nil, http.StatusSeeOther, ""},
		{"transfer form signed out", signedOut, "GET", "/transfer", nil, nil, http.StatusSeeOther, ""},
		{"transfer signed out", signedOut, "POST", "/transfer", url.Values{"amount": {"1"}, "payee": {"x"}}, nil, http.StatusUnauthorized, "Please sign in first."},
		{"add a device signed out", signedOut, "POST", "/devices/add", nil, nil, http.StatusSeeOther, ""},
		{"empty username", signedOut, "POST", "/signin", url.Values{"username": {" "}}, nil, http.StatusBadRequest, "A username is"},
		{"unknown page", signedOut, "GET", "/nope", nil, nil, http.StatusNotFound, ""},
		{"transfer without a device", noDevice, "POST", "/transfer", url.Values{"amount": {"1"}, "payee": {"x"}}, nil, http.StatusForbidden, "You have no device to approve this with yet."},
		{"transfer of nothing", noDevice, "POST", "/transfer", url.Values{"amount": {"0"}, "payee": {"x"}}, nil, http.StatusBadRequest, "more than zero"},
		{"transfer of a bad amount", noDevice, "POST", "/transfer", url.Values{"amount": {"1e9"}, "payee": {"x"}}, nil, http.StatusBadRequest, "must be a number"},
		{"payee with a bidi control", noDevice, "POST", "/transfer", url.Values{"amount": {"1"}, "payee": {"Bob\u202Eevil"}}, nil, http.StatusBadRequest, "message: bidiControl character"},
		{"remove an unknown device", noDevice, "POST", "/devices/nope/remove", nil, nil, http.StatusNotFound, "There is no such device on your account."},
		{"cross-origin sign-in", signedOut, "POST", "/signin", url.Values{"username": {"eve"}}, []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden, "came from another site"},
		{"cross-origin transfer", noDevice, "POST", "/transfer", url.Values{"amount": {"1"}, "payee": {"x"}}, []string{"Origin", "https://evil.example"}, http.StatusForbidden, "came from another site"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.b.t = t
			var p page
			if c.method == "GET" {
				p = c.b.get(c.path)
			} else {
				p = c.b.post(c.path, c.form, c.header...)
			}
			p.want(t, c.name, c.status, c.text)
			if c.status == http.StatusSeeOther && p.location != "/" {
				t.Fatalf("redirect to %q, want /", p.location)
			}
		})
	}
}

func TestDemo_PagesAreNotCachedAndCookieIsLaxHttpOnly(t *testing.T) {
	base := startApp(t)
	noRedirects := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirects.PostForm(base+"/signin", url.Values{"username": {"ada"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var c *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == sessionName {
			c = k
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("session cookie %+v, want HttpOnly and SameSite=Lax", c)
	}
	resp, err = http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", got)
	}
}

func TestParseTransfer(t *testing.T) {
	cases := []struct {
		amount, payee, want string
	}{
		{"25", "Bob", "Send 25.00 EUR to Bob"},
		{" 25.5 ", " Bob ", "Send 25.50 EUR to Bob"},
		{"0.07", "Zoë", "Send 0.07 EUR to Zoë"},
		{"9999999.99", "x", "Send 9999999.99 EUR to x"},
	}
	for _, c := range cases {
		tr, err := parseTransfer(c.amount, c.payee)
		if err != nil || tr.details().Message != c.want {
			t.Errorf("parseTransfer(%q, %q) = %q, %v; want %q", c.amount, c.payee, tr.details().Message, err, c.want)
		}
	}
	for _, bad := range [][2]string{{"", "x"}, {"0", "x"}, {"0.00", "x"}, {"1.234", "x"}, {"-1", "x"}, {"1,00", "x"},
		{"10000000", "x"}, {"1", ""}, {"1", strings.Repeat("x", 65)}} {
		if _, err := parseTransfer(bad[0], bad[1]); err == nil {
			t.Errorf("parseTransfer(%q, %q) passed, want an error", bad[0], bad[1])
		}
	}
}

func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	s, closeStore, err := openStore(ctx, "memory")
	if err != nil || s == nil {
		t.Fatalf("memory: %v", err)
	}
	closeStore()
	// SQLite keeps devices across restarts: a credential written before
	// closing is there after opening the file again.
	url := "sqlite:" + filepath.Join(t.TempDir(), "example.db")
	s, closeStore, err = openStore(ctx, url)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	cred := store.Credential{ID: "cr_test", UserID: "ada", Kind: store.KindDevice, Algorithm: "ES256", PublicKey: []byte{1}, Name: "phone", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	if err := s.CreateCredential(ctx, cred, 10); err != nil {
		t.Fatal(err)
	}
	closeStore()
	s, closeStore, err = openStore(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	if got, err := s.ListCredentials(ctx, "ada"); err != nil || len(got) != 1 || got[0].ID != "cr_test" {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	for url, want := range map[string]string{
		"mysql://x":            "unknown -store",
		"postgres://%zz":       "-store postgres",
		"redis://:bad:port:/x": "-store redis",
	} {
		if _, _, err := openStore(ctx, url); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("openStore(%q) = %v, want an error with %q", url, err, want)
		}
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "example.key")
	k1, err := loadOrCreateKey(path)
	if err != nil || len(k1) != 32 {
		t.Fatalf("first run: %d bytes, %v; want 32", len(k1), err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file %v, %v; want mode 0600", fi, err)
	}
	k2, err := loadOrCreateKey(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("second run: %v; want the same key", err)
	}
	if err := os.WriteFile(path, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOrCreateKey(path); err == nil {
		t.Fatal("a 5-byte key was accepted")
	}
	r1, _ := loadOrCreateKey("")
	r2, _ := loadOrCreateKey("")
	if len(r1) != 32 || bytes.Equal(r1, r2) {
		t.Fatal("memory runs must get a new random key each")
	}
	for store, want := range map[string]string{"memory": "", "sqlite:/tmp/a.db": "/tmp/a.db.key", "redis://x": "deviceauth-example.key"} {
		if got := defaultKeyFile(store); got != want {
			t.Errorf("defaultKeyFile(%q) = %q, want %q", store, got, want)
		}
	}
}

func TestBaseURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080":  "http://localhost:8080",
		"0.0.0.0:8080":    "http://localhost:8080",
		"[::]:9000":       "http://localhost:9000",
		"[::1]:9000":      "http://localhost:9000",
		"192.0.2.7:8080":  "http://192.0.2.7:8080",
		"[2001:db8::1]:1": "http://[2001:db8::1]:1",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := baseURL(a); got != want {
			t.Errorf("baseURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
