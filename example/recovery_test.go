package main

import (
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"testing"
)

var recoveryCodeInPage = regexp.MustCompile(`<li><code>([A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4})</code></li>`)

// TestDemo_LostPhone: after the first enrolment the devices page offers
// recovery codes, shown once after an approval with number matching; "I
// lost my phone" with a code mints the new phone's token without the old
// phone, the code works once, and the user's other session is signed out
// while this one stays.
func TestDemo_LostPhone(t *testing.T) {
	base := startApp(t)
	b, other := newBrowser(t, base), newBrowser(t, base)
	signIn(t, b, "ada")
	signIn(t, other, "ada")
	dir := t.TempDir()
	lost, fresh := filepath.Join(dir, "lost.json"), filepath.Join(dir, "new.json")
	enrolFrom(t, base, b.post("/devices/add", nil), lost)
	b.get("/devices").want(t, "one device", http.StatusOK, "create recovery codes now", "I lost my phone")

	p := b.post("/devices/recovery-codes", nil)
	p.want(t, "recovery codes need an approval", http.StatusUnauthorized, "Create new recovery codes")
	token := find(t, tokenInPage, p.body)
	approveOnPhone(t, lost, find(t, approveInPage, p.body), find(t, codeInPage, p.body))
	p = b.post("/devices/recovery-codes", url.Values{tokenField: {token}})
	p.want(t, "the codes, once", http.StatusOK, "shown only now")
	codes := recoveryCodeInPage.FindAllStringSubmatch(p.body, -1)
	if len(codes) != 8 {
		t.Fatalf("%d codes on the page, want 8:\n%s", len(codes), p.body)
	}

	p = b.post("/devices/add", url.Values{tokenField: {codes[0][1]}})
	p.want(t, "a recovery code for the new phone", http.StatusOK, "drt_")
	enrolFrom(t, base, p, fresh, "-name", "New phone")
	if again := b.post("/devices/add", url.Values{tokenField: {codes[0][1]}}); again.status == http.StatusOK {
		t.Fatalf("the same recovery code worked twice:\n%s", again.body)
	}
	if p := other.get("/devices"); p.status != http.StatusSeeOther {
		t.Fatalf("the other session after the recovery: %d, want 303 (signed out); body:\n%s", p.status, p.body)
	}
	b.get("/devices").want(t, "this session stays", http.StatusOK, "New phone")
}
