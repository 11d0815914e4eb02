package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/deviceauth/deviceauth"
)

// The "approve on your phone" page, shared by the transfer and the
// step-ups of adding and removing a device. It says in words where the
// approval stands, offers Continue only while it can still succeed, and
// (static/challenge-wait.js, on deviceauth.js's waitChallenge) posts the
// form again by itself as soon as the phone answers.

// Hidden fields of the Continue form besides the request's own. The token
// is the proof; the challenge ID and the code only let the page go on
// showing what to approve when Continue came too early.
const (
	challengeField = "deviceauth_challenge"
	codeField      = "deviceauth_code"
)

// approval is where an approval stands, in words.
type approval struct {
	Key      string // for tests and styles: waiting, not_yet, denied, expired, used, …
	Headline string
	Words    string
	// Final: nothing will make this token pass, so Continue is not shown,
	// only "Start over".
	Final bool
}

var (
	approvalWaiting = approval{Key: "waiting", Headline: "Waiting for your phone",
		Words: "Approve it on your phone: this page goes on by itself as soon as you do."}
	approvalInApp = approval{Key: "waiting", Headline: "Waiting for the app",
		Words: "The app on your phone shows this request: approve it there. This page goes on by itself as soon as you do."}
	approvalNotYet = approval{Key: "not_yet", Headline: "Not approved yet",
		Words: "Your phone has not answered yet. Approve it there: this page goes on by itself as soon as you do."}
	approvalCheckFailed = approval{Key: "unchecked", Headline: "Not approved yet",
		Words: "We could not check the approval just now. Try Continue again in a moment."}
	approvalUnknown = approval{Key: "unknown", Final: true, Headline: "This approval is no longer valid",
		Words: "This approval request is unknown or so old that it is no longer kept. Nothing was done."}
)

// approvalByState words each lifecycle state the Service reports after a
// token did not pass.
var approvalByState = map[string]approval{
	"PENDING": approvalNotYet,
	// Approved, yet the token did not pass: the request now carries other
	// details (an amount, a payee) than the phone approved.
	"APPROVED": {Key: "other_details", Final: true, Headline: "Approved for something else",
		Words: "Your phone approved a request with other details than this one, so nothing was done. Start over to approve exactly this."},
	"CONSUMED": {Key: "used", Final: true, Headline: "Already used",
		Words: "This approval was used already, and each approval works once. Nothing was done again."},
	"DENIED": {Key: "denied", Final: true, Headline: "Denied on your phone",
		Words: "You said no on your phone, so nothing was done."},
	"EXPIRED": {Key: "expired", Final: true, Headline: "Expired",
		Words: "Your phone did not answer in time, so nothing was done."},
	"FAILED": {Key: "failed", Final: true, Headline: "Too many wrong codes",
		Words: "The code typed on the phone was wrong too many times, so nothing was done."},
	"SUPERSEDED": {Key: "superseded", Final: true, Headline: "Replaced by a newer request",
		Words: "A newer request replaced this one. Nothing was done."},
}

// approvalOf says why token, which did not pass, did not: the Service
// looks the challenge up without consuming it.
func (a *App) approvalOf(ctx context.Context, token, user string) approval {
	state, err := a.svc.ChallengeState(ctx, token, user)
	if errors.Is(err, deviceauth.ErrNotFound) {
		return approvalUnknown
	}
	if err != nil {
		a.log.WarnContext(ctx, "example: looking up an approval failed", "error", err.Error())
		return approvalCheckFailed
	}
	if ap, ok := approvalByState[string(state)]; ok {
		return ap
	}
	return approvalUnknown
}

// challengeView is the "approve on your phone" page.
type challengeView struct {
	frame
	Code             string // the deviceauth answer: challenge_required or challenge_failed
	State            approval
	Action           string
	Summary          string
	ChallengeID      string
	VerificationCode string
	ExpiresAt        time.Time
	FormAction       string
	Fields           []hiddenField // posted again with Continue and Start over
	Token            string
	// InApp: the app hands the challenge to the user's phone itself
	// (inapp.go), which neither lists nor fetches it; no code to show.
	InApp bool
}

type hiddenField struct{ Name, Value string }

// waiting fills v for a new challenge.
func (v *challengeView) waiting(id, token, code string, expires time.Time) {
	v.Code, v.State = "challenge_required", approvalWaiting
	if v.InApp {
		v.State = approvalInApp
	}
	v.ChallengeID, v.Token, v.VerificationCode, v.ExpiresAt = id, token, code, expires
}

// refused fills v for a Continue whose token did not pass.
func (a *App) refused(r *http.Request, v *challengeView, user, token string) {
	v.Code, v.Token = "challenge_failed", token
	v.State = a.approvalOf(r.Context(), token, user)
	if !v.State.Final {
		v.ChallengeID, v.VerificationCode = r.PostFormValue(challengeField), r.PostFormValue(codeField)
	}
}
