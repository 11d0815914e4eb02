package authsignal_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/compat/authsignal"
	"github.com/deviceauth/deviceauth/internal/testenv"
)

// browserEnv is an env whose server also serves the published browser SDK
// (index.min.js, fetched and integrity-checked by npmPackage) and a page
// that loads it with a plain script tag, open in headless Chromium.
type browserEnv struct {
	*env
	ctx context.Context
}

// newBrowserEnv starts a browserEnv. The page is opened at localhost, not
// 127.0.0.1, so that WebAuthn works there (RP ID localhost); config
// changes the Service's Config.
func newBrowserEnv(t *testing.T, config ...func(*deviceauth.Config)) *browserEnv {
	exe := testenv.NeedBinary(t, "/usr/bin/chromium")
	dist := filepath.Join(browserSDK.unpacked(t), "dist")
	e := newEnv(t, authsignal.Config{WeakActions: []string{"transfer", "signIn"}}, config...)
	e.mux.Handle("GET /sdk/", http.StripPrefix("/sdk/", http.FileServer(http.Dir(dist))))
	e.mux.HandleFunc("GET /page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><script src="/sdk/index.min.js"></script>
<script>window.as = new authsignal.Authsignal({tenantId: "` + tenantID + `", baseUrl: location.origin + "/as/v1"}); window.states = [];</script>`))
	})
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true))
	life, stop := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(stop)
	alloc, cancelAlloc := chromedp.NewExecAllocator(life, opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate(localOrigin(t, e.srv.URL)+"/page"), chromedp.Poll[chromedp.Void](`typeof window.as === "object"`)); err != nil {
		t.Fatalf("loading the SDK page: %v", err)
	}
	return &browserEnv{env: e, ctx: ctx}
}

// js evaluates expr (a promise is awaited) and decodes its JSON result.
func (b *browserEnv) js(expr string) map[string]any {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (`+expr+`)))()`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(s), &out)
	return out
}

func data(m map[string]any) map[string]any { d, _ := m["data"].(map[string]any); return d }

// TestBrowserSDK_Push: @authsignal/browser 1.16.0 in Chromium asks for a
// push with the track's token, a compat phone approves (or denies), and
// push.verify gives the token the backend validates once (or none).
func TestBrowserSDK_Push(t *testing.T) {
	b := newBrowserEnv(t)
	p := b.phone("ios", "push")
	p.enrol("alice")
	for _, approve := range []bool{true, false} {
		tr := b.track("alice", "transfer", nil)
		ch := data(b.js(`(as.setToken(` + jsString(tr.str("token")) + `), as.push.challenge({action: "transfer"}))`))
		id, _ := ch["challengeId"].(string)
		f := p.fetch()
		if id == "" || f.str("challengeId") != id {
			t.Fatalf("push.challenge = %v; the phone fetched %s", ch, f.Raw)
		}
		if u := p.update("push", id, approve); u.Status != 200 {
			t.Fatalf("update = %d %s", u.Status, u.Raw)
		}
		v := data(b.js(`as.push.verify({challengeId: ` + jsString(id) + `})`))
		tok, _ := v["token"].(string)
		if v["isVerified"] != approve || v["isConsumed"] != true || (tok != "") != approve {
			t.Fatalf("push.verify after approve=%v = %v", approve, v)
		}
		if approve {
			if r := b.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); !r.bool("isValid") {
				t.Fatalf("validate = %s", r.Raw)
			}
			if r := b.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); r.bool("isValid") {
				t.Fatal("validated twice")
			}
		}
	}
}

// TestBrowserSDK_QRPolling: qrCode.challenge with REST polling goes
// claimed → approved with the token as a compat phone claims and
// approves; the backend validates the token once for the phone's user.
func TestBrowserSDK_QRPolling(t *testing.T) {
	b := newBrowserEnv(t)
	p := b.phone("android", "qr-code")
	p.enrol("alice")
	ch := data(b.js(`as.qrCode.challenge({action: "signIn", polling: true, pollInterval: 50,
		onStateChange: (state, token) => window.states.push({state, token})})`))
	id, _ := ch["challengeId"].(string)
	if id == "" {
		t.Fatalf("qrCode.challenge = %v", ch)
	}
	if c := p.claim(id); c.Status != 200 {
		t.Fatalf("claim = %d %s", c.Status, c.Raw)
	}
	if err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](`window.states.some(s => s.state === "claimed")`)); err != nil {
		t.Fatal(err)
	}
	if u := p.update("qr-code", id, true); u.Status != 200 {
		t.Fatalf("approve = %d %s", u.Status, u.Raw)
	}
	tok, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(window.states.find(s => s.state === "approved") || {}).token`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "dat_") {
		t.Fatalf("approved token = %q", tok)
	}
	if r := b.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); !r.bool("isValid") || r.str("action") != "signIn" {
		t.Fatalf("validate = %s", r.Raw)
	}
	if r := b.server("POST", "/validate", map[string]any{"token": tok, "userId": "alice"}); r.bool("isValid") {
		t.Fatal("validated twice")
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestBrowserSDK_QRWebSocket: qrCode.challenge over its WebSocket (the
// SDK's default) goes claimed → approved with the token as a compat phone
// claims and approves, and the backend validates the token once; a
// second sign-in on the same page is denied and ends "rejected".
func TestBrowserSDK_QRWebSocket(t *testing.T) {
	b := newBrowserEnv(t)
	p := b.phone("ios", "qr-code")
	p.enrol("alice")
	for _, approve := range []bool{true, false} {
		ch := data(b.js(`(window.states = [], as.qrCode.challenge({action: "signIn",
			onStateChange: (state, token) => window.states.push({state, token})}))`))
		id, _ := ch["challengeId"].(string)
		if id == "" || ch["expiresAt"] == nil {
			t.Fatalf("qrCode.challenge = %v", ch)
		}
		if c := p.claim(id); c.Status != 200 {
			t.Fatalf("claim = %d %s", c.Status, c.Raw)
		}
		if err := chromedp.Do(b.ctx, chromedp.Poll[chromedp.Void](`window.states.some(s => s.state === "claimed")`)); err != nil {
			t.Fatal(err)
		}
		if u := p.update("qr-code", id, approve); u.Status != 200 {
			t.Fatalf("answer = %d %s", u.Status, u.Raw)
		}
		final, err := chromedp.Run(b.ctx, chromedp.Poll[string](`(() => { const s = window.states.find(s => s.state === "approved" || s.state === "rejected"); return s && JSON.stringify(s) })()`))
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ State, Token string }
		_ = json.Unmarshal([]byte(final), &got)
		if !approve {
			if got.State != "rejected" || got.Token != "" {
				t.Fatalf("after a denial: %s", final)
			}
			continue
		}
		if got.State != "approved" || !strings.HasPrefix(got.Token, "dat_") {
			t.Fatalf("after an approval: %s", final)
		}
		if r := b.server("POST", "/validate", map[string]any{"token": got.Token, "userId": "alice"}); !r.bool("isValid") || r.str("action") != "signIn" {
			t.Fatalf("validate = %s", r.Raw)
		}
		if r := b.server("POST", "/validate", map[string]any{"token": got.Token, "userId": "alice"}); r.bool("isValid") {
			t.Fatal("validated twice")
		}
	}
}
