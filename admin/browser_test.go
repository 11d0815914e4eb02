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
	exe := testenv.NeedBinary(t, "/usr/bin/chromium")
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

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true))
	life, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	defer stop()
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()

	var (
		mu      sync.Mutex
		console []string
		dialogs int
	)
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			for _, arg := range ev.Args {
				console = append(console, string(arg.Value))
			}
		case *runtime.EventExceptionThrown:
			console = append(console, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			console = append(console, ev.Entry.Text)
		case *page.EventJavascriptDialogOpening:
			dialogs++
		}
	}); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
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
	mu.Lock()
	defer mu.Unlock()
	for _, line := range console {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "Refused") {
			t.Errorf("console: %s", line)
		}
	}
	if dialogs != 0 {
		t.Errorf("%d dialogs opened: a hostile script ran", dialogs)
	}
}
