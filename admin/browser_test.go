package admin_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/admin"
	"github.com/deviceauth/deviceauth/internal/testenv"
	"github.com/deviceauth/deviceauth/store"
)

// TestAdmin_BrowserReviewPage opens the review page in headless Chromium
// (Debian's chromium; .ci/run installs it) under its Content-Security-
// Policy: the hostile user agent and details show as text, the page's own
// script runs (no CSP violation, no dialog), and approving with a note
// through it records the decision. Without /usr/bin/chromium it skips
// (fails under DEVICEAUTH_REQUIRE_ALL=1).
func TestAdmin_BrowserReviewPage(t *testing.T) {
	a := newAdminEnv(t)
	res := a.hold(t)

	// The app's admin authentication, reduced to a cookie a sign-in sets.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /signin", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "operator", Value: "ops-in-browser", Path: "/", HttpOnly: true})
		w.Header().Set("Location", "/admin/")
		w.WriteHeader(http.StatusSeeOther)
	})
	mux.Handle("/admin/", http.StripPrefix("/admin", admin.Handler(a.Service, admin.Options{
		Operator: func(r *http.Request) (string, error) {
			c, err := r.Cookie("operator")
			if err != nil {
				return "", err
			}
			return c.Value, nil
		},
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	ctx, console := startChromium(t)
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return s
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/signin"), chromedp.WaitVisible(chromedp.CSS("article.action"))); err != nil {
		t.Fatalf("opening the review page: %v", err)
	}
	// The page's own script ran: a policy that blocked it fails here, with
	// the browser's refusal.
	ready, cancelReady := context.WithTimeout(ctx, 30*time.Second)
	defer cancelReady()
	if err := chromedp.Do(ready, chromedp.WaitReady(chromedp.CSS(`body[data-script="ready"]`))); err != nil {
		t.Fatalf("admin.js did not run (%v); violations: %q", err, console.violations())
	}
	if got := text("#operator"); got != "ops-in-browser" {
		t.Fatalf("operator shown = %q", got)
	}
	if got := text("article.action .ua"); got != hostileUA {
		t.Fatalf("the user agent shows as %q, want the text %q", got, hostileUA)
	}
	if got := text("article.action .details"); !strings.Contains(got, hostileMessage) || !strings.Contains(got, hostileField) {
		t.Fatalf("the details show as %q", got)
	}
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("script, img, svg, iframe").length`))
	if err != nil || n != 1 {
		t.Fatalf("the page has %d script, image, svg or frame elements (%v), want its own script only", n, err)
	}
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`form.decide input[name="note"]`), "checked by phone"),
		chromedp.Click(chromedp.CSS(`form.decide button.approve`)),
		chromedp.WaitVisible(chromedp.CSS(`form.decide[data-decided="APPROVED"] .outcome`)),
	); err != nil {
		t.Fatalf("approving on the page: %v", err)
	}
	if got := text("form.decide .outcome"); got != "Approved" {
		t.Fatalf("the page says %q after approving", got)
	}
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil || loc != srv.URL+"/admin/" {
		t.Fatalf("the page moved to %s (%v): admin.js did not decide in place", loc, err)
	}
	got, _, err := a.Service.Actions(t.Context(), deviceauth.ActionQuery{UserID: a.User, Limit: 1})
	if err != nil || len(got) != 1 || got[0].ID != res.ActionID || got[0].Review != store.ReviewApproved ||
		got[0].Reviewer != "ops-in-browser" || got[0].ReviewNote != "checked by phone" {
		t.Fatalf("the decision recorded = %+v, %v", got, err)
	}
	if lines := console.violations(); len(lines) != 0 {
		t.Errorf("the browser refused part of the page:\n  %s", strings.Join(lines, "\n  "))
	}
	if n := console.dialogCount(); n != 0 {
		t.Errorf("%d dialogs opened: a hostile script ran", n)
	}
}

// TestAdmin_BrowserCSPViolationsAreSeen is the control of the check above:
// the same page served with a policy that blocks its script must show a
// violation on the console, or the check could never fail.
func TestAdmin_BrowserCSPViolationsAreSeen(t *testing.T) {
	a := newAdminEnv(t)
	a.hold(t)
	blocked := strings.Replace(admin.ContentSecurityPolicy, "script-src 'self'", "script-src 'none'", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("X-Test-Operator", "ops")
		a.srv.Config.Handler.ServeHTTP(&policyWriter{ResponseWriter: w, policy: blocked}, r)
	}))
	t.Cleanup(srv.Close)
	ctx, console := startChromium(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin/"), chromedp.WaitVisible(chromedp.CSS("article.action"))); err != nil {
		t.Fatalf("opening the review page: %v", err)
	}
	select {
	case <-console.violation:
	case <-ctx.Done():
		t.Fatalf("no violation on the console with the page's script blocked: %v", ctx.Err())
	}
	if lines := console.violations(); len(lines) == 0 || !strings.Contains(lines[0], "admin.js") {
		t.Fatalf("violations = %q, want the page's script named", lines)
	}
}

// policyWriter replaces the Content-Security-Policy a handler sets.
type policyWriter struct {
	http.ResponseWriter
	policy string
	wrote  bool
}

func (w *policyWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		w.Header().Set("Content-Security-Policy", w.policy)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *policyWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// browserConsole is what a tab's console showed, and the dialogs it
// opened.
type browserConsole struct {
	mu        sync.Mutex
	lines     []string
	dialogs   int
	seen      bool
	violation chan struct{} // closed at the first refusal by the policy
}

// violations are the console lines in which the browser refused something
// the page asked for under its Content-Security-Policy.
func (c *browserConsole) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, line := range c.lines {
		if isViolation(line) {
			out = append(out, line)
		}
	}
	return out
}

func (c *browserConsole) dialogCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialogs
}

func isViolation(line string) bool {
	return strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused")
}

// startChromium starts headless Chromium (skipping, or failing under
// DEVICEAUTH_REQUIRE_ALL=1, without it) with the options of the example's
// browser tests, and returns its tab, bounded to two minutes, and its
// console.
func startChromium(t *testing.T) (context.Context, *browserConsole) {
	t.Helper()
	exe := testenv.NeedBinary(t, "/usr/bin/chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true))
	life, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		stop()
	})
	c := &browserConsole{violation: make(chan struct{})}
	if err := chromedp.Listen(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		var line string
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			for _, arg := range ev.Args {
				line += string(arg.Value) + " "
			}
		case *runtime.EventExceptionThrown:
			line = "exception: " + ev.ExceptionDetails.Text
		case *log.EventEntryAdded:
			line = ev.Entry.Text
		case *page.EventJavascriptDialogOpening:
			c.dialogs++
			return
		default:
			return
		}
		c.lines = append(c.lines, line)
		if isViolation(line) && !c.seen {
			c.seen = true
			close(c.violation)
		}
	}); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx, c
}
