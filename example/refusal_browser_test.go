package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/internal/testenv"
)

// TestBrowser_ApprovalPagesSayWhereTheApprovalStands walks a transfer's
// "approve on your phone" page through every state a user meets, in
// headless Chromium with the Go device client as the phone: waiting (with
// Continue), Continue pressed too early (not approved yet, still waiting),
// approved on the phone (the page goes on by itself to "Sent"), the same
// approval posted again (already used), denied on the phone (the page goes
// on by itself to the refusal) and expired. Each state is in words, and
// Continue is shown only while it can still succeed. With
// $DEVICEAUTH_ARTIFACTS set, each state's screenshot is saved there.
func TestBrowser_ApprovalPagesSayWhereTheApprovalStands(t *testing.T) {
	// The clock starts now (the phone signs with real times) and jumps
	// only for the last step, expiry.
	clock := &testClock{now: time.Now()}
	a := startBrowserApp(t, func(c *AppConfig) { c.Now = clock.Now })
	b := startChromium(t)
	ctx, cancel := context.WithDeadline(context.Background(), b.deadline)
	defer cancel()

	phone := a.goPhone(ctx, t, "ada")

	web := b.tab("app")
	signInAsAda(web, a.base)
	// transfer starts a transfer and returns its challenge ID, code and
	// token as the waiting page shows them.
	transfer := func(amount string) (id, code, token string) {
		t.Helper()
		web.navigate(a.base + "/transfer")
		web.setValue(`input[name="amount"]`, amount)
		web.setValue(`input[name="payee"]`, "Bob")
		web.click(`form[action="/transfer"] button`)
		waitFor[bool](web, "the waiting page", `document.getElementById("approval").dataset.state === "waiting"`, stepTimeout)
		wantApprovalPage(t, web, "waiting", "Waiting for your phone", true)
		return eval[string](web, `document.getElementById("approval").dataset.challengeId`),
			web.text("#verification-code"),
			eval[string](web, `document.querySelector('#continue input[name="deviceauth_token"]').value`)
	}
	answer := func(id, code string, approve bool) {
		t.Helper()
		ch, err := phone.Challenge(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if approve {
			_, err = phone.Approve(ctx, ch, code)
		} else {
			_, err = phone.Deny(ctx, ch, "mistake")
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	// Waiting, then Continue too early: not approved yet, still waiting.
	id, code, token := transfer("25.00")
	screenshot(t, web, "waiting")
	web.click("#continue button")
	waitFor[bool](web, "the not-yet page", `document.getElementById("approval").dataset.state === "not_yet"`, stepTimeout)
	wantApprovalPage(t, web, "not_yet", "Not approved yet", true)
	if got := web.text("#verification-code"); got != code {
		t.Fatalf("the not-yet page shows code %q, want %q", got, code)
	}
	screenshot(t, web, "not-yet")

	// Approved on the phone: the page goes on by itself.
	answer(id, code, true)
	waitFor[bool](web, "Sent, by itself", `(document.querySelector("h1") || {}).textContent === "Sent"`, stepTimeout)
	if got := web.text("main strong"); got != "Sent 25.00 EUR to Bob." {
		t.Fatalf("the sent page says %q", got)
	}
	screenshot(t, web, "approved-sent")

	// The same approval again (as a reload would post it): already used.
	web.navigate(a.base + "/transfer")
	eval[bool](web, `(() => {
		const f = document.querySelector('form[action="/transfer"]');
		f.amount.value = "25.00"; f.payee.value = "Bob";
		const t = document.createElement("input");
		t.type = "hidden"; t.name = "deviceauth_token"; t.value = `+strconv.Quote(token)+`;
		f.appendChild(t); f.submit(); return true; })()`)
	waitFor[bool](web, "the used page", `document.getElementById("approval").dataset.state === "used"`, stepTimeout)
	wantApprovalPage(t, web, "used", "Already used", false)
	screenshot(t, web, "used")

	// Denied on the phone: the page goes on by itself to the refusal.
	id, code, _ = transfer("30.00")
	answer(id, code, false)
	waitFor[bool](web, "the denied page", `document.getElementById("approval").dataset.state === "denied"`, stepTimeout)
	wantApprovalPage(t, web, "denied", "Denied on your phone", false)
	screenshot(t, web, "denied")

	// Expired: the page learns it while waiting, and says so.
	transfer("35.00")
	clock.Advance(deviceauth.MaxChallengeTTL + time.Second)
	waitFor[bool](web, "the expired page", `document.getElementById("approval").dataset.state === "expired"`, stepTimeout)
	wantApprovalPage(t, web, "expired", "Expired", false)
	screenshot(t, web, "expired")
}

// wantApprovalPage fails unless the tab shows the approval state key with
// headline, and Continue visible exactly when continues (Start over
// otherwise).
func wantApprovalPage(t *testing.T, tb *tab, key, headline string, continues bool) {
	t.Helper()
	if got := eval[string](tb, `document.getElementById("approval").dataset.state`); got != key {
		t.Fatalf("approval state %q, want %q", got, key)
	}
	if got := tb.text("#approval-state"); got != headline {
		t.Fatalf("%s: headline %q, want %q", key, got, headline)
	}
	if tb.text("#approval-words") == "" {
		t.Fatalf("%s: no words under the headline", key)
	}
	visible := func(css string) bool {
		return eval[bool](tb, `(() => { const e = document.querySelector(`+strconv.Quote(css)+`); return !!e && e.offsetParent !== null; })()`)
	}
	if got := visible("#continue button"); got != continues {
		t.Fatalf("%s: Continue visible %v, want %v", key, got, continues)
	}
	if got := visible("#start-over button"); got == continues {
		t.Fatalf("%s: Start over visible %v, want %v", key, got, !continues)
	}
}

// screenshot saves the tab's page to $DEVICEAUTH_ARTIFACTS, when set, as
// TEST-NAME.png.
func screenshot(t *testing.T, tb *tab, name string) {
	t.Helper()
	dir := os.Getenv(testenv.ArtifactsVar)
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var png []byte
	tb.do("screenshot", func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		var err error
		png, err = chromedp.FullScreenshot(100)(ctx, target) // quality 100 is PNG; below, JPEG
		return chromedp.Void{}, err
	})
	if err := os.WriteFile(filepath.Join(dir, t.Name()+"-"+name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
