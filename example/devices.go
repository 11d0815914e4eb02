package main

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/deviceauth/deviceauth"
)

type devicesView struct {
	frame
	Devices  []deviceauth.Credential // phones: device keys
	Passkeys []deviceauth.Credential
}

// splitCredentials separates the user's device keys from their passkeys: a
// passkey is not a "device" on the pages, though both are credentials.
func splitCredentials(creds []deviceauth.Credential) (devices, passkeys []deviceauth.Credential) {
	for _, c := range creds {
		if c.Kind == "passkey" {
			passkeys = append(passkeys, c)
		} else {
			devices = append(devices, c)
		}
	}
	return devices, passkeys
}

func (a *App) devices(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	creds, err := a.svc.Credentials(r.Context(), user)
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	v := devicesView{frame: frame{Title: "Devices", User: user}}
	v.Devices, v.Passkeys = splitCredentials(creds)
	a.render(w, http.StatusOK, "devices", v)
}

// renameDevice renames one of the user's devices or passkeys
// (Service.RenameCredential: no step-up, a name grants nothing).
func (a *App) renameDevice(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	_, err := a.svc.RenameCredential(r.Context(), user, r.PathValue("id"), name)
	if errors.Is(err, deviceauth.ErrInvalidRequest) {
		a.problem(w, r, http.StatusBadRequest, "invalid_name", "A name is 1 to 64 bytes of text, without control characters.")
		return
	}
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

type enrolView struct {
	frame
	Token     string
	ExpiresAt time.Time
	Command   string
}

// addDevice mints a registration token. A user who already has a device
// must first approve an addAuthenticator challenge on it (a stolen session
// alone cannot enrol the thief's phone): the first POST shows that
// challenge, and its Continue button posts again with the token.
func (a *App) addDevice(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	token := r.PostFormValue(tokenField)
	grant, err := a.svc.MintRegistrationToken(r.Context(), user, token)
	if errors.Is(err, deviceauth.ErrStepUpRequired) {
		a.stepUp(w, r, user, stepUpPage{action: deviceauth.ActionAddAuthenticator, formAction: "/devices/add",
			title: "Approve adding a device", summary: "Add a new device to your account"}, token)
		return
	}
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	if err := a.sessions.stamp(w, r); err != nil { // this session stays if a recovery code ended the others
		a.serviceProblem(w, r, err)
		return
	}
	a.render(w, http.StatusOK, "enrol", enrolView{frame: frame{Title: "Add a device", User: user},
		Token: grant.Token, ExpiresAt: grant.ExpiresAt,
		Command: deviceCommand + " enrol -server " + a.publicURL + " -token " + grant.Token})
}

// removeDevice removes one of the user's devices; while others remain,
// only after one of them approved a removeAuthenticator challenge.
func (a *App) removeDevice(w http.ResponseWriter, r *http.Request) {
	user, ok := a.signedIn(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	token := r.PostFormValue(tokenField)
	err := a.svc.RemoveCredential(r.Context(), user, id, token)
	if errors.Is(err, deviceauth.ErrStepUpRequired) {
		var details deviceauth.Details
		name := id
		if creds, err := a.svc.Credentials(r.Context(), user); err == nil {
			for _, c := range creds {
				if c.ID == id {
					name, details = c.Name, deviceauth.RemovalDetails(c)
				}
			}
		}
		a.stepUp(w, r, user, stepUpPage{action: deviceauth.ActionRemoveAuthenticator, formAction: "/devices/" + id + "/remove",
			title: "Approve removing a device", summary: "Remove “" + name + "” from your account", details: details}, token)
		return
	}
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	if err := a.sessions.stamp(w, r); err != nil { // the removal ended the user's other sessions, not this one
		a.serviceProblem(w, r, err)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

// stepUpPage describes the challenge page of a step-up.
type stepUpPage struct {
	action     string // deviceauth.ActionAddAuthenticator or ActionRemoveAuthenticator
	formAction string // where Continue posts
	title      string
	summary    string             // what is being approved, for this page
	details    deviceauth.Details // what the phone shows and the approval is bound to
}

// stepUp answers a request that needs a step-up. Without a token it tracks
// a new challenge and asks the user to approve it on a device. With one,
// the token did not pass: the page says why (not approved yet, denied,
// expired, used — the Service looks it up without consuming it) and offers
// Continue only while it can still pass.
func (a *App) stepUp(w http.ResponseWriter, r *http.Request, user string, p stepUpPage, token string) {
	v := challengeView{frame: frame{Title: p.title, User: user}, Action: p.action, Summary: p.summary, FormAction: p.formAction}
	if token != "" {
		a.refused(r, &v, user, token)
		a.render(w, http.StatusForbidden, "challenge", v)
		return
	}
	res, err := a.svc.Track(r.Context(), deviceauth.TrackRequest{UserID: user, Action: p.action, Details: p.details,
		ClientIP: a.svc.ClientIP(r), UserAgent: r.UserAgent(), VerificationCode: true})
	if err != nil {
		a.serviceProblem(w, r, err)
		return
	}
	if !a.challengeTracked(w, r, res) {
		return
	}
	v.waiting(res.ChallengeID, res.Token, res.VerificationCode, res.ExpiresAt)
	w.Header().Set("WWW-Authenticate", "Deviceauth challenge_id="+strconv.Quote(res.ChallengeID)+", action="+strconv.Quote(p.action))
	a.render(w, http.StatusUnauthorized, "challenge", v)
}

// challengeTracked reports whether Track's answer res is a challenge to
// approve. Otherwise it has answered the request: blocked, held for
// review, nothing to approve with, or allowed outright — which still
// gives no token, and the pages that track their own challenges (a
// step-up, an in-app transfer) go on only with one.
func (a *App) challengeTracked(w http.ResponseWriter, r *http.Request, res deviceauth.TrackResult) bool {
	switch {
	case res.State == deviceauth.StateChallengeRequired && res.ChallengeID != "":
		return true
	case res.State == deviceauth.StateBlock:
		a.problem(w, r, http.StatusForbidden, "blocked", "")
	case res.State == deviceauth.StateReview:
		a.problem(w, r, http.StatusForbidden, "review", "")
	case !res.Enrolled:
		a.problem(w, r, http.StatusForbidden, "enrollment_required", "")
	default:
		a.problem(w, r, http.StatusForbidden, "step_up_required", "")
	}
	return false
}
