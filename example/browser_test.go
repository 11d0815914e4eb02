package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/device"
	"github.com/deviceauth/deviceauth/internal/httpsig"
	"github.com/deviceauth/deviceauth/internal/protocol"
	"github.com/deviceauth/deviceauth/internal/testenv"
	"github.com/deviceauth/deviceauth/store/memstore"
)

// The browser tests drive the example in headless Chromium (the Debian
// package chromium; .ci/run installs it) with chromedp: the QR sign-in
// page with the Go device client as the phone, the phone simulator page
// answering a push with number matching, and the simulator's JavaScript
// protocol code checked against the Go implementation. Without
// /usr/bin/chromium they skip (fail under DEVICEAUTH_REQUIRE_ALL=1). On
// failure every tab's screenshot, HTML and console go to
// $DEVICEAUTH_ARTIFACTS when it is set.

// browserTestTimeout bounds each browser test; stepTimeout each wait for
// the page (generous: CI machines are shared and slow under -race).
const (
	browserTestTimeout = 150 * time.Second
	stepTimeout        = 60 * time.Second
)

// browserApp is the example served over HTTP at http://localhost:PORT, the
// name the browser uses, so that PublicURL's host is the @authority the
// simulator signs.
type browserApp struct {
	base  string
	app   *App
	store *memstore.Store
	logs  *logBuffer
	gate  *completeGate
	calls *callLog
}

func startBrowserApp(t *testing.T, mods ...func(*AppConfig)) *browserApp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	base := "http://localhost:" + port
	st := memstore.New()
	logs := &logBuffer{}
	cfg := AppConfig{BaseURL: base, Store: st, Key: randomKey(), Logger: slog.New(slog.NewTextHandler(logs, nil))}
	for _, mod := range mods {
		mod(&cfg)
	}
	app, err := NewApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gate, calls := &completeGate{}, &callLog{}
	srv := httptest.NewUnstartedServer(calls.wrap(gate.wrap(app.Handler())))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		gate.open()
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		st.Close()
	})
	return &browserApp{base: base, app: app, store: st, logs: logs, gate: gate, calls: calls}
}

// callLog records the requests to the device's challenge endpoints
// (/deviceauth/v1/challenges…), as "METHOD path".
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/deviceauth/v1/challenges") {
			l.mu.Lock()
			l.calls = append(l.calls, r.Method+" "+r.URL.Path)
			l.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

// matching returns the recorded calls whose "METHOD path" contains s.
func (l *callLog) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, c := range l.calls {
		if strings.Contains(c, s) {
			out = append(out, c)
		}
	}
	return out
}

// goPhone registers a phone of package device, as a mobile app would,
// for user (through the Service: no step-up).
func (a *browserApp) goPhone(ctx context.Context, t *testing.T, user string) *device.Client {
	t.Helper()
	grant, err := a.app.svc.MintRegistrationToken(ctx, user, "")
	if err != nil {
		t.Fatal(err)
	}
	key, err := device.NewP256Key()
	if err != nil {
		t.Fatal(err)
	}
	phone, err := device.New(a.base+"/deviceauth", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Register(ctx, grant.Token, user+"'s phone", "ios"); err != nil {
		t.Fatal(err)
	}
	return phone
}

// completeGate holds the first QR completion request that arrives after
// arm until open, so a test can act while the page's sign-in is in flight.
type completeGate struct {
	armed   atomic.Bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

var completePath = regexp.MustCompile(`^/deviceauth/v1/qr/[^/]+/complete$`)

func (g *completeGate) arm() {
	g.arrived, g.release = make(chan struct{}), make(chan struct{})
	g.armed.Store(true)
}

func (g *completeGate) open() {
	if g.release != nil {
		g.once.Do(func() { close(g.release) })
	}
}

func (g *completeGate) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && completePath.MatchString(r.URL.Path) && g.armed.CompareAndSwap(true, false) {
			close(g.arrived)
			select {
			case <-g.release:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// logBuffer collects the app's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// chromium is one headless browser for one test.
type chromium struct {
	t        *testing.T
	ctx      context.Context // the first tab; the browser lives as long as it
	deadline time.Time
	tabs     []*tab
}

// tab is a browser tab with its console.
type tab struct {
	b       *chromium
	name    string
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	console []string
}

func startChromium(t *testing.T) *chromium {
	t.Helper()
	exe := testenv.NeedBinary(t, "/usr/bin/chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.WindowSize(1000, 1200),
	)
	// The browser's whole life is bounded (with room for the artifacts);
	// each step is bounded by the test's deadline (tab.bounded). The first
	// Run on a context must not have a timeout of its own: cancelling it
	// would close the browser or the tab.
	life, cancelLife := context.WithTimeout(context.Background(), browserTestTimeout+30*time.Second)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	b := &chromium{t: t, ctx: ctx, deadline: time.Now().Add(browserTestTimeout)}
	t.Cleanup(func() {
		b.saveArtifacts() // while the tabs are still open
		for i := len(b.tabs) - 1; i >= 0; i-- {
			b.tabs[i].cancel()
		}
		cancel()
		cancelAlloc()
		cancelLife()
	})
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return b
}

// tab opens a new tab (in a new browser context — no cookies, no
// IndexedDB — with chromedp.WithNewBrowserContext()).
func (b *chromium) tab(name string, opts ...chromedp.ContextOption) *tab {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, opts...)
	tb := &tab{b: b, name: name, ctx: ctx, cancel: cancel}
	b.tabs = append(b.tabs, tb)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		b.t.Fatalf("opening tab %s: %v", name, err)
	}
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			tb.mu.Lock()
			tb.console = append(tb.console, fmt.Sprintf("%s: %s", m.Type, m.Text))
			tb.mu.Unlock()
		}
	}()
	return tb
}

