package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deviceauth/deviceauth"
)

var challengeInPage = regexp.MustCompile(`name="deviceauth_challenge" value="([A-Za-z0-9_-]+)"`)

// inAppList reads the app's channel (GET /phone/in-app) as b, failing
// unless it answers status; it returns the payloads, each as the JSON the
// phone gets, and the whole body.
func inAppList(t *testing.T, b *browser, status int) ([]json.RawMessage, string) {
	t.Helper()
	p := b.get("/phone/in-app")
	if p.status != status {
		t.Fatalf("GET /phone/in-app: %d, want %d; body:\n%s", p.status, status, p.body)
	}
	var v struct {
		Challenges []json.RawMessage `json:"challenges"`
	}
	if err := json.Unmarshal([]byte(p.body), &v); err != nil {
		t.Fatalf("GET /phone/in-app: %v; body:\n%s", err, p.body)
	}
	return v.Challenges, p.body
}

// TestDemo_InAppTransfer: a transfer approved in the app. The app tracks
// it InApp and hands the payload only to the signed-in user's channel,
// without a code; the terminal phone answers it from that payload with
// one signature; the token passes the in-app route once, as IN_APP, and
// never the second-device route, which refuses it without using it up.
func TestDemo_InAppTransfer(t *testing.T) {
	base := startApp(t)
	ada := newBrowser(t, base)
	signIn(t, ada, "ada")
	phoneFile := filepath.Join(t.TempDir(), "phone.json")
	credID := enrolFrom(t, base, ada.post("/devices/add", nil), phoneFile)

	transfer := url.Values{"amount": {"25.00"}, "payee": {"Bob"}}
	p := ada.post("/transfer/in-app", transfer)
	p.want(t, "in-app transfer", http.StatusUnauthorized, "Send 25.00 EUR to Bob", `id="in-app"`)
	p.wantApproval(t, "in-app transfer", http.StatusUnauthorized, "waiting", "Waiting for the app", true)
	token := find(t, tokenInPage, p.body)
	for _, absent := range []string{`id="verification-code"`, "example/device approve", "passkey", "nonce"} {
		if strings.Contains(p.body, absent) {
			t.Fatalf("the in-app page carries %q:\n%s", absent, p.body)
		}
	}

	// The channel: nobody without a session, no other user; Ada's phone
	// gets the payload, which carries no code.
	if p := newBrowser(t, base).get("/phone/in-app"); p.status != http.StatusUnauthorized || strings.Contains(p.body, "ia_") {
		t.Fatalf("signed out: %d %s, want 401 without a challenge", p.status, p.body)
	}
	eve := newBrowser(t, base)
	signIn(t, eve, "eve")
	if list, body := inAppList(t, eve, http.StatusOK); len(list) != 0 || strings.Contains(body, "ia_") {
		t.Fatalf("another user's channel hands out %s", body)
	}
	list, _ := inAppList(t, ada, http.StatusOK)
	if len(list) != 1 {
		t.Fatalf("Ada's channel: %d challenges, want 1", len(list))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(list[0], &fields); err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(fields)); !slices.Equal(keys, []string{"action", "challengeId", "details", "expiresAt", "nonce"}) {
		t.Fatalf("the payload has members %v: %s", keys, list[0])
	}
	if strings.Contains(strings.ToLower(string(list[0])), "code") {
		t.Fatalf("the payload mentions a code: %s", list[0])
	}
	var payload struct {
		ChallengeID string             `json:"challengeId"`
		Action      string             `json:"action"`
		Details     deviceauth.Details `json:"details"`
	}
	if err := json.Unmarshal(list[0], &payload); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(payload.ChallengeID, "ia_") || payload.Action != "transfer" || payload.Details.Message != "Send 25.00 EUR to Bob" ||
		!strings.Contains(p.body, payload.ChallengeID) {
		t.Fatalf("payload %s for the page's challenge", list[0])
	}

	// The in-app token before the answer: not yet, and still usable.
	withToken := url.Values{"amount": {"25.00"}, "payee": {"Bob"}, tokenField: {token}}
	ada.post("/transfer/in-app", withToken).wantApproval(t, "continue before the answer", http.StatusForbidden, "not_yet", "Not approved yet", true)

	payloadFile := filepath.Join(t.TempDir(), "challenge.json")
	if err := os.WriteFile(payloadFile, list[0], 0o600); err != nil {
		t.Fatal(err)
	}
	out := runPhone(t, "", "inapp", "-payload", payloadFile, "-yes", "-key", phoneFile)
	if !strings.Contains(out, "Send 25.00 EUR to Bob") || !strings.Contains(out, "with one signature") {
		t.Fatalf("the terminal phone says:\n%s", out)
	}
	// Answered: the channel hands it out no more.
	if list, body := inAppList(t, ada, http.StatusOK); len(list) != 0 {
		t.Fatalf("an answered challenge is still handed out: %s", body)
	}

	// The second-device route refuses an in-app answer without using it
	// up; the in-app route takes it once, as IN_APP.
	if p := ada.post("/transfer", withToken); p.status != http.StatusForbidden || strings.Contains(p.body, "Sent") {
		t.Fatalf("the in-app token on /transfer: %d\n%s", p.status, p.body)
	}
	ada.post("/transfer/in-app", withToken).want(t, "the in-app transfer", http.StatusOK, "Sent 25.00 EUR to Bob.", credID, `<span id="method">IN_APP</span>`)
	ada.post("/transfer/in-app", withToken).wantApproval(t, "the same token again", http.StatusForbidden, "used", "Already used", false)

	// And the other way round: a second device's approval does not pass
	// the in-app route, and still passes its own.
	p = ada.post("/transfer", transfer)
	token = find(t, tokenInPage, p.body)
	approveOnPhone(t, phoneFile, find(t, approveInPage, p.body), find(t, codeInPage, p.body))
	withToken[tokenField] = []string{token}
	if p := ada.post("/transfer/in-app", withToken); p.status != http.StatusForbidden || strings.Contains(p.body, "Sent") {
		t.Fatalf("a device token on the in-app route: %d\n%s", p.status, p.body)
	}
	p = ada.post("/transfer", withToken)
	p.want(t, "the device transfer", http.StatusOK, "Sent 25.00 EUR to Bob.")
	if m := find(t, regexp.MustCompile(`<span id="method">([A-Z_]+)</span>`), p.body); m == "IN_APP" {
		t.Fatalf("the device transfer says %s", m)
	}
}

