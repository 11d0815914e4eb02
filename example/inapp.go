package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/deviceauth/deviceauth"
	"github.com/deviceauth/deviceauth/store"
)

// In-app verification (docs/protocol.md, "In-app verification: one
// signature, no fetch"): the app verifies its own user on the phone the
// user is signed in on. The backend tracks the action InApp and hands the
// payload (TrackResult.InApp) to that phone over the app's own
// authenticated channel; the phone shows it and answers with one signed
// request, and never fetches the challenge from deviceauth.
//
//	POST /transfer/in-app   without a token: Track(InApp), the payload goes
//	                        to the user's inbox, the page waits; with one
//	                        (Continue): the gate below, IN_APP only
//	GET  /phone/in-app      the app's channel: the signed-in session's
//	                        user's pending in-app challenges, as JSON
//
// In the demo the app's channel is this app's session cookie, which the
// phone simulator (/phone, in the same browser) shares; a mobile app would
// call its backend with its own sign-in. The payloads live in this
// process's memory only, and only until answered or expired.

// inAppPerUser bounds the in-app challenges kept for one user: a newer one
// drops the oldest.
const inAppPerUser = 4

// inAppInbox keeps, in memory, the in-app challenges tracked for each user
// that the app's channel may hand that user's phone.
type inAppInbox struct {
	mu     sync.Mutex
	byUser map[string][]inAppEntry
}

// inAppEntry is one tracked in-app challenge: the payload for the phone,
// and the token, with which the app asks where the challenge stands.
type inAppEntry struct {
	token   string
	payload deviceauth.InAppChallenge
}

func newInAppInbox() *inAppInbox { return &inAppInbox{byUser: map[string][]inAppEntry{}} }

// put keeps e for user, and forgets every user's expired challenges, so
// that the inbox holds no more than what is live.
func (b *inAppInbox) put(user string, e inAppEntry, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for u := range b.byUser {
		b.keep(u, func(e inAppEntry) bool { return now.Before(e.payload.ExpiresAt) })
	}
	es := append(b.byUser[user], e)
	b.byUser[user] = es[max(0, len(es)-inAppPerUser):]
}

// pending returns user's challenges that have not expired, oldest first.
func (b *inAppInbox) pending(user string, now time.Time) []inAppEntry {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.keep(user, func(e inAppEntry) bool { return now.Before(e.payload.ExpiresAt) }))
}

// drop forgets user's challenge id: it was answered.
func (b *inAppInbox) drop(user, id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keep(user, func(e inAppEntry) bool { return e.payload.ChallengeID != id })
}

// keep keeps only user's challenges that ok accepts, and returns them.
// b.mu is held.
func (b *inAppInbox) keep(user string, ok func(inAppEntry) bool) []inAppEntry {
	es := slices.DeleteFunc(b.byUser[user], func(e inAppEntry) bool { return !ok(e) })
	if len(es) == 0 {
		delete(b.byUser, user)
	} else {
		b.byUser[user] = es
	}
	return es
}

// inAppChallenges is the app's own channel to its phone: the signed-in
// session's user's in-app challenges still waiting for an answer. It never
// answers a caller without a session, and each user sees only their own.
func (a *App) inAppChallenges(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	user, err := a.sessionUser(w, r)
	if err != nil {
		a.log.ErrorContext(r.Context(), "example: reading the session failed", "error", err.Error())
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": "try again in a moment"})
		return
	}
	if user == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthenticated", "message": "sign in to the app first"})
		return
	}
	out := []deviceauth.InAppChallenge{}
	for _, e := range a.inApp.pending(user, a.now()) {
		state, err := a.svc.ChallengeState(r.Context(), e.token, user)
		if err != nil && !errors.Is(err, deviceauth.ErrNotFound) {
			a.log.ErrorContext(r.Context(), "example: looking up an in-app challenge failed", "error", err.Error())
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": "try again in a moment"})
			return
		}
		if state != store.StatePending {
			a.inApp.drop(user, e.payload.ChallengeID)
			continue
		}
		out = append(out, e.payload)
	}
	writeJSON(w, http.StatusOK, map[string]any{"challenges": out})
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// inAppTransfer serves POST /transfer/in-app: without a token it tracks
// the transfer for in-app verification; with one (the waiting page's
// Continue), it is the transfer gated on an in-app approval. That gate
// admits IN_APP only, as /transfer admits only a second device's answer
// (or a passkey's): each route refuses the other's token without using it
// up. It cannot track on its own (Require does not hand payloads out), so
// the token decides.
// inAppTransferPath is where the transfer approved in the app is posted.
const inAppTransferPath = "/transfer/in-app"

func (a *App) inAppTransfer() http.Handler {
	gate := a.svc.Require("transfer",
		deviceauth.WithDetails(transferDetails),
		deviceauth.WithTokenFrom(tokenFromForm),
		deviceauth.WithMethods(deviceauth.MethodInApp),
		deviceauth.WithErrorHandler(a.transferDenied(inAppTransferPath)),
	)(http.HandlerFunc(a.transfer))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tokenFromForm(r) != "" {
			gate.ServeHTTP(w, r)
			return
		}
		a.trackInAppTransfer(w, r)
	})
}

// trackInAppTransfer tracks the form's transfer InApp, hands the payload
// to the user's phone through the inbox, and shows the page that waits for
// the answer.
func (a *App) trackInAppTransfer(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	amount, payee := r.PostFormValue("amount"), r.PostFormValue("payee")
	t, err := parseTransfer(amount, payee)
	if err != nil {
		a.render(w, http.StatusBadRequest, "transfer", transferView{frame: frame{Title: "Transfer", User: user},
			Amount: amount, Payee: payee, Error: err.Error()})
		return
	}
	res, err := a.svc.Track(r.Context(), deviceauth.TrackRequest{UserID: user, Action: "transfer", Details: t.details(),
		ClientIP: a.svc.ClientIP(r), UserAgent: r.UserAgent(), InApp: true})
	if e := (*deviceauth.Error)(nil); errors.As(err, &e) && e.Status == http.StatusBadRequest {
		a.render(w, e.Status, "transfer", transferView{frame: frame{Title: "Transfer", User: user},
			Amount: amount, Payee: payee, Error: e.Message})
		return
	}
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	if !a.challengeTracked(w, r, res) {
		return
	}
	a.inApp.put(user, inAppEntry{token: res.Token, payload: *res.InApp}, a.now())
	v := transferChallenge(user, amount, payee, inAppTransferPath)
	v.waiting(res.ChallengeID, res.Token, "", res.ExpiresAt)
	a.render(w, http.StatusUnauthorized, "challenge", v)
}