// saveArtifacts, on failure, logs each tab's console and saves its
// screenshot and HTML to $DEVICEAUTH_ARTIFACTS.
func (b *chromium) saveArtifacts() {
	t := b.t
	if !t.Failed() {
		return
	}
	dir := os.Getenv(testenv.ArtifactsVar)
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Logf("artifacts: %v", err)
			dir = ""
		}
	}
	prefix := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	for _, tb := range b.tabs {
		tb.mu.Lock()
		t.Logf("tab %s console:\n  %s", tb.name, strings.Join(tb.console, "\n  "))
		tb.mu.Unlock()
		if dir == "" {
			continue
		}
		ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			name := filepath.Join(dir, prefix+"-"+tb.name+".png")
			err = os.WriteFile(name, png, 0o644)
			t.Logf("tab %s: screenshot %s", tb.name, name)
		}
		if err != nil {
			t.Logf("tab %s: no screenshot: %v", tb.name, err)
		}
		if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
			os.WriteFile(filepath.Join(dir, prefix+"-"+tb.name+".html"), []byte(html), 0o644)
		}
		cancel()
	}
}

// bounded is the tab's context up to the test's deadline.
func (tb *tab) bounded() (context.Context, context.CancelFunc) {
	return context.WithDeadline(tb.ctx, tb.b.deadline)
}

// do runs steps, failing the test on error.
func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.b.t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.b.t.Fatalf("tab %s: %s: %v", tb.name, what, err)
	}
}

// eval evaluates JavaScript (awaiting a promise) and returns its value.
func eval[T any](tb *tab, js string) T {
	tb.b.t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.b.t.Fatalf("tab %s: evaluating %s: %v", tb.name, js, err)
	}
	return v
}