// TestDemo_InAppChannelKeepsWhatIsLive: the channel hands out a user's
// in-app challenges until they expire, at most inAppPerUser of them, the
// newest; a tracked challenge that Track refused never gets there.
func TestDemo_InAppChannelKeepsWhatIsLive(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	base := startApp(t, func(c *AppConfig) { c.Now = clock.Now })
	ada := newBrowser(t, base)
	signIn(t, ada, "ada")
	// Without a device there is nothing to approve with.
	ada.post("/transfer/in-app", url.Values{"amount": {"1"}, "payee": {"Bob"}}).
		want(t, "in-app without a device", http.StatusForbidden, "You have no device to approve this with yet.")
	ada.post("/transfer/in-app", url.Values{"amount": {"0"}, "payee": {"Bob"}}).want(t, "in-app transfer of nothing", http.StatusBadRequest, "more than zero")
	ada.post("/transfer/in-app", url.Values{"amount": {"1"}, "payee": {"Bob\u202Eevil"}}).
		want(t, "in-app payee with a bidi control", http.StatusBadRequest, "bidiControl")
	enrolFrom(t, base, ada.post("/devices/add", nil), filepath.Join(t.TempDir(), "phone.json"))
	if list, body := inAppList(t, ada, http.StatusOK); len(list) != 0 {
		t.Fatalf("refused transfers were handed out: %s", body)
	}

	var ids []string
	for i := range inAppPerUser + 1 {
		p := ada.post("/transfer/in-app", url.Values{"amount": {string(rune('1' + i))}, "payee": {"Bob"}})
		p.wantApproval(t, "in-app transfer", http.StatusUnauthorized, "waiting", "Waiting for the app", true)
		ids = append(ids, find(t, challengeInPage, p.body))
		clock.Advance(time.Second)
	}
	list, _ := inAppList(t, ada, http.StatusOK)
	var got []string
	for _, raw := range list {
		var c struct {
			ID string `json:"challengeId"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, c.ID)
	}
	if !slices.Equal(got, ids[1:]) {
		t.Fatalf("the channel hands out %v, want the newest %d of %v", got, inAppPerUser, ids)
	}
	clock.Advance(deviceauth.MaxChallengeTTL)
	if list, body := inAppList(t, ada, http.StatusOK); len(list) != 0 {
		t.Fatalf("expired challenges are handed out: %s", body)
	}
}

// TestInAppInbox_ConcurrentUse: users' challenges put, read and dropped
// at once by racing goroutines (under -race) stay each user's own, and
// each user keeps exactly the inAppPerUser it did not drop.
func TestInAppInbox_ConcurrentUse(t *testing.T) {
	b := newInAppInbox()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	users := []string{"ada", "bob", "eve", "zoë"}
	const writers, puts = 3, 6 // per user: 18 put, 2 of each writer's dropped
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, u := range users {
		for w := range writers {
			wg.Go(func() {
				<-start
				for i := range puts {
					id := fmt.Sprintf("ia_%s_%d_%d", u, w, i)
					b.put(u, inAppEntry{token: "dat_" + id, payload: deviceauth.InAppChallenge{ChallengeID: id, ExpiresAt: now.Add(time.Minute)}}, now)
					if i < 2 {
						b.drop(u, id)
					}
				}
			})
		}
		wg.Go(func() {
			<-start
			for range puts * writers {
				for _, e := range b.pending(u, now) {
					if !strings.HasPrefix(e.payload.ChallengeID, "ia_"+u+"_") {
						t.Errorf("%s gets %s", u, e.payload.ChallengeID)
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for _, u := range users {
		es := b.pending(u, now)
		if len(es) != inAppPerUser {
			t.Errorf("%s keeps %d challenges, want %d", u, len(es), inAppPerUser)
		}
		for _, e := range es {
			if !strings.HasPrefix(e.payload.ChallengeID, "ia_"+u+"_") || strings.HasSuffix(e.payload.ChallengeID, "_0") || strings.HasSuffix(e.payload.ChallengeID, "_1") {
				t.Errorf("%s keeps %s", u, e.payload.ChallengeID)
			}
		}
	}
	if es := b.pending("ada", now.Add(time.Minute)); len(es) != 0 {
		t.Errorf("expired challenges kept: %v", es)
	}
	if len(b.byUser) != len(users)-1 {
		t.Errorf("the inbox holds %d users after one's challenges expired, want %d", len(b.byUser), len(users)-1)
	}
}