// waitFor polls a JavaScript expression until it is truthy (at most
// within), and returns its value. Unlike chromedp.Poll it survives the
// page navigating (a sign-in, a form post) while it waits.
func waitFor[T any](tb *tab, what, js string, within time.Duration) T {
	tb.b.t.Helper()
	ctx, cancel := tb.bounded()
	defer cancel()
	ctx, cancelWithin := context.WithTimeout(ctx, within)
	defer cancelWithin()
	expr := `(() => { try { const v = (` + js + `); return v ? v : null } catch (e) { return null } })()`
	var last error
	for {
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
		if err == nil && string(raw) != "null" {
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				tb.b.t.Fatalf("tab %s: %s: %s is %s: %v", tb.name, what, js, raw, err)
			}
			return v
		}
		if err != nil {
			last = err // navigating: try again
		}
		select {
		case <-ctx.Done():
			tb.b.t.Fatalf("tab %s: waiting for %s (%s): %v (last error: %v)", tb.name, what, js, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (tb *tab) navigate(url string) {
	tb.b.t.Helper()
	tb.do("navigate to "+url, chromedp.Navigate(url))
}

// click clicks the first visible element matching css. It dispatches the
// click to the element itself (as a user gesture) rather than to screen
// coordinates: the pages load parts late (the QR image), and a layout shift
// between measuring and clicking made a coordinate click land elsewhere.
func (tb *tab) click(css string) {
	tb.b.t.Helper()
	expr := "(document.querySelector(" + strconv.Quote(css) + ").click(), true)"
	asUser := func(p *cdpruntime.EvaluateParams) { yes := true; p.UserGesture = &yes }
	tb.do("click "+css, chromedp.WaitVisible(chromedp.CSS(css)), func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](expr, asUser)(ctx, t)
		return chromedp.Void{}, err
	})
}

func (tb *tab) setValue(css, value string) {
	tb.b.t.Helper()
	tb.do("fill "+css, chromedp.SetValue(chromedp.CSS(css), value, chromedp.NodeVisible))
}

// text is the textContent of the first element matching css.
func (tb *tab) text(css string) string {
	tb.b.t.Helper()
	return eval[string](tb, `(document.querySelector(`+strconv.Quote(css)+`) || {}).textContent || ""`)
}

// fetchStatus makes a same-origin fetch from the page and returns the
// status and the error code of the answer.
func (tb *tab) fetchStatus(method, path string) (int, string) {
	tb.b.t.Helper()
	var r struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}
	raw := eval[[]byte](tb, `fetch(`+strconv.Quote(path)+`, {method: `+strconv.Quote(method)+`, credentials: "same-origin"})
		.then(async res => ({status: res.status, error: ((await res.json().catch(() => ({}))).error || "")}))`)
	if err := json.Unmarshal(raw, &r); err != nil {
		tb.b.t.Fatal(err)
	}
	return r.Status, r.Error
}

// signInAsAda signs the tab's browser in with the username form.
func signInAsAda(tb *tab, base string) {
	tb.b.t.Helper()
	tb.navigate(base + "/")
	tb.setValue(`input[name="username"]`, "ada")
	tb.click(`form[action="/signin"] button`)
	waitFor[bool](tb, "signed in", signedInAsAda, stepTimeout)
}

// enrolSimulator opens the phone simulator in tb and enrols it with a
// registration token taken through the browser's session; it returns the
// credential ID.
func enrolSimulator(tb *tab, base string) string {
	tb.b.t.Helper()
	tb.navigate(base + "/phone")
	waitFor[bool](tb, "the simulator", `document.getElementById("phone").dataset.ready === "1"`, stepTimeout)
	tb.click("#get-token")
	waitFor[bool](tb, "a registration token", `document.getElementById("reg-token").value.startsWith("drt_")`, stepTimeout)
	tb.click("#register")
	return waitFor[string](tb, "the credential", `document.getElementById("phone").dataset.credential`, stepTimeout)
}

// approveTransfer approves the challenge open in the simulator sim and
// waits for the transfer page web to go on by itself to the page that
// says sent, naming the approving credential credID.
func approveTransfer(sim, web *tab, sent, credID string) {
	t := sim.b.t
	t.Helper()
	sim.click("#approve")
	waitFor[bool](sim, "APPROVED", `document.getElementById("phone").dataset.last === "APPROVED"`, stepTimeout)
	waitFor[bool](web, "Sent", `(document.querySelector("h1") || {}).textContent === "Sent"`, stepTimeout)
	if got := web.text("main"); !strings.Contains(got, sent) || !strings.Contains(got, credID) {
		t.Fatalf("the sent page says:\n%s", got)
	}
}

const signedInAsAda = `location.pathname === "/" && (document.querySelector("h1") || {}).textContent === "Hello, ada"`

// TestBrowser_QRSignIn: the sign-in page shows a QR code; the Go device
// client (the phone, registered through the Service beforehand) claims it
// and approves with the code shown beside it; the page signs in by itself.
// Another browser, without the binding cookie, can neither watch nor
// complete that sign-in, even while it is approved.
func TestBrowser_QRSignIn(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)
	ctx, cancel := context.WithDeadline(context.Background(), b.deadline)
	defer cancel()

	phone := a.goPhone(ctx, t, "ada")

	page := b.tab("signin")
	page.navigate(a.base + "/")
	payload := waitFor[string](page, "the QR payload", `document.getElementById("qr-image").dataset.payload`, stepTimeout)
	if !eval[bool](page, `document.getElementById("qr-image").src.startsWith("data:image/png;base64,")`) {
		t.Fatal("the QR code is not a PNG data: URL")
	}
	code := page.text("#qr-code")
	if !regexp.MustCompile(`^[0-9]{2,}$`).MatchString(code) {
		t.Fatalf("verification code %q", code)
	}
	if got := page.text("#qr-payload"); got != payload {
		t.Fatalf("the page shows payload %q, the image carries %q", got, payload)
	}
	waitFor[bool](page, "UNCLAIMED", `document.getElementById("qr-signin").dataset.state === "UNCLAIMED"`, stepTimeout)

	qr, err := device.ParseQRPayload(payload)
	if err != nil {
		t.Fatal(err)
	}
	if qr.BaseURL != a.base+"/deviceauth" {
		t.Fatalf("QR base URL %q, want %q", qr.BaseURL, a.base+"/deviceauth")
	}

	// Another browser (its own cookies) opens the sign-in page too: it
	// has a binding cookie of its own, not this page's.
	other := b.tab("other-browser", chromedp.WithNewBrowserContext())
	other.navigate(a.base + "/")
	waitFor[string](other, "its own QR payload", `document.getElementById("qr-image").dataset.payload`, stepTimeout)
	statusPath := "/deviceauth/v1/qr/" + qr.ChallengeID
	if st, code := other.fetchStatus("GET", statusPath); st != http.StatusNotFound {
		t.Fatalf("another browser reads the state: %d %s, want 404", st, code)
	}

	ch, err := phone.Claim(ctx, qr)
	if err != nil {
		t.Fatal(err)
	}
	if ch.State != "PENDING" || ch.Action != "signIn" || !ch.VerificationCodeRequired || ch.UserAgent == "" {
		t.Fatalf("claimed challenge %+v", ch)
	}
	waitFor[bool](page, "PENDING after the claim", `document.getElementById("qr-signin").dataset.state === "PENDING"`, stepTimeout)

	// Hold the page's completion at the server while the other browser
	// tries to complete the approved challenge itself.
	a.gate.arm()
	if _, err := phone.Approve(ctx, ch, code); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.gate.arrived:
	case <-ctx.Done():
		t.Fatal("the page did not post the completion after the approval")
	}
	if st, code := other.fetchStatus("POST", statusPath+"/complete"); st != http.StatusForbidden || code != "challenge_failed" {
		t.Fatalf("another browser completes the approved sign-in: %d %s, want 403 challenge_failed", st, code)
	}
	if eval[bool](page, signedInAsAda) {
		t.Fatal("signed in before the completion went through")
	}
	a.gate.open()

	waitFor[bool](page, "the dashboard", signedInAsAda, stepTimeout)
	other.navigate(a.base + "/")
	if h1 := other.text("h1"); h1 != "Sign in" {
		t.Fatalf("the other browser shows %q, want the sign-in page", h1)
	}
	// The sign-in used the challenge up: completing again fails.
	page.navigate(a.base + "/")
	if st, code := page.fetchStatus("POST", statusPath+"/complete"); st != http.StatusForbidden || code != "challenge_failed" {
		t.Fatalf("completing twice: %d %s, want 403 challenge_failed", st, code)
	}

	// The script's long-polling path (where EventSource is missing or
	// fails), driven directly, in a third browser.
	lp := b.tab("long-poll", chromedp.WithNewBrowserContext())
	lp.navigate(a.base + "/")
	// The page's own QR code first, so the page has settled. (Each QR
	// challenge has its own binding cookie, so the two would not disturb
	// each other either way.)
	waitFor[string](lp, "the page's QR payload", `document.getElementById("qr-image").dataset.payload`, stepTimeout)
	eval[bool](lp, `(() => {
		window.lp = {states: [], signedIn: false, error: ""};
		DeviceAuth.qrSignIn({base: "/deviceauth", longPoll: true,
			onChallenge: c => { lp.challenge = c; },
			onState: s => { lp.states.push(s); },
			onSignedIn: () => { lp.signedIn = true; },
			onError: e => { lp.error = e.message; }});
		return true;
	})()`)
	payload = waitFor[string](lp, "the long-poll challenge", `window.lp.challenge && lp.challenge.payload`, stepTimeout)
	code = eval[string](lp, `lp.challenge.verificationCode`)
	if qr, err = device.ParseQRPayload(payload); err != nil {
		t.Fatal(err)
	}
	if ch, err = phone.Claim(ctx, qr); err != nil {
		t.Fatal(err)
	}
	waitFor[bool](lp, "PENDING by long-polling", `lp.states.includes("PENDING")`, stepTimeout)
	if _, err := phone.Approve(ctx, ch, code); err != nil {
		t.Fatal(err)
	}
	waitFor[bool](lp, "signed in by long-polling", `lp.signedIn || lp.error`, stepTimeout)
	if got := eval[string](lp, `lp.error + " " + lp.states.join(",")`); got != " UNCLAIMED,PENDING,APPROVED,CONSUMED" {
		t.Fatalf("long-poll error and states: %q", got)
	}
	lp.navigate(a.base + "/")
	waitFor[bool](lp, "the dashboard", signedInAsAda, stepTimeout)
}

// TestBrowser_PushThroughThePhoneSimulator: the phone simulator page
// enrols with a non-extractable WebCrypto key, then answers a transfer's
// push challenge with number matching (a wrong code first), and finally
// signs the browser in by "scanning" a QR code.
func TestBrowser_PushThroughThePhoneSimulator(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)
	ctx, cancel := context.WithDeadline(context.Background(), b.deadline)
	defer cancel()

	web := b.tab("app")
	signInAsAda(web, a.base)
	// The simulator, in another tab of the same browser: it takes a
	// registration token through the app's session and registers.
	sim := b.tab("phone")
	credID := enrolSimulator(sim, a.base)
	creds, err := a.app.svc.Credentials(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 1 || creds[0].ID != credID || creds[0].Algorithm != "ES256" || creds[0].Name != "Browser phone" || creds[0].Platform != "web" {
		t.Fatalf("credentials %+v, want the simulator's %s", creds, credID)
	}
	if eval[bool](sim, `DeviceAuthPhone.store.load().then(s => s.keyPair.privateKey.extractable)`) {
		t.Fatal("the simulator's private key is extractable")
	}

	// A transfer: the page asks for the phone's approval and shows the code.
	web.navigate(a.base + "/transfer")
	web.setValue(`input[name="amount"]`, "25.00")
	web.setValue(`input[name="payee"]`, "Bob Müller")
	web.click(`form[action="/transfer"] button`)
	code := waitFor[string](web, "the verification code", `(document.querySelector(".code") || {}).textContent`, stepTimeout)
	challengeID := eval[string](web, `document.getElementById("approval").dataset.challengeId`)

	// The push: logged with IDs only.
	deadline := time.Now().Add(stepTimeout)
	for !strings.Contains(a.logs.String(), "challengeId="+challengeID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var notice string
	for _, l := range strings.Split(a.logs.String(), "\n") {
		if strings.Contains(l, "push notification") && strings.Contains(l, "challengeId="+challengeID) {
			notice = l
		}
	}
	if notice == "" || !strings.Contains(notice, "type=challenge.pending") || !strings.Contains(notice, credID) {
		t.Fatalf("no push notification logged for %s:\n%s", challengeID, a.logs.String())
	}
	for _, secret := range []string{"Bob", "25.00", "dat_", "code="} {
		if strings.Contains(notice, secret) {
			t.Fatalf("the notification log carries %q: %s", secret, notice)
		}
	}

	// The simulator lists it, shows the details as text, and approves with
	// the code — after a wrong one, which the server refuses.
	sim.click("#refresh-pending")
	sim.click(`li[data-challenge="` + challengeID + `"] button.answer`)
	waitFor[bool](sim, "the challenge", `document.getElementById("phone").dataset.open === `+strconv.Quote(challengeID), stepTimeout)
	if got, want := sim.text("#ch-details"), "Send 25.00 EUR to Bob Müller\nAmount: 25.00 EUR\nPayee: Bob Müller"; got != want {
		t.Fatalf("the simulator shows %q, want %q", got, want)
	}
	wrong := fmt.Sprintf("%0*d", len(code), (mustAtoi(t, code)+1)%pow10(len(code)))
	sim.setValue("#ch-code", wrong)
	sim.click("#approve")
	waitFor[bool](sim, "wrong_code", `document.getElementById("phone-error").textContent.includes("wrong_code")`, stepTimeout)
	sim.setValue("#ch-code", code)
	approveTransfer(sim, web, "Sent 25.00 EUR to Bob Müller.", credID)

	// Sign out, then sign in again with the simulator scanning the QR code.
	web.click(`form[action="/signout"] button`)
	payload := waitFor[string](web, "the QR payload", `document.getElementById("qr-image").dataset.payload`, stepTimeout)
	qrCode := web.text("#qr-code")
	sim.setValue("#qr-payload", payload)
	sim.click("#claim")
	qrID := waitFor[string](sim, "the claimed challenge", `document.getElementById("phone").dataset.open`, stepTimeout)
	if !strings.Contains(payload, "c="+qrID+"&") {
		t.Fatalf("claimed %s from payload %s", qrID, payload)
	}
	if where := sim.text("#ch-where"); !strings.Contains(where, a.base) || !strings.Contains(where, "Chrome") {
		t.Fatalf("the simulator does not show where the browser is: %q", where)
	}
	waitFor[bool](web, "PENDING", `document.getElementById("qr-signin").dataset.state === "PENDING"`, stepTimeout)
	sim.setValue("#ch-code", qrCode)
	sim.click("#approve")
	waitFor[bool](web, "the dashboard after the QR sign-in", signedInAsAda, stepTimeout)
}

// TestBrowser_ASecondSimulatorNeedsTheFirstOnesApproval: in a second
// browser signed in as the same user, the simulator's request for a
// registration token needs a step-up, which the first simulator approves.
func TestBrowser_ASecondSimulatorNeedsTheFirstOnesApproval(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)
	ctx, cancel := context.WithDeadline(context.Background(), b.deadline)
	defer cancel()
	web := b.tab("app")
	signInAsAda(web, a.base)
	first := b.tab("first-phone")
	firstID := enrolSimulator(first, a.base)

	web2 := b.tab("app-2", chromedp.WithNewBrowserContext())
	signInAsAda(web2, a.base)
	second := b.tab("second-phone", chromedp.WithExistingBrowserContext(chromedp.FromContext(web2.ctx).BrowserContextID))
	second.navigate(a.base + "/phone")
	waitFor[bool](second, "the simulator", `document.getElementById("phone").dataset.ready === "1"`, stepTimeout)
	if eval[string](second, `document.getElementById("phone").dataset.credential`) != "" {
		t.Fatal("the second browser shares the first one's phone")
	}
	second.click("#get-token")
	stepUpID := waitFor[string](second, "the step-up", `document.getElementById("phone").dataset.stepUp`, stepTimeout)
	if v := eval[string](second, `document.getElementById("reg-token").value`); v != "" {
		t.Fatalf("a registration token before the step-up: %q", v)
	}
	second.click("#get-token") // too early
	waitFor[bool](second, "not approved yet", `document.getElementById("phone-error").textContent.includes("Not approved yet")`, stepTimeout)

	first.click("#refresh-pending")
	first.click(`li[data-challenge="` + stepUpID + `"] button.answer`)
	if got := first.text("#ch-action"); got != "addAuthenticator" {
		t.Fatalf("the first phone is asked to approve %q", got)
	}
	if eval[bool](first, `!document.getElementById("code-label").hidden`) {
		first.setValue("#ch-code", find(t, regexp.MustCompile(`code ([0-9]+)`), second.text("#phone-result")))
	}
	first.click("#approve")
	waitFor[bool](first, "APPROVED", `document.getElementById("phone").dataset.last === "APPROVED"`, stepTimeout)

	second.click("#get-token")
	waitFor[bool](second, "a registration token", `document.getElementById("reg-token").value.startsWith("drt_")`, stepTimeout)
	second.setValue("#device-name", "Second browser")
	second.click("#register")
	secondID := waitFor[string](second, "the credential", `document.getElementById("phone").dataset.credential`, stepTimeout)
	creds, err := a.app.svc.Credentials(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 2 || secondID == firstID {
		t.Fatalf("credentials %+v after enrolling %s and %s", creds, firstID, secondID)
	}
	// The first phone is told (a push, here logged) of the new device.
	deadline := time.Now().Add(stepTimeout)
	for !strings.Contains(a.logs.String(), "newCredentialId="+secondID) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !regexp.MustCompile(`type=credential.added .*credentialIds="?\[` + firstID + `\]"? newCredentialId=` + secondID).MatchString(a.logs.String()) {
		t.Fatalf("no credential.added notification to %s:\n%s", firstID, a.logs.String())
	}
}

// TestBrowser_PhoneJSMatchesTheGoProtocol runs the simulator's protocol
// code (static/phone.js) in the browser on the inputs of docs/protocol.md's
// vectors and checks its bytes against internal/protocol, its RFC 9421
// signatures against the profile's verifier, and its reading of in-app
// payloads against package device's.
func TestBrowser_PhoneJSMatchesTheGoProtocol(t *testing.T) {
	a := startBrowserApp(t)
	b := startChromium(t)
	tb := b.tab("phone")
	tb.navigate(a.base + "/phone")
	waitFor[bool](tb, "phone.js", `typeof DeviceAuthPhone === "object"`, stepTimeout)

	spki, _ := hex.DecodeString("3059301306072a8648ce3d020106082a8648ce3d0301070342000460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299")
	token := "drt_VECTORVECTORVECTORVECTOR2VECTORVECTORVECTORVECTOR2"
	got := eval[string](tb, `DeviceAuthPhone.registrationMessage(`+strconv.Quote(token)+`, "ES256", DeviceAuthPhone.fromB64url(`+
		strconv.Quote(protocol.EncodeBase64(spki))+`), "Ada's phone", "ios").then(DeviceAuthPhone.hex)`)
	if want := hex.EncodeToString(protocol.RegistrationMessageV2(token, "ES256", spki, "Ada's phone", "ios", "")); got != want {
		t.Errorf("registration message:\n js %s\n go %s", got, want)
	}

	details := protocol.Details{Message: "Send 25.00 EUR to Bob", Fields: []protocol.Field{{Label: "Amount", Value: "25.00 EUR"}, {Label: "Payee", Value: "Bob Müller"}}}
	detailsJSON := string(protocol.CanonicalJSON(details))
	got = eval[string](tb, `DeviceAuthPhone.detailsDigest(JSON.parse(`+strconv.Quote(detailsJSON)+`)).then(DeviceAuthPhone.hex)`)
	if d := protocol.DetailsDigest(details); got != hex.EncodeToString(d[:]) {
		t.Errorf("details digest: js %s, go %x", got, d)
	}
	for _, empty := range []string{`{"message":"","fields":[]}`} {
		got = eval[string](tb, `DeviceAuthPhone.detailsDigest(JSON.parse(`+strconv.Quote(empty)+`)).then(DeviceAuthPhone.hex)`)
		if d := protocol.DetailsDigest(protocol.Details{}); got != hex.EncodeToString(d[:]) {
			t.Errorf("empty details digest: js %s, go %x", got, d)
		}
	}

	nonce := bytes.Repeat([]byte{0xa5}, 32)
	digest := protocol.DetailsDigest(details)
	for _, r := range []protocol.Response{
		{ChallengeID: "ch_VectorChallenge01", Nonce: nonce, Action: "transfer", CredentialID: "cred_P256Vector01", Decision: "approve", VerificationCode: "47", DetailsDigest: digest[:]},
		{ChallengeID: "ch_VectorChallenge01", Nonce: nonce, Action: "transfer", CredentialID: "cred_Ed25519Vector01", Decision: "deny", DenyReason: "not_me", DetailsDigest: digest[:]},
	} {
		js := fmt.Sprintf(`DeviceAuthPhone.responseMessage({challengeId: %q, nonce: %q, action: %q, credentialId: %q, decision: %q, denyReason: %q, verificationCode: %q, details: JSON.parse(%q)}).then(DeviceAuthPhone.hex)`,
			r.ChallengeID, protocol.EncodeBase64(r.Nonce), r.Action, r.CredentialID, r.Decision, r.DenyReason, r.VerificationCode, detailsJSON)
		if got, want := eval[string](tb, js), hex.EncodeToString(protocol.ResponseMessage(r)); got != want {
			t.Errorf("%s response message:\n js %s\n go %s", r.Decision, got, want)
		}
	}

	// RFC 9421: requests signed in the browser verify with the profile.
	for _, c := range []struct {
		method, url, body string
	}{
		{"GET", a.base + "/deviceauth/v1/challenges", ""},
		{"GET", a.base + "/deviceauth/v1/challenges/ch_x?since=a%20b&wait=1s", ""},
		{"POST", a.base + "/deviceauth/v1/qr/ch_VectorChallenge01/claim", `{"claimSecret":"Q2xhaW1TZWNyZXRDbGFpbVNlY3JldENsYWltU2VjcmV0"}`},
	} {
		var signed struct {
			SPKI    string            `json:"spki"`
			Headers map[string]string `json:"headers"`
			Base    string            `json:"base"`
		}
		raw := eval[[]byte](tb, fmt.Sprintf(`(async () => {
			const P = DeviceAuthPhone, k = await P.newKey();
			const body = %q ? P.utf8(%q) : undefined;
			const s = await P.signRequest(k, "cr_BrowserTest01", %q, %q, body);
			return {spki: P.b64url(await P.publicKeySPKI(k)), headers: s.headers, base: s.base};
		})()`, c.body, c.body, c.method, c.url))
		if err := json.Unmarshal(raw, &signed); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(c.method, c.url, strings.NewReader(c.body))
		req.RequestURI = strings.TrimPrefix(c.url, a.base)
		for k, v := range signed.Headers {
			req.Header.Set(k, v)
		}
		der, _ := protocol.DecodeBase64(signed.SPKI)
		pub, err := protocol.ParsePublicKey(protocol.AlgES256, der)
		if err != nil {
			t.Fatal(err)
		}
		keys := func(_ context.Context, keyID string) (string, crypto.PublicKey, error) {
			if keyID != "cr_BrowserTest01" {
				return "", nil, errors.New("unknown keyid")
			}
			return "ecdsa-p256-sha256", pub.Key, nil
		}
		authority := strings.TrimPrefix(a.base, "http://")
		v, err := httpsig.Profile{Authority: authority}.Verify(context.Background(), req, []byte(c.body), time.Now(), keys)
		if err != nil {
			t.Errorf("%s %s: the profile refuses the browser's signature: %v\nbase:\n%s\nheaders: %v", c.method, c.url, err, signed.Base, signed.Headers)
			continue
		}
		if v.KeyID != "cr_BrowserTest01" || len(v.Nonce) < 16 {
			t.Errorf("verified %+v", v)
		}
		if _, ok := pub.Key.(*ecdsa.PublicKey); !ok {
			t.Errorf("key %T", pub.Key)
		}
	}

	// In-app payloads: the simulator reads one as package device does —
	// it signs the same response message for it — and refuses one that
	// names another credential. (A user with a device, so that Track
	// tracks; the payload names it.)
	ctx := context.Background()
	d := a.goPhone(ctx, t, "ada")
	res, err := a.app.svc.Track(ctx, deviceauth.TrackRequest{UserID: "ada", Action: "transfer", InApp: true, CredentialID: d.CredentialID,
		Details: deviceauth.Details{Message: "Send 1.00 EUR to Zoë", Fields: []deviceauth.Field{{Label: "Payee", Value: "Zoë"}}}})
	if err != nil || res.InApp == nil {
		t.Fatalf("Track: %+v, %v", res, err)
	}
	payload, err := json.Marshal(res.InApp)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := d.InAppChallenge(payload)
	if err != nil {
		t.Fatal(err)
	}
	for _, decision := range []string{"approve", "deny"} {
		js := fmt.Sprintf(`(() => {
			const P = DeviceAuthPhone, ch = new P.Phone(%q, null, %q).inAppChallenge(JSON.parse(%q));
			return P.responseMessage(Object.assign({}, ch, {credentialId: %q, decision: %q})).then(P.hex);
		})()`, a.base+"/deviceauth", d.CredentialID, payload, d.CredentialID, decision)
		if got, want := eval[string](tb, js), hex.EncodeToString(d.ResponseMessage(ch, decision, "", "")); got != want {
			t.Errorf("%s: the simulator would sign\n %s\nthe Go device\n %s", decision, got, want)
		}
	}
	other := fmt.Sprintf(`(() => { try { new DeviceAuthPhone.Phone(%q, null, "cr_AnotherPhone").inAppChallenge(JSON.parse(%q)); return "accepted"; }
		catch (e) { return e.message; } })()`, a.base+"/deviceauth", payload)
	if got := eval[string](tb, other); !strings.Contains(got, "names another credential") {
		t.Fatalf("a payload for another credential: %q", got)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}
